// Account → "Password & sessions" and "Delete": change the password, log out (here or
// everywhere), delete the account with everything in it.

import { about, api, getSession, setSession } from "../api.js";
import { announce, button, card, field, formError, h, onSubmit, showFieldError } from "../ui.js";

export function securitySection(ctx) {
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

export function deleteSection(ctx) {
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
