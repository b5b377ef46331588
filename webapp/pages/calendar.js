// Calendar: History as a month, each day done (phone or typed), not finished, missed,
// skipped or with nothing planned; the streaks; the month's days as a list beside the grid;
// the month's ratings as an inline SVG chart. /calendar?month=YYYY-MM moves by month.

import { dayKey, ratingLabel, zoneLabel } from "../format.js";
import { h, loading } from "../ui.js";
import { DAY_STATES, addDays, dayWords, daysCount, fetchDays, mondayOf, ratingChart, stateText } from "./days.js";

const WEEKDAY_KEYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function monthOf(text) {
  return text.slice(0, 7);
}

function shiftMonth(month, n) {
  const [y, m] = month.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1 + n, 1));
  return date.toISOString().slice(0, 7);
}

function lastDay(month) {
  return addDays(`${shiftMonth(month, 1)}-01`, -1);
}

/** The views of History: the list, the calendar, the week (`current` is this page's). */
export function historyViews(current) {
  const link = (href, text, key) => h("li", {}, h("a", { href, "aria-current": key === current ? "page" : null }, text));
  return h("nav", { class: "view-switch", "aria-label": "History views" }, h("ul", {}, link("/history", "List", "list"), link("/calendar", "Calendar", "calendar"), link("/week", "Week", "week")));
}

function dayLabel(day) {
  const rated = day.rating !== null && day.rating !== undefined ? `, rated ${ratingLabel(day.rating)}` : "";
  return `${dayWords(day.date, { weekday: "long", day: "numeric", month: "long" })}: ${stateText(day)}${rated}`;
}

function dayCell(day, month, today) {
  if (monthOf(day.date) !== month) return h("td", { class: "day day-outside", "aria-hidden": "true" });
  const info = DAY_STATES[day.state] ?? DAY_STATES.none;
  const number = Number(day.date.slice(8));
  const content = [
    h("span", { class: "day-number" }, number),
    info.glyph ? h("span", { class: "day-glyph", "aria-hidden": "true" }, info.glyph) : null,
    day.state === "done" ? h("span", { class: "day-method", "aria-hidden": "true" }, day.method === "PHONE" ? "phone" : "typed") : null,
  ];
  const label = dayLabel(day);
  const inner = day.state === "future"
    ? h("span", { class: "day-inner", "aria-label": label }, content)
    : h("a", { class: "day-inner", href: `/week?start=${mondayOf(day.date)}#day-${day.date}`, "aria-label": label }, content);
  return h(
    "td",
    { class: `day day-${day.state}${day.date === today ? " day-today" : ""}`, dataset: { date: day.date, state: day.state }, "aria-current": day.date === today ? "date" : null },
    inner,
  );
}

function grid(data, month) {
  const weeks = [];
  for (let i = 0; i < data.days.length; i += 7) weeks.push(data.days.slice(i, i + 7));
  const head = WEEKDAY_KEYS.map((key, i) => {
    const sample = addDays(data.days[0].date, i);
    return h("th", { scope: "col", abbr: dayWords(sample, { weekday: "long" }) }, dayWords(sample, { weekday: "short" }));
  });
  return h(
    "table",
    { class: "month-grid", id: "month-grid" },
    h("caption", { class: "visually-hidden" }, `${dayWords(`${month}-01`, { month: "long", year: "numeric" })}, day by day`),
    h("thead", {}, h("tr", {}, head)),
    h("tbody", {}, weeks.map((week) => h("tr", {}, week.map((day) => dayCell(day, month, data.today))))),
  );
}

function legend() {
  const items = ["done", "unfinished", "missed", "skipped", "none"].map((state) =>
    h("li", { class: `legend-item day-${state}` }, h("span", { class: "legend-swatch", "aria-hidden": "true" }, DAY_STATES[state].glyph), DAY_STATES[state].label),
  );
  return h("ul", { class: "legend", "aria-label": "What the days show" }, items);
}

function dayList(days, month) {
  const shown = days.filter((d) => monthOf(d.date) === month && d.state !== "none" && d.state !== "future").reverse();
  if (!shown.length) return h("p", { class: "muted", id: "month-list" }, "Nothing happened this month.");
  return h(
    "ol",
    { class: "month-list", id: "month-list", "aria-label": "Days of the month, newest first" },
    shown.map((day) =>
      h(
        "li",
        { class: `day-${day.state}`, dataset: { date: day.date } },
        h("span", { class: "legend-swatch", "aria-hidden": "true" }, DAY_STATES[day.state].glyph),
        h(
          "span",
          {},
          h("a", { href: `/week?start=${mondayOf(day.date)}#day-${day.date}` }, dayWords(day.date, { weekday: "short", day: "numeric", month: "short" })),
          ` ${stateText(day)}`,
          day.rating !== null && day.rating !== undefined ? h("span", { class: "muted" }, ` · ${ratingLabel(day.rating)}`) : null,
        ),
      ),
    ),
  );
}

function streaks(data) {
  const stat = (id, value, label) => h("div", { class: "stat", id }, h("p", { class: "stat-value" }, daysCount(value)), h("p", { class: "stat-label" }, label));
  return h(
    "section",
    { class: "card streaks", "aria-label": "Streaks" },
    h("div", { class: "stats" }, stat("streak-current", data.currentStreak, "Current streak"), stat("streak-longest", data.longestStreak, "Longest streak")),
    h("p", { class: "hint" }, "A streak counts the days you reflected in a row. A missed or unfinished day ends it; a day you skipped, or with no call planned, doesn't."),
  );
}

export async function render(view, ctx) {
  const tz = ctx.profile.timezone;
  const today = dayKey(new Date(), tz);
  const asked = new URLSearchParams(location.search).get("month");
  const month = asked && /^\d{4}-(0[1-9]|1[0-2])$/.test(asked) ? asked : monthOf(today);
  const start = mondayOf(`${month}-01`);
  const end = addDays(mondayOf(lastDay(month)), 6);
  const title = dayWords(`${month}-01`, { month: "long", year: "numeric" });

  view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Calendar"), h("p", { class: "lead" }, `Your days, month by month. Days are in ${zoneLabel(tz)}.`)),
    historyViews("calendar"),
  );
  const spinner = loading();
  view.append(spinner);
  const data = await fetchDays(start, end);
  if (!ctx.isCurrent()) return;
  spinner.remove();

  const prev = shiftMonth(month, -1);
  const next = shiftMonth(month, 1);
  const words = (m) => dayWords(`${m}-01`, { month: "long", year: "numeric" });
  const monthNav = h(
    "nav",
    { class: "pager", "aria-label": "Months" },
    h("a", { href: `/calendar?month=${prev}`, rel: "prev", class: "btn btn-secondary" }, `← ${words(prev)}`),
    h("h2", { class: "pager-title", id: "month-title" }, title),
    next <= monthOf(data.today) ? h("a", { href: `/calendar?month=${next}`, rel: "next", class: "btn btn-secondary" }, `${words(next)} →`) : h("span", { class: "pager-spacer" }),
  );
  const inMonth = data.days.filter((d) => monthOf(d.date) === month);
  const counts = ["done", "missed", "unfinished", "skipped"]
    .map((state) => [state, inMonth.filter((d) => d.state === state).length])
    .filter(([, n]) => n)
    .map(([state, n]) => `${DAY_STATES[state].label.toLowerCase()}: ${n}`);
  view.append(
    streaks(data),
    h(
      "section",
      { class: "card month", "aria-labelledby": "month-title" },
      monthNav,
      h("p", { class: "muted", id: "month-summary" }, counts.length ? `This month, ${counts.join(", ")}.` : "Nothing happened this month."),
      h("div", { class: "month-layout" }, h("div", { class: "month-main" }, grid(data, month), legend()), h("div", { class: "month-side" }, h("h3", {}, "Day by day"), dayList(data.days, month))),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "month-ratings" },
      h("h2", { class: "card-title", id: "month-ratings" }, "How your days were"),
      ratingChart(inMonth, { id: "month-chart", title: `Ratings in ${title}`, label: (d) => (Number(d.date.slice(8)) % 5 === 1 ? Number(d.date.slice(8)) : null) }),
    ),
  );
}
