// Account: profile, phone verification, call settings, prompts, the follow-up, schedule, password, log out, delete.

import { about, api, getSession, setSession } from "../api.js";
import { exportSection } from "./export.js";
import { followUpSection } from "./follow_up.js";
import { previewSection } from "./preview.js";
import { textsSection } from "./texts.js";
import { clockTime, describeWhen, formatDay, formatPhone, formatTime, insideWindow, WEEKDAYS, WINDOW_END, WINDOW_START, windowText, zoneLabel } from "../format.js";
import {
  announce,
  badge,
  button,
  card,
  checkbox,
  field,
  fixLink,
  formError,
  guardUnsaved,
  h,
  loading,
  notice,
  onSubmit,
  showFieldError,
  showFormError,
} from "../ui.js";
import { canSpeak, speak, timeZoneField } from "./fields.js";

const MAX_PROMPTS = 5;

export async function render(view, ctx) {
  const spinner = loading();
  view.append(spinner);
  const [accountRows, profile, verified, pending, prompts, schedule] = await Promise.all([
    api("Accounts/_account"),
    ctx.loadProfile(),
    api("PhoneVerification/_verifiedNumbers"),
    api("PhoneVerification/_pendingNumber"),
    api("Prompts/_prompts"),
    api("Schedule/_schedule"),
  ]);
  spinner.remove();
  if (!ctx.isCurrent()) return;
  if (!profile) {
    ctx.navigate("/welcome", { replace: true });
    return;
  }
  const state = {
    profile,
    verified: verified.map((row) => row.phoneNumber),
    pending: pending[0] ?? null,
    prompts: prompts.map((row) => row.text),
    schedule: schedule[0] ?? null,
    async reloadProfile() {
      state.profile = await ctx.loadProfile();
      return state.profile;
    },
  };
  const username = accountRows[0]?.username;

  const scheduleCard = scheduleSection(state);
  view.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Account"),
      username ? h("p", { class: "lead" }, "Signed in as ", h("strong", {}, username), ".") : null,
    ),
    h(
      "nav",
      { class: "toc", "aria-label": "Account sections" },
      h(
        "ul",
        {},
        [
          ["#profile", "About you"],
          ["#phone", "Phone"],
          ["#call-settings", "Call settings"],
          ["#prompts", "Prompts"],
          ["#follow-up", "Follow-up"],
          ["#preview", "Hear your call"],
          ["#schedule", "Schedule"],
          ["#texts", "Texts after a missed day"],
          ["#security", "Password & sessions"],
          ["#export", "Your data"],
        ].map(([href, text]) => h("li", {}, h("a", { href: `/account${href}` }, text))),
      ),
    ),
    profileSection(state),
    phoneSection(state),
    callSettingsSection(state, () => scheduleCard.redraw()),
    promptsSection(state),
    followUpSection(state),
    previewSection(ctx),
    scheduleCard.section,
    textsSection(state),
    securitySection(ctx),
    exportSection(state),
    deleteSection(ctx),
  );
}

// -- about you -------------------------------------------------------------------------------

function profileSection(state) {
  const { section, body } = card("About you", { id: "profile" });
  const name = field({
    name: "displayName",
    label: "Display name",
    value: state.profile.displayName,
    hint: "The voice greets you with this name.",
    inputProps: { maxlength: 80, autocomplete: "given-name" },
  });
  const pronunciation = field({
    name: "namePronunciation",
    label: "Name pronunciation (optional)",
    value: state.profile.namePronunciation ?? "",
    hint: "Spell your name as it sounds if the voice gets it wrong, e.g. “Shiv-awn”. Leave blank to use your display name.",
    inputProps: { maxlength: 120, autocomplete: "off" },
  });
  if (canSpeak()) {
    pronunciation.wrap.append(
      h(
        "div",
        { class: "inline-actions" },
        button("Hear it", {
          kind: "secondary",
          type: "button",
          onclick: () => speak(pronunciation.input.value || name.input.value),
          props: { "aria-label": "Hear how your name is said" },
        }),
      ),
    );
  }
  const form = h("form", { class: "stack" }, name.wrap, pronunciation.wrap, h("div", { class: "actions" }, button("Save")), formError());
  onSubmit(form, async () => {
    let changed = false;
    if (name.input.value !== state.profile.displayName) {
      await about("displayName", api("Profile/updateDisplayName", { displayName: name.input.value }));
      changed = true;
    }
    const spoken = pronunciation.input.value.trim();
    if (spoken !== (state.profile.namePronunciation ?? "")) {
      await about("namePronunciation", api("Profile/updateNamePronunciation", { namePronunciation: spoken || null }));
      changed = true;
    }
    if (changed) await state.reloadProfile();
    name.input.value = state.profile.displayName;
    pronunciation.input.value = state.profile.namePronunciation ?? "";
    announce(changed ? "Saved." : "Nothing to save: no changes.", changed ? "success" : "info");
  });
  body.append(form);
  return section;
}

// -- phone -----------------------------------------------------------------------------------

function phoneSection(state) {
  const { section, body } = card("Phone", { id: "phone" });

  function draw(focusCode = false) {
    const phone = state.profile.phoneNumber;
    const isVerified = state.verified.includes(phone);
    const statusLine = isVerified
      ? h("p", { class: "phone-status", id: "phone-status" }, h("span", { class: "phone-number" }, formatPhone(phone)), " ", badge("Verified", "success"))
      : notice(
          "warning",
          h("p", { id: "phone-status" }, h("strong", {}, `${formatPhone(phone)} is not verified yet, so no calls will be placed.`)),
          h("p", {}, "We text you a 6-digit code to check that the number is yours."),
        );

    const number = field({
      name: "phoneNumber",
      label: "Phone number",
      type: "tel",
      value: formatPhone(phone),
      hint: "In international form: + and your country code, e.g. +1 415 555 2671.",
      inputProps: { autocomplete: "tel", inputmode: "tel", maxlength: 64 },
    });
    const numberForm = h(
      "form",
      { class: "stack-tight" },
      number.wrap,
      h("div", { class: "actions" }, button(isVerified ? "Save number" : "Send verification code")),
      formError(),
    );
    onSubmit(
      numberForm,
      async () => {
        let target = state.profile.phoneNumber;
        // the field shows the number grouped ("+1 415-555-2671"): unchanged unless its digits are
        if (number.input.value.replace(/[^\d+]/g, "") !== state.profile.phoneNumber) {
          const updated = await about("phoneNumber", api("Profile/updatePhoneNumber", { phoneNumber: number.input.value }));
          target = updated.phoneNumber;
          await state.reloadProfile();
        }
        if (state.verified.includes(target)) {
          announce(`Saved. ${formatPhone(target)} is already verified.`, "success");
          draw();
          return;
        }
        const started = await about("phoneNumber", api("PhoneVerification/start", { phoneNumber: target }));
        const pending = await api("PhoneVerification/_pendingNumber");
        state.pending = pending[0] ?? { phoneNumber: started.phoneNumber, expiresAt: null };
        announce(`We texted a code to ${formatPhone(started.phoneNumber)}.`, "success");
        draw(true);
      },
      { busyLabel: "Sending code…" },
    );

    let codeForm = null;
    if (state.pending) {
      const code = field({
        name: "code",
        label: "6-digit code",
        hint: state.pending.expiresAt
          ? `Sent to ${formatPhone(state.pending.phoneNumber)}. It works until ${formatTime(state.pending.expiresAt, state.profile.timezone)}.`
          : `Sent to ${formatPhone(state.pending.phoneNumber)}.`,
        inputProps: { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 9, pattern: "[0-9 ]*", class: "code-input" },
      });
      const resend = button("Send a new code", { kind: "quiet", type: "button" });
      codeForm = h(
        "form",
        { class: "stack-tight code-form" },
        h("h3", {}, "Enter the code we texted you"),
        code.wrap,
        h("div", { class: "actions" }, button("Confirm"), resend),
        formError(),
      );
      onSubmit(
        codeForm,
        async () => {
          const confirmed = await about("code", api("PhoneVerification/confirm", { code: code.input.value }));
          const [verified, pending] = await Promise.all([api("PhoneVerification/_verifiedNumbers"), api("PhoneVerification/_pendingNumber")]);
          state.verified = verified.map((row) => row.phoneNumber);
          state.pending = pending[0] ?? null;
          announce(await verifiedMessage(formatPhone(confirmed.phoneNumber), state.profile.timezone), "success");
          document.querySelector(".flash")?.remove(); // "Next: verify your phone number" is done
          draw();
          section.querySelector("#phone-status")?.setAttribute("tabindex", "-1");
          section.querySelector("#phone-status")?.focus();
        },
        { busyLabel: "Checking…" },
      );
      resend.addEventListener("click", async () => {
        const form = codeForm;
        for (const el of form.querySelectorAll(".form-error")) el.hidden = true;
        resend.disabled = true;
        try {
          const started = await api("PhoneVerification/start", { phoneNumber: state.pending.phoneNumber });
          const pending = await api("PhoneVerification/_pendingNumber");
          state.pending = pending[0] ?? state.pending;
          announce(`We texted a new code to ${formatPhone(started.phoneNumber)}.`, "success");
          draw(true);
        } catch (error) {
          if (!error.handled) showFormError(form, error.message);
          resend.disabled = false;
        }
      });
    }

    const others = state.verified.filter((n) => n !== phone);
    const verifiedList = others.length
      ? h("p", { class: "hint" }, `Other numbers you have verified: ${others.map(formatPhone).join(", ")}.`)
      : null;

    body.replaceChildren(statusLine, numberForm, codeForm ?? "", verifiedList ?? "");
    if (focusCode) body.querySelector(".code-input")?.focus();
  }

  draw();
  return section;
}

// -- call settings ---------------------------------------------------------------------------

function callSettingsSection(state, onTimezoneChanged) {
  const { section, body } = card("Call settings", { id: "call-settings" });
  const zone = timeZoneField({
    selected: state.profile.timezone,
    hint: `Call times are in this zone. Changing it keeps the clock times (${clockTime("20:00")} stays ${clockTime("20:00")}).`,
  });
  const retries = field({
    name: "maxRetries",
    label: "Tries per day",
    type: "number",
    value: state.profile.maxRetries,
    hint: "How many times we ring before giving up for the day (1–10).",
    inputProps: { min: 1, max: 10, step: 1, inputmode: "numeric" },
  });
  const rating = checkbox({
    name: "includeRating",
    label: "At the end, ask me to rate my day (from −2 to +2)",
    checked: state.profile.includeRating,
  });
  const form = h("form", { class: "stack" }, zone.wrap, retries.wrap, rating.wrap, h("div", { class: "actions" }, button("Save")), formError());
  onSubmit(form, async () => {
    let changed = false;
    const max = Number(retries.input.value);
    if (!Number.isInteger(max) || max < 1 || max > 10 || retries.input.value.trim() === "") {
      showFieldError(form, "maxRetries", "Enter a whole number from 1 to 10.");
      retries.input.focus();
      return;
    }
    let zoneChanged = false;
    if (zone.input.value !== state.profile.timezone) {
      await about("timezone", api("Profile/updateTimezone", { timezone: zone.input.value }));
      changed = zoneChanged = true;
    }
    if (max !== state.profile.maxRetries) {
      await about("maxRetries", api("Profile/updateMaxRetries", { maxRetries: max }));
      changed = true;
    }
    if (rating.input.checked !== state.profile.includeRating) {
      await about("includeRating", api("Profile/updateRatingPreference", { includeRating: rating.input.checked }));
      changed = true;
    }
    if (changed) await state.reloadProfile();
    if (zoneChanged) onTimezoneChanged();
    announce(changed ? "Call settings saved." : "Nothing to save: no changes.", changed ? "success" : "info");
  });
  body.append(form);
  return section;
}

/** "+1… is verified. Your next call is …", or where to plan one: no promise of a call that is not planned. */
async function verifiedMessage(number, timezone) {
  const next = await api("Schedule/_nextCall").catch(() => []);
  if (next.length) return `${number} is verified. Your next call is ${describeWhen(next[0].at, timezone)}.`;
  return `${number} is verified. No call is planned yet: choose your call times under Schedule.`;
}

// -- prompts ---------------------------------------------------------------------------------

function promptsSection(state) {
  const { section, body } = card("Prompts", {
    id: "prompts",
    intro: "The questions your reflection asks, in this order: one to five.",
  });
  let items = state.prompts.length ? state.prompts.slice() : [""];
  const list = h("ol", { class: "prompt-list" });
  const add = button("Add a prompt", { kind: "secondary", type: "button" });
  const form = h("form", { class: "stack" }, list, h("div", { class: "actions" }, add), h("div", { class: "actions actions-save" }, button("Save prompts")), formError());

  function collect() {
    items = Array.from(list.querySelectorAll("textarea")).map((input) => input.value);
  }

  function draw() {
    list.replaceChildren(
      ...items.map((text, i) => {
        const f = field({ name: `prompts.${i}`, label: `Prompt ${i + 1}`, type: "textarea", value: text, inputProps: { rows: 2, maxlength: 300, class: "prompt-text" } });
        const tools = h(
          "div",
          { class: "prompt-tools" },
          h("button", { type: "button", class: "btn btn-small btn-secondary", "aria-label": `Move prompt ${i + 1} up`, disabled: i === 0, dataset: { action: "up", index: i }, onclick: () => move(i, -1) }, "↑ Up"),
          h("button", { type: "button", class: "btn btn-small btn-secondary", "aria-label": `Move prompt ${i + 1} down`, disabled: i === items.length - 1, dataset: { action: "down", index: i }, onclick: () => move(i, 1) }, "↓ Down"),
          h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Remove prompt ${i + 1}`, disabled: items.length === 1, dataset: { action: "remove", index: i }, onclick: () => remove(i) }, "Remove"),
        );
        return h("li", { class: "prompt-item" }, f.wrap, tools);
      }),
    );
    add.disabled = items.length >= MAX_PROMPTS;
    add.textContent = items.length >= MAX_PROMPTS ? "Five prompts at most" : "Add a prompt";
  }

  function focusTool(index, action) {
    const target = list.querySelector(`button[data-action="${action}"][data-index="${index}"]`);
    if (target && !target.disabled) target.focus();
    else list.querySelectorAll("li")[index]?.querySelector("textarea")?.focus();
  }

  function move(i, delta) {
    collect();
    const j = i + delta;
    if (j < 0 || j >= items.length) return;
    [items[i], items[j]] = [items[j], items[i]];
    draw();
    focusTool(j, delta < 0 ? "up" : "down");
    announce(`Prompt moved to position ${j + 1}. Save to keep the new order.`);
  }

  function remove(i) {
    collect();
    if (items.length <= 1) return;
    items.splice(i, 1);
    draw();
    list.querySelectorAll("textarea")[Math.min(i, items.length - 1)]?.focus();
    announce(`Prompt ${i + 1} removed. Save to keep the change.`);
  }

  add.addEventListener("click", () => {
    collect();
    if (items.length >= MAX_PROMPTS) return;
    items.push("");
    draw();
    const inputs = list.querySelectorAll("textarea");
    inputs[inputs.length - 1]?.focus();
  });

  onSubmit(form, async () => {
    collect();
    const blank = items.map((text, i) => (text.trim() ? -1 : i)).filter((i) => i >= 0);
    if (blank.length) {
      for (const i of blank) {
        const removeBtn = list.querySelector(`button[data-action="remove"][data-index="${i}"]`);
        const message = removeBtn && !removeBtn.disabled
          ? [`Prompt ${i + 1} is empty. Write a question, or `, fixLink("remove it", removeBtn), "."]
          : "Write a question here: your reflection needs at least one.";
        showFieldError(form, `prompts.${i}`, message);
      }
      list.querySelectorAll("textarea")[blank[0]]?.focus();
      return;
    }
    try {
      const saved = await api("Prompts/setPrompts", { prompts: items });
      items = saved.prompts.slice();
    } catch (error) {
      const match = /prompt (\d+)/i.exec(error.message ?? "");
      if (match && !error.detail?.length) error.field = `prompts.${Number(match[1]) - 1}`;
      throw error;
    }
    state.prompts = items.slice();
    draw();
    state.onPromptsSaved?.(); // the follow-up card names the prompts
    announce("Prompts saved.", "success");
  });

  draw();
  body.append(form);
  // an edit, a move, an addition or a removal not yet saved: asked about before leaving
  guardUnsaved(() => {
    collect();
    const saved = state.prompts.length ? state.prompts : [""];
    return JSON.stringify(items) !== JSON.stringify(saved) ? "your prompts" : null;
  });
  return section;
}

// -- schedule --------------------------------------------------------------------------------

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

function scheduleSection(state) {
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

// -- password and sessions -------------------------------------------------------------------

function securitySection(ctx) {
  const { section, body } = card("Password & sessions", { id: "security" });
  const current = field({ name: "currentPassword", label: "Current password", type: "password", inputProps: { autocomplete: "current-password", maxlength: 200 } });
  const next = field({ name: "newPassword", label: "New password", type: "password", hint: "At least 10 characters.", inputProps: { autocomplete: "new-password", maxlength: 200 } });
  const repeat = field({ name: "repeatPassword", label: "Repeat the new password", type: "password", inputProps: { autocomplete: "new-password", maxlength: 200 } });
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "password-title" },
    h("h3", { id: "password-title" }, "Change password"),
    current.wrap,
    next.wrap,
    repeat.wrap,
    h("div", { class: "actions" }, button("Change password")),
    formError(),
  );
  onSubmit(form, async () => {
    if (next.input.value !== repeat.input.value) {
      showFieldError(form, "repeatPassword", "The two new passwords are not the same.");
      repeat.input.focus();
      return;
    }
    let answer;
    try {
      answer = await api("Accounts/changePassword", { currentPassword: current.input.value, newPassword: next.input.value });
    } catch (error) {
      if (error.kind === "unauthorized") {
        error.field = "currentPassword";
        error.message = "That is not your current password.";
      }
      else if (error.status === 422 && !error.detail.length) error.field = "newPassword";
      throw error;
    }
    setSession({ ...getSession(), token: answer.token, expiresAt: answer.expiresAt });
    for (const input of form.querySelectorAll("input")) input.value = "";
    announce("Password changed. Any other devices have been logged out.", "success");
  }, { busyLabel: "Changing…" });

  const logoutForm = h(
    "form",
    { class: "stack-tight", "aria-labelledby": "logout-title" },
    h("h3", { id: "logout-title" }, "Log out"),
    h("div", { class: "actions" }, button("Log out", { kind: "secondary", props: { value: "here" } }), button("Log out on all devices", { kind: "quiet", props: { value: "everywhere" } })),
    formError(),
  );
  onSubmit(
    logoutForm,
    async (event) => {
      const everywhere = event.submitter?.value === "everywhere";
      const session = getSession();
      try {
        if (everywhere) await api("Accounts/logoutEverywhere", {});
        else if (session) await api("Accounts/logout", { token: session.token }, { auth: false });
      } catch (error) {
        if (error.status !== 404 && !error.handled) throw error;
      }
      ctx.signedOut(everywhere ? "You're logged out on all your devices." : "You're logged out.");
    },
    { busyLabel: "Logging out…" },
  );
  body.append(form, h("hr"), logoutForm);
  return section;
}

// -- delete ----------------------------------------------------------------------------------

function deleteSection(ctx) {
  const { section, body } = card("Delete account", { id: "delete", className: "card-danger" });
  const password = field({ name: "password", label: "Your password", type: "password", inputProps: { autocomplete: "current-password", maxlength: 200 } });
  const form = h(
    "form",
    { class: "stack-tight" },
    h("p", {}, "This deletes your account, profile, prompts, schedule, calls and every reflection, for good. It cannot be undone."),
    password.wrap,
    h("div", { class: "actions" }, button("Delete my account permanently", { kind: "danger" })),
    formError(),
  );
  onSubmit(
    form,
    async () => {
      if (!password.input.value) {
        showFieldError(form, "password", "Enter your password to confirm.");
        password.input.focus();
        return;
      }
      try {
        await about("password", api("Account/delete", { password: password.input.value }));
      } catch (error) {
        if (/wrong username or password/i.test(error.message)) error.message = "That is not your password.";
        throw error;
      }
      ctx.signedOut("Your account and all its data have been deleted.", "success");
    },
    { busyLabel: "Deleting…" },
  );
  const details = h("details", { class: "danger-zone" }, h("summary", {}, "Delete my account…"), form);
  body.append(details);
  return section;
}
