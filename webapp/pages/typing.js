// Today → "Prefer typing?": answer the prompts in the web app instead of on the phone,
// one prompt at a time, each answer kept as it is given; a call asked for meanwhile carries on
// with the prompts left.

import { api } from "../api.js";
import { describeWhen } from "../format.js";
import { announce, button, card, confirmDialog, field, formError, h, notice, onSubmit } from "../ui.js";
import { ratingFieldset } from "./fields.js";

function answerText(answer) {
  if (answer === null || answer === undefined) return h("p", { class: "answer answer-missing" }, "Not answered yet");
  if (answer === "") return h("p", { class: "answer answer-missing" }, "No answer");
  return h("p", { class: "answer" }, answer);
}

export function textPanel(container, ctx, initial) {
  const tz = ctx.profile.timezone;
  let showing = "idle"; // idle | text | phone | done: what the card shows

  function idle() {
    const form = h(
      "form",
      { class: "stack-tight" },
      h("p", {}, "Can't take a call today, or would rather write? Answer today's prompts here instead."),
      h("div", { class: "actions" }, button("Answer today's prompts by typing instead", { kind: "secondary" })),
      formError(),
    );
    onSubmit(
      form,
      async () => {
        try {
          await api("Reflection/startText", {});
        } catch (error) {
          // Already one in progress (another tab, or a call): show it rather than an error.
          if (error.status !== 409) throw error;
          const rows = await api("ReflectionSession/_active");
          if (!rows.length) throw error;
        }
        const rows = await api("ReflectionSession/_active");
        if (!rows.length) throw new Error("the reflection did not start");
        show(rows[0]);
        container.querySelector("textarea")?.focus();
      },
      { busyLabel: "Starting…" },
    );
    showing = "idle";
    container.replaceChildren(form);
  }

  function done() {
    showing = "done";
    container.replaceChildren(
      notice("success", h("strong", {}, "Thank you. Today's reflection is saved. "), h("a", { href: "/history" }, "Read it in History")),
    );
  }

  function discardForm(active) {
    const discard = button("Discard this reflection", { kind: "quiet" });
    const form = h("form", { class: "actions actions-end" }, discard, formError());
    // asked in the app's own dialog first; the submit runs only once it is answered yes
    discard.addEventListener("click", async (event) => {
      if (form.dataset.confirmed) return;
      event.preventDefault();
      const yes = await confirmDialog({
        title: "Discard this reflection?",
        message: "The answers typed so far stay in History, as an abandoned reflection.",
        confirmLabel: "Discard",
        cancelLabel: "Keep it",
        danger: true,
      });
      if (!yes) return;
      form.dataset.confirmed = "1";
      form.requestSubmit(discard);
    });
    onSubmit(
      form,
      async () => {
        delete form.dataset.confirmed;
        await api("ReflectionSession/abandonSession", { session: active.session, reason: "discarded in the web app" });
        announce("Reflection discarded.");
        idle();
      },
      { busyLabel: "Discarding…" },
    );
    return form;
  }

  function show(active) {
    if (active.method !== "TEXT") {
      phoneNotice();
      return;
    }
    showing = "text";
    const total = active.prompts.length;
    const answered = active.prompts.filter((p) => p.answer !== null);
    const list = answered.length
      ? h("ol", { class: "qa" }, answered.map((p) => h("li", {}, h("p", { class: "question" }, p.text), answerText(p.answer))))
      : null;
    const parts = [h("p", { class: "muted" }, `Started ${describeWhen(active.startedAt, tz)}.`), list];

    const current = active.prompts.find((p) => p.position === active.nextPosition);
    if (current) {
      const answer = field({
        name: "text",
        label: current.text,
        type: "textarea",
        hint: "Leave it blank to skip this one.",
        inputProps: { rows: 4, maxlength: 10000 },
      });
      const last = answered.length + 1 === total;
      const form = h(
        "form",
        { class: "stack-tight answer-form" },
        h("p", { class: "step" }, `Prompt ${current.position} of ${total}`),
        answer.wrap,
        h("div", { class: "actions" }, button(last ? "Save answer" : "Save and continue")),
        formError(),
      );
      onSubmit(form, async () => {
        const text = answer.input.value;
        await api("ReflectionSession/recordResponse", { session: active.session, position: current.position, text });
        current.answer = text.trim();
        const next = active.prompts.find((p) => p.answer === null);
        active.nextPosition = next ? next.position : null;
        show(active);
        const focusTarget = container.querySelector("textarea") || container.querySelector(".finish-form button");
        focusTarget?.focus();
        announce(next ? `Saved. Prompt ${next.position} of ${total}.` : "Saved. That was the last prompt.");
      });
      parts.push(form);
    } else {
      const rating = ctx.profile.includeRating ? ratingFieldset() : null;
      const form = h(
        "form",
        { class: "stack-tight finish-form" },
        h("p", {}, "That's every prompt. Finish to save your reflection."),
        rating?.fieldset,
        h("div", { class: "actions" }, button("Finish reflection")),
        formError(),
      );
      onSubmit(form, async () => {
        const value = rating?.value();
        if (value !== null && value !== undefined) await api("ReflectionSession/setRating", { session: active.session, rating: value });
        await api("ReflectionSession/completeSession", { session: active.session });
        announce("Reflection saved.", "success");
        done();
      });
      parts.push(form);
    }
    parts.push(discardForm(active));
    container.replaceChildren(...parts.filter(Boolean));
  }

  function phoneNotice() {
    showing = "phone";
    container.replaceChildren(
      notice("info", "A phone reflection is in progress. When it ends you'll find it in History."),
    );
  }

  if (initial) show(initial);
  else idle();

  return {
    // A call that goes live while this page is open takes the place of typing; once it
    // is over, typing is offered again (for one more reflection today, if wanted).
    async callChanged(state) {
      const live = state === "on-call" || state === "finishing";
      if (live && showing === "idle") phoneNotice();
      else if (!live && showing === "phone") {
        const rows = await api("ReflectionSession/_active");
        if (rows.length) show(rows[0]);
        else idle();
      }
    },
  };
}
