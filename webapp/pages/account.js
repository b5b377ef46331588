// Account: one page of sections (about you, phone, call settings, prompts, follow-up, the
// preview, schedule, texts, password, your data, delete): about you and call settings are
// here, the others come from their own modules.

import { about, api } from "../api.js";
import { exportSection } from "./export.js";
import { followUpSection } from "./follow_up.js";
import { previewSection } from "./preview.js";
import { textsSection } from "./texts.js";
import { clockTime } from "../format.js";
import { announce, button, card, checkbox, field, formError, h, loading, onSubmit, showFieldError } from "../ui.js";
import { canSpeak, speak, timeZoneField } from "./fields.js";
import { phoneSection } from "./phone.js";
import { promptsSection } from "./prompts_list.js";
import { scheduleSection } from "./schedule.js";
import { securitySection, deleteSection } from "./security.js";

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
