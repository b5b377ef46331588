// Shared by the calendar and the week: local dates as "YYYY-MM-DD", the day states in
// words, the History/calendar request, and the ratings chart drawn as inline SVG.

import { api } from "../api.js";
import { ratingLabel } from "../format.js";
import { h } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";

// Each state: its words, a glyph (so colour is never the only sign), and its tone.
export const DAY_STATES = {
  done: { label: "Done", glyph: "✓" },
  unfinished: { label: "Not finished", glyph: "◐" },
  missed: { label: "Missed", glyph: "✕" },
  skipped: { label: "Skipped", glyph: "–" },
  none: { label: "Nothing planned", glyph: "" },
  future: { label: "Still to come", glyph: "" },
};

/** "Done by phone", "Done, typed", "Missed", ...: a day's state for a person. */
export function stateText(day) {
  if (day.state !== "done") return DAY_STATES[day.state]?.label ?? day.state;
  return day.method === "PHONE" ? "Done by phone" : "Done, typed";
}

/** A "YYYY-MM-DD" as a Date at UTC midnight: calendar arithmetic with no zone in it. */
export function parseDay(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function dayText(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(text, n) {
  const date = parseDay(text);
  date.setUTCDate(date.getUTCDate() + n);
  return dayText(date);
}

/** The Monday of the week of `text`. */
export function mondayOf(text) {
  const weekday = (parseDay(text).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  return addDays(text, -weekday);
}

/** Is `text` a real date "YYYY-MM-DD"? */
export function isDay(text) {
  return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text) && dayText(parseDay(text)) === text;
}

const formats = new Map();

/** A local date in words (`options` of Intl.DateTimeFormat); the date has no zone of its own. */
export function dayWords(text, options) {
  const key = JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(undefined, { timeZone: "UTC", ...options }));
  return formats.get(key).format(parseDay(text));
}

/** POST History/calendar for `start`..`end` (local dates, inclusive). */
export function fetchDays(start, end) {
  return api("History/calendar", { start, end });
}

/** "1 day", "3 days" */
export function daysCount(n) {
  return `${n} day${n === 1 ? "" : "s"}`;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * The ratings of `days` (each {date, rating}) as bars up (good) or down (hard) from "Okay",
 * in an inline SVG with a title and a description; each bar has its own <title>. A day with
 * no rating has no bar. `label(day)` names a day under its bar (null: no label).
 */
export function ratingChart(days, { title, label = () => null, id }) {
  const width = Math.max(280, days.length * 22);
  const height = 150;
  const top = 12;
  const bottom = 24;
  const left = 34;
  const unit = (height - top - bottom) / 4; // -2..+2
  const zero = top + 2 * unit;
  const step = (width - left - 6) / Math.max(1, days.length);
  const barWidth = Math.max(4, Math.min(18, step * 0.6));
  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const rated = days.filter((d) => d.rating !== null && d.rating !== undefined);
  const description = rated.length
    ? rated.map((d) => `${dayWords(d.date, { weekday: "short", day: "numeric", month: "short" })}: ${ratingLabel(d.rating)}`).join("; ")
    : "No day was rated.";
  const chart = svg(
    "svg",
    { class: "rating-chart", id, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${titleId} ${descId}`, preserveAspectRatio: "xMinYMid meet" },
    svg("title", { id: titleId }, title),
    svg("desc", { id: descId }, description),
  );
  for (const value of [-2, -1, 0, 1, 2]) {
    const y = zero - value * unit;
    chart.append(svg("line", { class: value === 0 ? "axis" : "grid-line", x1: left, x2: width - 4, y1: y, y2: y }));
    chart.append(svg("text", { class: "tick", x: left - 6, y: y + 4, "text-anchor": "end" }, value > 0 ? `+${value}` : value));
  }
  days.forEach((day, i) => {
    const x = left + i * step + (step - barWidth) / 2;
    const name = label(day);
    if (name) chart.append(svg("text", { class: "tick", x: x + barWidth / 2, y: height - 6, "text-anchor": "middle" }, name));
    if (day.rating === null || day.rating === undefined) return;
    const y = day.rating >= 0 ? zero - day.rating * unit : zero;
    const size = Math.max(2, Math.abs(day.rating) * unit);
    const tone = day.rating > 0 ? "good" : day.rating < 0 ? "hard" : "okay";
    chart.append(
      svg(
        "rect",
        { class: `bar bar-${tone}`, x, y: day.rating === 0 ? zero - 1 : y, width: barWidth, height: day.rating === 0 ? 2 : size, rx: 2, "data-date": day.date, "data-rating": day.rating },
        svg("title", {}, `${dayWords(day.date, { weekday: "long", day: "numeric", month: "long" })}: ${ratingLabel(day.rating)}`),
      ),
    );
  });
  return h("figure", { class: "chart" }, chart, h("figcaption", { class: "muted" }, rated.length ? `${rated.length} rated day${rated.length === 1 ? "" : "s"}.` : "No day was rated."));
}
