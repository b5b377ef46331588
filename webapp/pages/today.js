// Today: the next call and its status, "call me now", cancelling, and answering by typing instead.

import { api } from "../api.js";
import { dayKey, describeWhen, formatDay, formatPhone, formatTime, zoneLabel } from "../format.js";
import { announce, badge, button, card, formError, h, loading, notice, onSubmit } from "../ui.js";
import { STATE_LABELS, attemptList, attemptsOf, liveState, outcomeInline, timeAgo, unfinishedText } from "./outcomes.js";
import { breaksPanel } from "./pause.js";
import { textPanel } from "./typing.js";

const POLL_MS = 1000; // while a call is queued or under way: "Ringing" shows as the phone rings
const IDLE_POLL_MS = 30000; // otherwise: a planned call starting, relative times, the next call

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const warning = h("div", { class: "stack-tight" });
  const callCard = card("Your call", { id: "call" });
  const textCard = card("Prefer typing?", { id: "type" });
  const breaksCard = card("Not now?", { id: "breaks" });
  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Today"), h("p", { class: "lead" }, formatDay(new Date(), tz))),
    warning,
    h("div", { class: "grid" }, callCard.section, textCard.section),
    breaksCard.section,
  );
  callCard.body.append(loading());
  textCard.body.append(loading());
  breaksCard.body.append(loading());

  const [verified, active] = await Promise.all([api("PhoneVerification/_verifiedNumbers"), api("ReflectionSession/_active")]);
  if (!ctx.isCurrent()) return;
  if (!verified.some((row) => row.phoneNumber === ctx.profile.phoneNumber)) {
    warning.append(
      notice(
        "warning",
        h("strong", {}, "Your phone number isn't verified yet, so no calls will be placed. "),
        h("a", { href: "/account#phone" }, "Verify it now"),
      ),
    );
  }

  const text = textPanel(textCard.body, ctx, active[0] ?? null);
  const breaks = breaksPanel(breaksCard.body, ctx, () => calls.refresh()); // pages/pause.js
  const calls = callPanel(callCard.body, ctx, (status) => Promise.all([text.callChanged(status), breaks.callChanged(status)]));
  ctx.onLeave(() => calls.stop());
  await calls.refresh();
}

// -- the call --------------------------------------------------------------------------------

// `onCall(state)` hears the state of the call under way (queued, ringing, on-call, finishing;
// null when none) after each refresh.
function callPanel(container, ctx, onCall = () => {}) {
  const tz = ctx.profile.timezone;
  let timer = null;
  let stopped = false;

  async function load() {
    const [upcoming, recent, next, schedule, phone] = await Promise.all([
      api("CallScheduler/_upcoming"),
      api("CallScheduler/_recent", { limit: 5 }),
      api("Schedule/_nextCall"),
      api("Schedule/_schedule"),
      api("PhoneCall/_activeForUser"),
    ]);
    const data = { upcoming, recent, next: next[0] ?? null, schedule: schedule[0] ?? null, phone: phone[0] ?? null, session: null };
    // A call of today that reached the user: its reflection says whether it was finished.
    const last = todaysLast(data);
    if (!upcoming.length && last?.status === "COMPLETED") {
      const sessions = await api("ReflectionSession/_history", { limit: 5 });
      data.session = sessions.find((s) => s.callRef === last.scheduledCall) ?? null;
    }
    return data;
  }

  function todaysLast(data) {
    const today = dayKey(new Date(), tz);
    return data.recent.find((call) => dayKey(call.scheduledFor, tz) === today && ["COMPLETED", "FAILED", "CANCELLED"].includes(call.status)) ?? null;
  }

  function describeCurrent(call, state, phone) {
    call = { ...call, phoneNumber: formatPhone(call.phoneNumber) }; // "+1 415-555-2671"
    const now = Date.now();
    const attempt = `attempt ${Math.max(call.attempts, 1)} of ${call.maxRetries}`;
    if (state === "ringing") return `Your phone is ringing: we're calling ${call.phoneNumber} (${attempt}).`;
    if (state === "on-call") {
      if (phone?.status === "IN_PROGRESS") return `You're on the call: prompt ${phone.promptIndex + 1} of ${phone.promptCount}. Enjoy your reflection.`;
      return "You're on the call. Enjoy your reflection.";
    }
    if (state === "finishing") {
      return phone ? "Every prompt is answered: the call is finishing." : "The call has ended. Saving your reflection…";
    }
    const tried = attemptsOf(call);
    if (call.nextRetryAt && tried.length) {
      const why = outcomeInline(tried[tried.length - 1].outcome);
      const when = Date.parse(call.nextRetryAt) > now + 60000 ? describeWhen(call.nextRetryAt, tz) : "in a moment";
      return `We couldn't reach you (${why}), so we'll try ${call.phoneNumber} again ${when} (attempt ${call.attempts + 1} of ${call.maxRetries}).`;
    }
    if (Date.parse(call.scheduledFor) > now + 60000) return `We'll ring ${call.phoneNumber} ${describeWhen(call.scheduledFor, tz)}.`;
    return `We'll ring ${call.phoneNumber} in a moment.`;
  }

  function statusBox(state, ...children) {
    const info = STATE_LABELS[state];
    const [head, ...rest] = children;
    return h(
      "div",
      { class: "call-status", id: "call-status", dataset: { state } },
      h("div", { class: "call-status-head" }, badge(info.label, info.tone), head ?? ""),
      ...rest,
    );
  }

  function statusBlock(data) {
    const current = data.upcoming[0];
    if (current) {
      const state = liveState(current, data.phone);
      const cancelForm = h("form", { class: "actions" }, button("Cancel this call", { kind: "secondary" }), formError());
      onSubmit(
        cancelForm,
        async () => {
          const result = await api("CallScheduler/cancel", { scheduledCall: current.scheduledCall });
          announce(result.wasInProgress ? "Call cancelled. If your phone is ringing, it will stop." : "Call cancelled.");
          await refresh();
        },
        { busyLabel: "Cancelling…" },
      );
      const origin = current.origin === "now" ? `Requested ${timeAgo(current.createdAt)}` : "Scheduled call";
      return statusBox(
        state,
        h("span", { class: "call-origin" }, origin),
        h("p", { class: "call-detail" }, describeCurrent(current, state, data.phone)),
        state === "queued" ? attemptList(current, tz) : null,
        state === "finishing" ? null : cancelForm,
      );
    }
    const last = todaysLast(data);
    if (last?.status === "COMPLETED") {
      const session = data.session;
      if (session && session.status === "ABANDONED") {
        return statusBox(
          "unfinished",
          null,
          h("p", { class: "call-detail" }, `Today's call ended early. ${unfinishedText(session)} `, h("a", { href: "/history" }, "What you said is in History"), "."),
        );
      }
      const at = last.completedAt ? ` (finished at ${formatTime(last.completedAt, tz)})` : "";
      return statusBox("done", null, h("p", { class: "call-detail" }, `Today's call is done${at}. Thank you for reflecting.`));
    }
    if (last?.status === "FAILED") {
      const tried = attemptsOf(last);
      const text = tried.length
        ? `We couldn't reach you today: we tried ${tried.length} time${tried.length === 1 ? "" : "s"}.`
        : `We couldn't call you today: ${outcomeInline(last.lastOutcome)}.`;
      return statusBox("missed", null, h("p", { class: "call-detail" }, text), attemptList(last, tz));
    }
    if (last?.status === "CANCELLED") {
      const text = last.lastOutcome === "ALREADY_REFLECTED" ? "Today's call wasn't needed: you had already reflected." : "Today's call was cancelled.";
      return statusBox("cancelled", null, h("p", { class: "call-detail" }, text));
    }
    return h("div", { class: "call-status call-status-idle", id: "call-status", dataset: { state: "none" } }, h("p", { class: "call-detail" }, "No call is queued right now."));
  }

  function nextLine(data) {
    const times = data.schedule ? Object.values(data.schedule.times || {}).filter(Boolean) : [];
    if (!data.schedule || !times.length) {
      return h("p", { class: "next-call", id: "next-call" }, "You haven't chosen any call times yet. ", h("a", { href: "/account#schedule" }, "Choose when we call you"), ".");
    }
    if (data.schedule.paused) {
      const until = data.schedule.pausedUntil ? ` until ${formatDay(`${data.schedule.pausedUntil}T12:00:00Z`, "UTC")}` : "";
      return h("p", { class: "next-call", id: "next-call" }, `Your daily calls are paused${until}. `, h("a", { href: "#breaks" }, "Resume them below"), ".");
    }
    if (!data.next) return h("p", { class: "next-call", id: "next-call" }, "No call is planned.");
    return h(
      "p",
      { class: "next-call", id: "next-call" },
      "Next scheduled call: ",
      h("strong", {}, describeWhen(data.next.at, tz)),
      h("span", { class: "muted" }, ` (${zoneLabel(tz)} time)`),
    );
  }

  function callNowForm(data) {
    if (data.upcoming.length) return null;
    const form = h(
      "form",
      { class: "actions call-now" },
      button("Call me now"),
      h("p", { class: "hint" }, "We'll ring your phone within a minute and ask today's prompts. On the call, press 1 to skip a prompt, 0 to hear it again, or 9 to finish."),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        await api("Calls/now", {});
        announce("Call queued. We'll ring you in a moment.", "success");
        await refresh();
      },
      { busyLabel: "Queuing…" },
    );
    return form;
  }

  // Redrawn only when what it shows changed (a poll must not take the focus off a button).
  let shown = "";
  function draw(data) {
    const parts = [statusBlock(data), nextLine(data), callNowForm(data) ?? ""];
    const key = parts.map((part) => (typeof part === "string" ? part : part.textContent)).join("|") + JSON.stringify(data.upcoming.map((c) => c.status));
    if (key === shown && container.querySelector("#call-status")) return;
    shown = key;
    container.replaceChildren(...parts);
  }

  // Every second while a call is queued or under way, every 30 s otherwise (a planned call
  // starting, the next call once today's is over, "requested 2 minutes ago"); not while
  // the tab is hidden: coming back refreshes at once.
  function poll(active) {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(
      () => {
        if (document.hidden || container.querySelector("[aria-busy]")) {
          poll(active); // hidden, or a request of this card is running: look again later
          return;
        }
        refresh().catch(() => poll(active));
      },
      active ? POLL_MS : IDLE_POLL_MS,
    );
  }

  async function refresh() {
    const data = await load();
    if (stopped) return;
    draw(data);
    poll(data.upcoming.length > 0);
    const current = data.upcoming[0];
    Promise.resolve(onCall(current ? liveState(current, data.phone) : null)).catch(() => {}); // next poll retries
  }

  // Coming back to the tab shows the current state at once.
  function onVisible() {
    if (!document.hidden && !stopped && !container.querySelector("[aria-busy]")) refresh().catch(() => {});
  }
  document.addEventListener("visibilitychange", onVisible);

  return {
    refresh,
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
