"""``load_traces``: any supported source in, the canonical trace table out."""

from __future__ import annotations

import glob
import re
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.traces import adapters, formats  # noqa: F401 (formats registers the exports)
from workbench.traces.errors import LoadReport, Place, TraceLoadError, TraceLoadWarning
from workbench.traces.fields import check_mapping
from workbench.traces.readers import CONTAINERS, read_items
from workbench.traces.records import Row
from workbench.traces.schema import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    content_id,
    empty_frame,
    order_columns,
)

Source = str | Path | pd.DataFrame

_SURROGATE = re.compile("[\ud800-\udfff]")


def load_traces(
    source: Source | list[str | Path],
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    errors: str = "raise",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Load traces from a file, a glob, a list of files or a DataFrame into the canonical table.

    The container (JSON Lines, JSON, CSV, Parquet, YAML) and the format (plain
    records, OpenAI chat logs, recorded API calls, trace exports) are sniffed from
    the content, not the file name.

    Args:
        source: a path, a glob such as ``"logs/*.jsonl"``, a list of paths, or a DataFrame.
        format: force a container (``"jsonl"``, ``"csv"``...) or a format (``"openai"``...).
        mapping: ``{source_field: canonical_column}`` for names that are not recognised,
            e.g. ``{"lsmith_id": "trace_id"}``.
        errors: ``"raise"`` stops at the first bad record with a :class:`TraceLoadError`
            naming file, line and field; ``"skip"`` loads the good records and puts the
            rejected ones in :func:`skipped` (``wb.skipped(traces)``).
        encoding: the text encoding of the files.

    Returns:
        One row per trace with the columns ``trace_id, input, output, messages,
        metadata, timestamp`` and, where the source has them, ``model, latency_ms,
        cost_usd, tokens, tool_calls, error, spans, feedback``.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> list(traces.columns[:6])
        ['trace_id', 'input', 'output', 'messages', 'metadata', 'timestamp']
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    container, adapter = _resolve_format(format)
    report = LoadReport(skip=errors == "skip")
    context = adapters.Context(check_mapping(mapping), report)
    rows: list[tuple[Row, Place]] = []
    for one in _expand(source):
        _, items = read_items(one, container, report, encoding)
        chosen = adapter or adapters.choose(items)
        rows.extend(chosen.convert(items, context))
    rows = _drop_duplicates(_with_ids(_mend_text(rows)), report)
    frame = _frame(rows)
    _tell(frame, report, source)
    return frame


def _resolve_format(name: str | None) -> tuple[str | None, adapters.Adapter | None]:
    """Split ``format=`` into a forced container or a forced adapter."""
    if name is None:
        return None, None
    if name in CONTAINERS:
        return name, None
    adapter = adapters.find(name)
    if adapter is None:
        known = sorted({*CONTAINERS, *(a.name for a in adapters.adapters())} - {"dataframe"})
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(known)}")
    return None, adapter


def _expand(source: Source | list[str | Path]) -> list[Source]:
    """A glob becomes its sorted matches; a list stays a list; anything else is one source."""
    if isinstance(source, list | tuple):
        return [s for one in source for s in _expand(one)]
    if isinstance(source, str) and not Path(source).exists() and any(c in source for c in "*?["):
        matches = sorted(glob.glob(source, recursive=True))
        if not matches:
            raise TraceLoadError(source, "no file matches this pattern")
        return list(matches)
    return [source]


def _mend_text(rows: list[tuple[Row, Place]]) -> list[tuple[Row, Place]]:
    r"""Replace unpaired surrogates in text columns with U+FFFD, as a browser shows them.

    JSON escapes such as ``"\ud83d"`` (an emoji cut in half by a length limit) parse
    into text that UTF-8, and so pandas' string columns, cannot hold.
    """
    for row, _ in rows:
        for key, value in row.items():
            if isinstance(value, str) and _SURROGATE.search(value):
                row[key] = _SURROGATE.sub("\ufffd", value)
    return rows


def _with_ids(rows: list[tuple[Row, Place]]) -> list[tuple[Row, Place]]:
    """Give rows without a trace id one derived from their content (stable across loads)."""
    for row, _ in rows:
        if not row.get("trace_id"):
            row["trace_id"] = content_id(
                {k: row.get(k) for k in ("input", "output", "messages", "timestamp", "metadata")}
            )
    return rows


def _drop_duplicates(rows: list[tuple[Row, Place]], report: LoadReport) -> list[tuple[Row, Place]]:
    """Refuse (or, when skipping, leave out and report) repeated trace ids."""
    counts = Counter(row["trace_id"] for row, _ in rows)
    repeated = {tid for tid, n in counts.items() if n > 1}
    if not repeated:
        return rows
    if not report.skip:
        raise _duplicate_error(rows, repeated)
    first: dict[str, Place] = {}
    kept = []
    for row, place in rows:
        tid = row["trace_id"]
        if tid in first:
            report.reject(place, f"duplicate of the trace at {first[tid]}", "trace_id")
            continue
        first[tid] = place
        kept.append((row, place))
    return kept


def _duplicate_error(rows: list[tuple[Row, Place]], repeated: set[str]) -> TraceLoadError:
    """An error naming the repeated ids, where they are, and fields that could serve as ids."""
    places: dict[str, list[str]] = defaultdict(list)
    for row, place in rows:
        if row["trace_id"] in repeated:
            places[row["trace_id"]].append(str(place))
    shown = "; ".join(
        f"{tid!r} at {', '.join(p[:3])}{' ...' if len(p) > 3 else ''}"
        for tid, p in list(places.items())[:3]
    )
    hint = _unique_fields(rows)
    advice = (
        f"map a unique field instead, e.g. mapping={{{hint[0]!r}: 'trace_id'}} "
        f"(unique fields: {', '.join(hint[:5])})"
        if hint
        else "pass errors='skip' to keep the first of each"
    )
    source = rows[0][1].source
    return TraceLoadError(
        source,
        f"{len(repeated)} trace id(s) repeat: {shown}. Traces are never merged silently; {advice}",
        "trace_id",
    )


def _unique_fields(rows: list[tuple[Row, Place]]) -> list[str]:
    """Metadata fields whose values are present and distinct in every row."""
    values: dict[str, set[Any]] = defaultdict(set)
    for row, _ in rows:
        for key, value in row["metadata"].items():
            if isinstance(value, str | int):
                values[key].add(value)
    return sorted(k for k, v in values.items() if len(v) == len(rows))


def _frame(rows: list[tuple[Row, Place]]) -> pd.DataFrame:
    """Build the canonical table from rows, with defined dtypes for every column."""
    if not rows:
        return empty_frame()
    records = [row for row, _ in rows]
    frame = pd.DataFrame.from_records(records)
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["trace_id"] = frame["trace_id"].astype(str)
    frame["input"] = frame["input"].fillna("").astype(str)
    frame["output"] = frame["output"].fillna("").astype(str)
    frame["metadata"] = pd.Series(
        [m if isinstance(m, dict) else {} for m in frame["metadata"]],
        index=frame.index,
        dtype=object,
    )
    frame["messages"] = frame["messages"].astype(object).where(frame["messages"].notna(), None)
    frame["timestamp"] = _times(frame["timestamp"])
    for column in ("latency_ms", "cost_usd"):
        if column in frame.columns:
            frame[column] = frame[column].astype(float)
    optional = [c for c in OPTIONAL_COLUMNS if c in frame.columns]
    empty = [c for c in optional if frame[c].isna().all()]
    return order_columns(frame.drop(columns=empty)).reset_index(drop=True)


def _times(stamps: pd.Series) -> pd.Series:
    """The timestamp column, UTC; in microseconds when nanoseconds cannot reach every time.

    A time with nanoseconds beside one outside 1677-2262 (Go's zero time, 0001-01-01,
    marks "unset" in some exporters) has no common nanosecond unit.
    """
    try:
        return pd.to_datetime(stamps, utc=True)
    except pd.errors.OutOfBoundsDatetime:
        coarse = [None if pd.isna(t) else pd.Timestamp(t).as_unit("us") for t in stamps]
        return pd.to_datetime(pd.Series(coarse, index=stamps.index, dtype=object), utc=True)


def _tell(frame: pd.DataFrame, report: LoadReport, source: object) -> None:
    """Attach the skip report and say what was left out, or that nothing was there.

    The report is kept in ``attrs`` as plain records, not a DataFrame: pandas compares
    ``attrs`` when it concatenates, and a DataFrame there cannot be compared.
    """
    table = report.frame()
    frame.attrs["skipped"] = table.to_dict("records")
    if len(table):
        first = table.iloc[0]
        warnings.warn(
            f"loaded {len(frame)} traces and skipped {len(table)} bad record(s), first: "
            f"{first['source']} record {first['record']} line {first['line']}: "
            f"{first['error']}. See wb.skipped(traces) for all of them.",
            TraceLoadWarning,
            stacklevel=3,
        )
    elif frame.empty:
        warnings.warn(f"{source} holds no traces", TraceLoadWarning, stacklevel=3)


def skipped(traces: pd.DataFrame) -> pd.DataFrame:
    """The records ``load_traces(..., errors="skip")`` left out: source, record, line, field, error.

    Examples:
        >>> import workbench as wb
        >>> wb.skipped(wb.load_traces("sample_data/traces.jsonl", errors="skip")).empty
        True
    """
    columns = ["source", "record", "line", "field", "error"]
    return pd.DataFrame(traces.attrs.get("skipped", []), columns=columns)
