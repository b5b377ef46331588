// Today: the next call and its status, "call me now", cancelling, and answering by typing instead.

import { api } from "../api.js";
import { dayKey, describeWhen, formatDay, formatTime, zoneLabel } from "../format.js";
import { announce, badge, button, card, field, formError, h, loading, notice, onSubmit } from "../ui.js";
import { ratingFieldset } from "./fields.js";

const POLL_MS = 4000;

const STATUS = {
  PENDING: { label: "Queued", tone: "info" },
  DIALING: { label: "Ringing", tone: "info" },
  IN_PROGRESS: { label: "On the call", tone: "success" },
  COMPLETED: { label: "Done", tone: "success" },
  FAILED: { label: "Missed", tone: "warning" },
  CANCELLED: { label: "Cancelled", tone: "neutral" },
};

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const warning = h("div", { class: "stack-tight" });
  const callCard = card("Your call", { id: "call" });
  const textCard = card("Prefer typing?", { id: "type" });
  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Today"), h("p", { class: "lead" }, formatDay(new Date(), tz))),
    warning,
    h("div", { class: "grid" }, callCard.section, textCard.section),
  );
  callCard.body.append(loading());
  textCard.body.append(loading());

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
  const calls = callPanel(callCard.body, ctx, (status) => text.callChanged(status));
  ctx.onLeave(() => calls.stop());
  await calls.refresh();
}

// -- the call --------------------------------------------------------------------------------

// `onCall(status)` hears the status of the call under way (or null) after each refresh.
function callPanel(container, ctx, onCall = () => {}) {
  const tz = ctx.profile.timezone;
  let timer = null;
  let stopped = false;

  async function load() {
    const [upcoming, recent, next, schedule] = await Promise.all([
      api("CallScheduler/_upcoming"),
      api("CallScheduler/_recent", { limit: 5 }),
      api("Schedule/_nextCall"),
      api("Schedule/_schedule"),
    ]);
    return { upcoming, recent, next: next[0] ?? null, schedule: schedule[0] ?? null };
  }

  function describeCurrent(call) {
    const now = Date.now();
    const attempt = `attempt ${Math.max(call.attempts, 1)} of ${call.maxRetries}`;
    if (call.status === "DIALING") return `Ringing ${call.phoneNumber} now (${attempt}).`;
    if (call.status === "IN_PROGRESS") return "You're on the call. Enjoy your reflection.";
    if (call.nextRetryAt && Date.parse(call.nextRetryAt) > now) {
      return `Nobody answered, so we'll try ${call.phoneNumber} again ${describeWhen(call.nextRetryAt, tz)} (attempt ${call.attempts + 1} of ${call.maxRetries}).`;
    }
    if (Date.parse(call.scheduledFor) > now + 60000) return `We'll ring ${call.phoneNumber} ${describeWhen(call.scheduledFor, tz)}.`;
    return `We'll ring ${call.phoneNumber} in a moment.`;
  }

  function statusBlock(data) {
    const current = data.upcoming[0];
    if (current) {
      const info = STATUS[current.status] ?? { label: current.status, tone: "neutral" };
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
      return h(
        "div",
        { class: "call-status", id: "call-status", dataset: { status: current.status } },
        h("div", { class: "call-status-head" }, badge(info.label, info.tone), h("span", { class: "call-origin" }, current.origin === "now" ? "Requested just now" : "Scheduled call")),
        h("p", { class: "call-detail" }, describeCurrent(current)),
        cancelForm,
      );
    }
    const today = dayKey(new Date(), tz);
    const last = data.recent.find((call) => dayKey(call.scheduledFor, tz) === today && STATUS[call.status] && !["PENDING", "DIALING", "IN_PROGRESS"].includes(call.status));
    if (last) {
      const info = STATUS[last.status];
      let text = "";
      if (last.status === "COMPLETED") text = `Today's call is done${last.completedAt ? ` (finished at ${formatTime(last.completedAt, tz)})` : ""}. Thank you for reflecting.`;
      else if (last.status === "FAILED") text = `We couldn't reach you today${last.errorMessage ? `: ${last.errorMessage}` : "."}`;
      else text = "Today's call was cancelled.";
      return h("div", { class: "call-status", id: "call-status", dataset: { status: last.status } }, h("div", { class: "call-status-head" }, badge(info.label, info.tone)), h("p", { class: "call-detail" }, text));
    }
    return h("div", { class: "call-status call-status-idle", id: "call-status", dataset: { status: "NONE" } }, h("p", { class: "call-detail" }, "No call is queued right now."));
  }

  function nextLine(data) {
    const times = data.schedule ? Object.values(data.schedule.times || {}).filter(Boolean) : [];
    if (!data.schedule || !times.length) {
      return h("p", { class: "next-call", id: "next-call" }, "You haven't chosen any call times yet. ", h("a", { href: "/account#schedule" }, "Choose when we call you"), ".");
    }
    if (data.schedule.paused) {
      return h("p", { class: "next-call", id: "next-call" }, "Your daily calls are paused. ", h("a", { href: "/account#schedule" }, "Resume them in Account"), ".");
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
      h("p", { class: "hint" }, "We'll ring your phone within a minute and ask today's prompts."),
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

  function draw(data) {
    container.replaceChildren(statusBlock(data), nextLine(data), callNowForm(data) ?? "");
  }

  function poll(active) {
    clearTimeout(timer);
    if (!active || stopped) return;
    timer = setTimeout(() => {
      if (document.hidden) {
        poll(true);
        return;
      }
      refresh().catch(() => poll(true));
    }, POLL_MS);
  }

  async function refresh() {
    const data = await load();
    if (stopped) return;
    draw(data);
    poll(data.upcoming.length > 0);
    Promise.resolve(onCall(data.upcoming[0]?.status ?? null)).catch(() => {}); // next poll retries
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

// -- answering by typing ---------------------------------------------------------------------

function answerText(answer) {
  if (answer === null || answer === undefined) return h("p", { class: "answer answer-missing" }, "Not answered yet");
  if (answer === "") return h("p", { class: "answer answer-missing" }, "No answer");
  return h("p", { class: "answer" }, answer);
}

function textPanel(container, ctx, initial) {
  const tz = ctx.profile.timezone;
  let showing = "idle"; // idle | text | phone | done: what the card shows

  function idle() {
    const form = h(
      "form",
      { class: "stack-tight" },
      h("p", {}, "Can't take a call today, or would rather write? Answer today's prompts here instead."),
      h("div", { class: "actions" }, button("Answer today's prompts by typing instead", { kind: "secondary" })),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        try {
          await api("Reflection/startText", {});
        } catch (error) {
          // Already one in progress (another tab, or a call): show it rather than an error.
          if (error.status !== 409) throw error;
          const rows = await api("ReflectionSession/_active");
          if (!rows.length) throw error;
        }
        const rows = await api("ReflectionSession/_active");
        if (!rows.length) throw new Error("the reflection did not start");
        show(rows[0]);
        container.querySelector("textarea")?.focus();
      },
      { busyLabel: "Starting…" },
    );
    showing = "idle";
    container.replaceChildren(form);
  }

  function done() {
    showing = "done";
    container.replaceChildren(
      notice("success", h("strong", {}, "Thank you. Today's reflection is saved. "), h("a", { href: "/history" }, "Read it in History")),
    );
  }

  function discardForm(active) {
    const form = h("form", { class: "actions actions-end" }, button("Discard this reflection", { kind: "quiet" }), formError());
    onSubmit(
      form,
      async () => {
        if (!window.confirm("Discard this reflection? The answers typed so far are kept in History as an abandoned reflection.")) return;
        await api("ReflectionSession/abandonSession", { session: active.session, reason: "discarded in the web app" });
        announce("Reflection discarded.");
        idle();
      },
      { busyLabel: "Discarding…" },
    );
    return form;
  }

  function show(active) {
    if (active.method !== "TEXT") {
      phoneNotice();
      return;
    }
    showing = "text";
    const total = active.prompts.length;
    const answered = active.prompts.filter((p) => p.answer !== null);
    const list = answered.length
      ? h("ol", { class: "qa" }, answered.map((p) => h("li", {}, h("p", { class: "question" }, p.text), answerText(p.answer))))
      : null;
    const parts = [h("p", { class: "muted" }, `Started ${describeWhen(active.startedAt, tz)}.`), list];

    const current = active.prompts.find((p) => p.position === active.nextPosition);
    if (current) {
      const answer = field({
        name: "text",
        label: current.text,
        type: "textarea",
        hint: "Leave it blank to skip this one.",
        inputProps: { rows: 4, maxlength: 10000 },
      });
      const last = answered.length + 1 === total;
      const form = h(
        "form",
        { class: "stack-tight answer-form" },
        h("p", { class: "step" }, `Prompt ${current.position} of ${total}`),
        answer.wrap,
        h("div", { class: "actions" }, button(last ? "Save answer" : "Save and continue")),
        formError(),
      );
      onSubmit(form, async () => {
        const text = answer.input.value;
        await api("ReflectionSession/recordResponse", { session: active.session, position: current.position, text });
        current.answer = text.trim();
        const next = active.prompts.find((p) => p.answer === null);
        active.nextPosition = next ? next.position : null;
        show(active);
        const focusTarget = container.querySelector("textarea") || container.querySelector(".finish-form button");
        focusTarget?.focus();
        announce(next ? `Saved. Prompt ${next.position} of ${total}.` : "Saved. That was the last prompt.");
      });
      parts.push(form);
    } else {
      const rating = ctx.profile.includeRating ? ratingFieldset() : null;
      const form = h(
        "form",
        { class: "stack-tight finish-form" },
        h("p", {}, "That's every prompt. Finish to save your reflection."),
        rating?.fieldset,
        h("div", { class: "actions" }, button("Finish reflection")),
        formError(),
      );
      onSubmit(form, async () => {
        const value = rating?.value();
        if (value !== null && value !== undefined) await api("ReflectionSession/setRating", { session: active.session, rating: value });
        await api("ReflectionSession/completeSession", { session: active.session });
        announce("Reflection saved.", "success");
        done();
      });
      parts.push(form);
    }
    parts.push(discardForm(active));
    container.replaceChildren(...parts.filter(Boolean));
  }

  function phoneNotice() {
    showing = "phone";
    container.replaceChildren(
      notice("info", "A phone reflection is in progress. When it ends you'll find it in History."),
    );
  }

  if (initial) show(initial);
  else idle();

  return {
    // A call that goes live while this page is open takes the place of typing; once it
    // is over, typing is offered again (for one more reflection today, if wanted).
    async callChanged(status) {
      if (status === "IN_PROGRESS" && showing === "idle") phoneNotice();
      else if (status !== "IN_PROGRESS" && showing === "phone") {
        const rows = await api("ReflectionSession/_active");
        if (rows.length) show(rows[0]);
        else idle();
      }
    },
  };
}
