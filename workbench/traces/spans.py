"""Span trees: what the trace-export formats (OTel, Langfuse, LangSmith, MLflow) share.

An adapter reads its export into :class:`SpanRecord` objects. :func:`link` places one
trace's spans in a tree and :func:`trace_row` rolls the tree up into a canonical row:
tool calls made, errors anywhere in the tree, latency, tokens and cost where logged,
the chat as the last model call saw it, and the user-visible input and output.

The ``spans`` column holds a trace's tree as a **flat list in tree order** (depth
first, siblings by start time), one JSON-serialisable dict per span::

    {"span_id", "parent_id", "depth", "name", "kind", "start", "end", "duration_ms",
     "status", "error", "input", "output", "attributes", "events", "flags"}

``parent_id`` is where the span sits in the tree (``None`` for the root, whose
``depth`` is 0); ``start``/``end`` are ISO 8601 strings in UTC or ``None``;
``status`` is ``"OK"``, ``"ERROR"`` or ``"UNSET"``; ``kind`` is one of :data:`KINDS`;
``attributes`` holds every source field the other keys do not. A flat list rather
than nested children: it filters and renders without recursion and serialises
however deep the tree is.

Nothing is dropped. A span whose parent is not in the export goes under the root,
flagged ``"missing_parent"``, with the id it named kept as ``source_parent_id``; a
second parentless span goes under the root, flagged ``"orphan"``; a span of a kind
the loader does not know is kept as ``UNKNOWN``, flagged ``"unknown_kind"``. A trace
whose spans cannot be placed (parent links in a cycle, a repeated span id) is a
rejected record.

The last part of the module reads chats in the shapes exports hold them (OpenAI,
OpenAI Responses, LangChain, OTel GenAI parts, OpenInference) as OpenAI-style messages.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from workbench.traces import chat, fields
from workbench.traces.errors import LoadReport, Place, RecordError, TraceLoadWarning

Row = dict[str, Any]

KINDS = frozenset(
    {
        "LLM", "TOOL", "AGENT", "CHAIN", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL",
        "EVALUATOR", "PROMPT", "PARSER", "MEMORY", "WORKFLOW", "TASK", "EVENT", "SPAN", "UNKNOWN",
    }
)  # fmt: skip
"""Span kinds after normalisation: ``SPAN`` is a plain span, ``UNKNOWN`` an unrecognised kind."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ERROR_TEXT_LIMIT = 300


@dataclass(frozen=True)
class SpanRecord:
    """One span as an adapter read it, before it is placed in a tree."""

    trace_id: str
    """The trace it belongs to."""
    span_id: str
    """Its id, unique within the trace (hex where the source encodes bytes)."""
    parent_id: str | None
    """The parent's span id as the source gives it; ``None`` for a root."""
    name: str
    """The span's name."""
    kind: str
    """One of :data:`KINDS`."""
    place: Place
    """The record of the file it came from."""
    path: str = ""
    """Where the span sits inside its record, e.g. ``spans[3]``, for messages."""
    id_fields: tuple[str, str] = ("span_id", "parent_id")
    """The source's names for the span-id and parent-id fields, for messages."""
    start: datetime | None = None
    """Start time, UTC."""
    end: datetime | None = None
    """End time, UTC."""
    status: str = "UNSET"
    """``"OK"``, ``"ERROR"`` or ``"UNSET"``."""
    error: str | None = None
    """The error message when the span failed."""
    input: Any = None
    """What the span received, as the source logged it."""
    output: Any = None
    """What the span returned, as the source logged it."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Every other field of the source span."""
    events: list[Any] = field(default_factory=list)
    """Span events (exceptions, log lines), as logged."""
    prompt: list[Row] | None = None
    """For model calls: the messages sent to the model."""
    reply: list[Row] | None = None
    """For model calls: the messages the model returned."""
    model: str | None = None
    """The model name, where the span names one."""
    tokens: dict[str, int] | None = None
    """Token counts ``{"prompt", "completion", "total"}`` logged on this span."""
    cost_usd: float | None = None
    """Cost logged on this span."""
    tool_name: str | None = None
    """For tool spans: the tool's name, when the source gives it apart from the span name."""
    tool_call_id: str | None = None
    """For tool spans: the id of the model's tool call this span carried out."""
    flags: tuple[str, ...] = ()
    """Notes about the span itself, e.g. ``"unknown_kind"``."""

    def where(self, key: str) -> str:
        """The field path of ``key`` in this span's record, for messages."""
        return f"{self.path}.{key}" if self.path else key


@dataclass(frozen=True)
class Node:
    """A span placed in its tree."""

    span: SpanRecord
    """The span."""
    parent_id: str | None
    """Where it sits (the root's id for a span whose parent is missing)."""
    depth: int
    """0 for the root."""
    flags: tuple[str, ...]
    """The span's own flags, plus ``"missing_parent"`` or ``"orphan"`` when moved under the root."""


@dataclass(frozen=True)
class Tree:
    """One trace: its spans in tree order."""

    trace_id: str
    """The trace id."""
    nodes: tuple[Node, ...]
    """Depth first, siblings by start time, the root first; empty for a trace without spans."""


@dataclass(frozen=True)
class TraceInfo:
    """What an export says about a trace as a whole; it wins over values rolled up from spans."""

    metadata: dict[str, Any]
    """Everything about the trace that no canonical column holds."""
    input: Any = None
    """The trace's input as logged (text, messages or an object)."""
    output: Any = None
    """The trace's output as logged."""
    timestamp: datetime | None = None
    """When the trace started."""
    latency_ms: float | None = None
    """How long it took."""
    cost_usd: float | None = None
    """Its total cost."""
    tokens: dict[str, int] | None = None
    """Its total token counts."""
    error: str | None = None
    """A trace-level error, told when no span shows one."""
    feedback: list[Row] | None = None
    """Scores and comments; ``None`` for formats that carry none."""


@dataclass
class Notes:
    """Problems that do not stop a load, collected per file and told once per kind."""

    found: dict[str, list[tuple[Place, str, str]]] = field(default_factory=dict)
    """What is wrong (``"have an unknown kind"``...) -> (place, field, detail) of each case."""

    def add(self, problem: str, place: Place, field: str, detail: str) -> None:
        """Remember one occurrence."""
        self.found.setdefault(problem, []).append((place, field, detail))

    def warn(self) -> None:
        """Emit one :class:`TraceLoadWarning` per kind of problem, naming the first place."""
        for problem, cases in self.found.items():
            place, name, detail = cases[0]
            warnings.warn(
                f"{len(cases)} span(s) {problem}; first at {place}, field {name!r}: {detail}",
                TraceLoadWarning,
                stacklevel=4,
            )


def classify(
    raw: Any, table: Mapping[str, str], notes: Notes, place: Place, field: str
) -> tuple[str, tuple[str, ...]]:
    """A source's span kind as one of :data:`KINDS` (upper-case lookup in ``table``).

    A missing kind is a plain ``SPAN``; an unrecognised one is kept as ``UNKNOWN``,
    flagged ``"unknown_kind"`` and reported as a warning (its raw value stays in the
    span's attributes).
    """
    if raw is None or raw == "":
        return "SPAN", ()
    kind = table.get(str(raw).upper())
    if kind is not None:
        return kind, ()
    notes.add("have a kind this loader does not know", place, field, f"{raw!r} kept as 'UNKNOWN'")
    return "UNKNOWN", ("unknown_kind",)


def status_of(value: Any) -> str:
    """``OK``/``ERROR``/``UNSET`` from the ways exports spell a status (codes 0-2 included)."""
    if value is None:
        return "UNSET"
    text = str(value).upper().rsplit("_", 1)[-1].rsplit(".", 1)[-1]
    return {"1": "OK", "2": "ERROR", "OK": "OK", "ERROR": "ERROR", "SUCCESS": "OK"}.get(
        text, "UNSET"
    )


def to_time(value: Any, field: str) -> datetime | None:
    """A time as an aware UTC datetime: ISO strings, epoch numbers (s to ns), datetimes.

    Integer epochs (and integer strings, as OTLP writes nanoseconds) are converted
    exactly; their size tells the unit, as in :func:`workbench.traces.fields.to_timestamp`.

    Raises:
        RecordError: the value is not a readable time; names ``field``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _epoch(value, field)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _utc(value, field)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return _utc(value, field)


def _epoch(number: int, field: str) -> datetime:
    for scale in (1, 10**3, 10**6, 10**9):
        if abs(number) < 10**11 * scale:
            seconds, rest = divmod(number, scale)
            try:
                return _EPOCH + timedelta(seconds=seconds, microseconds=rest * 10**6 // scale)
            except OverflowError:
                break
    raise RecordError(f"unreadable time {number!r}", field)


def _utc(value: Any, field: str) -> datetime:
    """The loader's own time parsing, to the microsecond."""
    return fields.to_timestamp(value, field).floor("us").to_pydatetime()


def link(
    trace_id: str, spans: Sequence[SpanRecord], report: LoadReport, notes: Notes
) -> Tree | None:
    """Place one trace's spans in a tree; ``None`` (once reported) when that is impossible."""
    by_id: dict[str, SpanRecord] = {}
    for span in spans:
        if span.span_id in by_id:
            first = by_id[span.span_id].place
            reason = f"span id {span.span_id!r} repeats in trace {trace_id!r} (first at {first})"
            report.reject(span.place, reason, span.where(span.id_fields[0]))
            return None
        by_id[span.span_id] = span
    cycle = _find_cycle(by_id)
    if cycle:
        span = by_id[cycle[0]]
        reason = f"parent links of trace {trace_id!r} form a cycle: {' -> '.join(cycle)}"
        report.reject(span.place, reason, span.where(span.id_fields[1]))
        return None
    return Tree(trace_id, tuple(_place(spans, by_id, notes)) if spans else ())


def build_trees(records: Iterable[SpanRecord], report: LoadReport, notes: Notes) -> list[Tree]:
    """Group spans by trace id, in first-seen order, and :func:`link` each trace."""
    groups: dict[str, list[SpanRecord]] = defaultdict(list)
    for record in records:
        groups[record.trace_id].append(record)
    trees = [link(trace_id, spans, report, notes) for trace_id, spans in groups.items()]
    return [tree for tree in trees if tree is not None]


def _find_cycle(by_id: dict[str, SpanRecord]) -> list[str] | None:
    """The span ids of a parent-link cycle, if any (each span is walked once)."""
    done: set[str] = set()
    for start in by_id:
        path: list[str] = []
        seen: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in by_id and node not in done:
            if node in seen:
                return [*path[seen[node] :], node]
            seen[node] = len(path)
            path.append(node)
            node = by_id[node].parent_id
        done.update(path)
    return None


def _by_start(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """Spans by start time (those without one last), keeping source order for ties."""
    indexed = list(enumerate(spans))
    indexed.sort(key=lambda p: (p[1].start is None, p[1].start or _EPOCH, p[0]))
    return [span for _, span in indexed]


def _place(spans: Sequence[SpanRecord], by_id: dict[str, SpanRecord], notes: Notes) -> list[Node]:
    """Depth-first order; spans without a parent in the export go under the root, flagged."""
    ordered = _by_start(spans)
    roots = [s for s in ordered if s.parent_id is None]
    root = roots[0] if roots else next(s for s in ordered if s.parent_id not in by_id)
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    moved: dict[str, str] = {}
    for span in ordered:
        if span.parent_id in by_id and span is not root:
            children[span.parent_id].append(span)
            continue
        if span.parent_id is not None:
            moved[span.span_id] = "missing_parent"
            detail = f"parent {span.parent_id!r} is not in the export; kept under the root"
            notes.add(
                "name a parent that is not in the export",
                span.place,
                span.where(span.id_fields[1]),
                detail,
            )
        elif span is not root:
            moved[span.span_id] = "orphan"
            detail = f"a second root in trace {span.trace_id!r}; kept under the first"
            notes.add(
                "are extra roots of their trace", span.place, span.where(span.id_fields[1]), detail
            )
        if span is not root:
            children[root.span_id].append(span)
    nodes: list[Node] = []
    stack: list[tuple[SpanRecord, int, str | None]] = [(root, 0, None)]
    while stack:
        span, depth, parent = stack.pop()
        flags = span.flags + ((moved[span.span_id],) if span.span_id in moved else ())
        nodes.append(Node(span, parent, depth, flags))
        stack.extend((kid, depth + 1, span.span_id) for kid in reversed(children[span.span_id]))
    return nodes


def trace_row(tree: Tree, info: TraceInfo) -> Row:
    """Roll one tree up into a canonical row; what the export states about the trace wins."""
    spans = [node.span for node in tree.nodes]
    root = spans[0] if spans else None
    messages = _conversation(spans)
    models = [s.model for s in spans if s.kind == "LLM" and s.model]
    row: Row = {
        "trace_id": tree.trace_id,
        "input": _visible(info.input, root, messages, "input"),
        "output": _visible(info.output, root, messages, "output"),
        "messages": messages,
        "metadata": dict(info.metadata),
        "timestamp": info.timestamp or _first_start(spans),
        "model": models[-1] if models else next((s.model for s in spans if s.model), None),
        "latency_ms": info.latency_ms if info.latency_ms is not None else _latency(spans),
        "cost_usd": info.cost_usd if info.cost_usd is not None else _leaf_cost(tree),
        "tokens": info.tokens or _leaf_tokens(tree),
        "tool_calls": _tool_calls(spans, messages),
        "error": _errors(tree, info.error),
        "spans": [span_dict(node) for node in tree.nodes],
    }
    if len(set(models)) > 1:
        row["metadata"].setdefault("models", sorted(set(models)))
    if info.feedback is not None:
        row["feedback"] = info.feedback
    return row


def row_or_reject(
    tree: Tree, info: TraceInfo | Callable[[], TraceInfo], place: Place, report: LoadReport
) -> Row | None:
    """:func:`trace_row`, reporting a value of a shape no reader expected as a bad record.

    ``info`` may be given as a function, so that reading it is guarded too.
    """
    try:
        return trace_row(tree, info if isinstance(info, TraceInfo) else info())
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as exc:
        reason = f"unexpected value in trace {tree.trace_id!r} ({type(exc).__name__}: {exc})"
        report.reject(place, reason)
        return None


def span_dict(node: Node) -> Row:
    """A placed span as the JSON-serialisable dict of the ``spans`` column."""
    span = node.span
    duration = None
    if span.start is not None and span.end is not None:
        duration = (span.end - span.start).total_seconds() * 1000.0
    out: Row = {
        "span_id": span.span_id,
        "parent_id": node.parent_id,
        "depth": node.depth,
        "name": span.name,
        "kind": span.kind,
        "start": span.start.isoformat() if span.start else None,
        "end": span.end.isoformat() if span.end else None,
        "duration_ms": duration,
        "status": span.status,
        "error": span.error,
        "input": span.input,
        "output": span.output,
        "attributes": span.attributes,
        "events": span.events,
        "flags": list(node.flags),
    }
    if "missing_parent" in node.flags:
        out["source_parent_id"] = span.parent_id
    return out


def _first_start(spans: Sequence[SpanRecord]) -> datetime | None:
    if spans and spans[0].start is not None:
        return spans[0].start
    return min((s.start for s in spans if s.start is not None), default=None)


def _visible(value: Any, root: SpanRecord | None, messages: list[Row] | None, side: str) -> str:
    """The user-visible input or output: the trace's, else the root span's, else the chat's."""
    for candidate in (value, getattr(root, side, None)):
        text = visible_text(candidate, side)
        if text.strip():
            return text
    return said(messages, side) if messages else ""


def _conversation(spans: Sequence[SpanRecord]) -> list[Row] | None:
    """The chat as the last model call saw it, then the tool results and replies after it."""
    calls = [s for s in spans if s.kind == "LLM" and s.prompt]
    if not calls:
        return None
    last = max(enumerate(calls), key=lambda p: (p[1].end or p[1].start or _EPOCH, p[0]))[1]
    messages = [*(last.prompt or []), *(last.reply or [])]
    after = last.end or last.start
    if after is None:
        return messages
    for span in _by_start(s for s in spans if s.start is not None and s.start >= after):
        if span.kind == "LLM" and span is not last:
            messages.extend(span.reply or [])
        elif span.kind == "TOOL":
            result = _result(span.output)
            text = result if isinstance(result, str) else _dumps(result)
            name = span.tool_name or span.name
            messages.append(
                {"role": "tool", "content": text, "tool_call_id": span.tool_call_id, "name": name}
            )
    return messages


def _tool_calls(spans: Sequence[SpanRecord], messages: list[Row] | None) -> list[Row]:
    """Tool spans in time order, with the arguments the model gave where the chat has them."""
    asked = chat.tool_calls(messages) if messages else []
    tools = _by_start(s for s in spans if s.kind == "TOOL")
    if not tools:
        return [{**call, "error": None} for call in asked]
    by_id = {call["id"]: call for call in asked if call.get("id")}
    unmatched = list(asked)
    calls = []
    for span in tools:
        name = span.tool_name or span.name
        match = by_id.get(span.tool_call_id) if span.tool_call_id else None
        if match is None:
            match = next((c for c in unmatched if c["name"] == name), None)
        if match is not None and match in unmatched:
            unmatched.remove(match)
        given = match or {}
        result = _result(span.output)
        calls.append(
            {
                "id": span.tool_call_id or given.get("id"),
                "name": name,
                "arguments": given["arguments"] if given.get("arguments") else span.input,
                "result": given.get("result") if result in (None, "", {}, []) else result,
                "error": span.error,
            }
        )
    return calls


def _result(output: Any) -> Any:
    """A tool's result without the wrappers frameworks put around it."""
    while isinstance(output, dict) and len(output) == 1 and "output" in output:
        output = output["output"]
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        return output["content"]
    return output


def _errors(tree: Tree, trace_error: str | None) -> str | None:
    """Each distinct error message once, in time order, named by the deepest span showing it."""
    best: dict[str, tuple[int, str]] = {}
    depth = {id(node.span): node.depth for node in tree.nodes}
    for span in _by_start(node.span for node in tree.nodes):
        if span.status != "ERROR" and not span.error:
            continue
        text = span.error or "failed (status ERROR)"
        if text not in best or depth[id(span)] > best[text][0]:
            best[text] = (depth[id(span)], span.name)
    parts = [f"{name}: {_shorten(text)}" for text, (_, name) in best.items()]
    if trace_error and not parts:
        parts.append(_shorten(trace_error))
    return "; ".join(parts) or None


def _shorten(text: str) -> str:
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 1] + "…"


def _latency(spans: Sequence[SpanRecord]) -> float | None:
    """The root's duration, else first start to last end."""
    if spans and spans[0].start and spans[0].end:
        return (spans[0].end - spans[0].start).total_seconds() * 1000.0
    starts = [s.start for s in spans if s.start]
    ends = [s.end for s in spans if s.end]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds() * 1000.0


def _leaf_spans(tree: Tree, logged: str) -> list[SpanRecord]:
    """Spans that log ``tokens``/``cost_usd`` themselves, not as a total of spans below them."""
    below: set[str] = set()
    leaves = []
    for node in reversed(tree.nodes):
        has = getattr(node.span, logged) is not None
        if has and node.span.span_id not in below:
            leaves.append(node.span)
        if (has or node.span.span_id in below) and node.parent_id is not None:
            below.add(node.parent_id)
    return leaves


def _leaf_tokens(tree: Tree) -> dict[str, int] | None:
    totals: dict[str, int] = {}
    for span in _leaf_spans(tree, "tokens"):
        for key, count in (span.tokens or {}).items():
            totals[key] = totals.get(key, 0) + count
    return totals or None


def _leaf_cost(tree: Tree) -> float | None:
    costs = [span.cost_usd for span in _leaf_spans(tree, "cost_usd")]
    return sum(c for c in costs if c is not None) if costs else None


# --- message shapes -----------------------------------------------------------------------
# Exports hold chats in many shapes: OpenAI chat messages and completions, OpenAI
# Responses items, LangChain messages (plain and serialised), OTel GenAI "parts",
# OpenInference message objects. They all become OpenAI-style message dicts.

_TYPE_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_LANGCHAIN_CLASSES = {
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "function",
}


def text_id(value: Any, field: str) -> str | None:
    """An id as text (numbers too); empty is ``None``; any other value is a bad field."""
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"expected an id, got {type(value).__name__}", field)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one (for optional nested fields)."""
    return value if isinstance(value, dict) else {}


def parse_json(value: Any) -> Any:
    """A JSON object or array held in a string, parsed; anything else as it is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def said(messages: list[Row], side: str) -> str:
    """The user's latest turn (``side="input"``) or the app's last reply (``"output"``).

    A trace is one turn of a conversation: the chat a model call saw holds the
    earlier turns too, and the request this trace answers is the latest user turn.
    """
    if side != "input":
        return chat.last_reply(messages)
    for message in reversed(messages):
        if str(message.get("role", "")).lower() in chat.USER_ROLES and message["content"].strip():
            return str(message["content"])
    return ""


def visible_text(value: Any, side: str) -> str:
    """What a user saw of a logged input or output (``side`` is ``"input"`` or ``"output"``)."""
    if value is None:
        return ""
    data = parse_json(value)
    if isinstance(data, str):
        return data
    if not isinstance(data, dict | list):
        return _dumps(data)
    messages = to_messages(data)
    text = said(messages, side) if messages else ""
    if text:
        return text
    if isinstance(data, dict) and len(data) == 1:
        only = next(iter(data.values()))
        if isinstance(only, str):
            return only
    return value if isinstance(value, str) else _dumps(data)


def to_messages(value: Any) -> list[Row] | None:
    """OpenAI-style messages from any chat shape an export holds, or ``None`` if it holds none."""
    if isinstance(value, dict):
        prompts = value.get("prompts")
        if isinstance(prompts, list) and prompts and all(isinstance(p, str) for p in prompts):
            return [{"role": "user", "content": prompt} for prompt in prompts]
        inner = value.get("messages")
        if isinstance(inner, list):
            return to_messages(
                inner[0] if len(inner) == 1 and isinstance(inner[0], list) else inner
            )
        for key in ("choices", "generations", "output"):
            items = value.get(key)
            if isinstance(items, list) and items:
                first = items[0]
                found = to_messages([first[0]] if isinstance(first, list) and first else items)
                if found:
                    return found[:1] if key == "choices" else found
        single = _message(value)
        return [single] if single else None
    if not isinstance(value, list):
        return None
    messages: list[Row] = []
    for item in value:
        message = _message(item) if isinstance(item, dict) else None
        if message is None:
            if isinstance(item, dict) and "type" in item:
                continue  # an item that is not a message (reasoning, a hosted tool call)
            return None
        last = messages[-1] if messages else None
        if last and message.get("merge") and last.get("merge"):
            last["tool_calls"].extend(message["tool_calls"])
        else:
            messages.append(message)
    for message in messages:
        message.pop("merge", None)
    return messages or None


def _message(item: dict[str, Any]) -> Row | None:
    """One message from one item, or ``None`` when the item is not a message."""
    kind = item.get("type")
    if item.get("lc") == 1 and isinstance(item.get("kwargs"), dict):
        kwargs = item["kwargs"]
        ids = item["id"] if isinstance(item.get("id"), list) and item["id"] else [""]
        role = _TYPE_ROLES.get(str(kwargs.get("type"))) or _LANGCHAIN_CLASSES.get(str(ids[-1]))
        return _tidy(kwargs, role or kwargs.get("role"))
    if kind == "function_call":  # OpenAI Responses API
        call = tool_call(
            item.get("call_id") or item.get("id"), item.get("name"), item.get("arguments")
        )
        return {"role": "assistant", "content": "", "tool_calls": [call], "merge": True}
    if kind == "function_call_output":
        return {
            "role": "tool",
            "content": _text(item.get("output")),
            "tool_call_id": item.get("call_id"),
        }
    if "role" not in item and isinstance(item.get("message"), dict):
        return _message(item["message"])  # OpenInference {"message": {...}}, LangChain generations
    if kind in ("Generation", "GenerationChunk") and isinstance(item.get("text"), str):
        return {"role": "assistant", "content": item["text"]}  # a LangChain text completion
    role = item.get("role") or _TYPE_ROLES.get(str(kind))
    if not any(k in item for k in ("content", "parts", "tool_calls", "contents", "text")):
        return None
    return _tidy(item, role)


def _tidy(item: dict[str, Any], role: Any) -> Row | None:
    """Role, text content and OpenAI-style tool calls; the message's other keys are kept."""
    if not isinstance(role, str) or not role:
        return None
    message = {k: v for k, v in item.items() if k not in ("parts", "contents", "type")}
    message["role"] = role
    content = item.get("content", item.get("text"))
    if isinstance(item.get("contents"), list) and content is None:
        content = [as_dict(part).get("message_content", part) for part in item["contents"]]
    listed = item.get("tool_calls")
    calls = (
        [tool_call_of(c) for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    )
    if isinstance(item.get("parts"), list):
        content, calls, answered = _parts(item["parts"], calls)
        if answered is not None:
            message.update(role="tool", tool_call_id=answered)
    message["content"] = _text(content)
    if calls:
        message["tool_calls"] = calls
    return message


def _parts(parts: list[Any], calls: list[Row]) -> tuple[str, list[Row], str | None]:
    """OTel GenAI message parts: text, tool calls, and a tool call's response."""
    texts: list[str] = []
    answered = None
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            answered = str(part.get("id"))
            texts.append(_text(part.get("response", part.get("result"))))
        elif kind != "reasoning":
            texts.append(_text(part.get("content", f"[{kind}]")))
    return "\n".join(texts), calls, answered


def tool_call(call_id: Any, name: Any, arguments: Any) -> Row:
    """A tool call in the OpenAI shape (arguments kept as logged)."""
    function = {"name": name, "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


def tool_call_of(call: dict[str, Any]) -> Row:
    """OpenAI, LangChain (``args``), OpenInference (``tool_call``) and GenAI calls, as OpenAI's."""
    call = as_dict(call.get("tool_call")) or call
    function = as_dict(call.get("function")) or call
    name = function.get("name", call.get("tool.name"))
    arguments = function.get("arguments", function.get("args", call.get("tool.args")))
    return tool_call(call.get("id"), name, arguments)


def _text(content: Any) -> str:
    """Message content as text, whatever it holds."""
    try:
        return chat.content_text(content, "content")
    except RecordError:
        return content if isinstance(content, str) else _dumps(content)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
