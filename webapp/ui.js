// Small DOM helpers: building elements, labelled fields, errors next to inputs, busy buttons, status messages.

import { ApiError } from "./api.js";

const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "hidden", "indeterminate", "textContent"]);

/** h("button", {type: "button", onclick}, "Save") — never parses HTML, so user text is always text. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) el[key] = value;
    else if (value === false) continue;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let nextId = 0;

/** A unique element id with a readable prefix. */
export function uid(prefix = "id") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled input with an optional hint and a slot for its error.
 * `name` is the API field it edits (errors with detail.loc[1] == name land here).
 * Returns {wrap, input}.
 */
export function field({ name, label, type = "text", value, hint, control, inputProps = {}, labelHidden = false }) {
  const id = uid(`f-${String(name).replace(/[^a-zA-Z0-9]+/g, "-")}`);
  let input = control;
  if (!input) {
    if (type === "textarea") input = h("textarea", { rows: 3, ...inputProps });
    else input = h("input", { type, ...inputProps });
    if (value !== undefined && value !== null) input.value = value;
  }
  input.id = id;
  input.dataset.field = name;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorEl = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  input.setAttribute("aria-describedby", [hintEl ? hintEl.id : null, errorEl.id].filter(Boolean).join(" "));
  const labelEl = h("label", { for: id, class: labelHidden ? "visually-hidden" : null }, label);
  const wrap = h("div", { class: `field field-${type}` }, labelEl, input, hintEl, errorEl);
  return { wrap, input, label: labelEl };
}

/** A checkbox with its label on the right. */
export function checkbox({ name, label, checked = false, hint }) {
  const id = uid(`f-${name}`);
  const input = h("input", { type: "checkbox", id, checked });
  input.dataset.field = name;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorEl = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  input.setAttribute("aria-describedby", [hintEl ? hintEl.id : null, errorEl.id].filter(Boolean).join(" "));
  const wrap = h("div", { class: "field field-checkbox" }, h("div", { class: "check-row" }, input, h("label", { for: id }, label)), hintEl, errorEl);
  return { wrap, input };
}

/** The message area of a form, next to its submit button. */
export function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

/** A submit (or plain) button; `kind` is primary, secondary, quiet or danger. */
export function button(label, { kind = "primary", type = "submit", onclick, props = {} } = {}) {
  return h("button", { type, class: `btn btn-${kind}`, onclick, ...props }, label);
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.textContent = "";
    el.hidden = true;
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".form-error")) {
    el.textContent = "";
    el.hidden = true;
  }
}

function inputFor(form, key) {
  if (key === null || key === undefined) return null;
  const esc = window.CSS && CSS.escape ? CSS.escape(String(key)) : String(key);
  return form.querySelector(`[data-field="${esc}"]`);
}

/**
 * Shows `message` (text, or nodes such as a `fixLink`) under the input `key` of `form`; false
 * if the form has no such input.
 */
export function showFieldError(form, key, message) {
  const input = inputFor(form, key);
  if (!input) return false;
  const errorEl = document.getElementById(`${input.id}-error`);
  if (!errorEl) return false;
  if (errorEl.textContent) errorEl.append(" ");
  append(errorEl, [message]);
  errorEl.hidden = false;
  input.setAttribute("aria-invalid", "true");
  return input;
}

export function showFormError(form, message) {
  const el = form.querySelector(".form-error");
  if (!el) return false;
  el.replaceChildren();
  append(el, [message]);
  el.hidden = false;
  return true;
}

/**
 * A link, inside an error, to the control that fixes it ("allow calls outside these hours"
 * -> that checkbox): it scrolls the control into view and focuses it, wherever it is.
 */
export function fixLink(text, target) {
  if (!target.id) target.id = uid("fix");
  return h(
    "a",
    {
      href: `#${target.id}`,
      class: "fix-link",
      onclick: (event) => {
        event.preventDefault();
        target.closest("details")?.setAttribute("open", "");
        target.scrollIntoView({ block: "center" });
        target.focus();
      },
    },
    text,
  );
}

function humanize(msg) {
  const text = String(msg || "invalid value");
  return text[0].toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}

/**
 * Places an error: each `detail` entry next to the input named by loc[1] (or loc[1].loc[2] for
 * list items), an error tagged with `field` next to that input, anything else near the submit
 * button. Focuses the first input at fault.
 */
export function showError(form, error) {
  if (error?.handled) return;
  let firstInput = null;
  let placedAll = true;
  if (error instanceof ApiError && error.detail.length) {
    for (const item of error.detail) {
      const loc = Array.isArray(item.loc) ? item.loc.slice(1) : [];
      const candidates = [loc.join("."), loc.slice(0, 2).join("."), loc[0], error.field];
      let input = false;
      for (const key of candidates) {
        if (key === undefined || key === null || key === "") continue;
        input = showFieldError(form, key, humanize(item.msg));
        if (input) break;
      }
      if (input) firstInput = firstInput || input;
      else placedAll = false;
    }
    if (!placedAll) showFormError(form, error.message);
  } else if (error instanceof ApiError && error.field && error.status >= 400 && error.status < 500) {
    const input = showFieldError(form, error.field, error.message);
    if (input) firstInput = input;
    else showFormError(form, error.message);
  } else {
    const message = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
    if (!(error instanceof ApiError)) console.error(error);
    if (!showFormError(form, message)) announce(message, "error");
  }
  if (firstInput) firstInput.focus();
}

/** Runs `fn` with `btn` disabled and showing a spinner and `label` ("Saving…"). */
export async function withBusy(btn, label, fn) {
  if (!btn) return fn();
  const before = Array.from(btn.childNodes);
  const width = btn.offsetWidth;
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  if (width) btn.classList.add("is-busy");
  btn.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), h("span", {}, label));
  try {
    return await fn();
  } finally {
    btn.replaceChildren(...before);
    btn.disabled = false;
    btn.removeAttribute("aria-busy");
    btn.classList.remove("is-busy");
  }
}

/**
 * Handles a form's submit: clears old errors, shows progress on the button that submitted it,
 * places errors next to the inputs they concern.
 */
export function onSubmit(form, handler, { busyLabel = "Saving…" } = {}) {
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.busy) return;
    const btn = event.submitter || form.querySelector('button[type="submit"]');
    clearErrors(form);
    const empty = Array.from(form.querySelectorAll("[required]")).filter((el) => !el.disabled && !String(el.value).trim());
    if (empty.length) {
      for (const el of empty) showFieldError(form, el.dataset.field, "Please fill this in.");
      empty[0].focus();
      return;
    }
    form.dataset.busy = "1";
    form.setAttribute("aria-busy", "true");
    try {
      await withBusy(btn, busyLabel, () => handler(event));
    } catch (error) {
      showError(form, error);
    } finally {
      delete form.dataset.busy;
      form.removeAttribute("aria-busy");
    }
  });
}

let toastTimer = null;
let placing = 0;
const CONTROLS = "a[href], button, input, select, textarea, summary, label, [tabindex]:not([tabindex='-1'])";
const GAP = 8;

function overlaps(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/**
 * Puts the visible toast where it covers no control: the lowest free band of the window
 * (its usual place, near the bottom), else the highest; a toast never hides a button.
 */
function placeToast(region) {
  if (!region.classList.contains("is-visible")) return;
  const height = region.offsetHeight;
  const box = region.getBoundingClientRect();
  const controls = [];
  for (const el of document.querySelectorAll(CONTROLS)) {
    if (region.contains(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width && r.height && r.bottom > 0 && r.top < innerHeight && r.right > box.left && r.left < box.right) controls.push(r);
  }
  const band = (top) => ({ left: box.left, right: box.right, top: top - GAP, bottom: top + height + GAP });
  const fits = (top) => !controls.some((r) => overlaps(band(top), r));
  const lowest = innerHeight - height - 20;
  let top = lowest;
  // candidate places: the bottom, then just above or below each control, lowest first
  const candidates = [lowest, ...controls.flatMap((r) => [r.top - height - GAP - 1, r.bottom + GAP + 1])]
    .filter((t) => t >= 8 && t <= lowest)
    .sort((a, b) => b - a);
  const found = candidates.find(fits);
  if (found !== undefined) top = found;
  region.style.setProperty("--toast-top", `${Math.round(top)}px`);
}

function schedulePlacement(region) {
  cancelAnimationFrame(placing);
  placing = requestAnimationFrame(() => placeToast(region));
}

const placement = typeof MutationObserver === "function" ? new MutationObserver(() => schedulePlacement(document.getElementById("status"))) : null;

function watchPlacement(region, on) {
  if (on) {
    addEventListener("scroll", region.onPlace ??= () => schedulePlacement(region), { passive: true });
    addEventListener("resize", region.onPlace);
    placement?.observe(document.getElementById("main") || document.body, { childList: true, subtree: true, attributes: true });
  } else if (region.onPlace) {
    removeEventListener("scroll", region.onPlace);
    removeEventListener("resize", region.onPlace);
    placement?.disconnect();
  }
}

/** Says `message` in the polite live region (and shows it briefly as a toast, clear of controls). */
export function announce(message, tone = "info") {
  const region = document.getElementById("status");
  if (!region) return;
  region.textContent = "";
  region.dataset.tone = tone;
  // A fresh text node after a tick, so screen readers announce a repeat of the same message.
  setTimeout(() => {
    region.textContent = message;
    region.classList.add("is-visible");
    placeToast(region);
    watchPlacement(region, true);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      region.classList.remove("is-visible");
      watchPlacement(region, false);
    }, 5000);
  }, 30);
}

/** A card section with a heading; returns {section, body}. */
export function card(title, { id, level = 2, intro, className = "" } = {}) {
  const headingId = uid("h");
  const heading = h(`h${level}`, { id: headingId, class: "card-title" }, title);
  const body = h("div", { class: "card-body" });
  const section = h(
    "section",
    { class: `card ${className}`.trim(), id, "aria-labelledby": headingId },
    heading,
    intro ? h("p", { class: "card-intro" }, intro) : null,
    body,
  );
  return { section, body, heading };
}

/** A status pill. */
export function badge(text, tone = "neutral") {
  return h("span", { class: `badge badge-${tone}` }, text);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", text);
}

/** A notice box; tone is info, warning, success or error. */
export function notice(tone, ...children) {
  return h("div", { class: `notice notice-${tone}`, role: tone === "error" ? "alert" : null }, ...children);
}

/**
 * The app's own confirmation dialog (a modal <dialog>, not the browser's confirm()):
 * resolves true if the person chose `confirmLabel`, false for `cancelLabel` or Escape.
 * Focus starts on the safe choice and goes back where it was.
 */
export function confirmDialog({ title, message, confirmLabel = "OK", cancelLabel = "Cancel", danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid("dialog-title");
    const messageId = uid("dialog-message");
    const cancel = button(cancelLabel, { kind: "secondary", type: "button" });
    const ok = button(confirmLabel, { kind: danger ? "danger" : "primary", type: "button" });
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId, "aria-describedby": messageId },
      h("h2", { id: titleId, class: "dialog-title" }, title),
      h("p", { id: messageId }, message),
      h("div", { class: "actions dialog-actions" }, cancel, ok),
    );
    const opener = document.activeElement;
    let chosen = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => {
      chosen = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && document.contains(opener)) opener.focus({ preventScroll: true });
      resolve(chosen);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// -- unsaved edits ---------------------------------------------------------------------------

const unsavedGuards = new Set();

/**
 * Registers `describe`, called before leaving the page: it returns what would be lost
 * ("your prompts") or nothing. The app asks before navigating away from unsaved edits.
 */
export function guardUnsaved(describe) {
  unsavedGuards.add(describe);
  return () => unsavedGuards.delete(describe);
}

/** What the current page would lose now (["your prompts"]), or []. */
export function unsavedChanges() {
  return Array.from(unsavedGuards, (describe) => describe()).filter(Boolean);
}

/** A new page starts with no guards. */
export function clearUnsavedGuards() {
  unsavedGuards.clear();
}
