// Account → "Your data": everything of one's own, downloaded as JSON (complete, for
// programs) or as one Markdown document (to read). POST /api/Account/export builds it on the
// server for this user only; the browser saves the answer as a file and sends it nowhere.

import { api } from "../api.js";
import { dayKey } from "../format.js";
import { announce, button, card, formError, h, onSubmit } from "../ui.js";

const FORMATS = {
  json: { label: "Download as JSON", type: "application/json", ext: "json" },
  markdown: { label: "Download as Markdown", type: "text/markdown", ext: "md" },
};

// The server names recordings by their path on this service (/api/recordings/<session>);
// a saved file needs the whole address. They play with the owner's session only.
function withOrigin(data) {
  for (const r of data.reflections ?? []) if (r.recording) r.recording = location.origin + r.recording;
  return data;
}

function markdownWithOrigin(text) {
  // only the export's own "- Recording: " lines (a user's text is quoted with "> ")
  return text.replace(/^- Recording: \/api\//gm, `- Recording: ${location.origin}/api/`);
}

function save(text, type, name) {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The "Your data" section of Account. */
export function exportSection(state) {
  const { section, body } = card("Your data", {
    id: "export",
    intro: "Download everything you have given us: your profile, prompts and schedule, and every reflection with its answers, rating, transcript and recording link.",
  });
  const forms = Object.entries(FORMATS).map(([format, { label, type, ext }]) => {
    const form = h("form", { class: "inline-actions", dataset: { format } }, button(label, { kind: "secondary" }), formError());
    onSubmit(form, async () => {
      const answer = await api("Account/export", { format });
      const text = format === "json" ? JSON.stringify(withOrigin(answer), null, 2) : markdownWithOrigin(answer.markdown);
      const day = dayKey(new Date(), state.profile.timezone);
      save(text, type, `daily-reflection-${day}.${ext}`);
      announce("Your export is downloaded.", "success");
    }, { busyLabel: "Preparing…" });
    return form;
  });
  body.append(h("div", { class: "stack-tight" }, ...forms));
  return section;
}
