"""Cut a trace table into periods: UTC ISO weeks, UTC days, or the values of a column.

Each period is a slice of the table (its rows, in their order) whose ``attrs`` hold only
its name, under ``"period"``: ``"2026-W45"`` for a week, ``"2026-11-09"`` for a day, the
value for a column. (The loader's other ``attrs`` stay with the whole table; a DataFrame among
them would make pandas refuse to concatenate two periods.)
Periods come in time order (by their earliest trace when they are column values).

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> [(p.attrs["period"], len(p)) for p in split_periods(traces)]
    [('2026-W45', 594), ('2026-W46', 606)]
    >>> last, this = last_and_this(traces)
    >>> this.attrs["period"]
    '2026-W46'
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

__all__ = ["PeriodWarning", "check_periods", "last_and_this", "period_name", "split_periods"]


class PeriodWarning(UserWarning):
    """Some traces could not be given a period (no timestamp, no value) and were left out."""


def split_periods(traces: pd.DataFrame, by: str = "week") -> list[pd.DataFrame]:
    """Split traces into periods, oldest first.

    Args:
        traces: a trace table (``wb.load_traces``).
        by: ``"week"`` (UTC ISO weeks, Monday to Sunday), ``"day"`` (UTC dates), or a
            column name (``"model"``); a key of ``metadata`` works too
            (``"prompt_version"``).

    Returns:
        One table per period, each with ``attrs["period"]`` set to its name.

    Raises:
        ValueError: no ``timestamp`` column for weeks or days, or an unknown column.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> [p.attrs["period"] for p in split_periods(traces, by="prompt_version")]
        ['v12', 'v13']
    """
    keys = _period_keys(traces, by)
    missing = int(keys.isna().sum())
    if missing:
        warnings.warn(
            f"{missing} of {len(traces)} traces have no {by!r} value and are in no period",
            PeriodWarning,
            stacklevel=2,
        )
    order = _ordered(keys.dropna(), traces)
    periods = []
    for key in order:
        part = traces.loc[(keys == key).to_numpy()].copy()
        part.attrs = {"period": str(key)}  # only the name: periods concatenate cleanly
        periods.append(part)
    return periods


def last_and_this(traces: pd.DataFrame, by: str = "week") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two latest periods (by default UTC ISO weeks): last and this.

    Raises:
        ValueError: fewer than two periods have traces.

    Examples:
        >>> import workbench as wb
        >>> last, this = last_and_this(wb.load_traces("sample_data/traces.jsonl"))
        >>> len(last), len(this)
        (594, 606)
    """
    periods = split_periods(traces, by)
    if len(periods) < 2:
        found = ", ".join(p.attrs["period"] for p in periods) or "none"
        raise ValueError(f"need two periods by {by!r} to compare; the traces have {found}")
    return periods[-2], periods[-1]


def period_name(traces: pd.DataFrame, default: str) -> str:
    """The period's name from ``attrs["period"]``, else ``default``."""
    name = traces.attrs.get("period")
    return str(name) if name is not None else default


def check_periods(last_week: Any, this_week: Any) -> None:
    """Refuse what cannot be compared, naming the period at fault.

    Raises:
        TypeError: a period is not a DataFrame.
        ValueError: a period is empty or lacks ``trace_id``, an id repeats within a period,
            or traces are in both periods (the first few ids named).
    """
    for name, frame in (("last_week", last_week), ("this_week", this_week)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a trace DataFrame, got {type(frame).__name__}")
        if "trace_id" not in frame.columns:
            raise ValueError(f"{name} has no 'trace_id' column (columns: {list(frame.columns)})")
        if frame.empty:
            raise ValueError(f"{name} has no traces: there is nothing to compare it with")
        ids = frame["trace_id"].astype(str)
        repeated = ids[ids.duplicated()].unique()
        if len(repeated):
            raise ValueError(f"{name} repeats trace ids: {_shown(repeated)}")
    both = set(last_week["trace_id"].astype(str)) & set(this_week["trace_id"].astype(str))
    if both:
        raise ValueError(f"{len(both)} traces are in both periods: {_shown(sorted(both))}")


def _shown(ids: Any) -> str:
    ids = list(ids)
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    return ", ".join(repr(str(i)) for i in ids[:5]) + more


def _period_keys(traces: pd.DataFrame, by: str) -> pd.Series:
    """The period of each trace (None where it has none), indexed like ``traces``."""
    if by in ("week", "day"):
        if "timestamp" not in traces.columns:
            raise ValueError(f"splitting by {by!r} needs a 'timestamp' column")
        stamps = pd.to_datetime(traces["timestamp"], utc=True)
        if by == "day":
            keys = stamps.dt.strftime("%Y-%m-%d")
        else:
            iso = stamps.dt.isocalendar()
            keys = iso["year"].astype("string") + "-W" + iso["week"].astype("string").str.zfill(2)
        return keys.astype(object).where(stamps.notna(), None)
    if by in traces.columns:
        return traces[by].astype(object).where(traces[by].notna(), None)
    meta = traces["metadata"] if "metadata" in traces.columns else None
    if meta is not None and any(isinstance(m, dict) and by in m for m in meta):
        values = [m.get(by) if isinstance(m, dict) else None for m in meta]
        return pd.Series(values, index=traces.index, dtype=object)
    raise ValueError(
        f"cannot split by {by!r}: use 'week', 'day', a column ({list(traces.columns)}) "
        "or a metadata key"
    )


def _ordered(keys: pd.Series, traces: pd.DataFrame) -> list[Any]:
    """Distinct keys by their earliest trace (by value when there are no timestamps)."""
    if "timestamp" in traces.columns:
        stamps = pd.to_datetime(traces.loc[keys.index, "timestamp"], utc=True)
        first = stamps.groupby(keys.to_numpy()).min()
        if first.notna().all():
            return list(first.sort_values(kind="stable").index)
    return sorted(keys.unique(), key=str)
