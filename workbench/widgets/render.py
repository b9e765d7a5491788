"""One trace, turned into something a person can read: a view model and safe HTML.

Trace text is untrusted data. :func:`trace_view` returns a JSON-able dict of plain strings
that the reviewer's front end inserts with ``textContent`` only; :func:`trace_html` renders
the same view model as HTML with every piece of trace text passed through
:func:`html.escape`. Neither ever builds markup, attributes or URLs out of trace content.

Examples:
    >>> view = trace_view({"trace_id": "t-1", "input": "<b>hi</b>", "output": "hello"})
    >>> [turn["role"] for turn in view["turns"]]
    ['user', 'assistant']
    >>> "&lt;b&gt;hi&lt;/b&gt;" in trace_html(view)
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

import pandas as pd

from workbench.traces.show import reveal_bidi

TEXT_LIMIT: Final = 20_000
"""Characters of one field shown; the rest is cut with a note saying how much."""

SPAN_LIMIT: Final = 200
"""Spans listed in the side panel (all are counted)."""

ROLES: Final = ("system", "user", "assistant", "tool")
"""Roles with their own styling; any other role is shown as written, styled as ``other``."""

_DETAIL_COLUMNS: Final = ("model", "latency_ms", "cost_usd", "tokens", "timestamp")
_ERROR_WORDS: Final = ("error", "exception", "fail")


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Cut a long text, saying how many characters were left out.

    Examples:
        >>> clip("abcdef", 3)
        'abc… (3 more characters)'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def as_text(value: Any) -> str:
    r"""Return a value as display text: strings as they are, containers as indented JSON.

    Examples:
        >>> as_text({"a": 1})
        '{\n  "a": 1\n}'
        >>> as_text(None)
        ''
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return str(value)


def snippet(text: Any, limit: int = 160) -> str:
    r"""Return the start of a text on one line, for tables and lists.

    Examples:
        >>> snippet("where is\nmy order?", 12)
        'where is my…'
    """
    flat = " ".join(as_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def trace_view(trace: Mapping[str, Any]) -> dict[str, Any]:
    """Build the view model of one trace (JSON-able; all text unescaped, for ``textContent``).

    Args:
        trace: one trace as :meth:`workbench.workspace.Workspace.trace` returns it (the
            canonical columns; optional ones may be missing).

    Returns:
        ``trace_id``; ``turns`` (role, kind, name, content, tool_calls, collapsed), with
        each tool result attached to the call it answers; ``extra_tool_calls`` (calls of the
        ``tool_calls`` column that no message shows); ``details``, ``metadata`` (lists of
        ``[label, text]``); ``feedback``; ``spans`` (depth, name, kind, status, duration,
        detail, error; the canonical span list of :mod:`workbench.traces.spans` or a
        source's own span dicts); ``span_errors`` and ``error``. Bidi override and isolate
        characters in the text are shown as ``[U+202E]``-style marks, so trace text can not
        reorder the widget around it.

    Examples:
        >>> trace_view({"trace_id": "t-1", "input": "hi", "output": "hello"})["turns"][1]["content"]
        'hello'
    """
    turns, shown_ids = _turns(trace)
    extra = [
        _call(c.get("id"), c.get("name"), c.get("arguments"), c.get("result"), "result" in c)
        for c in _records(trace.get("tool_calls"))
        if c.get("id") is None or as_text(c.get("id")) not in shown_ids
    ]
    spans = [_span(s) for s in _records(trace.get("spans"))]
    view = {
        "trace_id": as_text(trace.get("trace_id")),
        "turns": turns,
        "extra_tool_calls": extra,
        "details": _details(trace),
        "metadata": [[clip(as_text(k), 200), clip(as_text(v), 2_000)] for k, v in _items(trace)],
        "feedback": [_feedback(f) for f in _records(trace.get("feedback"))],
        "spans": spans[:SPAN_LIMIT],
        "span_errors": sum(1 for s in spans if s["error"]),
        "error": clip(as_text(trace.get("error"))) or None,
    }
    revealed: dict[str, Any] = _revealed(view)
    return revealed


def _revealed(value: Any) -> Any:
    """The view with bidi controls shown as marks in every string (see ``reveal_bidi``)."""
    if isinstance(value, str):
        return reveal_bidi(value)
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revealed(item) for item in value]
    return value


def _records(value: Any) -> list[Mapping[str, Any]]:
    """Return the dict entries of a list-valued field (None, NaN and non-lists give [])."""
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _items(trace: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    metadata = trace.get("metadata")
    return list(metadata.items()) if isinstance(metadata, Mapping) else []


def _content(value: Any) -> str:
    """Text of a message's content: a string, or the text parts of a multimodal list."""
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(as_text(part.get("text")))
            elif isinstance(part, Mapping):
                parts.append(f"[{as_text(part.get('type')) or 'part'}]")
            else:
                parts.append(as_text(part))
        return "\n".join(parts)
    return as_text(value)


def _call(call_id: Any, name: Any, arguments: Any, result: Any, answered: bool) -> dict[str, Any]:
    """A tool call for display; JSON arguments are pretty-printed, bad JSON is flagged."""
    args_text, args_ok = as_text(arguments), True
    if isinstance(arguments, str) and arguments.strip():
        try:
            args_text = json.dumps(json.loads(arguments), ensure_ascii=False, indent=2)
        except ValueError:
            args_ok = False
    return {
        "id": as_text(call_id),
        "name": as_text(name) or "(unnamed tool)",
        "arguments": clip(args_text),
        "arguments_ok": args_ok,
        "result": clip(as_text(result)) if answered else None,
    }


def _message_calls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for raw in _records(message.get("tool_calls")):
        function = raw.get("function")
        function = function if isinstance(function, Mapping) else raw
        calls.append(
            _call(raw.get("id"), function.get("name"), function.get("arguments"), None, False)
        )
    return calls


def _turn(role: str, content: str, name: str | None = None) -> dict[str, Any]:
    kind = role if role in ROLES else "other"
    return {
        "role": role or "(no role)",
        "kind": kind,
        "name": name,
        "content": clip(content),
        "tool_calls": [],
        "collapsed": kind in ("system", "tool"),
    }


def _turns(trace: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """Chat turns, with tool results folded into their calls; also the call ids shown."""
    messages = _records(trace.get("messages"))
    if not messages:
        question = _turn("user", as_text(trace.get("input")))
        return [question, _turn("assistant", as_text(trace.get("output")))], set()
    turns: list[dict[str, Any]] = []
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        role = as_text(message.get("role"))
        answered = calls.get(as_text(message.get("tool_call_id")))
        if role == "tool" and answered is not None and answered["result"] is None:
            answered["result"] = clip(_content(message.get("content")))
            continue
        name = message.get("name")
        turn = _turn(role, _content(message.get("content")), as_text(name) if name else None)
        turn["tool_calls"] = _message_calls(message)
        calls.update((call["id"], call) for call in turn["tool_calls"] if call["id"])
        turns.append(turn)
    return turns, set(calls)


def _details(trace: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for column in _DETAIL_COLUMNS:
        value = trace.get(column)
        if value is None or (not isinstance(value, Mapping | list) and pd.isna(value)):
            continue
        if column == "tokens" and isinstance(value, Mapping):
            text = ", ".join(f"{as_text(k)} {as_text(v)}" for k, v in value.items())
        elif column == "cost_usd" and isinstance(value, int | float):
            text = f"${value:.6f}".rstrip("0").rstrip(".")
        elif column == "latency_ms" and isinstance(value, int | float):
            text = f"{value:,.0f} ms"
        else:
            text = as_text(value)
        rows.append([column, clip(text, 500)])
    return rows


def _feedback(entry: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": clip(as_text(entry.get("name")), 200),
        "value": clip(as_text(entry.get("value")), 500),
        "comment": clip(as_text(entry.get("comment")), 2_000),
    }


def _status(span: Mapping[str, Any]) -> tuple[str, str]:
    """The span's status text and message, whatever the source's shape."""
    status = span.get("status")
    if isinstance(status, Mapping):
        return as_text(status.get("status_code") or status.get("code")), as_text(
            status.get("description") or status.get("message")
        )
    code = status or span.get("status_code") or span.get("level")
    return as_text(code), as_text(span.get("status_message") or span.get("statusMessage"))


def _is_error(span: Mapping[str, Any], status: str) -> bool:
    if any(word in status.lower() for word in _ERROR_WORDS):
        return True
    if span.get("error") or span.get("exception"):
        return True
    return any(
        "exception" in as_text(event.get("name")).lower() for event in _records(span.get("events"))
    )


def _duration(span: Mapping[str, Any]) -> str:
    for key in ("duration_ms", "latency_ms", "latency"):
        if isinstance(span.get(key), int | float) and not math.isnan(span[key]):
            return f"{span[key]:,.0f} ms"
    start = span.get("start_time", span.get("start"))
    end = span.get("end_time", span.get("end"))
    try:
        if isinstance(start, int | float) and isinstance(end, int | float):
            scale = 1e6 if start > 1e15 else 1.0  # OpenTelemetry exports nanoseconds
            return f"{(end - start) / scale:,.0f} ms"
        if isinstance(start, str) and isinstance(end, str):
            delta = pd.Timestamp(end) - pd.Timestamp(start)
            return f"{delta.total_seconds() * 1000:,.0f} ms"
    except (ValueError, TypeError):
        return ""
    return ""


def _span(span: Mapping[str, Any]) -> dict[str, Any]:
    status, message = _status(span)
    error = _is_error(span, status)
    detail = message or as_text(span.get("error") or span.get("exception"))
    depth = span.get("depth")
    return {
        "depth": min(depth, 12) if isinstance(depth, int) and depth > 0 else 0,
        "name": clip(as_text(span.get("name") or span.get("span_name")) or "(span)", 300),
        "kind": clip(as_text(span.get("span_kind") or span.get("kind") or span.get("type")), 100),
        "status": clip(status, 100),
        "duration": _duration(span),
        "detail": clip(detail, 2_000),
        "error": error,
    }


# HTML -----------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return escape(as_text(value), quote=True)


def _call_html(call: Mapping[str, Any]) -> str:
    warn = "" if call["arguments_ok"] else ' <span class="wbr-warn">arguments are not JSON</span>'
    result = (
        '<div class="wbr-call-missing">no result recorded</div>'
        if call["result"] is None
        else f'<div class="wbr-label">result</div><pre>{_esc(call["result"])}</pre>'
    )
    return (
        f'<details class="wbr-call"><summary>tool call <b>{_esc(call["name"])}</b>{warn}</summary>'
        f'<div class="wbr-label">arguments</div><pre>{_esc(call["arguments"])}</pre>{result}'
        "</details>"
    )


def _turn_html(turn: Mapping[str, Any]) -> str:
    head = _esc(turn["role"]) + (f" · {_esc(turn['name'])}" if turn["name"] else "")
    body = f'<pre class="wbr-content">{_esc(turn["content"])}</pre>' if turn["content"] else ""
    if turn["collapsed"] and body:
        body = f"<details><summary>show</summary>{body}</details>"
    calls = "".join(_call_html(c) for c in turn["tool_calls"])
    kind = turn["kind"] if turn["kind"] in ROLES else "other"
    return f'<div class="wbr-turn wbr-{kind}"><div class="wbr-role">{head}</div>{body}{calls}</div>'


def _pairs_html(title: str, rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return ""
    cells = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows)
    return f"<h4>{escape(title)}</h4><dl>{cells}</dl>"


def trace_html(view: Mapping[str, Any]) -> str:
    """Render a view model from :func:`trace_view` as static HTML, every text escaped.

    Used where no front-end code runs (a notebook rendered as HTML, the failure-mode
    board); the interactive reviewer builds the same structure with DOM calls.

    Examples:
        >>> html = trace_html(trace_view({"trace_id": "t", "input": "<script>x</script>"}))
        >>> "<script>" in html
        False
    """
    turns = "".join(_turn_html(t) for t in view["turns"])
    extra = "".join(_call_html(c) for c in view["extra_tool_calls"])
    error = f'<div class="wbr-error">{_esc(view["error"])}</div>' if view["error"] else ""
    feedback = [
        [f["name"], " — ".join(x for x in (f["value"], f["comment"]) if x)]
        for f in view["feedback"]
    ]
    spans = "".join(
        f'<li class="{"wbr-span-error" if s["error"] else "wbr-span"}">{_esc(s["name"])} '
        f"{_esc(s['status'])} {_esc(s['duration'])} {_esc(s['detail'])}</li>"
        for s in view["spans"]
    )
    side = (
        _pairs_html("Details", view["details"])
        + _pairs_html("Feedback", feedback)
        + _pairs_html("Metadata", view["metadata"])
        + (f"<h4>Spans</h4><ul>{spans}</ul>" if spans else "")
    )
    return (
        f'<div class="wbr-trace"><div class="wbr-trace-id">{_esc(view["trace_id"])}</div>{error}'
        f'<div class="wbr-chat">{turns}{extra}</div><div class="wbr-side">{side}</div></div>'
    )
