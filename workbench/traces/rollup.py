"""Trace roll-ups: one canonical row from a trace's span tree.

:func:`trace_row` rolls a :class:`~workbench.traces.spans.Tree` up into the row the
canonical table holds: the tool calls made, errors anywhere in the tree, latency,
tokens and cost where logged, the chat as the last model call saw it, and the
user-visible input and output. What an export states about the trace as a whole
(:class:`TraceInfo`) wins over what is rolled up from spans. Tokens and cost are summed
over the deepest spans that log them, so a parent that logs its children's total is
not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.traces import chat
from workbench.traces.errors import LoadReport, Place
from workbench.traces.messages import said, visible_text
from workbench.traces.span_fields import dumps
from workbench.traces.spans import EPOCH, Row, SpanRecord, Tree, by_start, span_dict

_ERROR_TEXT_LIMIT = 300


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
    except (
        TypeError,
        AttributeError,
        ValueError,
        KeyError,
        IndexError,
        OverflowError,
        RecursionError,
    ) as exc:
        reason = f"unexpected value in trace {tree.trace_id!r} ({type(exc).__name__}: {exc})"
        report.reject(place, reason)
        return None


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
    last = max(enumerate(calls), key=lambda p: (p[1].end or p[1].start or EPOCH, p[0]))[1]
    messages = [*(last.prompt or []), *(last.reply or [])]
    after = last.end or last.start
    if after is None:
        return messages
    for span in by_start(s for s in spans if s.start is not None and s.start >= after):
        if span.kind == "LLM" and span is not last:
            messages.extend(span.reply or [])
        elif span.kind == "TOOL":
            result = _result(span.output)
            text = result if isinstance(result, str) else dumps(result)
            name = span.tool_name or span.name
            messages.append(
                {"role": "tool", "content": text, "tool_call_id": span.tool_call_id, "name": name}
            )
    return messages


def _tool_calls(spans: Sequence[SpanRecord], messages: list[Row] | None) -> list[Row]:
    """Tool spans in time order, with the arguments the model gave where the chat has them."""
    asked = chat.tool_calls(messages) if messages else []
    tools = by_start(s for s in spans if s.kind == "TOOL")
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
    for span in by_start(node.span for node in tree.nodes):
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
