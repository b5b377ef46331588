// Renders /openapi.json as a readable list of routes, grouped by tag. No dependencies.
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  node.append(...children);
  return node;
};

const res = await fetch("/openapi.json");
const doc = await res.json();
document.getElementById("title").textContent = doc.info.title;
const groups = {};
for (const [path, item] of Object.entries(doc.paths)) {
  const op = item.post;
  (groups[op.tags[0]] ??= []).push([path, op]);
}
const root = document.getElementById("routes");
root.textContent = "";
for (const [tag, ops] of Object.entries(groups)) {
  root.append(el("h2", { textContent: tag }));
  for (const [path, op] of ops) {
    const summary = el("summary", {}, el("span", { className: "method", textContent: "POST" }), path);
    if (op.security.length) summary.append(el("span", { className: "lock", textContent: "session" }));
    const body = op.requestBody.content["application/json"].schema;
    const ok = op.responses["200"].content["application/json"].schema;
    root.append(
      el("details", {}, summary,
        el("p", { textContent: op.description || op.summary }),
        el("strong", { textContent: "Request body" }), el("pre", { textContent: JSON.stringify(body, null, 2) }),
        el("strong", { textContent: "Response (200)" }), el("pre", { textContent: JSON.stringify(ok, null, 2) }),
        el("strong", { textContent: "Errors" }),
        el("p", { textContent: Object.entries(op.responses).filter(([c]) => c !== "200").map(([c, r]) => `${c} ${r.description}`).join(" · ") }),
      ),
    );
  }
}
