// Account → "Hear your call": the browser's voice reads out what a call will say. The words
// come from the server (POST /api/Calls/script), made by the same code the call speaks
// with, so the preview cannot drift from the call: the greeting with the name as the voice
// says it (with the follow-up's recall, when on), each prompt with the words between them,
// the rating question if asked for, and goodbye. The call's own voice is not the browser's; the words and their order are the same.

import { api } from "../api.js";
import { announce, button, card, formError, h, onSubmit } from "../ui.js";
import { canSpeak } from "./fields.js";

const RATE = 0.9; // as "Hear it" speaks the name
const STOPPED = new Set(["canceled", "interrupted"]); // the errors our own Stop causes
const NO_VOICE = "Your browser could not read it aloud (it may have no voice installed); the words your call says are shown below.";

/** The lines of the script as an ordered list; `mark(i)` shows the one being said (-1: none). */
function scriptList(lines) {
  const items = lines.map((text) => h("li", {}, text));
  return {
    list: h("ol", { class: "call-script", "aria-label": "What your call says" }, items),
    mark(index) {
      items.forEach((item, i) => {
        item.classList.toggle("speaking", i === index);
        if (i === index) item.setAttribute("aria-current", "true");
        else item.removeAttribute("aria-current");
      });
    },
  };
}

/** The "Hear your call" section of Account; leaving the page stops the voice. */
export function previewSection(ctx) {
  const speaking = canSpeak();
  const { section, body } = card("Hear your call", {
    id: "preview",
    intro: speaking
      ? "Hear what your daily call says, in your browser's voice: the greeting with your name as the voice says it (and what you said last time, if you switched on the follow-up), each of your prompts in turn, and the rating question if you asked for one. It uses your saved settings."
      : "Your browser cannot read text aloud, so here are the words your daily call says, in order, from your saved settings.",
  });
  const shown = h("div", { class: "call-script-wrap" });
  const stop = button("Stop", { kind: "secondary", type: "button", props: { hidden: true } });
  const start = button(speaking ? "Hear your call" : "Show your call", { kind: "secondary" });
  const form = h("form", { class: "inline-actions" }, start, stop, formError());
  let run = 0; // the play in progress: a stopped one's late events change nothing
  let script = null;

  function finish(which, message) {
    if (which !== run) return;
    run += 1;
    stop.hidden = true;
    script?.mark(-1);
    if (message) announce(message, "info");
  }

  function play(lines) {
    window.speechSynthesis.cancel();
    const which = ++run;
    stop.hidden = false;
    lines.forEach((text, i) => {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.rate = RATE;
      utterance.onstart = () => which === run && script.mark(i);
      if (i === lines.length - 1) utterance.onend = () => finish(which, null);
      // a voice that fails (none installed, say) ends the play; the words stay shown
      utterance.onerror = (event) => {
        if (which !== run || STOPPED.has(event.error)) return;
        finish(which, NO_VOICE);
        window.speechSynthesis.cancel();
      };
      window.speechSynthesis.speak(utterance);
    });
  }

  stop.addEventListener("click", () => {
    finish(run, "Stopped.");
    window.speechSynthesis.cancel();
    start.focus();
  });
  onSubmit(
    form,
    async () => {
      const { say } = await api("Calls/script", {});
      script = scriptList(say);
      shown.replaceChildren(script.list);
      if (speaking) play(say);
    },
    { busyLabel: "Loading…" },
  );
  if (speaking) ctx.onLeave(() => window.speechSynthesis.cancel());
  body.append(form, shown);
  return section;
}
