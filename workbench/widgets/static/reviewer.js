// The reviewer's view. It shows the state Python sends (trace, label, status) and turns
// keys and clicks into messages; it keeps no annotation state of its own.
//
// Trace text is untrusted: it only ever reaches the page through text nodes (`h` appends
// strings as text and refuses attributes it does not know; nothing here sets innerHTML).
//
// Focus design: notebooks (JupyterLab, VS Code, Colab) bind single keys too, so keys are
// taken only while focus is inside the widget root (tabindex=0, data-lm-suppress-shortcuts,
// stopPropagation). In the note and tag boxes letters type; Esc returns to the keys.

const ROLES = new Set(["system", "user", "assistant", "tool"]);
const ATTRIBUTES = new Set([
  "type", "title", "tabindex", "placeholder", "rows", "list", "id", "aria-label",
  "aria-pressed", "spellcheck", "autocomplete", "data-lm-suppress-shortcuts",
]);
const TEXT_TAGS = new Set(["TEXTAREA", "INPUT", "SELECT"]);
const NATIVE_KEYS = new Set(["BUTTON", "SUMMARY"]); // Enter and Space press these natively
let serial = 0;

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
    else throw new Error(`reviewer: attribute ${key} is not allowed`);
  }
  node.append(...present(children));
  return node;
}

function fill(node, ...children) {
  node.replaceChildren(...present(children));
}

function oneLine(text, limit = 90) {
  const flat = String(text ?? "").replace(/\s+/g, " ").trim();
  return flat.length <= limit ? flat : `${flat.slice(0, limit - 1)}…`;
}

// Trace parts ---------------------------------------------------------------------------------

function callView(call) {
  const summary = h("summary", {},
    h("span", { class: "wbr-call-tag" }, "tool call"), " ", h("b", {}, call.name),
    h("span", { class: "wbr-muted" }, ` (${oneLine(call.arguments, 70)})`),
    call.arguments_ok ? null : h("span", { class: "wbr-warn" }, " arguments are not valid JSON"),
    call.result === null ? h("span", { class: "wbr-warn" }, " no result") : null);
  return h("details", { class: "wbr-call" }, summary,
    h("div", { class: "wbr-label" }, "arguments"), h("pre", {}, call.arguments),
    call.result === null
      ? h("div", { class: "wbr-muted" }, "no result recorded")
      : [h("div", { class: "wbr-label" }, "result"), h("pre", {}, call.result)]);
}

function turnView(turn) {
  const kind = ROLES.has(turn.kind) ? turn.kind : "other";
  const head = h("div", { class: "wbr-role" }, turn.role, turn.name ? ` · ${turn.name}` : "");
  let body = turn.content ? h("div", { class: "wbr-content" }, turn.content) : null;
  if (body && turn.collapsed) body = h("details", {}, h("summary", {}, oneLine(turn.content)), body);
  return h("div", { class: `wbr-turn wbr-${kind}` }, head, body, turn.tool_calls.map(callView));
}

function pairsView(title, rows) {
  if (!rows || rows.length === 0) return null;
  const items = rows.map(([key, value]) => [h("dt", {}, key), h("dd", {},
    value.length > 160 || value.includes("\n")
      ? h("details", {}, h("summary", {}, oneLine(value, 60)), h("pre", {}, value))
      : value)]);
  return h("section", {}, h("h4", {}, title), h("dl", {}, items));
}

function feedbackView(entries) {
  if (!entries || entries.length === 0) return null;
  return h("section", {}, h("h4", {}, "Feedback"), entries.map((f) =>
    h("div", { class: "wbr-feedback" }, h("b", {}, f.name), " ", f.value,
      f.comment ? h("div", { class: "wbr-muted" }, f.comment) : null)));
}

function spansView(trace) {
  if (!trace.spans || trace.spans.length === 0) return null;
  const title = trace.span_errors ? `Spans · ${trace.span_errors} with errors` : "Spans";
  return h("section", {}, h("h4", {}, title), h("ul", { class: "wbr-spans" }, trace.spans.map((s) => {
    const item = h("li", { class: s.error ? "wbr-span wbr-span-error" : "wbr-span" }, h("b", {}, s.name),
      " ", h("span", { class: "wbr-muted" }, [s.kind, s.status, s.duration].filter(Boolean).join(" · ")),
      s.detail ? h("div", {}, s.detail) : null);
    item.style.marginLeft = `${12 * Math.min(Number(s.depth) || 0, 12)}px`;
    return item;
  })));
}

function selectView(name, values, current, labels) {
  const node = h("select", { "aria-label": name });
  for (const value of values) {
    const option = h("option", {}, labels[value] ?? value);
    option.value = value;
    node.append(option);
  }
  node.value = current ?? "";
  node.dataset.name = name;
  return node;
}

// The view ------------------------------------------------------------------------------------

class ReviewerView {
  constructor(model, el) {
    this.model = model;
    this.noteFor = null;
    this.noteSaved = "";
    this.build();
    el.append(this.root);
  }

  send(message) {
    this.model.send({ trace_id: this.model.get("label").trace_id ?? null, ...message });
  }

  button(text, key, title) {
    return h("button", { type: "button", title, onclick: () => this.send({ type: "key", key }) }, text);
  }

  build() {
    const id = `wbr-modes-${++serial}`;
    this.progress = h("span", { class: "wbr-progress" });
    this.bar = h("span", { class: "wbr-bar-fill" });
    this.filters = h("span", { class: "wbr-filters" });
    this.hint = h("span", { class: "wbr-hint" });
    this.traceId = h("div", { class: "wbr-trace-id" });
    this.main = h("div", { class: "wbr-main" });
    this.info = h("div", { class: "wbr-info" });
    this.pass = this.button("✓ Pass", "p", "mark pass (p)");
    this.fail = this.button("✗ Fail", "f", "mark fail (f)");
    this.note = h("textarea", { rows: 3, spellcheck: true,
      placeholder: "Note (e or Enter to write; Enter saves, Shift+Enter new line)" });
    this.chips = h("div", { class: "wbr-chips" });
    this.tagInput = h("input", { type: "text", list: id, autocomplete: "off",
      placeholder: "failure mode (t), Enter adds" });
    this.datalist = h("datalist", { id });
    this.message = h("span", { class: "wbr-message" });
    this.help = h("div", { class: "wbr-help" });
    this.root = h("div", { class: "wbr-reviewer", tabindex: 0, "data-lm-suppress-shortcuts": true },
      h("div", { class: "wbr-top" }, this.progress, h("span", { class: "wbr-bar" }, this.bar),
        this.filters, this.hint),
      h("div", { class: "wbr-body" },
        h("div", { class: "wbr-left" }, this.traceId, this.main),
        h("div", { class: "wbr-side" },
          h("div", { class: "wbr-labelbox" }, h("div", { class: "wbr-verdicts" }, this.pass, this.fail),
            this.note, h("div", { class: "wbr-label" }, "Failure modes"), this.chips,
            this.tagInput, this.datalist),
          this.info)),
      h("div", { class: "wbr-bottom" },
        this.button("← Previous", "b", "previous trace (b, ←)"),
        this.button("Skip", "s", "move to the end of the queue (s)"),
        this.button("Next →", "n", "next trace (n, →)"),
        this.button("Undo", "u", "undo your last action (u)"),
        h("button", { type: "button", title: "keys (?)", onclick: () => this.toggleHelp() }, "? keys"),
        this.message),
      this.help);
  }

  // Python -> page

  showTrace() {
    const trace = this.model.get("trace");
    if (!trace || !trace.trace_id) {
      fill(this.traceId);
      fill(this.main, h("div", { class: "wbr-empty" }, "Nothing to review with these filters."));
      fill(this.info);
      return;
    }
    const errors = trace.span_errors;
    this.keepFocus(() => {
      fill(this.traceId, h("span", { class: "wbr-muted" }, "trace "), trace.trace_id,
        errors ? h("span", { class: "wbr-badge-error" }, `${errors} span error${errors === 1 ? "" : "s"}`) : null);
      fill(this.main, trace.error ? h("div", { class: "wbr-error" }, trace.error) : null,
        trace.turns.map(turnView),
        trace.extra_tool_calls.length ? h("div", { class: "wbr-turn wbr-tool" },
          h("div", { class: "wbr-role" }, "tool calls"), trace.extra_tool_calls.map(callView)) : null);
      fill(this.info, pairsView("Details", trace.details), feedbackView(trace.feedback),
        spansView(trace), pairsView("Metadata", trace.metadata));
    });
    this.main.scrollTop = 0;
  }

  showLabel() {
    const label = this.model.get("label");
    const modes = this.model.get("status").modes ?? [];
    if (label.trace_id !== this.noteFor) {
      this.commitNote(); // a draft typed for the trace just left still lands on it
      this.noteFor = label.trace_id ?? null;
      this.setNote(label.note);
    } else if (document.activeElement !== this.note) {
      this.setNote(label.note);
    }
    for (const [node, verdict] of [[this.pass, "pass"], [this.fail, "fail"]]) {
      node.classList.toggle("wbr-on", label.verdict === verdict);
      node.setAttribute("aria-pressed", String(label.verdict === verdict));
    }
    const on = new Set(label.failure_modes ?? []);
    this.keepFocus(() => fill(this.chips, modes.map((mode) => h("button", {
      type: "button", class: on.has(mode.name) ? "wbr-chip wbr-on" : "wbr-chip",
      "aria-pressed": String(on.has(mode.name)), title: mode.key ? `toggle (${mode.key})` : "toggle",
      onclick: () => this.send({ type: "toggle", mode: mode.name }),
    }, mode.key ? h("kbd", {}, mode.key) : null, ` ${mode.name} `,
    h("span", { class: "wbr-muted" }, String(mode.count))))));
    fill(this.datalist, modes.map((mode) => {
      const option = h("option");
      option.value = mode.name;
      return option;
    }));
  }

  showStatus() {
    const status = this.model.get("status");
    const position = status.total ? status.position + 1 : 0;
    this.progress.textContent = `${status.reviewed} of ${status.total} reviewed · trace ${
      position} of ${status.total} · ${status.annotator}`;
    this.bar.style.width = `${status.total ? (100 * status.reviewed) / status.total : 0}%`;
    this.message.textContent = status.message ?? "";
    this.showFilters(status.filters ?? {}, status.options ?? {});
    fill(this.help, h("h4", {}, "Keys (while the reviewer has focus)"), h("table", {},
      (status.key_help ?? []).map(([k, what]) => h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, what)))));
    this.showLabel();
  }

  showFilters(current, options) {
    const choose = (name, values, labels = {}) => {
      const node = selectView(name, values, current[name], labels);
      node.addEventListener("change", () => this.send({ type: "filter", ...Object.fromEntries(
        [...this.filters.querySelectorAll("select")].map((s) => [s.dataset.name, s.value])) }));
      return node;
    };
    const clusters = options.cluster ?? [];
    this.keepFocus(() => fill(this.filters,
      choose("filter", options.filter ?? []),
      choose("failure_mode", ["", ...(options.failure_mode ?? [])], { "": "any failure mode" }),
      choose("labelled_by", ["", ...(options.labelled_by ?? [])], { "": "labelled by anyone" }),
      clusters.length ? choose("cluster", ["", ...clusters], { "": "any cluster" }) : null));
  }

  showFocus() {
    const active = document.activeElement;
    const inside = this.root.contains(active);
    const typing = inside && TEXT_TAGS.has(active.tagName);
    this.root.classList.toggle("wbr-keys", inside && !typing);
    this.root.classList.toggle("wbr-typing", typing);
    this.hint.textContent = typing ? "typing · Esc returns to keys"
      : inside ? "keys active · ? for the list" : "click here to use keys";
  }

  showHelp() {
    this.help.classList.toggle("wbr-shown", Boolean(this.model.get("show_help")));
  }

  // Page -> Python

  setNote(text) {
    this.note.value = text ?? "";
    this.noteSaved = this.note.value;
  }

  commitNote() {
    if (this.noteFor !== null && this.note.value !== this.noteSaved) {
      this.noteSaved = this.note.value;
      this.model.send({ type: "note", text: this.note.value, trace_id: this.noteFor });
    }
  }

  submitTag() {
    const name = this.tagInput.value.trim();
    this.tagInput.value = "";
    if (name) this.send({ type: "tag", mode: name });
  }

  toggleHelp(shown = !this.model.get("show_help")) {
    this.model.set("show_help", shown);
    this.model.save_changes();
  }

  keepFocus(update) {
    const had = this.root.contains(document.activeElement);
    update();
    if (had && !this.root.contains(document.activeElement)) this.root.focus({ preventScroll: true });
  }

  focus(target) {
    const node = { note: this.note, tag: this.tagInput }[target] ?? this.root;
    node.focus({ preventScroll: node === this.root });
  }

  onTextKey(event) {
    const target = event.target;
    const enter = event.key === "Enter" && (target === this.tagInput || !event.shiftKey);
    if (event.key !== "Escape" && !enter) return;
    event.preventDefault();
    if (target === this.note) this.commitNote();
    if (target === this.tagInput && enter) this.submitTag();
    if (target === this.tagInput) this.tagInput.value = "";
    this.focus("root");
  }

  onKey(event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey || event.key === "Tab") return;
    event.stopPropagation(); // no single key reaches the notebook while the widget has focus
    if (TEXT_TAGS.has(target.tagName)) return this.onTextKey(event);
    if (NATIVE_KEYS.has(target.tagName) && (event.key === "Enter" || event.key === " ")) return;
    const status = this.model.get("status");
    const action = (status.keymap ?? {})[event.key];
    if (!action) return;
    event.preventDefault();
    if (!(status.local_actions ?? []).includes(action)) this.send({ type: "key", key: event.key });
    else if (action === "help") this.toggleHelp();
    else if (action === "focus_note") this.focus("note");
    else if (action === "focus_tag") this.focus("tag");
    else {
      this.toggleHelp(false);
      this.focus("root");
    }
  }

  connect() {
    const listeners = {
      "change:trace": () => this.showTrace(),
      "change:label": () => this.showLabel(),
      "change:status": () => this.showStatus(),
      "change:show_help": () => this.showHelp(),
      "change:focus_request": () => this.focus(this.model.get("focus_request").target),
    };
    for (const [name, listener] of Object.entries(listeners)) this.model.on(name, listener);
    this.root.addEventListener("keydown", (event) => this.onKey(event));
    this.root.addEventListener("focusin", () => this.showFocus());
    this.root.addEventListener("focusout", () => setTimeout(() => this.showFocus(), 0));
    this.note.addEventListener("blur", () => this.commitNote());
    this.showTrace();
    this.showStatus();
    this.showHelp();
    this.showFocus();
    return () => {
      this.commitNote();
      for (const [name, listener] of Object.entries(listeners)) this.model.off(name, listener);
    };
  }
}

function render({ model, el }) {
  return new ReviewerView(model, el).connect();
}

export default { render };
