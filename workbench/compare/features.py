"""The structural measurements of each trace that two periods are compared on.

One row per trace, one column per measurement (NA where it does not apply):

==========================  =================================================================
column                      what
==========================  =================================================================
``output_chars``            characters of the final reply
``longest_reply_chars``     characters of the longest assistant message (the main answer)
``output_is_json``          the final reply is JSON-shaped (``{``/``[``, or a fenced json block)
``output_json_valid``       ...and it parses (NA when not JSON-shaped)
``input_language``          language of the user's messages (:func:`detect_language`)
``reply_language``          language of the assistant's messages
``language_mismatch``       both are known and differ (NA when one is unknown)
``turns``                   user messages (1 without a message list)
``tool_calls``              tool calls made
``tools``                   names of the tools called (a frozenset)
``bad_tool_args``           a call's arguments are not valid JSON (NA without calls)
``tool_error``              a tool result reads like an error (NA without calls)
``has_error``               the trace's ``error`` field is set (only with that column)
``latency_ms``, ``cost_usd``  as logged (only with those columns)
``tokens``                  total tokens: ``total``, or ``prompt + completion`` (ditto)
==========================  =================================================================

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> row = trace_features(traces.head(1)).iloc[0]
    >>> row["input_language"], int(row["turns"]), sorted(row["tools"])
    ('en', 2, ['search_products'])
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from workbench.evalgen.fields import detect_language, texts
from workbench.traces.chat import USER_ROLES
from workbench.views import looks_like_error, trace_tool_calls

__all__ = ["UNKNOWN", "categorical_keys", "trace_features"]

UNKNOWN: Final = "unknown"
"""The language of a text too short or too mixed to tell."""

MAX_CATEGORIES: Final = 20
"""A metadata key with more distinct values than this is an id, not a category."""

_FENCE: Final = re.compile(r"^```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)


def trace_features(traces: pd.DataFrame) -> pd.DataFrame:
    """Measure every trace (see the module docstring for the columns), indexed 0..n-1.

    Examples:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"trace_id": ["a"], "input": ["hi"], "output": ['{"a": 1']})
        >>> trace_features(frame)[["output_is_json", "output_json_valid"]].iloc[0].tolist()
        [True, False]
    """
    records = _records(traces)
    frame = pd.DataFrame(index=pd.RangeIndex(len(traces)))
    outputs = [r["output"] for r in records]
    frame["output_chars"] = [len(o) for o in outputs]
    frame["longest_reply_chars"] = [max(map(len, texts(r, "replies")), default=0) for r in records]
    shapes = [_json_shape(o) for o in outputs]
    frame["output_is_json"] = [s is not None for s in shapes]
    frame["output_json_valid"] = pd.array(shapes, dtype="boolean")
    said = [_language(texts(r, "user")) for r in records]
    replied = [_language(texts(r, "replies")) for r in records]
    frame["input_language"], frame["reply_language"] = said, replied
    frame["language_mismatch"] = pd.array(
        [None if UNKNOWN in (a, b) else a != b for a, b in zip(said, replied, strict=True)],
        dtype="boolean",
    )
    frame["turns"] = [_turns(r) for r in records]
    _add_tools(frame, trace_tool_calls(traces))
    _add_costs(frame, traces)
    return frame


def categorical_keys(*tables: pd.DataFrame) -> list[str]:
    """Metadata keys that hold a category: text values, few distinct ones, not one per trace.

    Examples:
        >>> import workbench as wb
        >>> categorical_keys(wb.load_traces("sample_data/traces.jsonl"))
        ['channel', 'locale', 'prompt_version']
    """
    values: dict[str, set[str]] = {}
    for table in tables:
        for meta in table["metadata"] if "metadata" in table.columns else ():
            if isinstance(meta, Mapping):
                for key, value in meta.items():
                    if isinstance(value, str):
                        values.setdefault(str(key), set()).add(value)
    limit = min(MAX_CATEGORIES, max(2, sum(len(t) for t in tables) // 2))
    return sorted(key for key, seen in values.items() if 1 <= len(seen) <= limit)


def metadata_values(traces: pd.DataFrame, key: str) -> list[str]:
    """The value of a metadata key per trace, ``"(none)"`` where it is missing."""
    if "metadata" not in traces.columns:
        return ["(none)"] * len(traces)
    return [
        str(m[key]) if isinstance(m, Mapping) and m.get(key) is not None else "(none)"
        for m in traces["metadata"]
    ]


def _records(traces: pd.DataFrame) -> list[dict[str, Any]]:
    """The fields the text readers need, as plain dicts."""
    columns = {
        name: traces[name].tolist() if name in traces.columns else [None] * len(traces)
        for name in ("input", "output", "messages")
    }
    return [
        {
            "input": _str(i),
            "output": _str(o),
            "messages": m if isinstance(m, list) else None,
        }
        for i, o, m in zip(columns["input"], columns["output"], columns["messages"], strict=True)
    ]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_shape(text: str) -> bool | None:
    """None when the text is not JSON-shaped, else whether it parses."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    elif not stripped.startswith(("{", "[")):
        return None
    return _parses(stripped)


def _parses(text: Any) -> bool:
    if isinstance(text, Mapping | list):  # arguments some loaders decode already
        return True
    if not isinstance(text, str):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _language(parts: list[str]) -> str:
    return detect_language("\n".join(parts)) or UNKNOWN


def _turns(record: Mapping[str, Any]) -> int:
    messages = record["messages"]
    if messages is None:
        return 1 if record["input"] else 0
    return sum(1 for m in messages if isinstance(m, Mapping) and m.get("role") in USER_ROLES)


def _add_tools(frame: pd.DataFrame, calls: list[list[dict[str, Any]]]) -> None:
    def any_or_na(found: list[bool]) -> bool | None:
        return any(found) if found else None

    frame["tool_calls"] = [len(c) for c in calls]
    names = [frozenset(str(c.get("name")) for c in cs if c.get("name")) for cs in calls]
    frame["tools"] = pd.Series(names, index=frame.index, dtype=object)
    frame["bad_tool_args"] = pd.array(
        [any_or_na([not _parses(c.get("arguments")) for c in cs]) for cs in calls],
        dtype="boolean",
    )
    frame["tool_error"] = pd.array(
        [any_or_na([looks_like_error(c.get("result")) for c in cs]) for cs in calls],
        dtype="boolean",
    )


def _add_costs(frame: pd.DataFrame, traces: pd.DataFrame) -> None:
    if "error" in traces.columns:
        frame["has_error"] = [
            bool(e) and not (isinstance(e, float) and pd.isna(e)) for e in traces["error"]
        ]
    for name in ("latency_ms", "cost_usd"):
        if name in traces.columns:
            frame[name] = pd.to_numeric(traces[name], errors="coerce").to_numpy(dtype=float)
    if "tokens" in traces.columns:
        frame["tokens"] = [_total_tokens(t) for t in traces["tokens"]]


def _total_tokens(tokens: Any) -> float:
    if isinstance(tokens, int | float):
        return float(tokens)
    if not isinstance(tokens, Mapping):
        return float("nan")
    if isinstance(tokens.get("total"), int | float):
        return float(tokens["total"])
    parts = [tokens.get(k) for k in ("prompt", "completion")]
    numbers = [float(p) for p in parts if isinstance(p, int | float)]
    return sum(numbers) if numbers else float("nan")
