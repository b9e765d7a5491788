"""Traces to JSON and back: each trace is stored as one JSON document plus its content hash.

Trace values may be nested (messages, spans, metadata), so the store keeps the whole row as
JSON and never looks inside it. The hash of that JSON tells "the same trace again" (skip it)
from "another trace under the same id" (keep the first, report the id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from workbench.traces.schema import CANONICAL_COLUMNS, REQUIRED_COLUMNS, empty_frame, order_columns


@dataclass(frozen=True)
class TraceRecord:
    """One trace ready to store."""

    trace_id: str
    """The trace's id (unique in a workspace)."""

    content_hash: str
    """SHA-256 (hex) of :attr:`payload`."""

    payload: str
    """The whole row as JSON, keys sorted."""


def dumps(value: Any) -> str:
    """Encode a value as compact JSON with sorted keys (UTF-8 text, not ASCII escapes).

    Raises:
        TypeError: when the value holds something JSON cannot represent.

    Examples:
        >>> dumps({"b": 1, "a": [1.5, None]})
        '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
    )


def _json_default(value: Any) -> Any:
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")


def _plain(value: Any) -> Any:
    """Turn pandas' missing markers (NaN, NaT, NA) in a top-level cell into ``None``."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def encode_traces(frame: pd.DataFrame) -> list[TraceRecord]:
    """Encode each row of a trace table as a :class:`TraceRecord`.

    Args:
        frame: a trace table with a ``trace_id`` column of non-empty strings.

    Returns:
        One record per row, in row order (duplicates are kept; the caller decides).

    Raises:
        ValueError: when the ``trace_id`` column is missing or a row has no usable id.
        TypeError: when a cell cannot be stored as JSON (names the trace id and column).

    Examples:
        >>> frame = pd.DataFrame({"trace_id": ["t-1"], "input": ["hi"], "output": ["hello"]})
        >>> encode_traces(frame)[0].payload
        '{"input":"hi","output":"hello","trace_id":"t-1"}'
    """
    if "trace_id" not in frame.columns:
        raise ValueError(f"traces need a 'trace_id' column; got columns {list(frame.columns)}")
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError(f"trace table has repeated column names: {repeated}")
    values = [_column_values(frame.iloc[:, i]) for i in range(len(columns))]
    records = []
    for position, row in enumerate(zip(*values, strict=True)):
        cells = dict(zip(columns, row, strict=True))
        trace_id = cells["trace_id"]
        if not isinstance(trace_id, str) or not trace_id:
            raise ValueError(
                f"row {position} has trace_id {trace_id!r}; every trace needs a non-empty str id"
            )
        payload = _dump_row(trace_id, cells)
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        records.append(TraceRecord(trace_id, digest, payload))
    return records


def _column_values(column: pd.Series[Any]) -> list[Any]:
    """Return a column's cells as plain values: missing ones None, datetimes ISO 8601 text."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return [None if stamp is pd.NaT else stamp.isoformat() for stamp in column.tolist()]
    return [value if type(value) is str else _plain(value) for value in column.tolist()]


def first_of_each_id(records: Sequence[TraceRecord]) -> tuple[list[TraceRecord], list[str]]:
    """Keep the first record of each id; also return the ids repeated with other content.

    Examples:
        >>> a, b = TraceRecord("t-1", "h1", "{}"), TraceRecord("t-1", "h2", "{}")
        >>> first_of_each_id([a, b])
        ([TraceRecord(trace_id='t-1', content_hash='h1', payload='{}')], ['t-1'])
    """
    first: dict[str, TraceRecord] = {}
    conflicts: dict[str, None] = {}
    for record in records:
        kept = first.setdefault(record.trace_id, record)
        if kept.content_hash != record.content_hash:
            conflicts[record.trace_id] = None
    return list(first.values()), list(conflicts)


def _dump_row(trace_id: str, cells: Mapping[str, Any]) -> str:
    try:
        return dumps(cells)
    except (TypeError, ValueError):
        for name, value in cells.items():
            try:
                dumps(value)
            except (TypeError, ValueError) as error:
                raise TypeError(f"trace {trace_id!r}, column {name!r}: {error}") from error
        raise


def decode_trace(payload: str) -> dict[str, Any]:
    """Decode one stored trace, with ``timestamp`` as a UTC :class:`pandas.Timestamp` (or NaT).

    Examples:
        >>> decode_trace('{"trace_id": "t-1", "timestamp": null}')["timestamp"]
        NaT
    """
    stored: dict[str, Any] = json.loads(payload)
    if "timestamp" in stored:
        stored["timestamp"] = _utc(stored["timestamp"])
    first = [name for name in CANONICAL_COLUMNS if name in stored]
    return {name: stored[name] for name in [*first, *sorted(stored.keys() - set(first))]}


def _utc(stamp: str | None) -> pd.Timestamp:
    if stamp is None:
        return cast(pd.Timestamp, pd.NaT)  # NaT stands in for a missing Timestamp
    parsed = pd.Timestamp(stamp)
    return parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")


def decode_traces(payloads: Iterable[str]) -> pd.DataFrame:
    """Decode stored traces into a canonical trace table (required columns always present).

    Examples:
        >>> decode_traces(['{"trace_id": "t-1", "input": "hi"}'])[["trace_id", "input"]]
          trace_id input
        0      t-1    hi
    """
    rows = [json.loads(p) for p in payloads]
    if not rows:
        return empty_frame()
    frame = pd.DataFrame.from_records(rows)
    for name in REQUIRED_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return order_columns(frame)
