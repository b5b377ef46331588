// Week: a look back at one week (Monday to Sunday, in the profile's zone): each day's
// answers, the ratings as a small inline SVG chart, and the days missed.
// /week?start=YYYY-MM-DD (any day of the week; the page shows its Monday to Sunday).

import { api } from "../api.js";
import { dayKey, formatTime, ratingLabel, zoneLabel } from "../format.js";
import { badge, h, loading } from "../ui.js";
import { historyViews } from "./calendar.js";
import { DAY_STATES, addDays, dayWords, fetchDays, isDay, mondayOf, parseDay, ratingChart, stateText } from "./days.js";
import { attemptList, attemptsOf, outcomeText, unfinishedText } from "./outcomes.js";

const TONES = { done: "success", unfinished: "neutral", missed: "warning", skipped: "neutral", none: "neutral", future: "neutral" };

function answer(text) {
  if (text === null || text === undefined) return h("p", { class: "answer answer-missing" }, "Not answered");
  if (text === "") return h("p", { class: "answer answer-missing" }, "No answer");
  return h("p", { class: "answer" }, text);
}

function reflection(session, tz) {
  return h(
    "article",
    { class: "week-reflection", dataset: { session: session.session } },
    h(
      "p",
      { class: "session-meta" },
      h("time", { datetime: session.startedAt }, formatTime(session.startedAt, tz)),
      " · ",
      session.method === "PHONE" ? "Phone call" : "Typed",
      session.rating !== null && session.rating !== undefined ? ` · ${ratingLabel(session.rating)}` : null,
    ),
    session.status === "ABANDONED" ? h("p", { class: "session-note" }, unfinishedText(session)) : null,
    session.status === "IN_PROGRESS" ? h("p", { class: "session-note" }, "In progress.") : null,
    h("ol", { class: "qa" }, session.prompts.map((p) => h("li", {}, h("p", { class: "question" }, p.text), answer(p.answer)))),
  );
}

function missedNote(call, tz) {
  const tried = attemptsOf(call);
  const summary = tried.length
    ? `We couldn't reach you at ${formatTime(call.scheduledFor, tz)}: we tried ${tried.length} time${tried.length === 1 ? "" : "s"}.`
    : `${outcomeText(call.lastOutcome)} (${formatTime(call.scheduledFor, tz)}).`;
  return h("div", { class: "week-missed", dataset: { missed: call.scheduledCall } }, h("p", {}, summary), attemptList(call, tz));
}

function daySection(day, sessions, missed, tz, today) {
  const headingId = `h-${day.date}`;
  const empty = !sessions.length && !missed.length;
  return h(
    "section",
    { class: `card week-day day-${day.state}`, id: `day-${day.date}`, "aria-labelledby": headingId, dataset: { date: day.date, state: day.state } },
    h(
      "header",
      { class: "session-head" },
      h("h2", { class: "card-title", id: headingId }, dayWords(day.date, { weekday: "long", day: "numeric", month: "long" }), day.date === today ? " (today)" : ""),
      h("p", { class: "session-meta" }, badge(stateText(day), TONES[day.state] ?? "neutral")),
    ),
    sessions.map((s) => reflection(s, tz)),
    missed.map((c) => missedNote(c, tz)),
    empty && day.state === "skipped" ? h("p", { class: "muted" }, "The call was called off.") : null,
    empty && day.state === "none" ? h("p", { class: "muted" }, "No call was planned, and nothing was written.") : null,
    empty && day.state === "future" ? h("p", { class: "muted" }, "Still to come.") : null,
  );
}

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const today = dayKey(new Date(), tz);
  const asked = new URLSearchParams(location.search).get("start");
  const start = mondayOf(isDay(asked) ? asked : today);
  const end = addDays(start, 6);
  const range = `${dayWords(start, { day: "numeric", month: "long" })} – ${dayWords(end, { day: "numeric", month: "long", year: "numeric" })}`;

  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Your week"), h("p", { class: "lead", id: "week-range" }, `${range}. Days are in ${zoneLabel(tz)}.`)),
    historyViews("week"),
  );
  const spinner = loading();
  view.append(spinner);
  // Wide enough on both sides for any zone; each row is then placed on its local day.
  const since = new Date(parseDay(addDays(start, -1))).toISOString();
  const until = new Date(parseDay(addDays(end, 2))).toISOString();
  const [data, sessions, missed] = await Promise.all([
    fetchDays(start, end),
    api("ReflectionSession/_between", { since, until }),
    api("CallScheduler/_missed", { after: since, before: until }),
  ]);
  if (!ctx.isCurrent()) return;
  spinner.remove();

  const byDay = (rows, at) => {
    const out = new Map();
    for (const row of rows) {
      const key = dayKey(row[at], tz);
      if (!out.has(key)) out.set(key, []);
      out.get(key).push(row);
    }
    return out;
  };
  const sessionsOf = byDay(sessions, "startedAt");
  const missedOf = byDay(missed, "scheduledFor");
  missedOf.forEach((rows) => rows.reverse()); // oldest first, as the reflections

  const done = data.days.filter((d) => d.state === "done").length;
  const missedDays = data.days.filter((d) => d.state === "missed");
  const over = data.days.filter((d) => d.state !== "future").length;
  const summary = [`${done} of ${over} day${over === 1 ? "" : "s"} so far done`];
  if (missedDays.length) {
    summary.push(`missed: ${missedDays.map((d) => dayWords(d.date, { weekday: "long" })).join(", ")}`);
  }
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Weeks" },
    h("a", { href: `/week?start=${addDays(start, -7)}`, rel: "prev", class: "btn btn-secondary" }, "← Previous week"),
    h("a", { href: `/calendar?month=${start.slice(0, 7)}`, class: "pager-title" }, "Month"),
    end < today ? h("a", { href: `/week?start=${addDays(start, 7)}`, rel: "next", class: "btn btn-secondary" }, "Next week →") : h("span", { class: "pager-spacer" }),
  );
  view.append(
    pager,
    h(
      "section",
      { class: "card", "aria-labelledby": "week-summary-title" },
      h("h2", { class: "card-title", id: "week-summary-title" }, "The week at a glance"),
      h("p", { id: "week-summary" }, `${summary.join("; ")}.`),
      ratingChart(data.days, { id: "week-chart", title: `Ratings, ${range}`, label: (d) => dayWords(d.date, { weekday: "short" }) }),
      h(
        "ul",
        { class: "week-strip", "aria-label": "Days of the week" },
        data.days.map((d) =>
          h("li", { class: `day-${d.state}` }, h("a", { href: `#day-${d.date}` }, h("span", { class: "legend-swatch", "aria-hidden": "true" }, DAY_STATES[d.state]?.glyph ?? ""), `${dayWords(d.date, { weekday: "short" })}: ${stateText(d)}`)),
        ),
      ),
    ),
    ...data.days.map((d) => daySection(d, sessionsOf.get(d.date) ?? [], missedOf.get(d.date) ?? [], tz, data.today)),
  );
}
