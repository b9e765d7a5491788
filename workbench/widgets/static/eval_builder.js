// The eval builder's view. It shows the state Python sends (cards, detail, status, expanded)
// and turns clicks and keys into messages; it keeps only what is being typed.
//
// Trace text is untrusted. Every string reaches the page as a text node (`h` appends text and
// refuses attributes it does not know; nothing here assigns innerHTML). The trace shown when a
// disagreement is opened arrives as HTML that Python escaped; it is parsed into an inert
// document and rebuilt node by node from an allowlist of tags, keeping only class names.

const ATTRIBUTES = new Set([
  "type", "title", "tabindex", "role", "rows", "min", "max", "step", "spellcheck", "disabled",
  "checked", "aria-label", "aria-pressed", "aria-expanded", "aria-live", "data-lm-suppress-shortcuts",
]);
const TRACE_TAGS = new Set(["DIV", "PRE", "DETAILS", "SUMMARY", "B", "SPAN", "H4", "DL", "DT", "DD", "UL", "LI"]);
const KIND_NAMES = { "missed failure": "missed", "false alarm": "alarm", ungraded: "ungraded" };

function present(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
}

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (ATTRIBUTES.has(key)) node.setAttribute(key, value === true ? "" : String(value));
    else throw new Error(`eval builder: attribute ${key} is not allowed`);
  }
  node.append(...present(children));
  return node;
}

function fill(node, ...children) {
  node.replaceChildren(...present(children));
}

function fmt(value) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(2);
}

// The escaped trace HTML, rebuilt from allowed tags with class names only (scripts, handlers,
// links and images cannot survive even if the HTML were not escaped).
function safeTrace(html) {
  const parsed = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
  const copy = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.data);
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    if (!TRACE_TAGS.has(node.tagName)) return document.createTextNode(node.textContent);
    const out = document.createElement(node.tagName.toLowerCase());
    const cls = node.getAttribute("class");
    if (cls) out.className = cls;
    out.append(...present([...node.childNodes].map(copy)));
    return out;
  };
  return copy(parsed.body.firstChild);
}

function figures(label, m) {
  const cell = (name, value, title) => h("div", { class: "wbe-fig", title },
    h("span", { class: "wbe-fig-name" }, name), h("span", { class: "wbe-fig-value" }, value));
  return h("div", { class: "wbe-figs" }, h("span", { class: "wbe-fig-split" }, label),
    cell("TPR", fmt(m.tpr), "share of human-tagged failures the check catches"),
    cell("TNR", fmt(m.tnr), "share of clean traces the check lets pass"),
    m.precision !== undefined ? cell("Prec.", fmt(m.precision), "share of flagged traces humans also flagged") : null,
    m.kappa !== undefined ? cell("κ", fmt(m.kappa), "Cohen's kappa of check and humans") : null,
    cell("n", String(m.n ?? 0), "graded labelled traces"));
}

// Spec fields: each key of a typed spec gets the input its value's type calls for.
function fieldKind(name, value) {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "string") return name === "field" || name === "match" ? "choice" : "str";
  return "json";
}

function fieldInput(name, value, options) {
  const kind = fieldKind(name, value);
  let node;
  if (kind === "bool") node = h("input", { type: "checkbox", checked: value, "aria-label": name });
  else if (kind === "int" || kind === "float") {
    node = h("input", { type: "number", step: kind === "int" ? 1 : "any", "aria-label": name });
    node.value = String(value);
  } else if (kind === "choice") {
    node = h("select", { "aria-label": name }, options.map((o) => h("option", {}, o)));
    node.value = value;
  } else if (kind === "str") {
    node = h("input", { type: "text", spellcheck: false, "aria-label": name, class: "wbe-mono" });
    node.value = value;
  } else {
    node = h("textarea", { rows: 3, spellcheck: false, "aria-label": name, class: "wbe-mono" });
    node.value = JSON.stringify(value, null, 1);
  }
  return { name, kind, node };
}

function readField({ name, kind, node }) {
  if (kind === "bool") return node.checked;
  if (kind === "int" || kind === "float") {
    const number = Number(node.value);
    if (node.value.trim() === "" || !Number.isFinite(number) || (kind === "int" && !Number.isInteger(number))) {
      throw new Error(`${name} must be a ${kind === "int" ? "whole number" : "number"}`);
    }
    return number;
  }
  if (kind !== "json") return node.value;
  try {
    return JSON.parse(node.value);
  } catch (error) {
    throw new Error(`${name} is not valid JSON: ${error.message}`);
  }
}

// The view --------------------------------------------------------------------------------------

class EvalBuilderView {
  constructor(model, el) {
    this.model = model;
    this.editorKey = null;
    this.rowsKey = null;
    this.open = null;
    this.asPython = false;
    this.fields = [];
    this.build();
    el.append(this.root);
  }

  send(message) {
    this.model.send(message);
  }

  build() {
    this.title = h("span", { class: "wbe-title" });
    this.suitePath = h("span", { class: "wbe-muted" });
    this.notes = h("div", { class: "wbe-notes" });
    this.cards = h("div", { class: "wbe-cards", role: "list" });
    this.editor = h("section", { class: "wbe-editor" });
    this.actions = h("section", { class: "wbe-actions" });
    this.rows = h("section", { class: "wbe-rows" });
    this.message = h("div", { class: "wbe-message", "aria-live": "polite" });
    this.root = h("div", { class: "wbe-builder", tabindex: 0, "data-lm-suppress-shortcuts": true },
      h("div", { class: "wbe-top" }, this.title, this.suitePath,
        h("button", { type: "button", class: "wbe-propose", title: "propose candidates again from the current labels",
          onclick: () => this.send({ type: "propose" }) }, "↻ Propose again")),
      this.notes, this.cards,
      h("div", { class: "wbe-detail" }, h("div", { class: "wbe-left" }, this.editor, this.actions), this.rows),
      this.message);
  }

  // Python -> page

  showStatus() {
    const status = this.model.get("status");
    const count = this.model.get("cards").length;
    this.title.textContent = `Eval builder · ${status.failure_mode} · ${count} candidate${count === 1 ? "" : "s"}`;
    this.suitePath.textContent = `suite: ${status.suite ?? ""}`;
    this.message.textContent = status.message ?? "";
    fill(this.notes,
      status.model_note ? h("div", { class: "wbe-note wbe-info" }, status.model_note) : null,
      status.labels_note ? h("div", { class: "wbe-note wbe-warn" }, `⚠ ${status.labels_note}`) : null,
      (status.notes ?? []).map((n) => h("div", { class: "wbe-note wbe-warn" }, `⚠ ${n}`)));
  }

  showCards() {
    const selected = this.model.get("status").selected;
    const cards = this.model.get("cards");
    const focused = this.cards.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    fill(this.cards, cards.length ? cards.map((c, i) => this.card(c, i, c.id === selected))
      : h("div", { class: "wbe-empty" }, "No candidates yet."));
    if (focused) this.cards.querySelector(`[data-index="${cards.findIndex((c) => c.id === focused)}"]`)?.focus();
  }

  card(c, index, selected) {
    const tested = c.test_n > 0 || c.test_tpr !== null;
    const node = h("div", {
      class: `wbe-card${selected ? " wbe-selected" : ""}`, role: "button", tabindex: 0,
      "aria-pressed": String(selected), title: "select (Enter); ← → move between candidates",
      onclick: () => this.send({ type: "select", id: c.id }),
    },
    h("div", { class: "wbe-card-top" }, h("span", { class: "wbe-rank" }, `#${index + 1}`),
      h("span", { class: `wbe-kind wbe-kind-${c.kind === "judge" ? "judge" : "assertion"}` }, c.kind),
      c.in_suite ? h("span", { class: "wbe-badge" }, "✓ in suite") : null),
    h("div", { class: "wbe-card-id" }, c.id),
    c.edited_from ? h("div", { class: "wbe-muted" }, `edit of ${c.edited_from}`) : null,
    h("div", { class: "wbe-summary" }, c.summary),
    c.n === null ? h("div", { class: "wbe-muted" }, "not measured") : figures("dev", c),
    tested ? figures("test", { tpr: c.test_tpr, tnr: c.test_tnr, n: c.test_n }) : null,
    c.warning ? h("div", { class: "wbe-warning" }, `⚠ ${c.warning}`) : null,
    h("div", { class: "wbe-rationale" }, c.rationale));
    node.dataset.id = c.id;
    node.dataset.index = String(index);
    return node;
  }

  showDetail() {
    const detail = this.model.get("detail");
    if (!detail || !detail.id) {
      fill(this.editor);
      fill(this.actions);
      fill(this.rows);
      this.editorKey = this.rowsKey = null;
      return;
    }
    const editorKey = JSON.stringify([detail.id, detail.spec, detail.text]);
    if (editorKey !== this.editorKey) {
      if (detail.id !== JSON.parse(this.editorKey ?? "[null]")[0]) this.asPython = false;
      this.editorKey = editorKey;
      this.renderEditor(detail);
    }
    this.error.textContent = detail.error ?? "";
    this.keepFocus(this.actions, () => this.renderActions(detail));
    const rowsKey = JSON.stringify([detail.id, detail.total, detail.rows.map((r) => r.trace_id)]);
    if (rowsKey !== this.rowsKey) {
      if (detail.id !== JSON.parse(this.rowsKey ?? "[null]")[0]) this.open = null;
      this.rowsKey = rowsKey;
      this.renderRows(detail);
    }
  }

  renderEditor(detail) {
    this.error = h("div", { class: "wbe-error", role: "alert" });
    const save = h("button", { type: "button", class: "wbe-primary", title: "Ctrl+Enter",
      onclick: () => this.saveEdit() }, "Save as new candidate and measure on dev");
    let body;
    if (detail.editor === "fields" && !this.asPython) {
      const options = this.model.get("status").fields ?? [];
      this.fields = Object.entries(detail.spec).filter(([name]) => name !== "type")
        .map(([name, value]) => fieldInput(name, value, options));
      body = [h("div", { class: "wbe-form" },
        h("label", {}, h("span", {}, "type"), h("code", {}, detail.spec.type)),
        this.fields.map((f) => h("label", {}, h("span", {}, f.name), f.node))),
      h("button", { type: "button", class: "wbe-link", onclick: () => this.writePython(detail) },
        "write it as Python instead")];
    } else {
      this.fields = [];
      const what = detail.editor === "judge" ? "Judge prompt ($trace is where the trace goes)" : "Python check (runs sandboxed)";
      this.text = h("textarea", { class: "wbe-mono wbe-source", rows: detail.editor === "judge" ? 16 : 10, spellcheck: false, "aria-label": what });
      this.text.value = detail.text;
      body = [h("div", { class: "wbe-label" }, what), this.text];
    }
    fill(this.editor, h("h4", {}, `Edit ${detail.id}`), body, h("div", { class: "wbe-row" }, save), this.error);
  }

  writePython(detail) {
    this.asPython = true;
    this.renderEditor(detail);
    this.text.focus();
  }

  // Re-render a part without losing the keyboard's place: the control at the same position
  // in the part gets the focus back.
  keepFocus(part, update) {
    const controls = () => [...part.querySelectorAll("button, input, select, textarea, [tabindex]")];
    const index = part.contains(document.activeElement) ? controls().indexOf(document.activeElement) : -1;
    update();
    if (index >= 0) (controls()[index] ?? this.root).focus({ preventScroll: true });
  }

  renderActions(detail) {
    const status = this.model.get("status");
    const threshold = h("input", { type: "number", min: 0, max: 1, step: 0.01, "aria-label": "threshold",
      title: "the least pass rate the CI gate accepts" });
    threshold.value = this.threshold?.value ?? String(status.threshold);
    this.threshold = threshold;
    const replace = detail.in_suite ? h("input", { type: "checkbox", "aria-label": "replace" }) : null;
    const measure = h("button", { type: "button", class: detail.measured ? "" : "wbe-primary",
      onclick: () => this.send({ type: "measure", id: detail.id, split: "dev" }) },
    detail.measured ? "Measure on dev again" : "Measure on dev");
    const test = h("button", { type: "button", class: "wbe-test", disabled: detail.tested || !detail.measured,
      onclick: () => this.send({ type: "test", id: detail.id }) },
    detail.tested ? "Measured on test" : "Measure on test (once)");
    const accept = h("button", { type: "button", class: "wbe-primary wbe-accept", disabled: !detail.measured,
      title: detail.measured ? "write it into the suite" : "measure it on dev first",
      onclick: () => this.send({ type: "accept", id: detail.id, threshold: threshold.value, replace: replace?.checked ?? false }) },
    detail.in_suite ? "Accept again" : "Accept into suite");
    fill(this.actions,
      h("div", { class: "wbe-row" }, measure),
      h("h4", {}, "Test"), h("div", { class: "wbe-muted" }, status.test_note), h("div", { class: "wbe-row" }, test),
      h("h4", {}, "Accept"),
      h("div", { class: "wbe-row" }, h("label", {}, "gate threshold ", threshold),
        replace ? h("label", {}, replace, " replace the eval in the suite") : null, accept));
  }

  renderRows(detail) {
    if (!detail.measured) {
      fill(this.rows, h("h4", {}, "Disagreements with the humans"),
        h("div", { class: "wbe-muted" }, "Measure it on dev to see where it disagrees with the humans."));
      return;
    }
    const shown = detail.rows.length < detail.total ? ` (first ${detail.rows.length} shown)` : "";
    const title = detail.total ? `${detail.total} disagreement${detail.total === 1 ? "" : "s"} with the humans on dev${shown}`
      : "No disagreement with the humans on dev";
    fill(this.rows, h("h4", {}, title), h("ul", { class: "wbe-list" }, detail.rows.map((r) => this.row(r))));
  }

  row(r) {
    const isOpen = this.open === r.trace_id;
    const place = h("div", { class: "wbe-trace" });
    const button = h("button", { type: "button", class: "wbe-row-button", "aria-expanded": String(isOpen),
      title: "show the whole trace", onclick: () => this.toggle(r.trace_id) },
    h("span", { class: `wbe-tag wbe-tag-${KIND_NAMES[r.disagreement] ?? "other"}` }, r.disagreement),
    h("span", { class: "wbe-mono" }, r.trace_id),
    h("span", { class: "wbe-muted" }, ` humans: ${r.human} · check: ${r.check}`),
    h("span", { class: "wbe-snip" }, h("b", {}, "user "), r.input),
    h("span", { class: "wbe-snip" }, h("b", {}, "reply "), r.output));
    const item = h("li", { class: "wbe-item" }, button, r.reason ? h("div", { class: "wbe-reason" }, `reason: ${r.reason}`) : null, place);
    item.dataset.traceId = r.trace_id;
    if (isOpen) this.showExpanded(item);
    return item;
  }

  toggle(traceId) {
    this.open = this.open === traceId ? null : traceId;
    for (const item of this.rows.querySelectorAll(".wbe-item")) {
      const isOpen = item.dataset.traceId === this.open;
      item.querySelector(".wbe-row-button").setAttribute("aria-expanded", String(isOpen));
      if (!isOpen) fill(item.querySelector(".wbe-trace"));
    }
    if (this.open !== null) {
      const expanded = this.model.get("expanded");
      if (expanded.trace_id === this.open) this.showExpanded();
      else {
        this.itemFor(this.open)?.querySelector(".wbe-trace").replaceChildren(h("div", { class: "wbe-muted" }, "loading…"));
        this.send({ type: "expand", trace_id: this.open });
      }
    }
  }

  itemFor(traceId) {
    return [...this.rows.querySelectorAll(".wbe-item")].find((item) => item.dataset.traceId === traceId);
  }

  showExpanded(item = this.itemFor(this.open)) {
    const expanded = this.model.get("expanded");
    if (!item || !expanded || expanded.trace_id !== this.open) return;
    fill(item.querySelector(".wbe-trace"), safeTrace(expanded.html ?? ""));
  }

  // Page -> Python

  saveEdit() {
    const detail = this.model.get("detail");
    const message = { type: "edit", id: detail.id, measure: true };
    try {
      if (this.fields.length) {
        message.spec = { type: detail.spec.type };
        for (const field of this.fields) message.spec[field.name] = readField(field);
      } else if (detail.editor === "judge") message.prompt = this.text.value;
      else message.source = this.text.value;
    } catch (error) {
      this.error.textContent = `not saved: ${error.message}`;
      return;
    }
    this.error.textContent = "";
    this.message.textContent = "measuring…";
    this.send(message);
  }

  onKey(event) {
    const target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && this.editor.contains(target)) {
      event.preventDefault();
      event.stopPropagation(); // Ctrl+Enter would run the notebook cell
      this.saveEdit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    event.stopPropagation(); // no single key reaches the notebook while the builder has focus
    const card = target.closest?.(".wbe-card");
    if (!card || !this.cards.contains(card)) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.send({ type: "select", id: card.dataset.id });
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      this.cards.querySelector(`[data-index="${Number(card.dataset.index) + step}"]`)?.focus();
    }
  }

  connect() {
    const listeners = {
      "change:cards": () => { this.showCards(); this.showStatus(); },
      "change:status": () => { this.showStatus(); this.showCards(); },
      "change:detail": () => this.showDetail(),
      "change:expanded": () => this.showExpanded(),
    };
    for (const [name, listener] of Object.entries(listeners)) this.model.on(name, listener);
    this.root.addEventListener("keydown", (event) => this.onKey(event));
    this.showStatus();
    this.showCards();
    this.showDetail();
    return () => {
      for (const [name, listener] of Object.entries(listeners)) this.model.off(name, listener);
    };
  }
}

function render({ model, el }) {
  return new EvalBuilderView(model, el).connect();
}

export default { render };
