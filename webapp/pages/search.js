// Search: one's own reflections by words and dates (ReflectionSession._search). The server
// decrypts only this user's answers to match them; nothing is sent anywhere else. The words
// and dates are kept in the address (?q=&from=&to=), so a reload or a shared tab keeps them.

import { api, apiBlob } from "../api.js";
import { formatDay, formatTime, ratingLabel, zoneLabel } from "../format.js";
import { announce, badge, button, field, formError, h, onSubmit, showFieldError } from "../ui.js";

const PAGE_SIZE = 20;
const WORD = /[\p{L}\p{N}_]+/gu;
const NOT_WORD = "[^\\p{L}\\p{N}_]";
const STATUS = {
  COMPLETED: { label: "Completed", tone: "success" },
  IN_PROGRESS: { label: "In progress", tone: "info" },
  ABANDONED: { label: "Not finished", tone: "warning" },
};

/** Lower case without accents, as the server folds; with where each folded character came from. */
function foldWithMap(text) {
  let folded = "";
  const from = [];
  for (let i = 0; i < text.length; i += 1) {
    const part = text[i].normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
    folded += part;
    for (let k = 0; k < part.length; k += 1) from.push(i);
  }
  return { folded, from };
}

/** The terms as the server reads them: words, or "quoted words" in a row; the last word of
 * each may begin a longer one. */
export function termPatterns(words) {
  const patterns = [];
  for (const [, phrase, word] of words.matchAll(/"([^"]*)"|(\S+)/g)) {
    const parts = foldWithMap(phrase ?? word).folded.match(WORD);
    if (!parts) continue;
    const escaped = parts.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const whole = escaped.slice(0, -1).map((w) => `${w}(?![\\p{L}\\p{N}_])`);
    patterns.push(new RegExp(`(?<![\\p{L}\\p{N}_])${[...whole, escaped.at(-1)].join(`${NOT_WORD}+`)}`, "gu"));
  }
  return patterns;
}

/** `text` with what the terms found in <mark>, built from text nodes only. */
function highlighted(text, patterns) {
  const { folded, from } = foldWithMap(text);
  const spans = [];
  for (const pattern of patterns) {
    for (const m of folded.matchAll(pattern)) {
      if (!m[0].length) continue;
      spans.push([from[m.index], from[m.index + m[0].length - 1] + 1]);
    }
  }
  spans.sort((a, b) => a[0] - b[0]);
  const out = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (end <= at) continue;
    const begin = Math.max(start, at);
    if (begin > at) out.push(text.slice(at, begin));
    out.push(h("mark", {}, text.slice(begin, end)));
    at = end;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Milliseconds that `timeZone` is ahead of UTC at the instant `utcMs`. */
function zoneOffset(utcMs, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) - utcMs;
}

/** The instant a calendar day ("2025-03-30", plus `days`) begins in `timeZone`, as ISO text. */
export function dayStart(day, timeZone, days = 0) {
  const [y, m, d] = day.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d + days);
  let utc = wall - zoneOffset(wall, timeZone);
  utc = wall - zoneOffset(utc, timeZone); // again, in case the first guess crossed a clock change
  return new Date(utc).toISOString();
}

function answerText(answer, patterns) {
  if (answer === null || answer === undefined) return h("p", { class: "answer answer-missing" }, "Not answered");
  if (answer === "") return h("p", { class: "answer answer-missing" }, "No answer");
  return h("p", { class: "answer" }, ...highlighted(answer, patterns));
}

// The recording, streamed by the service to this session only (as History plays it).
function recordingPlayer(session, tz) {
  if (!session.hasRecording) return null;
  const area = h("div", { class: "recording" });
  const form = h("form", { class: "recording-load" }, button("Play the recording", { kind: "secondary" }), formError());
  onSubmit(form, async () => {
    const audio = await apiBlob(`recordings/${encodeURIComponent(session.session)}`);
    const label = `Recording of the call on ${formatDay(session.startedAt, tz)}`;
    const player = h("audio", { controls: true, preload: "auto", src: URL.createObjectURL(audio), "aria-label": label });
    area.replaceChildren(player);
    player.focus();
  }, { busyLabel: "Loading…" });
  area.append(form);
  return area;
}

function resultCard(session, tz, patterns) {
  const status = STATUS[session.status] ?? { label: session.status, tone: "neutral" };
  const headingId = `r-${session.session}`;
  const matched = new Set(session.matched);
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
      h(
        "ol",
        { class: "qa" },
        session.prompts.map((p) =>
          h(
            "li",
            { dataset: matched.has(p.position) ? { matched: "" } : {} },
            h("p", { class: "question" }, ...highlighted(p.text, patterns)),
            answerText(p.answer, patterns),
          ),
        ),
      ),
      session.rating !== null && session.rating !== undefined
        ? h("p", {}, h("span", { class: "muted" }, "Your day: "), h("strong", {}, ratingLabel(session.rating)))
        : null,
      recordingPlayer(session, tz),
    ),
  );
}

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const params = new URLSearchParams(location.search);
  const words = field({ name: "words", label: "Words", type: "search", value: params.get("q") ?? "", hint: 'All the words must be there; "quoted words" together.' });
  const from = field({ name: "since", label: "From", type: "date", value: params.get("from") ?? "" });
  const to = field({ name: "until", label: "To", type: "date", value: params.get("to") ?? "" });
  const form = h(
    "form",
    { class: "card stack", id: "search-form", role: "search", "aria-label": "Search your reflections" },
    words.wrap,
    h("div", { class: "field-row" }, from.wrap, to.wrap),
    h("div", { class: "actions" }, button("Search"), formError()),
  );
  const summary = h("p", { id: "search-summary", class: "muted", "aria-live": "polite" });
  const list = h("ol", { class: "sessions", id: "search-results", "aria-label": "Reflections found" });
  const more = h("div", { class: "actions actions-center" });
  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Search"), h("p", { class: "lead" }, `Find your own reflections by their words and dates. Dates are days in ${zoneLabel(tz)}.`)),
    form,
    summary,
    list,
    more,
  );

  let query = null;
  let before = null;
  let shown = 0;

  async function loadPage() {
    const body = { ...query.body, limit: PAGE_SIZE };
    if (before) body.before = before;
    const rows = await api("ReflectionSession/_search", body);
    if (!ctx.isCurrent()) return rows;
    for (const row of rows) list.append(resultCard(row, tz, query.patterns));
    shown += rows.length;
    if (rows.length) before = rows[rows.length - 1].session;
    const plural = shown === 1 ? "reflection" : "reflections";
    summary.textContent = shown ? `${shown}${rows.length === PAGE_SIZE ? " or more" : ""} ${plural} found, newest first.` : "No reflections found.";
    more.replaceChildren();
    if (rows.length === PAGE_SIZE) {
      const moreForm = h("form", {}, button("Show older results", { kind: "secondary" }), formError());
      onSubmit(moreForm, async () => {
        const firstNew = list.children.length;
        await loadPage();
        const heading = list.children[firstNew]?.querySelector("h2");
        heading?.setAttribute("tabindex", "-1");
        heading?.focus();
      }, { busyLabel: "Loading…" });
      more.append(moreForm);
    }
    return rows;
  }

  async function search() {
    const q = words.input.value.trim();
    const since = from.input.value;
    const until = to.input.value;
    if (since && until && since > until) {
      showFieldError(form, "until", "The last day is before the first one.");
      return;
    }
    const body = { words: q };
    if (since) body.since = dayStart(since, tz);
    if (until) body.until = dayStart(until, tz, 1); // the whole last day
    const address = new URLSearchParams();
    if (q) address.set("q", q);
    if (since) address.set("from", since);
    if (until) address.set("to", until);
    history.replaceState(history.state, "", `/search${address.size ? `?${address}` : ""}`);
    query = { body, patterns: termPatterns(q) };
    before = null;
    shown = 0;
    list.replaceChildren();
    await loadPage();
    announce(summary.textContent);
  }

  onSubmit(form, search, { busyLabel: "Searching…" });
  if (params.get("q") || params.get("from") || params.get("to")) await search();
  else words.input.focus();
}
