"""The canonical trace table that every loader produces and every later step reads.

One row per trace. Required columns always exist (possibly empty); optional columns
exist only where the source has them. Extra source fields go into ``metadata`` so
nothing the team logged is lost.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

REQUIRED_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "input",
    "output",
    "messages",
    "metadata",
    "timestamp",
)
"""Columns present in every canonical trace table, in this order."""

OPTIONAL_COLUMNS: tuple[str, ...] = (
    "model",
    "latency_ms",
    "cost_usd",
    "tokens",
    "tool_calls",
    "error",
    "spans",
    "feedback",
)
"""Columns added where the source has them (never filled with invented values)."""

CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


def content_id(record: Any) -> str:
    """Return a stable id for a record that has no ``trace_id`` of its own.

    The id is derived from the record's content, so loading the same file twice
    (or next week, from another export) gives the same ids.

    Examples:
        >>> a = content_id({"input": "hi", "output": "hello"})
        >>> a == content_id({"output": "hello", "input": "hi"}), a.startswith("t-")
        (True, True)
    """
    payload = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    # JSON may hold unpaired surrogates ("\ud800"); they still give a stable id
    return "t-" + hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def empty_frame() -> pd.DataFrame:
    """Return a canonical table with no rows and the required columns."""
    frame = pd.DataFrame({name: pd.Series(dtype="object") for name in REQUIRED_COLUMNS})
    frame["timestamp"] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Put canonical columns first, in their documented order, keeping any others after."""
    first = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in first]
    return frame[first + rest]
