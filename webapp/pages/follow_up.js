// Account → "A follow-up from yesterday": the call's greeting may recall what you said last
// time to one of your prompts (Profile/updateFollowUp, off by default), and which prompt
// that is (Prompts/markFollowUp; until you choose, the last one). The words are your own,
// read back on our server from your reflections and said by the call's voice; no service
// rewrites them. "Hear your call" says them too, when there is an answer to recall.

import { about, api } from "../api.js";
import { announce, button, card, checkbox, field, formError, h, onSubmit } from "../ui.js";

const EXAMPLE = "Yesterday, when I asked “What would you like to carry into tomorrow?”, you said: patience.";

/** The card; `state.onPromptsSaved` redraws it after the prompts change. */
export function followUpSection(state) {
  const { section, body } = card("A follow-up from yesterday", {
    id: "follow-up",
    intro: `Your call can begin by recalling what you said last time to one of your prompts, for example: “${EXAMPLE}” Only an answer from the last 30 days is recalled, and a skipped one never.`,
  });

  async function draw() {
    const [row] = await api("Prompts/_followUpPrompt");
    const enabled = checkbox({
      name: "followUp",
      label: "Begin my call with what I said last time",
      checked: Boolean(state.profile.followUp),
    });
    const select = h("select", { autocomplete: "off" });
    state.prompts.forEach((text, i) => {
      const position = i + 1;
      select.append(h("option", { value: String(position), selected: row?.position === position }, `${position}. ${text}`));
    });
    const prompt = field({
      name: "position",
      label: "The prompt to follow up",
      control: select,
      hint: row?.marked ? "The call recalls your last answer to this prompt." : "Until you choose one, it is your last prompt.",
    });
    const form = h("form", { class: "stack follow-up-form" }, enabled.wrap, prompt.wrap, h("div", { class: "actions" }, button("Save")), formError());
    onSubmit(form, async () => {
      let changed = false;
      const position = Number(select.value);
      if (row && position !== row.position) {
        await about("position", api("Prompts/markFollowUp", { position }));
        changed = true;
      }
      if (enabled.input.checked !== Boolean(state.profile.followUp)) {
        await about("followUp", api("Profile/updateFollowUp", { enabled: enabled.input.checked }));
        await state.reloadProfile();
        changed = true;
      }
      if (changed) await draw();
      const on = state.profile.followUp ? "Your call will begin with what you said last time." : "Your call will not recall what you said.";
      announce(changed ? `Saved. ${on}` : "Nothing to save: no changes.", changed ? "success" : "info");
    });
    body.replaceChildren(form);
  }

  state.onPromptsSaved = () => draw().catch(() => {});
  draw().catch((error) => body.replaceChildren(h("p", { class: "form-error" }, error.message)));
  return section;
}
