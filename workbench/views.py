"""What text of a trace gets embedded: the choice that decides whether a map shows failures.

A *view* turns one trace into one string. The built-in views:

- ``"auto"`` (the default): ``"tools"`` for agents, else ``"assistant_turns"``
  (:func:`resolve_view` has the measurements behind this choice).
- ``"output"``: the final assistant reply.
- ``"input"``: the last user message.
- ``"conversation"``: every user, assistant and tool turn (system prompts left out: they are
  the same in every trace and would dominate the vector), each turn capped.
- ``"assistant_turns"``: everything the assistant said, across turns.
- ``"user_turns"``: everything the user said, across turns.
- ``"tools"``: each tool call with its arguments and result, plus the trace's ``error``.
- ``"tool_errors"``: only tool results that look like errors, plus the trace's ``error``.
- ``"note"``: the reviewer's note (a ``note`` column, e.g. from ``ws.traces()``).

Any ``callable(row) -> str`` works too; ``row`` is a dict of the trace's columns.

Long texts are cut deliberately, keeping the head and the tail (:func:`truncate`).
all-MiniLM-L6-v2 reads at most 256 word pieces and silently drops the rest, which would
keep only the start of a long conversation and lose the final answer. Measured on the
sample traces, replies run 3.4 characters per word piece and raw tool JSON only 2.1 (every
brace and quote is a piece), so tool arguments and results are first flattened into plain
words (:func:`compact_json`) and capped at :data:`TOOL_CHARS` each. The 800 characters of
:data:`MAX_CHARS` are then about 230 word pieces: head and tail both reach the model. Fewer
pieces also embed faster: the ``"tools"`` view averages 112 pieces a trace instead of 296.

Examples:
    >>> import workbench as wb
    >>> from workbench.views import text_view
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> texts = text_view(traces, "tools")
    >>> len(texts) == len(traces)
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.traces.chat import ASSISTANT_ROLES, USER_ROLES, tool_calls

View = str | Callable[[dict[str, Any]], str]
"""A built-in view's name, or a function of one trace (a dict of its columns)."""

DEFAULT_VIEW = "auto"
"""The view :func:`workbench.cluster` embeds unless told otherwise (:func:`resolve_view`)."""

TOOL_SHARE = 0.5
"""``"auto"`` picks ``"tools"`` when at least this share of the traces made a tool call."""

MAX_CHARS = 800
"""Default length limit of a view's text (head and tail kept): about 230 word pieces."""

TURN_CHARS = 300
"""Longest single turn inside the ``conversation`` view."""

TOOL_CHARS = 100
"""Longest arguments, and longest result, of one tool call (after :func:`compact_json`)."""

_ERROR_WORDS = ("error", "fail", "invalid", "exception", "not found", "denied", "timeout")
NO_TOOL_CALLS = "(no tool calls)"
NO_TOOL_ERRORS = "(no tool errors)"


def truncate(text: str, max_chars: int = MAX_CHARS) -> str:
    """Shorten a text to ``max_chars`` characters, keeping its head and its tail.

    The head says what a reply is about; the tail holds the final answer, the sign-off or
    the hand-off. Both halves are kept, joined by `` [...] ``.

    Examples:
        >>> truncate("abcdefghij", 8)
        'ab [...] ij'
        >>> truncate("short", 8)
        'short'
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    if len(text) <= max_chars:
        return text
    half = max(1, max_chars // 4) if max_chars < 16 else max_chars // 2
    return f"{text[:half].rstrip()} [...] {text[-half:].lstrip()}"


def text_view(
    traces: pd.DataFrame, text: View = DEFAULT_VIEW, max_chars: int = MAX_CHARS
) -> pd.Series:
    """Return the text to embed for each trace: one string per row, same index.

    Args:
        traces: the trace table (:func:`workbench.load_traces`).
        text: a built-in view's name (see the module docstring) or ``callable(row) -> str``.
        max_chars: longer texts are cut with :func:`truncate`.

    Raises:
        ValueError: an unknown view, or a table without the column the view reads
            (the message names it).
        TypeError: a callable returned something other than a str (the trace id is named).

    Examples:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"trace_id": ["a"], "input": ["hi"], "output": ["Hello!"]})
        >>> text_view(table, "output").tolist()
        ['Hello!']
        >>> text_view(table, lambda row: row["input"].upper()).tolist()
        ['HI']
    """
    if text == "auto":
        text = resolve_view(traces)
    if callable(text):
        values = [
            _call(text, {str(k): v for k, v in row.items()}) for row in traces.to_dict("records")
        ]
    elif text in _VIEWS:
        _require(traces, text)
        values = _VIEWS[text](traces)
    else:
        raise ValueError(f"unknown view {text!r}; use one of {sorted(_VIEWS)} or a function")
    name = text if isinstance(text, str) else getattr(text, "__name__", "view")
    return pd.Series(
        [truncate(v, max_chars) for v in values], index=traces.index, name=name, dtype=object
    )


def check_trace_ids(traces: pd.DataFrame, what: str = "traces") -> list[str]:
    """The trace ids as strings, after checking there are some and none repeats.

    Raises:
        ValueError: no ``trace_id`` column, no rows, or repeated ids (the first few named).

    Examples:
        >>> check_trace_ids(pd.DataFrame({"trace_id": ["a", 2]}))
        ['a', '2']
    """
    if "trace_id" not in traces.columns:
        raise ValueError(f"the {what} have no 'trace_id' column (columns: {list(traces.columns)})")
    if len(traces) == 0:
        raise ValueError(f"there are no {what} (the table is empty)")
    ids = [str(t) for t in traces["trace_id"]]
    counts = pd.Series(ids).value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        shown = ", ".join(repr(t) for t in repeated.index[:5])
        raise ValueError(
            f"{len(repeated)} trace ids occur more than once ({shown}); each trace needs its own id"
        )
    return ids


def resolve_view(traces: pd.DataFrame) -> str:
    """The view ``"auto"`` stands for: ``"tools"`` for agents, else ``"assistant_turns"``.

    Agents (at least :data:`TOOL_SHARE` of the traces call a tool) get ``"tools"``; other
    apps ``"assistant_turns"`` (the same as ``"output"`` for single-turn traces).

    Measured on the sample traces (``benchmarks/bench_bertopic.py``; 1,200 support-agent
    conversations, 317 failing in nine seeded modes): adjusted Rand index between clusters and
    modes over the failing traces; purity of each mode's best cluster, averaged over modes;
    modes found (best cluster at least half that mode). Ranges are over seeds 0-2.

    ==================  ==========  ==========  =====
    view                ARI         purity      found
    ==================  ==========  ==========  =====
    tools               0.36-0.37   0.42-0.45   3
    assistant_turns     0.20        0.23-0.29   0-2
    conversation        0.14-0.19   0.36-0.42   2-3
    output              0.07-0.09   0.10-0.22   0-1
    input, user_turns   0.07        0.11-0.14   0
    ==================  ==========  ==========  =====

    ``"output"`` does worst of the reply views because three conversations in ten end with a
    "you're welcome": the last reply is not the answer. ``"tools"`` separates malformed tool
    arguments, missing lookups and needless hand-offs; the modes that need judgement (tone,
    invented policy, ignored constraint) are found by no view: they cut across topics.

    Examples:
        >>> import pandas as pd
        >>> resolve_view(pd.DataFrame({"trace_id": ["a"], "output": ["hi"]}))
        'assistant_turns'
    """
    calls = trace_tool_calls(traces) if any(c in traces.columns for c in _NEEDS["tools"]) else []
    with_calls = sum(1 for c in calls if c)
    return "tools" if len(traces) and with_calls >= TOOL_SHARE * len(traces) else "assistant_turns"


def _call(view: Callable[[dict[str, Any]], str], row: dict[str, Any]) -> str:
    value = view(row)
    if not isinstance(value, str):
        raise TypeError(
            f"the view function returned {type(value).__name__} for trace "
            f"{row.get('trace_id')!r}; it must return a str"
        )
    return value


_NEEDS: dict[str, tuple[str, ...]] = {
    "output": ("output",),
    "input": ("input",),
    "note": ("note",),
    "conversation": ("messages", "input", "output"),
    "assistant_turns": ("messages", "output"),
    "user_turns": ("messages", "input"),
    "tools": ("tool_calls", "messages", "error"),
    "tool_errors": ("tool_calls", "messages", "error"),
}
"""The columns each view reads; it needs at least one of them."""


def _require(traces: pd.DataFrame, view: str) -> None:
    """Fail naming the column a view needs and the table lacks."""
    needed = _NEEDS[view]
    if not any(c in traces.columns for c in needed):
        wanted = repr(needed[0]) if len(needed) == 1 else f"one of {list(needed)}"
        raise ValueError(
            f"text={view!r} reads the column {wanted}, which the traces do not have "
            f"(columns: {list(traces.columns)})"
        )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _column(traces: pd.DataFrame, name: str) -> list[str]:
    return [_text(v) for v in traces[name]] if name in traces.columns else [""] * len(traces)


def _messages(traces: pd.DataFrame) -> list[list[dict[str, Any]] | None]:
    if "messages" not in traces.columns:
        return [None] * len(traces)
    return [m if isinstance(m, list) and m else None for m in traces["messages"]]


def _conversation(traces: pd.DataFrame) -> list[str]:
    inputs, outputs = _column(traces, "input"), _column(traces, "output")
    texts = []
    for messages, said, reply in zip(_messages(traces), inputs, outputs, strict=True):
        if messages is None:
            texts.append(f"user: {said}\nassistant: {reply}")
            continue
        lines = []
        for message in messages:
            role = str(message.get("role", "")).lower()
            if role == "system":
                continue
            content = _text(message.get("content"))
            content = truncate(compact_json(content) if role == "tool" else content, TURN_CHARS)
            calls = "; ".join(_call_text(c) for c in tool_calls([message]))
            lines.append(f"{role}: {content} {calls}".strip())
        texts.append("\n".join(lines))
    return texts


def _assistant_turns(traces: pd.DataFrame) -> list[str]:
    texts = []
    for messages, reply in zip(_messages(traces), _column(traces, "output"), strict=True):
        if messages is None:
            texts.append(reply)
            continue
        said = [
            _text(m.get("content")).strip()
            for m in messages
            if str(m.get("role", "")).lower() in ASSISTANT_ROLES
        ]
        texts.append("\n".join(s for s in said if s))
    return texts


def compact_json(value: Any) -> str:
    """JSON as plain words: ``{"order_id": "A1", "items": [1, 2]}`` -> ``order_id A1, items 1; 2``.

    Braces, quotes and colons cost a word piece each and say nothing a sentence model can
    use; dropped, the same budget holds about 1.6 times more content. Text that is not
    valid JSON is returned as written, so malformed tool arguments stay visibly malformed.

    Examples:
        >>> compact_json('{"order_id": "A1", "items": [1, 2]}')
        'order_id A1, items 1; 2'
        >>> compact_json("{'order_id': 'A1'")
        "{'order_id': 'A1'"
    """
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    if isinstance(value, dict):
        return ", ".join(f"{k} {compact_json_value(v)}" for k, v in value.items())
    return compact_json_value(value)


def compact_json_value(value: Any) -> str:
    """One decoded JSON value as plain words (see :func:`compact_json`)."""
    if isinstance(value, dict):
        return compact_json(value)
    if isinstance(value, list):
        return "; ".join(compact_json_value(v) for v in value)
    return "null" if value is None else str(value)


def _call_text(call: dict[str, Any], with_result: bool = False) -> str:
    arguments = call.get("arguments")
    shown = "" if arguments is None else truncate(compact_json(arguments), TOOL_CHARS)
    text = f"{call.get('name')}({shown})"
    if with_result and call.get("result") is not None:
        text += f" -> {truncate(compact_json(call['result']), TOOL_CHARS)}"
    return text


def trace_tool_calls(traces: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """Each trace's tool calls: the loader's ``tool_calls`` column, else from the messages."""
    if "tool_calls" in traces.columns:
        return [c if isinstance(c, list) else [] for c in traces["tool_calls"]]
    return [tool_calls(m) if m else [] for m in _messages(traces)]


def _tools(traces: pd.DataFrame) -> list[str]:
    texts = []
    for calls, error in zip(trace_tool_calls(traces), _column(traces, "error"), strict=True):
        lines = [_call_text(c, with_result=True) for c in calls if isinstance(c, dict)]
        lines += [f"error: {error}"] if error else []
        texts.append("\n".join(lines) or NO_TOOL_CALLS)
    return texts


def looks_like_error(result: Any) -> bool:
    """Whether a tool result reads like an error (``error``, ``invalid``, ``not found``...)."""
    text = _text(result).lower()
    return any(word in text for word in _ERROR_WORDS)


def _tool_errors(traces: pd.DataFrame) -> list[str]:
    texts = []
    for calls, error in zip(trace_tool_calls(traces), _column(traces, "error"), strict=True):
        lines = [
            _call_text(c, with_result=True)
            for c in calls
            if isinstance(c, dict) and looks_like_error(c.get("result"))
        ]
        lines += [f"error: {error}"] if error else []
        texts.append("\n".join(lines) or NO_TOOL_ERRORS)
    return texts


def _user_turns(traces: pd.DataFrame) -> list[str]:
    texts = []
    for messages, said in zip(_messages(traces), _column(traces, "input"), strict=True):
        if messages is None:
            texts.append(said)
            continue
        turns = [_text(m.get("content")) for m in messages if m.get("role") in USER_ROLES]
        texts.append("\n".join(t for t in turns if t.strip()))
    return texts


_VIEWS: dict[str, Callable[[pd.DataFrame], list[str]]] = {
    "output": lambda t: _column(t, "output"),
    "input": lambda t: _column(t, "input"),
    "note": lambda t: _column(t, "note"),
    "conversation": _conversation,
    "assistant_turns": _assistant_turns,
    "user_turns": _user_turns,
    "tools": _tools,
    "tool_errors": _tool_errors,
}
"""The built-in views by name."""

VIEWS: tuple[str, ...] = tuple(_VIEWS)
"""Names of the built-in views."""
