// Account → "Prompts": the questions a call asks, in order (five at most).

import { api } from "../api.js";
import { announce, button, card, field, fixLink, formError, guardUnsaved, h, onSubmit, showFieldError } from "../ui.js";

const MAX_PROMPTS = 5;

export function promptsSection(state) {
  const { section, body } = card("Prompts", {
    id: "prompts",
    intro: "The questions your reflection asks, in this order: one to five.",
  });
  let items = state.prompts.length ? state.prompts.slice() : [""];
  const list = h("ol", { class: "prompt-list" });
  const add = button("Add a prompt", { kind: "secondary", type: "button" });
  const form = h("form", { class: "stack" }, list, h("div", { class: "actions" }, add), h("div", { class: "actions actions-save" }, button("Save prompts")), formError());

  function collect() {
    items = Array.from(list.querySelectorAll("textarea")).map((input) => input.value);
  }

  function draw() {
    list.replaceChildren(
      ...items.map((text, i) => {
        const f = field({ name: `prompts.${i}`, label: `Prompt ${i + 1}`, type: "textarea", value: text, inputProps: { rows: 2, maxlength: 300, class: "prompt-text" } });
        const tools = h(
          "div",
          { class: "prompt-tools" },
          h("button", { type: "button", class: "btn btn-small btn-secondary", "aria-label": `Move prompt ${i + 1} up`, disabled: i === 0, dataset: { action: "up", index: i }, onclick: () => move(i, -1) }, "↑ Up"),
          h("button", { type: "button", class: "btn btn-small btn-secondary", "aria-label": `Move prompt ${i + 1} down`, disabled: i === items.length - 1, dataset: { action: "down", index: i }, onclick: () => move(i, 1) }, "↓ Down"),
          h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": `Remove prompt ${i + 1}`, disabled: items.length === 1, dataset: { action: "remove", index: i }, onclick: () => remove(i) }, "Remove"),
        );
        return h("li", { class: "prompt-item" }, f.wrap, tools);
      }),
    );
    add.disabled = items.length >= MAX_PROMPTS;
    add.textContent = items.length >= MAX_PROMPTS ? "Five prompts at most" : "Add a prompt";
  }

  function focusTool(index, action) {
    const target = list.querySelector(`button[data-action="${action}"][data-index="${index}"]`);
    if (target && !target.disabled) target.focus();
    else list.querySelectorAll("li")[index]?.querySelector("textarea")?.focus();
  }

  function move(i, delta) {
    collect();
    const j = i + delta;
    if (j < 0 || j >= items.length) return;
    [items[i], items[j]] = [items[j], items[i]];
    draw();
    focusTool(j, delta < 0 ? "up" : "down");
    announce(`Prompt moved to position ${j + 1}. Save to keep the new order.`);
  }

  function remove(i) {
    collect();
    if (items.length <= 1) return;
    items.splice(i, 1);
    draw();
    list.querySelectorAll("textarea")[Math.min(i, items.length - 1)]?.focus();
    announce(`Prompt ${i + 1} removed. Save to keep the change.`);
  }

  add.addEventListener("click", () => {
    collect();
    if (items.length >= MAX_PROMPTS) return;
    items.push("");
    draw();
    const inputs = list.querySelectorAll("textarea");
    inputs[inputs.length - 1]?.focus();
  });

  onSubmit(form, async () => {
    collect();
    const blank = items.map((text, i) => (text.trim() ? -1 : i)).filter((i) => i >= 0);
    if (blank.length) {
      for (const i of blank) {
        const removeBtn = list.querySelector(`button[data-action="remove"][data-index="${i}"]`);
        const message = removeBtn && !removeBtn.disabled
          ? [`Prompt ${i + 1} is empty. Write a question, or `, fixLink("remove it", removeBtn), "."]
          : "Write a question here: your reflection needs at least one.";
        showFieldError(form, `prompts.${i}`, message);
      }
      list.querySelectorAll("textarea")[blank[0]]?.focus();
      return;
    }
    try {
      const saved = await api("Prompts/setPrompts", { prompts: items });
      items = saved.prompts.slice();
    } catch (error) {
      const match = /prompt (\d+)/i.exec(error.message ?? "");
      if (match && !error.detail?.length) error.field = `prompts.${Number(match[1]) - 1}`;
      throw error;
    }
    state.prompts = items.slice();
    draw();
    state.onPromptsSaved?.(); // the follow-up card names the prompts
    announce("Prompts saved.", "success");
  });

  draw();
  body.append(form);
  // an edit, a move, an addition or a removal not yet saved: asked about before leaving
  guardUnsaved(() => {
    collect();
    const saved = state.prompts.length ? state.prompts : [""];
    return JSON.stringify(items) !== JSON.stringify(saved) ? "your prompts" : null;
  });
  return section;
}
