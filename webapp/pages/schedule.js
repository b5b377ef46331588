// Account → "Schedule": the weekly call times, each inside the calling window.

import { about, api } from "../api.js";
import {
  clockTime,
  describeWhen,
  formatDay,
  insideWindow,
  WEEKDAYS,
  WINDOW_END,
  WINDOW_START,
  windowText,
  zoneLabel,
} from "../format.js";
import {
  announce,
  button,
  card,
  checkbox,
  field,
  fixLink,
  formError,
  h,
  notice,
  onSubmit,
  showFieldError,
  showFormError,
} from "../ui.js";

const EMPTY_TIMES = Object.fromEntries(WEEKDAYS.map((d) => [d.key, null]));
const DAY_BY_NAME = Object.fromEntries(WEEKDAYS.map((d) => [d.label, d.key]));

/** "Saturday 22:15 is outside 08:00–21:00, the hours we call in. Change it, or allow calls outside them." */
function windowError(subject, many, consent) {
  const text = `${subject} ${many ? "are" : "is"} outside ${windowText()}, the hours we call in. Change ${many ? "them" : "it"}, or `;
  return consent ? [text, fixLink("allow calls outside these hours", consent), "."] : `${text}allow calls outside these hours below.`;
}

/** "Monday 22:30 and Saturday 07:00" */
function listed(names) {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

export function scheduleSection(state) {
  const { section, body } = card("Schedule", {
    id: "schedule",
    intro: "When we call you. Each day can have its own time, or no call.",
  });
  const nextLine = h("p", { class: "next-call", id: "schedule-next" });
  const consentBox = () => section.querySelector('.weekly-form input[data-field="allowed"]');

  async function refreshNext() {
    const rows = await api("Schedule/_nextCall");
    const tz = state.profile.timezone;
    if (state.schedule?.paused) nextLine.replaceChildren();
    else if (rows.length) nextLine.replaceChildren("Next call: ", h("strong", {}, describeWhen(rows[0].at, tz)), ".");
    else nextLine.replaceChildren("No call is planned yet: choose at least one day.");
  }

  async function reload() {
    const rows = await api("Schedule/_schedule");
    state.schedule = rows[0] ?? null;
    draw();
    await refreshNext();
  }

  function pauseForm() {
    if (!state.schedule) return null;
    const paused = state.schedule.paused;
    const form = h(
      "form",
      { class: `pause-row ${paused ? "is-paused" : ""}` },
      paused
        ? notice(
            "warning",
            h("strong", {}, state.schedule.pausedUntil ? `Daily calls are paused until ${formatDay(`${state.schedule.pausedUntil}T12:00:00Z`, "UTC")}. ` : "Daily calls are paused. "),
            state.schedule.pausedUntil ? "They start again on their own that day. " : "",
            "Nothing is lost: your times are kept for when you resume.",
          )
        : null,
      h("div", { class: "actions" }, button(paused ? "Resume daily calls" : "Pause daily calls", { kind: paused ? "primary" : "secondary" })),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        await api(paused ? "Schedule/resume" : "Schedule/pause", {});
        announce(paused ? "Daily calls resumed." : "Daily calls paused.", "success");
        await reload();
      },
      { busyLabel: paused ? "Resuming…" : "Pausing…" },
    );
    return form;
  }

  function dailyForm() {
    const times = Object.values(state.schedule?.times ?? {}).filter(Boolean);
    const time = field({ name: "time", label: "Time", type: "time", value: times[0] ?? "20:00", inputProps: { step: 60 } });
    const form = h(
      "form",
      { class: "stack-tight daily-form", "aria-labelledby": "daily-title" },
      h("h3", { id: "daily-title" }, "Same time every day"),
      h("div", { class: "inline-field" }, time.wrap, h("div", { class: "actions" }, button("Use this time every day", { kind: "secondary" }))),
      formError(),
    );
    onSubmit(form, async () => {
      if (!time.input.value) {
        showFieldError(form, "time", "Choose a time.");
        time.input.focus();
        return;
      }
      const value = time.input.value.slice(0, 5);
      if (!insideWindow(value) && !state.schedule?.allowOutsideWindow) {
        // the consent is the weekly form's checkbox: ticked there, it counts here too
        if (!consentBox()?.checked) {
          showFieldError(form, "time", windowError(clockTime(value), false, consentBox()));
          time.input.focus();
          return;
        }
        await about("allowed", api("Schedule/allowOutsideWindow", { allowed: true }));
      }
      try {
        await about("time", api("Schedule/setDaily", { timezone: state.profile.timezone, time: value }));
      } catch (error) {
        if (error.kind !== "invalid" || !/outside those hours/.test(error.message)) throw error;
        showFieldError(form, "time", windowError(clockTime(value), false, consentBox()));
        time.input.focus();
        return;
      }
      announce(`Calls set for ${clockTime(value)} every day.`, "success");
      await reload();
    });
    return form;
  }

  function weeklyForm() {
    const times = { ...EMPTY_TIMES, ...(state.schedule?.times ?? {}) };
    const rows = WEEKDAYS.map((day) => {
      const value = times[day.key];
      const label = h("span", {}, h("span", { class: "day-long" }, day.label), h("span", { class: "day-short", "aria-hidden": "true" }, day.label.slice(0, 3)));
      const timeField = field({ name: `times.${day.key}`, label, type: "time", value: value ?? "", inputProps: { step: 60, disabled: !value } });
      const noneId = `none-${day.key}`;
      const none = h("input", { type: "checkbox", id: noneId, checked: !value, dataset: { day: day.key } });
      none.addEventListener("change", () => {
        timeField.input.disabled = none.checked;
        if (!none.checked && !timeField.input.value) timeField.input.value = "20:00";
        if (!none.checked) timeField.input.focus();
      });
      return h(
        "div",
        { class: "day-row" },
        timeField.wrap,
        h("div", { class: "check-row day-none" }, none, h("label", { for: noneId }, "No call", h("span", { class: "visually-hidden" }, ` on ${day.label}`))),
      );
    });
    const consent = checkbox({
      name: "allowed",
      label: `Also allow calls outside ${windowText()}`,
      checked: Boolean(state.schedule?.allowOutsideWindow),
      hint: "Only if you really want calls earlier or later than that.",
    });
    const form = h(
      "form",
      { class: "stack-tight weekly-form", "aria-labelledby": "weekly-title" },
      h("h3", { id: "weekly-title" }, "Day by day"),
      h("p", { class: "hint" }, `Times are in ${zoneLabel(state.profile.timezone)} (change it in Call settings).`),
      h("div", { class: "days" }, rows),
      h(
        "div",
        { class: "window-note" },
        h("p", {}, "To be considerate, we only call between ", h("strong", {}, `${clockTime(WINDOW_START)} and ${clockTime(WINDOW_END)}`), " your time."),
        consent.wrap,
      ),
      h("div", { class: "actions" }, button("Save schedule")),
      formError(),
    );
    onSubmit(form, async () => {
      const plan = {};
      let missing = false;
      for (const day of WEEKDAYS) {
        const checkboxEl = form.querySelector(`input[data-day="${day.key}"]`);
        const input = form.querySelector(`[data-field="times.${day.key}"]`);
        if (checkboxEl.checked) plan[day.key] = null;
        else if (!input.value) {
          showFieldError(form, `times.${day.key}`, "Choose a time, or tick “No call”.");
          missing = true;
        } else plan[day.key] = input.value.slice(0, 5);
      }
      if (missing) {
        form.querySelector('[aria-invalid="true"]')?.focus();
        return;
      }
      const allow = consent.input.checked;
      const wasAllowed = Boolean(state.schedule?.allowOutsideWindow);
      if (!allow) {
        const outside = WEEKDAYS.filter((d) => plan[d.key] && !insideWindow(plan[d.key]));
        if (outside.length) {
          for (const d of outside) showFieldError(form, `times.${d.key}`, `Outside ${windowText()}.`);
          const names = outside.map((d) => `${d.label} ${clockTime(plan[d.key])}`);
          showFormError(form, windowError(listed(names), names.length > 1, consent.input));
          form.querySelector('[aria-invalid="true"]')?.focus();
          return;
        }
      }
      if (allow && !wasAllowed) await about("allowed", api("Schedule/allowOutsideWindow", { allowed: true }));
      try {
        await api("Schedule/setWeekly", { timezone: state.profile.timezone, times: plan });
      } catch (error) {
        // the server names the days at fault in words: "Monday 22:30 and Saturday 07:00"
        const days = Array.from((error.message ?? "").matchAll(/\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) \d\d:\d\d/g), (m) => m[1]);
        if (error.kind !== "invalid" || !days.length) throw error;
        for (const day of days) showFieldError(form, `times.${DAY_BY_NAME[day]}`, `Outside ${windowText()}.`);
        const names = days.map((day) => `${day} ${clockTime(plan[DAY_BY_NAME[day]])}`);
        showFormError(form, windowError(listed(names), names.length > 1, consent.input));
        form.querySelector('[aria-invalid="true"]')?.focus();
        return;
      }
      if (!allow && wasAllowed) await about("allowed", api("Schedule/allowOutsideWindow", { allowed: false }));
      announce("Schedule saved.", "success");
      await reload();
    });
    return form;
  }

  function draw() {
    body.replaceChildren(nextLine, pauseForm() ?? "", dailyForm(), weeklyForm());
  }

  draw();
  refreshNext().catch(() => {});
  return {
    section,
    redraw() {
      reload().catch(() => {});
    },
  };
}
