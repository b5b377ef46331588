// History: past reflections, newest first, in the user's time zone.

import { api, apiBlob } from "../api.js";
import { formatDay, formatTime, ratingLabel, zoneLabel } from "../format.js";
import { announce, badge, button, formError, h, loading, onSubmit, showFormError } from "../ui.js";
import { ratingFieldset } from "./fields.js";
import { STATE_LABELS, attemptList, attemptsOf, outcomeInline, unfinishedText } from "./outcomes.js";
import { historyViews } from "./calendar.js";
import { answerItem } from "./edit.js";

const PAGE_SIZE = 10;

const STATUS = {
  COMPLETED: { label: "Completed", tone: "success" },
  IN_PROGRESS: { label: "In progress", tone: "info" },
  ABANDONED: STATE_LABELS.unfinished, // the word Today uses for the same call
};

function ratingArea(session) {
  const area = h("div", { class: "session-rating" });
  const showValue = (value) => area.replaceChildren(h("p", {}, h("span", { class: "muted" }, "Your day: "), h("strong", {}, ratingLabel(value))));
  if (session.rating !== null && session.rating !== undefined) {
    showValue(session.rating);
  } else if (session.status !== "ABANDONED") {
    const rating = ratingFieldset({ legend: "How was this day?" });
    const form = h("form", { class: "stack-tight rating-form" }, rating.fieldset, h("div", { class: "actions" }, button("Save rating", { kind: "secondary" })), formError());
    onSubmit(form, async () => {
      const value = rating.value();
      if (value === null) {
        showFormError(form, "Choose one of the five options first.");
        return;
      }
      await api("ReflectionSession/setRating", { session: session.session, rating: value });
      session.rating = value;
      showValue(value);
      announce("Rating saved.", "success");
    });
    area.append(form);
  }
  return area;
}

/**
 * The call's recording, played here: the service streams it (GET /api/recordings/<id>,
 * with the session token), so the provider's URL never reaches the page. Loaded on
 * request, then an <audio> player on the downloaded audio.
 */
function recordingPlayer(session, tz) {
  if (!session.hasRecording) return null;
  const area = h("div", { class: "recording" });
  const form = h("form", { class: "recording-load" }, button("Play the recording", { kind: "secondary" }), formError());
  onSubmit(
    form,
    async () => {
      const audio = await apiBlob(`recordings/${encodeURIComponent(session.session)}`);
      const player = h("audio", {
        controls: true,
        preload: "auto",
        src: URL.createObjectURL(audio),
        "aria-label": `Recording of the call on ${formatDay(session.startedAt, tz)}`,
      });
      area.replaceChildren(player);
      player.focus();
      player.play().catch(() => {}); // a browser that blocks autoplay leaves the controls to the user
    },
    { busyLabel: "Loading…" },
  );
  area.append(form);
  return area;
}

function sessionCard(session, tz) {
  const status = STATUS[session.status] ?? { label: session.status, tone: "neutral" };
  const headingId = `s-${session.session}`;
  const recording = recordingPlayer(session, tz);
  return h(
    "li",
    {},
    h(
      "article",
      { class: "card session", "aria-labelledby": headingId, dataset: { session: session.session } },
      h(
        "header",
        { class: "session-head" },
        h("h2", { id: headingId, class: "card-title" }, formatDay(session.startedAt, tz)),
        h(
          "p",
          { class: "session-meta" },
          h("time", { datetime: session.startedAt }, formatTime(session.startedAt, tz)),
          " · ",
          session.method === "PHONE" ? "Phone call" : "Typed",
          " ",
          badge(status.label, status.tone),
        ),
      ),
      session.status === "ABANDONED" ? h("p", { class: "session-note" }, unfinishedText(session)) : null,
      h(
        "ol",
        { class: "qa" },
        session.prompts.map((p) => answerItem(session, p, tz)), // with Edit, once finished (edit.js)
      ),
      ratingArea(session),
      recording,
    ),
  );
}

// A day we could not reach the user: a missed call, with each attempt and what it came to.
function missedCard(call, tz) {
  const headingId = `m-${call.scheduledCall}`;
  const tried = attemptsOf(call);
  const summary = tried.length
    ? `We couldn't reach you: we tried ${tried.length} time${tried.length === 1 ? "" : "s"}.`
    : `We couldn't call you: ${outcomeInline(call.lastOutcome)}.`;
  return h(
    "li",
    {},
    h(
      "article",
      { class: "card session session-missed", "aria-labelledby": headingId, dataset: { missed: call.scheduledCall } },
      h(
        "header",
        { class: "session-head" },
        h("h2", { id: headingId, class: "card-title" }, formatDay(call.scheduledFor, tz)),
        h(
          "p",
          { class: "session-meta" },
          h("time", { datetime: call.scheduledFor }, formatTime(call.scheduledFor, tz)),
          " · ",
          call.origin === "now" ? "Call you asked for" : "Scheduled call",
          " ",
          badge(STATE_LABELS.missed.label, STATE_LABELS.missed.tone),
        ),
      ),
      h("p", {}, summary),
      attemptList(call, tz),
    ),
  );
}

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const list = h("ol", { class: "sessions", "aria-label": "Reflections" });
  const more = h("div", { class: "actions actions-center" });
  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "History"), h("p", { class: "lead" }, `Your reflections and missed calls, newest first. Times are in ${zoneLabel(tz)}.`)),
    historyViews("list"),
    list,
    more,
  );
  const spinner = loading();
  view.insertBefore(spinner, list);

  let before = null;
  let missedBefore = null; // missed days are shown with the reflections of their period
  async function loadPage() {
    const body = { limit: PAGE_SIZE };
    if (before) body.before = before;
    const rows = await api("ReflectionSession/_history", body);
    // This page covers back to its oldest reflection; the last page, everything older.
    const oldest = rows.length === PAGE_SIZE ? rows[rows.length - 1].startedAt : null;
    const window = {};
    if (missedBefore) window.before = missedBefore;
    if (oldest) window.after = oldest;
    const missed = await api("CallScheduler/_missed", window);
    if (!ctx.isCurrent()) return [];
    const entries = [
      ...rows.map((session) => ({ at: Date.parse(session.startedAt), card: () => sessionCard(session, tz) })),
      ...missed.map((call) => ({ at: Date.parse(call.scheduledFor), card: () => missedCard(call, tz) })),
    ].sort((a, b) => b.at - a.at);
    for (const entry of entries) list.append(entry.card());
    if (oldest) missedBefore = oldest;
    if (rows.length) before = rows[rows.length - 1].session;
    more.replaceChildren();
    if (rows.length === PAGE_SIZE) {
      const form = h("form", {}, button("Show older reflections", { kind: "secondary" }), formError());
      onSubmit(
        form,
        async () => {
          const firstNew = list.children.length;
          const added = await loadPage();
          announce(added.length ? `${added.length} older reflection${added.length === 1 ? "" : "s"} shown.` : "No older reflections.");
          list.children[firstNew]?.querySelector("h2")?.setAttribute("tabindex", "-1");
          list.children[firstNew]?.querySelector("h2")?.focus();
        },
        { busyLabel: "Loading…" },
      );
      more.append(form);
    }
    return rows;
  }

  const first = await loadPage();
  spinner.remove();
  if (!first.length && !list.children.length && ctx.isCurrent()) {
    list.replaceWith(
      h(
        "div",
        { class: "card empty", id: "history-empty" },
        h("h2", { class: "card-title" }, "No reflections yet"),
        h("p", {}, "After your first call, or after answering today's prompts by typing, your reflections appear here."),
        h("p", {}, h("a", { href: "/today" }, "Go to Today")),
      ),
    );
  }
}
