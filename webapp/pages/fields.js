// Inputs shared by several pages: time zone picker, "which field is this message about".

import { browserTimeZone, RATINGS, timeZones, zoneLabel } from "../format.js";
import { field, h } from "../ui.js";

/** A <select> of every time zone, `selected` (or the browser's zone) preselected. */
export function timeZoneField({ selected, hint } = {}) {
  const current = selected || browserTimeZone();
  const select = h("select", { autocomplete: "off" });
  for (const zone of timeZones(current, browserTimeZone())) {
    select.append(h("option", { value: zone, selected: zone === current }, zoneLabel(zone)));
  }
  select.value = current;
  return field({ name: "timezone", label: "Time zone", control: select, hint });
}

/** Guess the input a profile error message is about (the API names it in words). */
export function profileFieldOf(message) {
  const rules = [
    [/display name|name must|\bname\b.*(blank|long)/i, "displayName"],
    [/pronunciation/i, "namePronunciation"],
    [/number|phone|international/i, "phoneNumber"],
    [/time ?zone/i, "timezone"],
    [/retr/i, "maxRetries"],
  ];
  for (const [pattern, name] of rules) if (pattern.test(message)) return name;
  return null;
}

/** The same voice as the call would use is not available in a browser; this is a close enough preview. */
export function canSpeak() {
  return typeof window.speechSynthesis !== "undefined" && typeof window.SpeechSynthesisUtterance === "function";
}

export function speak(text) {
  if (!canSpeak() || !text.trim()) return;
  window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.rate = 0.9;
  window.speechSynthesis.speak(utterance);
}

/** Five radio buttons, −2 to +2; `value()` is the chosen number or null. */
export function ratingFieldset({ legend = "How was your day?", name = "rating" } = {}) {
  const group = `rating-${Math.random().toString(36).slice(2, 9)}`;
  const options = RATINGS.map((r) => {
    const id = `${group}-${r.value + 2}`;
    const input = h("input", { type: "radio", name: group, id, value: String(r.value) });
    return h("div", { class: "rating-option" }, input, h("label", { for: id }, h("span", { class: "rating-sign" }, r.value > 0 ? `+${r.value}` : r.value < 0 ? `−${-r.value}` : "0"), " ", h("span", { class: "rating-word" }, r.label)));
  });
  const errorId = `${group}-error`;
  const fieldset = h(
    "fieldset",
    { class: "rating", "aria-describedby": errorId },
    h("legend", {}, legend),
    h("div", { class: "rating-options" }, options),
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
  // errors about `rating` land under the group
  const first = fieldset.querySelector("input");
  first.dataset.field = name;
  first.id = first.id || `${group}-first`;
  fieldset.querySelector(".field-error").id = `${first.id}-error`;
  return {
    fieldset,
    value() {
      const checked = fieldset.querySelector("input:checked");
      return checked ? Number(checked.value) : null;
    },
  };
}
