// Account → "Phone": the number we call, verified by a code sent to it; a new number
// is verified before it replaces the old one.

import { about, api } from "../api.js";
import { describeWhen, formatPhone, formatTime } from "../format.js";
import { announce, badge, button, card, field, formError, h, notice, onSubmit, showFormError } from "../ui.js";

export function phoneSection(state) {
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

/** "+1… is verified. Your next call is …", or where to plan one: no promise of a call that is not planned. */
async function verifiedMessage(number, timezone) {
  const next = await api("Schedule/_nextCall").catch(() => []);
  if (next.length) return `${number} is verified. Your next call is ${describeWhen(next[0].at, timezone)}.`;
  return `${number} is verified. No call is planned yet: choose your call times under Schedule.`;
}
