"""Field names teams actually use, and the coercions that make them canonical.

Log records name the same thing many ways (``query``, ``prompt``, ``question``...).
Common names are recognised without configuration; ``mapping=`` covers the rest.
Every coercion either succeeds or raises :class:`RecordError` naming the field.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

from workbench.traces.errors import RecordError
from workbench.traces.schema import CANONICAL_COLUMNS

ALIASES: dict[str, tuple[str, ...]] = {
    "trace_id": ("trace_id", "traceId", "id", "conversation_id", "run_id", "request_id", "uuid"),
    "input": ("input", "query", "question", "prompt", "user_input", "inputs"),
    "output": ("output", "response", "answer", "completion", "reply", "generation", "outputs"),
    "messages": ("messages", "conversation", "chat"),
    "metadata": ("metadata", "meta"),
    "timestamp": (
        "timestamp",
        "created_at",
        "created",
        "start_time",
        "startTime",
        "time",
        "ts",
        "datetime",
        "date",
    ),
    "model": ("model", "model_name", "modelName"),
    "latency_ms": ("latency_ms", "duration_ms", "elapsed_ms"),
    "cost_usd": ("cost_usd", "cost", "total_cost", "totalCost"),
    "tokens": ("tokens", "usage", "token_usage"),
    "feedback": ("feedback", "feedbacks", "scores", "rating"),
    "error": ("error", "exception"),
}
"""Canonical column -> source field names recognised for it, most specific first."""

_SECONDS_ALIASES = {"latency_s": "latency_ms", "duration_s": "latency_ms"}
"""Fields in seconds that become milliseconds (a bare ``latency`` has no unit: unit-less, kept)."""

_LONGEST_TIME = 200
"""Longer text is not a time; pandas' parser takes quadratic time to say so."""


def check_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    """Validate a user's ``{source_field: canonical_column}`` mapping."""
    if not mapping:
        return {}
    bad = {src: dst for src, dst in mapping.items() if dst not in CANONICAL_COLUMNS}
    if bad:
        raise ValueError(
            f"mapping targets {sorted(bad.values())} are not canonical columns; "
            f"map source fields onto one of {list(CANONICAL_COLUMNS)}"
        )
    return dict(mapping)


def pick(record: dict[str, Any], mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a record into canonical fields and the leftovers (which become metadata).

    The user's mapping wins; then the first recognised alias present in the record.
    """
    found: dict[str, Any] = {}
    rest = dict(record)
    for src, dst in mapping.items():
        if src in rest and dst not in found:
            found[dst] = rest.pop(src)
    for column, names in ALIASES.items():
        if column in found:
            continue
        for name in names:
            if name in rest and rest[name] is not None:
                found[column] = rest.pop(name)
                break
    for column in CANONICAL_COLUMNS:  # a canonical table loaded again keeps its columns
        if column not in found and rest.get(column) is not None:
            found[column] = rest.pop(column)
    for name, column in _SECONDS_ALIASES.items():
        if column not in found and name in rest and _is_number(rest[name]):
            found[column] = float(rest.pop(name)) * 1000.0
    return found, rest


def to_text(value: Any, field: str) -> str:
    """Text fields: strings as they are, numbers as digits, other values rejected."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise RecordError(f"expected text, got {value!r}", field)
    if isinstance(value, int | float):
        return str(value)
    raise RecordError(f"expected text, got {type(value).__name__}", field)


def to_float(value: Any, field: str) -> float:
    """Numbers, including numeric strings from CSV; anything else is rejected."""
    if isinstance(value, bool):
        raise RecordError(f"expected a number, got {value!r}", field)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"expected a number, got {_short(value)}", field) from None
    if math.isnan(number):
        raise RecordError("expected a number, got NaN", field)
    return number


def to_timestamp(value: Any, field: str = "timestamp") -> pd.Timestamp:
    """ISO strings, datetimes and epoch numbers (s, ms, us or ns) as UTC; naive means UTC."""
    if isinstance(value, bool):
        raise RecordError(f"expected a time, got {value!r}", field)
    if isinstance(value, str) and len(value) > _LONGEST_TIME:
        raise RecordError(f"unreadable time {_short(value)}", field)
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
            stamp = pd.Timestamp(_epoch_to_seconds(float(value)), unit="s", tz="UTC")
        elif isinstance(value, datetime | pd.Timestamp | str):
            stamp = pd.Timestamp(value)
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        else:
            raise RecordError(f"expected a time, got {type(value).__name__}", field)
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise RecordError(f"unreadable time {_short(value)}", field) from None
    if pd.isna(stamp):
        raise RecordError(f"unreadable time {_short(value)}", field)
    return stamp


def _epoch_to_seconds(number: float) -> float:
    """Epoch numbers come in s, ms, us or ns; their size tells which."""
    for scale in (1.0, 1e3, 1e6, 1e9):
        if abs(number) < 1e11 * scale:
            return number / scale
    raise ValueError(number)


def to_tokens(value: Any, field: str = "tokens") -> dict[str, int]:
    """Token counts as ``{"prompt", "completion", "total"}`` from the usual usage shapes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"total": _count(value, field)}
    if not isinstance(value, dict):
        raise RecordError(f"expected token counts, got {_short(value)}", field)
    names = {
        "prompt": ("prompt", "prompt_tokens", "input", "input_tokens", "promptTokens"),
        "completion": (
            "completion",
            "completion_tokens",
            "output",
            "output_tokens",
            "completionTokens",
        ),
        "total": ("total", "total_tokens", "totalTokens"),
    }
    tokens: dict[str, int] = {}
    for key, options in names.items():
        for option in options:
            if isinstance(value.get(option), int | float):
                tokens[key] = _count(value[option], f"{field}.{option}")
                break
    if "total" not in tokens and {"prompt", "completion"} <= tokens.keys():
        tokens["total"] = tokens["prompt"] + tokens["completion"]
    return tokens


def _count(number: float, field: str) -> int:
    """A token count as an integer; NaN and infinities are bad values, not counts."""
    if isinstance(number, float) and not math.isfinite(number):
        raise RecordError(f"expected a token count, got {number!r}", field)
    return int(number)


def to_feedback(value: Any) -> list[dict[str, Any]]:
    """Feedback as a list of ``{"name", "value", ...}`` entries, whatever the source shape.

    ``{"thumb": "down", "comment": "..."}`` becomes one entry named ``thumb``; a bare
    value becomes an entry named ``feedback``; lists keep one entry per element.
    """
    if isinstance(value, list):
        return [entry for item in value for entry in to_feedback(item)]
    if not isinstance(value, dict):
        return [{"name": "feedback", "value": value}]
    if "value" in value or "score" in value:
        entry = dict(value)
        entry.setdefault("name", entry.pop("key", "feedback"))
        if "value" not in entry:
            entry["value"] = entry.pop("score")
        return [entry]
    extras = {"comment", "source", "annotator", "user", "created_at", "timestamp"}
    keys = [k for k in value if k not in extras]
    if len(keys) == 1:
        entry = {"name": keys[0], "value": value[keys[0]]}
        entry.update({k: v for k, v in value.items() if k in extras})
        return [entry]
    return [{"name": "feedback", "value": value}]


def merge_metadata(source: Any, extras: dict[str, Any]) -> dict[str, Any]:
    """Leftover fields plus the source's own metadata; a clash keeps both values."""
    metadata = dict(extras)
    if source is None:
        return metadata
    if not isinstance(source, dict):
        metadata["metadata"] = source
        return metadata
    for key, value in source.items():
        if key in metadata and metadata[key] != value:
            metadata[f"metadata.{key}"] = value
        else:
            metadata[key] = value
    return metadata


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
