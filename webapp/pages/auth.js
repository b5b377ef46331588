// Log in and sign up.

import { api, setSession } from "../api.js";
import { button, field, formError, h, onSubmit, showFieldError } from "../ui.js";

/** Which input a message from register/login is about. */
function fieldOf(error) {
  if (/username/i.test(error.message)) return "username";
  if (/password/i.test(error.message)) return "password";
  return null;
}

export async function render(view, ctx) {
  const signup = ctx.mode === "signup";
  const username = field({
    name: "username",
    label: "Username",
    hint: signup ? "3–40 characters: letters, digits, “.”, “_” or “-”." : null,
    inputProps: { autocomplete: "username", autocapitalize: "none", spellcheck: "false", maxlength: 64, required: true },
  });
  const password = field({
    name: "password",
    label: "Password",
    type: "password",
    hint: signup ? "At least 10 characters." : null,
    inputProps: { autocomplete: signup ? "new-password" : "current-password", maxlength: 200, required: true },
  });
  const repeat = signup
    ? field({ name: "repeatPassword", label: "Repeat the password", type: "password", inputProps: { autocomplete: "new-password", maxlength: 200, required: true } })
    : null;
  const submit = button(signup ? "Create account" : "Log in");
  const form = h(
    "form",
    { class: "stack", "aria-label": signup ? "Create an account" : "Log in" },
    username.wrap,
    password.wrap,
    repeat?.wrap,
    h("div", { class: "actions" }, submit),
    formError(),
  );

  onSubmit(
    form,
    async () => {
      const body = { username: username.input.value, password: password.input.value };
      if (!body.username.trim()) {
        showFieldError(form, "username", "Enter your username.");
        username.input.focus();
        return;
      }
      if (!body.password) {
        showFieldError(form, "password", "Enter your password.");
        password.input.focus();
        return;
      }
      if (signup && repeat.input.value !== body.password) {
        showFieldError(form, "repeatPassword", "The two passwords are not the same.");
        repeat.input.focus();
        return;
      }
      try {
        if (signup) await api("Accounts/register", body, { auth: false });
        const answer = await api("Accounts/login", body, { auth: false });
        setSession({ token: answer.token, expiresAt: answer.expiresAt, user: answer.user });
      } catch (error) {
        if (error.status === 422 || (signup && error.status === 409)) error.field = fieldOf(error);
        throw error;
      }
      ctx.signedIn();
      ctx.navigate(ctx.next || "/today"); // back to the page that asked for a login
    },
    { busyLabel: signup ? "Creating account…" : "Logging in…" },
  );

  view.append(
    h(
      "div",
      { class: "auth" },
      h(
        "div",
        { class: "auth-intro" },
        h("h1", {}, signup ? "Create your account" : "Welcome back"),
        h(
          "p",
          { class: "lead" },
          signup
            ? "A short phone call each day, at the time you choose, to reflect on how it went."
            : "Log in to see today's call, your reflections and your settings.",
        ),
      ),
      h("div", { class: "card auth-card" }, form),
      signup ? null : h("p", { class: "auth-switch" }, h("a", { href: "/reset" }, "Forgot your password?")),
      h(
        "p",
        { class: "auth-switch" },
        signup ? "Already have an account? " : "New here? ",
        h("a", { href: signup ? "/login" : "/signup" }, signup ? "Log in" : "Create an account"),
      ),
    ),
  );
}
