// First visit: the profile (name, phone, time zone) and when to call, before anything else.

import { about, api } from "../api.js";
import { insideWindow, WEEKDAYS } from "../format.js";
import { button, checkbox, field, formError, h, onSubmit, showFieldError, uid } from "../ui.js";
import { canSpeak, profileFieldOf, speak, timeZoneField } from "./fields.js";

const DEFAULT_TIME = "20:00"; // an evening call, as Account's "same time every day" suggests
const WEEKEND = new Set(["sat", "sun"]);

/** The call times: one time, every day or on weekdays only. */
function scheduleFields() {
  const time = field({
    name: "time",
    label: "Call me at",
    type: "time",
    value: DEFAULT_TIME,
    hint: "Between 08:00 and 21:00, in the time zone above. You can set a different time for each day later.",
    inputProps: { step: 60, required: true },
  });
  const name = uid("days");
  const choice = (value, label, checked) => {
    const id = uid("days");
    return h("div", { class: "check-row" }, h("input", { type: "radio", id, name, value, checked }), h("label", { for: id }, label));
  };
  const days = h(
    "fieldset",
    { class: "field fieldset-plain" },
    h("legend", {}, "On which days?"),
    choice("all", "Every day", true),
    choice("weekdays", "Weekdays only (Monday to Friday)", false),
  );
  const wrap = h("fieldset", { class: "stack-tight welcome-schedule" }, h("legend", { class: "welcome-legend" }, "When should we call?"), time.wrap, days);
  return {
    wrap,
    time: time.input,
    weekdaysOnly: () => days.querySelector("input:checked")?.value === "weekdays",
  };
}

/** Plans the calls chosen; returns how to say it ("20:00 every day"). */
async function saveSchedule(schedule, timezone) {
  const time = schedule.time.value;
  if (schedule.weekdaysOnly()) {
    const times = Object.fromEntries(WEEKDAYS.map((d) => [d.key, WEEKEND.has(d.key) ? null : time]));
    await about("time", api("Schedule/setWeekly", { timezone, times }));
    return `${time} on weekdays`;
  }
  await about("time", api("Schedule/setDaily", { timezone, time }));
  return `${time} every day`;
}

export async function render(view, ctx) {
  const displayName = field({
    name: "displayName",
    label: "What should we call you?",
    hint: "The voice greets you with this name.",
    inputProps: { autocomplete: "given-name", maxlength: 80, required: true },
  });
  const phone = field({
    name: "phoneNumber",
    label: "Phone number",
    type: "tel",
    hint: "In international form: + and your country code, e.g. +44 20 7946 0958.",
    inputProps: { autocomplete: "tel", inputmode: "tel", maxlength: 64, required: true },
  });
  const zone = timeZoneField({ hint: "Your calls are planned in this time zone." });
  const pronunciation = field({
    name: "namePronunciation",
    label: "How to say your name (optional)",
    hint: "Only if it's often mispronounced: spell it as it sounds, e.g. “Shiv-awn” for Siobhan.",
    inputProps: { maxlength: 120, autocomplete: "off" },
  });
  const hear = canSpeak()
    ? button("Hear it", {
        kind: "secondary",
        type: "button",
        onclick: () => speak(pronunciation.input.value || displayName.input.value),
      })
    : null;
  if (hear) pronunciation.wrap.append(h("div", { class: "inline-actions" }, hear));
  const rating = checkbox({ name: "includeRating", label: "At the end, ask me to rate my day (from −2 to +2)" });
  const schedule = scheduleFields();

  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "welcome-title" },
    displayName.wrap,
    phone.wrap,
    zone.wrap,
    pronunciation.wrap,
    rating.wrap,
    schedule.wrap,
    h("div", { class: "actions" }, button("Create profile")),
    formError(),
  );

  onSubmit(
    form,
    async () => {
      if (!insideWindow(schedule.time.value)) {
        showFieldError(form, "time", "Choose a time between 08:00 and 21:00. Earlier or later calls can be allowed in Account, under Schedule.");
        schedule.time.focus();
        return;
      }
      const body = {
        displayName: displayName.input.value,
        phoneNumber: phone.input.value,
        timezone: zone.input.value,
        includeRating: rating.input.checked,
      };
      const spoken = pronunciation.input.value.trim();
      if (spoken) body.namePronunciation = spoken;
      try {
        await api("Profile/createProfile", body);
      } catch (error) {
        if (error.status === 422) error.field = profileFieldOf(error.message);
        if (error.status === 409) {
          // Created meanwhile (another tab): carry on with it.
          await ctx.loadProfile();
          ctx.navigate("/today");
          return;
        }
        throw error;
      }
      await ctx.loadProfile();
      let planned;
      try {
        planned = await saveSchedule(schedule, body.timezone);
      } catch (error) {
        if (error.handled) throw error;
        // the profile exists now, so this page is gone: say so where the schedule is set
        ctx.flash(`Profile created, but the call time was not saved: ${error.message} Choose it under Schedule.`, "warning");
        ctx.navigate("/account#schedule");
        return;
      }
      ctx.flash(`Profile created. Calls are planned at ${planned}. Next: verify your phone number so we can call you.`, "success");
      ctx.navigate("/account#phone");
    },
    { busyLabel: "Creating profile…" },
  );

  view.append(
    h("h1", { id: "welcome-title" }, "Let's set you up"),
    h("p", { class: "lead" }, "Tell us how to reach you, and when. You can change all of this later in Account."),
    h("div", { class: "card" }, form),
  );
}
