// Editing a past answer (History): correct or fill in an answer of a finished reflection,
// inline. The service keeps the answer first recorded; an edited answer says so, and
// "Show the original" discloses what was first said or typed.

import { api } from "../api.js";
import { formatDateTime } from "../format.js";
import { announce, button, field, formError, guardUnsaved, h, onSubmit } from "../ui.js";

const FINISHED = new Set(["COMPLETED", "ABANDONED"]); // a reflection in progress is answered, not edited

/** An answer as text: a missing answer and an empty one ("No answer") in words. */
export function answerText(answer) {
  if (answer === null || answer === undefined) return h("p", { class: "answer answer-missing" }, "Not answered");
  if (answer === "") return h("p", { class: "answer answer-missing" }, "No answer");
  return h("p", { class: "answer" }, answer);
}

function originalText(original) {
  if (original === null || original === undefined) return h("p", { class: "answer answer-missing" }, "Not answered at the time");
  return answerText(original);
}

// "Edited <when>" and the disclosure of the original, for an answer edited afterwards.
function editedNote(prompt, tz) {
  if (!prompt.editedAt) return null;
  return h(
    "div",
    { class: "answer-edited" },
    h("p", { class: "muted edited-mark" }, "Edited ", h("time", { datetime: prompt.editedAt }, formatDateTime(prompt.editedAt, tz))),
    h("details", { class: "answer-original" }, h("summary", {}, "Show the original"), originalText(prompt.original)),
  );
}

/**
 * One prompt of a reflection in History with its answer; for a finished reflection, an
 * "Edit" button opens an inline form (Escape or Cancel closes it, focus returns to Edit).
 */
export function answerItem(session, prompt, tz) {
  const item = h("li", { dataset: { position: prompt.position } });
  let unguard = null;

  function show(focusEdit = false) {
    unguard?.();
    unguard = null;
    const edit = FINISHED.has(session.status)
      ? button("Edit", { kind: "quiet", type: "button", onclick: () => openForm(), props: { "aria-label": `Edit your answer to: ${prompt.text}`, class: "btn btn-quiet btn-small answer-edit" } })
      : null;
    item.replaceChildren(...[h("p", { class: "question" }, prompt.text), answerText(prompt.answer), editedNote(prompt, tz), edit].filter(Boolean));
    if (focusEdit) edit?.focus();
  }

  function openForm() {
    const text = field({ name: "text", label: `Your answer to: ${prompt.text}`, type: "textarea", value: prompt.answer ?? "", hint: "Leave it empty for “No answer”. What you first said is kept." });
    text.input.rows = 4;
    const form = h(
      "form",
      { class: "stack-tight answer-edit-form" },
      text.wrap,
      h("div", { class: "actions" }, button("Save answer"), button("Cancel", { kind: "secondary", type: "button", onclick: () => show(true) })),
      formError(),
    );
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        show(true);
      }
    });
    const before = text.input.value;
    unguard = guardUnsaved(() => (text.input.value !== before ? "your edited answer" : null));
    onSubmit(form, async () => {
      const answer = text.input.value.trim();
      const out = await api("ReflectionSession/editAnswer", { session: session.session, position: prompt.position, text: answer });
      if (out.editedAt && !prompt.editedAt) prompt.original = prompt.answer; // the service keeps it the same way
      if (out.editedAt) prompt.editedAt = out.editedAt;
      prompt.answer = answer;
      show(true);
      announce(out.editedAt ? "Answer saved." : "Nothing changed.", "success");
    });
    item.replaceChildren(h("p", { class: "question" }, prompt.text), form);
    text.input.focus();
  }

  show();
  return item;
}
