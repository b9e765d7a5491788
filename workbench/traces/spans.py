"""Span trees: what the trace-export formats (OTel, Langfuse, LangSmith, MLflow) share.

An adapter reads its export into :class:`SpanRecord` objects, with the field readers of
:mod:`workbench.traces.span_fields`; :func:`link` places one trace's spans in a
:class:`Tree` (:func:`build_trees` groups spans by trace first), and
:mod:`workbench.traces.rollup` rolls the tree up into a canonical row.

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
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.traces.errors import LoadReport, Place, TraceLoadWarning

Row = dict[str, Any]

KINDS = frozenset(
    {
        "LLM", "TOOL", "AGENT", "CHAIN", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL",
        "EVALUATOR", "PROMPT", "PARSER", "MEMORY", "WORKFLOW", "TASK", "EVENT", "SPAN", "UNKNOWN",
    }
)  # fmt: skip
"""Span kinds after normalisation: ``SPAN`` is a plain span, ``UNKNOWN`` an unrecognised kind."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch, UTC: where epoch times count from, and the sort key of a missing time."""


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


def by_start(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """Spans by start time (those without one last), keeping source order for ties."""
    indexed = list(enumerate(spans))
    indexed.sort(key=lambda p: (p[1].start is None, p[1].start or EPOCH, p[0]))
    return [span for _, span in indexed]


def _place(spans: Sequence[SpanRecord], by_id: dict[str, SpanRecord], notes: Notes) -> list[Node]:
    """Depth-first order; spans without a parent in the export go under the root, flagged."""
    ordered = by_start(spans)
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
