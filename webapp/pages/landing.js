// The first page a visitor sees: what the service does, and the way in.

import { h } from "../ui.js";

const STEPS = [
  ["Choose a time", "Pick when you'd like the call: every evening at 20:00, or a time for each day of the week."],
  ["Take the call", "A calm voice greets you by name and asks your questions, one at a time. Answer aloud, in your own words."],
  ["Look back", "Your answers are kept, with the date, for you alone to read in History. Rate your day if you like."],
];

export async function render(view) {
  view.append(
    h(
      "section",
      { class: "landing-hero", "aria-labelledby": "landing-title" },
      h("h1", { id: "landing-title" }, "A short phone call each day, to reflect on how it went"),
      h(
        "p",
        { class: "lead" },
        "At the time you choose, we phone you and ask a few questions about your day. You answer by speaking; we keep your answers so you can read them later.",
      ),
      h(
        "div",
        { class: "actions landing-actions" },
        h("a", { class: "btn btn-primary", href: "/signup" }, "Create an account"),
        h("a", { class: "btn btn-secondary", href: "/login" }, "Log in"),
      ),
    ),
    h(
      "ol",
      { class: "landing-steps", "aria-label": "How it works" },
      STEPS.map(([title, text]) => h("li", { class: "card" }, h("h2", { class: "card-title" }, title), h("p", {}, text))),
    ),
    h(
      "p",
      { class: "muted landing-note" },
      "We only call a number after you've confirmed it with a code we text you. You can pause the calls, change your questions or delete everything at any time.",
    ),
  );
}
