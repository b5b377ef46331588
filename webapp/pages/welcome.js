// First visit: the profile (name, phone, time zone) is needed before anything else.

import { api } from "../api.js";
import { button, checkbox, field, formError, h, onSubmit } from "../ui.js";
import { canSpeak, profileFieldOf, speak, timeZoneField } from "./fields.js";

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

  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "welcome-title" },
    displayName.wrap,
    phone.wrap,
    zone.wrap,
    pronunciation.wrap,
    rating.wrap,
    h("div", { class: "actions" }, button("Create profile")),
    formError(),
  );

  onSubmit(
    form,
    async () => {
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
      ctx.flash("Profile created. Next: verify your phone number so we can call you.", "success");
      ctx.navigate("/account#phone");
    },
    { busyLabel: "Creating profile…" },
  );

  view.append(
    h("h1", { id: "welcome-title" }, "Let's set you up"),
    h("p", { class: "lead" }, "Tell us how to reach you. You can change all of this later in Account."),
    h("div", { class: "card" }, form),
  );
}
