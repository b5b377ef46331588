// A forgotten password: a code texted to the account's verified phone, then a new password.
// The server answers the same whether or not the account exists, and so does this page.

import { api, setSession } from "../api.js";
import { button, field, formError, h, onSubmit, showFieldError } from "../ui.js";

export async function render(view, ctx) {
  const area = h("div", { class: "card auth-card" });
  view.append(
    h(
      "div",
      { class: "auth" },
      h(
        "div",
        { class: "auth-intro" },
        h("h1", {}, "Reset your password"),
        h("p", { class: "lead" }, "We'll text a code to the phone number you verified in your account."),
      ),
      area,
      h("p", { class: "auth-switch" }, "Remembered it? ", h("a", { href: "/login" }, "Log in")),
    ),
  );
  askForCode();

  function askForCode(username = "") {
    const name = field({
      name: "username",
      label: "Username",
      value: username,
      inputProps: { autocomplete: "username", autocapitalize: "none", spellcheck: "false", maxlength: 64, required: true },
    });
    const form = h("form", { class: "stack", "aria-label": "Ask for a reset code" }, name.wrap, h("div", { class: "actions" }, button("Text me a code")), formError());
    onSubmit(
      form,
      async () => {
        await api("Accounts/requestReset", { username: name.input.value }, { auth: false });
        enterCode(name.input.value);
      },
      { busyLabel: "Sending…" },
    );
    area.replaceChildren(form);
    name.input.focus();
  }

  function enterCode(username) {
    const code = field({
      name: "code",
      label: "6-digit code",
      hint: "It works for 10 minutes.",
      inputProps: { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 9, pattern: "[0-9 ]*", class: "code-input", required: true },
    });
    const password = field({
      name: "newPassword",
      label: "New password",
      type: "password",
      hint: "At least 10 characters.",
      inputProps: { autocomplete: "new-password", maxlength: 200, required: true },
    });
    const repeat = field({ name: "repeatPassword", label: "Repeat the new password", type: "password", inputProps: { autocomplete: "new-password", maxlength: 200, required: true } });
    const again = button("Send a new code", { kind: "quiet", type: "button", onclick: () => askForCode(username) });
    const form = h(
      "form",
      { class: "stack", "aria-label": "Choose a new password" },
      h(
        "p",
        { id: "reset-sent", role: "status" },
        `If “${username.trim()}” has a verified phone number, we've texted a code to it. No text? Check the username, or ask again in a minute.`,
      ),
      code.wrap,
      password.wrap,
      repeat.wrap,
      h("div", { class: "actions" }, button("Set the new password"), again),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        if (repeat.input.value !== password.input.value) {
          showFieldError(form, "repeatPassword", "The two passwords are not the same.");
          repeat.input.focus();
          return;
        }
        const body = { username, code: code.input.value, newPassword: password.input.value };
        let answer;
        try {
          answer = await api("Accounts/resetPassword", body, { auth: false });
        } catch (error) {
          if (error.status === 422 && !error.detail.length) error.field = "code";
          throw error;
        }
        setSession({ token: answer.token, expiresAt: answer.expiresAt, user: answer.user });
        ctx.signedIn();
        ctx.flash("Your password is changed, and you're logged in. Other devices were logged out.", "success");
        ctx.navigate("/today");
      },
      { busyLabel: "Saving…" },
    );
    area.replaceChildren(form);
    code.input.focus();
  }
}
