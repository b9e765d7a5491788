"""Structural skew between two periods: the checks to run before reading any trace.

Lengths, JSON validity, languages, tool use, turns, latency, cost, tokens, and the mix of
models and metadata categories (prompt version, channel, locale...) of each period, each
with the test of its change (:mod:`workbench.compare.stats`). A row is flagged when the
change is significant at ``alpha`` (0.01 by default: there are dozens of rows) *and* its
effect size reaches ``min_effect``.

Examples:
    >>> import workbench as wb
    >>> from workbench.compare.periods import last_and_this
    >>> table = structure_table(*last_and_this(wb.load_traces("sample_data/traces.jsonl")))
    >>> row = table.set_index("metric").loc["prompt_version: v13"]
    >>> float(row["last"]), float(row["this"]), bool(row["flag"])
    (0.0, 1.0, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeAlias

import pandas as pd

from workbench.compare.features import (
    categorical_keys,
    metadata_values,
    trace_features,
)
from workbench.compare.stats import MIN_EFFECT, Moved, numbers_moved, share_moved

__all__ = ["STRUCTURE_COLUMNS", "structure_table"]

STRUCTURE_COLUMNS: Final = (
    "group", "metric", "statistic", "last", "this", "change", "n_last", "n_this",
    "test", "p_value", "effect", "flag", "mix",
)  # fmt: skip
"""Columns of the structure table; ``statistic`` says what ``last`` and ``this`` are, and
``mix`` names the category a share belongs to (``"model"``, ``"prompt_version"``...; empty
for other rows): the shares of one mix sum to 1 in each period."""

_NUMBERS: Final = (
    ("output", "final reply length (chars)", "output_chars", ("median", "p95")),
    ("output", "longest reply length (chars)", "longest_reply_chars", ("median", "p95")),
    ("conversation", "user turns per trace", "turns", ("mean",)),
    ("tools", "tool calls per trace", "tool_calls", ("mean",)),
    ("cost", "latency (ms)", "latency_ms", ("median", "p95")),
    ("cost", "cost (USD)", "cost_usd", ("median", "p95")),
    ("cost", "tokens", "tokens", ("median", "p95")),
)
_Row: TypeAlias = dict[str, Any] | None
"""A row of the table, or None for a measurement no trace of either period has."""

_FLAGS: Final = (
    ("output", "replies that are JSON", "output_is_json"),
    ("output", "JSON replies that parse", "output_json_valid"),
    ("language", "reply language differs from the user's", "language_mismatch"),
    ("tools", "traces with malformed tool arguments (of traces with calls)", "bad_tool_args"),
    ("tools", "traces with a tool error (of traces with calls)", "tool_error"),
    ("errors", "traces with an error", "has_error"),
)


def structure_table(
    last: pd.DataFrame,
    this: pd.DataFrame,
    alpha: float = 0.01,
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """Compare the structure of two periods' traces, one row per measurement.

    Args:
        last: last period's traces.
        this: this period's traces.
        alpha: significance level of a flag.
        min_effect: smallest |effect size| of a flag (Cohen's h, rank-biserial r).

    Returns:
        The columns of :data:`STRUCTURE_COLUMNS`. ``statistic`` is ``share`` (``last`` and
        ``this`` are fractions of ``n_last`` / ``n_this`` traces), ``median``, ``mean`` or
        ``p95``. Measurements no trace of either period has (JSON replies of a chat app,
        a tool nobody called) are left out.

    Examples:
        >>> import workbench as wb
        >>> from workbench.compare.periods import last_and_this
        >>> table = structure_table(*last_and_this(wb.load_traces("sample_data/traces.jsonl")))
        >>> row = table[table["metric"] == "longest reply length (chars)"].iloc[0]
        >>> row["statistic"], bool(row["this"] > row["last"]), bool(row["flag"])
        ('median', True, True)
    """
    a, b = _without_twins(trace_features(last), trace_features(this))
    rows = _measured(a, b)
    rows += _mix("language", "user language", a["input_language"], b["input_language"])
    rows += _mix("language", "reply language", a["reply_language"], b["reply_language"])
    rows += _tool_rows(a["tools"], b["tools"])
    if "model" in last.columns and "model" in this.columns:
        rows += _mix("model", "model", _labels(last["model"]), _labels(this["model"]))
    for key in categorical_keys(last, this):
        values = metadata_values(last, key), metadata_values(this, key)
        rows += _mix("metadata", key, pd.Series(values[0]), pd.Series(values[1]))
    table = pd.DataFrame([r for r in rows if r is not None], columns=list(STRUCTURE_COLUMNS))
    table["flag"] = (table["p_value"] < alpha) & (table["effect"].abs() >= min_effect)
    return table.reset_index(drop=True)


def _without_twins(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the longest reply where it is the final reply everywhere (one reply per trace)."""
    twins = all(f["longest_reply_chars"].equals(f["output_chars"]) for f in (a, b))
    if not twins:
        return a, b
    return a.drop(columns="longest_reply_chars"), b.drop(columns="longest_reply_chars")


def _measured(a: pd.DataFrame, b: pd.DataFrame) -> list[_Row]:
    """The rows of the numbers and the yes/no measurements both periods have."""
    rows: list[_Row] = []
    for group, metric, column, statistics in _NUMBERS:
        if column in a.columns and column in b.columns:
            rows += [_numbers_row(group, metric, a[column], b[column], s) for s in statistics]
    for group, metric, column in _FLAGS:
        if column in a.columns and column in b.columns:
            rows.append(_flag_row(group, metric, a[column], b[column]))
    return rows


def _row(
    group: str, metric: str, statistic: str, moved: Moved, n: tuple[int, int], mix: str = ""
) -> dict[str, Any]:
    return {
        "group": group, "metric": metric, "statistic": statistic,
        "last": moved.last, "this": moved.this, "change": moved.change,
        "n_last": n[0], "n_this": n[1], "test": moved.test,
        "p_value": moved.p_value, "effect": moved.effect, "flag": False, "mix": mix,
    }  # fmt: skip


def _numbers_row(
    group: str, metric: str, a: pd.Series, b: pd.Series, statistic: str
) -> dict[str, Any] | None:
    x = pd.to_numeric(a, errors="coerce").dropna().to_numpy(dtype=float)
    y = pd.to_numeric(b, errors="coerce").dropna().to_numpy(dtype=float)
    if not len(x) and not len(y):
        return None
    moved = numbers_moved(x, y, statistic)
    return _row(group, metric, statistic, moved, (len(x), len(y)))


def _flag_row(group: str, metric: str, a: pd.Series, b: pd.Series) -> dict[str, Any] | None:
    x, y = a.astype("boolean").dropna(), b.astype("boolean").dropna()
    k1, k2 = int(x.sum()), int(y.sum())
    if k1 + k2 == 0:
        return None
    moved = share_moved(k1, len(x), k2, len(y))
    return _row(group, metric, "share", moved, (len(x), len(y)))


def _mix(group: str, name: str, a: pd.Series, b: pd.Series) -> list[_Row]:
    """One share row per value of a category, most common (over both periods) first."""
    counts_a, counts_b = a.value_counts(), b.value_counts()
    order = counts_a.add(counts_b, fill_value=0).sort_values(ascending=False, kind="stable")
    rows: list[_Row] = []
    for value in order.index:
        k1, k2 = int(counts_a.get(value, 0)), int(counts_b.get(value, 0))
        moved = share_moved(k1, len(a), k2, len(b))
        rows.append(_row(group, f"{name}: {value}", "share", moved, (len(a), len(b)), name))
    return rows


def _tool_rows(a: pd.Series, b: pd.Series) -> list[_Row]:
    """The share of traces calling each tool (a trace can call several)."""
    names = sorted(set[str]().union(*a, *b))
    rows: list[_Row] = []
    for name in names:
        k1, k2 = _calling(a, name), _calling(b, name)
        moved = share_moved(k1, len(a), k2, len(b))
        rows.append(_row("tools", f"traces calling {name}", "share", moved, (len(a), len(b))))
    return rows


def _calling(tools: Iterable[frozenset[str]], name: str) -> int:
    return sum(1 for called in tools if name in called)


def _labels(values: pd.Series) -> pd.Series:
    return pd.Series(["(none)" if pd.isna(v) else str(v) for v in values], dtype=object)
