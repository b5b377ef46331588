// Renders /openapi.json as a readable list of routes, grouped by tag. No dependencies.
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

/** Text with ``code`` or `code` spans as <code>, never parsed as HTML. */
const prose = (tag, text) => {
  const node = el(tag);
  String(text).split(/``?([^`]+)``?/).forEach((part, i) => node.append(i % 2 ? el("code", { textContent: part }) : part));
  return node;
};

const typeOf = (schema) => {
  if (!schema) return "any";
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" or ");
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if (schema.type === "array") return `list of ${typeOf(schema.items)}`;
  if (schema.format === "date-time") return "date-time (ISO 8601)";
  return schema.type ?? "object";
};

/** The fields of an object schema, one line each: name, type, required, what it is. */
const fields = (schema) => {
  const props = schema?.properties ?? {};
  const names = Object.keys(props);
  if (!names.length) return el("p", { className: "muted", textContent: schema?.type === "array" ? `A list of ${typeOf(schema.items)}.` : "Nothing." });
  const required = new Set(schema.required ?? []);
  return el("ul", { className: "fields" }, ...names.map((name) => el(
    "li", {},
    el("code", { textContent: name }), " ",
    el("span", { className: "type", textContent: typeOf(props[name]) }),
    required.has(name) ? el("span", { className: "req", textContent: " required" }) : null,
    props[name].description ? prose("span", ` — ${props[name].description}`) : null,
  )));
};

const res = await fetch("/openapi.json");
const doc = await res.json();
document.getElementById("title").textContent = `${doc.info.title}: API reference`;
document.title = `${doc.info.title}: API reference`;
const home = doc.info["x-home"];
if (home?.url) {
  const link = document.getElementById("home");
  link.href = home.url;
  link.textContent = `← Back to ${home.name || "the app"}`;
  link.hidden = false;
}
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
    const summary = el("summary", {}, el("span", { className: "method", textContent: "POST" }), el("span", { className: "path", textContent: path }));
    if (op.security.length) summary.append(el("span", { className: "lock", textContent: "needs a session" }));
    const said = prose("span", op.summary);
    said.className = "summary";
    summary.append(said);
    const body = op.requestBody.content["application/json"].schema;
    const ok = op.responses["200"].content["application/json"].schema;
    // the summary line says the first sentence; the rest of the description follows
    const rest = String(op.description || "").replace(/\s+/g, " ").trim().slice(op.summary.length).trim();
    const paragraphs = rest ? [prose("p", rest)] : [];
    const errors = Object.entries(op.responses).filter(([c]) => c !== "200");
    root.append(
      el("details", {}, summary,
        ...paragraphs,
        el("h3", { textContent: "Body" }), fields(body),
        el("h3", { textContent: "Answer (200)" }), fields(ok),
        el("h3", { textContent: "Errors" }),
        el("ul", { className: "errors" }, ...errors.map(([code, r]) => el("li", {}, el("code", { textContent: code }), ` ${r.description}`))),
        el("details", { className: "schema" }, el("summary", { textContent: "JSON Schema" }),
          el("pre", { textContent: `Body: ${JSON.stringify(body, null, 2)}\n\nAnswer: ${JSON.stringify(ok, null, 2)}` })),
      ),
    );
  }
}
