// Today's breaks: "Call me in 10 minutes", skipping today's call, and pausing calls until a
// date (they start again on their own that day) or with no end date. A card of its own,
// drawn by today.js; it tells the call card to refresh after each change.

import { api } from "../api.js";
import { dayKey, describeWhen, formatDay } from "../format.js";
import { announce, button, field, formError, h, notice, onSubmit } from "../ui.js";

const SNOOZE_MINUTES = 10;
const LIVE = new Set(["ringing", "on-call", "finishing"]);

/** "2026-06-12" + n days, as a local date (no time zone: a calendar date). */
function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** "Friday, 12 June 2026" for a local date. */
function dayText(day) {
  return formatDay(`${day}T12:00:00Z`, "UTC");
}

/**
 * The breaks card in `container`. `onChange()` is called after a change (the call card
 * redraws). `callChanged(state)` hears the call card's state: no snooze while a call is live.
 */
export function breaksPanel(container, ctx, onChange = async () => {}) {
  const tz = ctx.profile.timezone;
  let live = false;
  let callState; // undefined until the call card first reports
  let shown = "";

  async function refresh() {
    const [schedule, upcoming] = await Promise.all([api("Schedule/_schedule"), api("CallScheduler/_upcoming")]);
    draw(schedule[0] ?? null, upcoming[0] ?? null);
  }

  async function changed(message) {
    announce(message, "success");
    await Promise.all([refresh(), Promise.resolve(onChange()).catch(() => {})]);
  }

  function snoozeForm(waiting) {
    const form = h(
      "form",
      { class: "actions snooze-form" },
      button(`Call me in ${SNOOZE_MINUTES} minutes`, { kind: "secondary" }),
      h("p", { class: "hint" }, waiting ? "Not now? The call that's waiting moves to 10 minutes from now." : "We'll ring your phone 10 minutes from now."),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        const out = await api("Calls/snooze", { minutes: SNOOZE_MINUTES });
        await changed(`We'll call you ${describeWhen(out.at, tz)}.`);
      },
      { busyLabel: "Moving the call…" },
    );
    return form;
  }

  function skipForm(schedule) {
    const skipped = schedule.skippedToday;
    const form = h(
      "form",
      { class: "stack-tight skip-form" },
      skipped ? notice("info", h("strong", {}, "Today's call is skipped. "), "Your calls carry on as planned from tomorrow.") : null,
      h(
        "div",
        { class: "actions" },
        button(skipped ? "Call me today after all" : "Skip today's call", { kind: "secondary" }),
      ),
      skipped ? null : h("p", { class: "hint" }, "No call for the rest of today; tomorrow's is as planned."),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        await api(skipped ? "Schedule/unskipToday" : "Schedule/skipToday", {});
        await changed(skipped ? "Today's call is back on." : "Today's call is skipped.");
      },
      { busyLabel: skipped ? "Putting it back…" : "Skipping…" },
    );
    return form;
  }

  function pauseForm() {
    const today = dayKey(new Date(), tz);
    const until = field({
      name: "until",
      label: "Calls start again on (optional)",
      type: "date",
      hint: "For a holiday. Leave it empty to pause until you resume.",
      inputProps: { min: addDays(today, 1), max: addDays(today, 366) },
    });
    const form = h(
      "form",
      { class: "stack-tight pause-until-form", "aria-labelledby": "pause-title" },
      h("h3", { id: "pause-title" }, "Pause your calls"),
      until.wrap,
      h("div", { class: "actions" }, button("Pause calls", { kind: "secondary" })),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        const day = until.input.value || null;
        await api("Schedule/pause", { until: day });
        await changed(day ? `Calls paused. They start again on ${dayText(day)}.` : "Calls paused until you resume them.");
      },
      { busyLabel: "Pausing…" },
    );
    return form;
  }

  function pausedForm(schedule) {
    const until = schedule.pausedUntil;
    const form = h(
      "form",
      { class: "stack-tight resume-form" },
      notice(
        "warning",
        h("strong", {}, until ? `Your calls are paused until ${dayText(until)}. ` : "Your calls are paused, with no end date. "),
        until ? "They start again on their own that day." : "Nothing is lost: your times are kept for when you resume.",
      ),
      h("div", { class: "actions" }, button("Resume calls now")),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        await api("Schedule/resume", {});
        await changed("Calls resumed.");
      },
      { busyLabel: "Resuming…" },
    );
    return form;
  }

  function draw(schedule, upcoming) {
    const planned = schedule && Object.values(schedule.times || {}).some(Boolean);
    const parts = [];
    if (!live && !(upcoming && upcoming.status !== "PENDING")) parts.push(snoozeForm(Boolean(upcoming)));
    if (schedule?.paused) parts.push(pausedForm(schedule));
    else if (planned) parts.push(skipForm(schedule), pauseForm());
    else parts.push(h("p", { class: "muted" }, "Once you've chosen call times, you can skip a day or pause them here."));
    // Redrawn only when what it shows changed, so a refresh keeps a date being typed.
    const key = JSON.stringify([live, schedule, upcoming?.status ?? null, Boolean(upcoming)]);
    if (key === shown && container.querySelector("form, p")) return;
    shown = key;
    container.replaceChildren(...parts);
  }

  return {
    refresh,
    async callChanged(state) {
      if (state === callState) return;
      callState = state;
      live = LIVE.has(state);
      await refresh();
    },
  };
}
