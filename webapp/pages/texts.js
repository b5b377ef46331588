// Account → "Texts after a missed day": when every try of a day's call fails, the service
// sends one text (reply CALL, LATER or TYPE). The account may turn those texts off here;
// STOP, replied from the phone, turns them off for that number (syncs/texts.py).

import { api } from "../api.js";
import { describeWhen } from "../format.js";
import { announce, button, card, checkbox, formError, h, onSubmit } from "../ui.js";

/** What became of the last text, in words ("" before the first one). */
function lastText(last, timeZone) {
  if (!last) return "No text has been sent yet: you haven't missed a day's call.";
  const when = describeWhen(last.createdAt, timeZone);
  if (last.status === "SENT") return `The last text went out ${describeWhen(last.sentAt ?? last.createdAt, timeZone)}.`;
  if (last.status === "NOT_SENT") {
    if (last.reason === "the number replied STOP") return `The last one, ${when}, was not sent: your number replied STOP. Text START to our number to get them again.`;
    return `The last one, ${when}, was not sent: ${last.reason}.`;
  }
  return `The last one, ${when}, is being sent.`;
}

/** The "Texts after a missed day" section of Account. */
export function textsSection(state) {
  const { section, body } = card("Texts after a missed day", {
    id: "texts",
    intro: "When we can't reach you after every try of a day's call, we send one text message. Reply CALL for a call now, LATER for one in 10 minutes, or TYPE for a link to write instead.",
  });
  const choice = checkbox({ name: "texting", label: "Text me when I miss a day's call", checked: true });
  const status = h("p", { class: "hint", id: "texts-last", "aria-live": "polite" }, "Loading…");
  const form = h("form", { class: "stack" }, choice.wrap, status, h("div", { class: "actions" }, button("Save")), formError());
  let saved = true;
  api("TextMessages/_texting")
    .then(([row]) => {
      saved = row.on;
      choice.input.checked = row.on;
      status.textContent = lastText(row.last, state.profile.timezone);
    })
    .catch(() => {
      status.textContent = "Couldn't load your text settings; reload the page to try again.";
    });
  onSubmit(form, async () => {
    const on = choice.input.checked;
    if (on === saved) {
      announce("Nothing to save: no changes.", "info");
      return;
    }
    await api("TextMessages/setTexting", { on });
    saved = on;
    announce(on ? "You'll get a text after a missed day." : "No more texts after a missed day.", "success");
  });
  body.append(form);
  return section;
}
