"""Pick the traces to read first, and say why each was picked.

Reading every trace does not scale; reading a random few misses the rare behaviours.
:func:`sample` with ``strategy="stratified"`` spends the budget on

1. *signals*: negative feedback, errors (an ``error`` field, or a tool result that reports
   one), and the slowest, costliest and longest traces (top 5%, most extreme first), about a
   quarter of ``n``;
2. *clusters*, when given: every cluster's most central trace first (``"representative of
   cluster 3"``, or ``"small cluster"`` for clusters too small to earn a pick by size), big
   and small clusters alternating, then more picks in proportion to size (``"random in
   cluster 3"``); the unclustered traces get at least a tenth (``"unclustered / novel"``);
3. random traces for the rest (``"random"``).

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> picked = wb.sample(traces, 20)
    >>> list(picked.columns)
    ['trace_id', 'reason', 'cluster']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench.views import check_trace_ids, looks_like_error, trace_tool_calls

NOISE_NAME = "unclustered / novel"
SIGNAL_SHARE = 0.25
"""Share of a stratified sample spent on signals (feedback, errors, slow, costly, long)."""
NOISE_SHARE = 0.10
"""Least share of the cluster budget spent on unclustered traces, when there are any."""
TAIL = 0.95
"""Slow, costly and long mean at or above this quantile."""
NEGATIVE = frozenset({"down", "thumbs_down", "thumb_down", "negative", "bad", "no", "👎"})
"""Feedback values that count as negative (besides False and numbers <= 0)."""

STRATEGIES = ("stratified", "random")
_RANKED = frozenset({"slow", "costly", "long output"})
"""Signals picked most extreme first; the others (feedback, errors) in random order."""


def is_negative_feedback(feedback: Any) -> bool:
    """Whether a trace's feedback holds a negative entry.

    Feedback is the loader's list of ``{"name", "value", ...}``; a value is negative when it
    is False, a number <= 0, or one of :data:`NEGATIVE` (any case).

    Examples:
        >>> is_negative_feedback([{"name": "thumb", "value": "down"}])
        True
        >>> is_negative_feedback([{"name": "score", "value": 4}]), is_negative_feedback(None)
        (False, False)
    """
    entries = feedback if isinstance(feedback, list) else [feedback]
    for entry in entries:
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(value, bool):
            if not value:
                return True
        elif isinstance(value, int | float) and not math.isnan(value):
            if value <= 0:
                return True
        elif isinstance(value, str) and value.strip().lower() in NEGATIVE:
            return True
    return False


def sample(
    traces: pd.DataFrame,
    n: int,
    strategy: str = "stratified",
    clusters: pd.DataFrame | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Pick ``n`` traces to review, each with the reason it was picked.

    Args:
        traces: the trace table (unique ``trace_id``).
        n: how many to pick; all traces when there are fewer.
        strategy: ``"stratified"`` (signals, clusters, noise, random; see the module) or
            ``"random"``.
        clusters: the table of :func:`workbench.cluster`; without it, stratified sampling
            uses the signals and random picks.
        random_state: seed; the same arguments give the same sample.

    Returns:
        ``trace_id``, ``reason`` and ``cluster`` (nullable int; missing without clusters),
        one row per picked trace, no trace twice, in the order picked.

    Raises:
        ValueError: negative ``n``, an unknown strategy, repeated trace ids, or clusters
            without ``trace_id``/``cluster`` columns.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> wb.sample(traces, 5, strategy="random")["reason"].unique().tolist()
        ['random']
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, not {n!r}")
    table = _table(traces, clusters)
    rng = np.random.default_rng(random_state)
    picks = _Picks(table, min(int(n), len(table)))
    if strategy == "random":
        picks.add_random(rng)
    else:
        picks.add_signals(rng)
        if clusters is not None:
            picks.add_clusters(rng, clusters.attrs.get("cluster_run"))
        picks.add_random(rng)
    return picks.frame()


def _table(traces: pd.DataFrame, clusters: pd.DataFrame | None) -> pd.DataFrame:
    ids = check_trace_ids(traces) if len(traces) else []
    table = traces.reset_index(drop=True).assign(trace_id=ids)
    table["cluster"] = pd.array([pd.NA] * len(table), dtype="Int64")
    if clusters is not None:
        missing = [c for c in ("trace_id", "cluster") if c not in clusters.columns]
        if missing:
            raise ValueError(f"clusters need the columns {missing} (from workbench.cluster)")
        where = clusters.assign(trace_id=clusters["trace_id"].astype(str)).set_index("trace_id")
        table["cluster"] = pd.array(where["cluster"].reindex(table["trace_id"]).to_numpy(), "Int64")
        for axis in ("x", "y"):
            if axis in where.columns:
                table[axis] = where[axis].reindex(table["trace_id"]).to_numpy()
    return table


class _Picks:
    """The sample being built: chosen rows in order, with reasons; never a row twice."""

    def __init__(self, table: pd.DataFrame, n: int) -> None:
        self.table = table
        self.n = n
        self.rows: list[int] = []
        self.reasons: list[str] = []
        self.taken: set[int] = set()

    def room(self) -> int:
        return self.n - len(self.rows)

    def take(self, rows: Any, reason: str, limit: int | None = None) -> int:
        """Add rows not taken yet (up to ``limit`` and the room left); return how many."""
        added = 0
        for row in rows:
            if self.room() <= 0 or (limit is not None and added >= limit):
                break
            if int(row) not in self.taken:
                self.taken.add(int(row))
                self.rows.append(int(row))
                self.reasons.append(reason)
                added += 1
        return added

    def add_random(self, rng: np.random.Generator) -> None:
        rest = np.array([i for i in range(len(self.table)) if i not in self.taken], dtype=int)
        self.take(rng.permutation(rest), "random")

    def add_signals(self, rng: np.random.Generator) -> None:
        """About a quarter of the budget: each signal in turn, one pick at a time."""
        found = [
            (name, rows if name in _RANKED else rng.permutation(rows))
            for name, rows in _signals(self.table).items()
        ]
        found = [(name, rows) for name, rows in found if len(rows)]
        budget = math.ceil(self.n * SIGNAL_SHARE) if found else 0
        spent, depth = 0, 0
        while spent < budget and any(depth < len(rows) for _, rows in found):
            for name, rows in found:
                if spent < budget and depth < len(rows):
                    spent += self.take(rows[depth : depth + 1], name)
            depth += 1

    def add_clusters(self, rng: np.random.Generator, run: Any) -> None:
        """Central trace of every cluster, then more in proportion to size; noise its share."""
        labels = self.table["cluster"]
        noise = np.flatnonzero((labels == -1).to_numpy(dtype=bool, na_value=False))
        budget = self.room()
        if len(noise):
            share = max(NOISE_SHARE, len(noise) / max(1, int(labels.notna().sum())))
            self.take(rng.permutation(noise), NOISE_NAME, limit=math.ceil(budget * share))
        members = {
            int(c): np.flatnonzero((labels == c).to_numpy(dtype=bool, na_value=False))
            for c in sorted(labels.dropna().unique())
            if c >= 0
        }
        if not members:
            return
        central = _central(self.table, members, run)
        total = sum(len(m) for m in members.values())
        order = _alternate(sorted(members, key=lambda c: (-len(members[c]), c)))
        for c in order:
            small = len(members[c]) * budget / total < 1
            reason = "small cluster" if small else f"representative of cluster {c}"
            self.take(central[c][:1], reason)
        quota = _proportional(members, self.room())
        for c in order:
            extra = rng.permutation(members[c])
            self.take(extra, f"random in cluster {c}", limit=quota[c])

    def frame(self) -> pd.DataFrame:
        chosen = self.table.iloc[self.rows]
        return pd.DataFrame(
            {
                "trace_id": chosen["trace_id"].to_numpy(),
                "reason": self.reasons,
                "cluster": pd.array(chosen["cluster"].to_numpy(), dtype="Int64"),
            }
        )


def _signals(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows showing each signal, most telling signal first."""
    found: dict[str, np.ndarray] = {}
    if "feedback" in table.columns:
        found["negative feedback"] = _where(table["feedback"], is_negative_feedback)
    found["error"] = np.flatnonzero(_errors(table))
    for name, column in (("slow", "latency_ms"), ("costly", "cost_usd")):
        if column in table.columns:
            found[name] = _tail(pd.to_numeric(table[column], errors="coerce"))
    if "output" in table.columns:
        found["long output"] = _tail(table["output"].fillna("").astype(str).str.len())
    return found


def _where(values: pd.Series, test: Callable[[Any], bool]) -> np.ndarray:
    return np.flatnonzero([test(v) for v in values])


def _errors(table: pd.DataFrame) -> np.ndarray:
    flags = np.zeros(len(table), dtype=bool)
    if "error" in table.columns:
        flags |= np.array([isinstance(e, str) and bool(e.strip()) for e in table["error"]], bool)
    if any(c in table.columns for c in ("tool_calls", "messages")):
        calls = trace_tool_calls(table)
        flags |= np.array(
            [any(looks_like_error(c.get("result")) for c in cs) for cs in calls], bool
        )
    return flags


def _tail(values: pd.Series) -> np.ndarray:
    """Rows at or above the :data:`TAIL` quantile, most extreme first (none if all equal)."""
    if values.notna().sum() < 2 or values.max() == values.min():
        return np.array([], dtype=int)
    rows = np.flatnonzero((values >= values.quantile(TAIL)).to_numpy(dtype=bool, na_value=False))
    return rows[np.argsort(-values.to_numpy(dtype=float)[rows], kind="stable")]


def _central(table: pd.DataFrame, members: dict[int, np.ndarray], run: Any) -> dict[int, Any]:
    """Each cluster's rows, closest to its centroid first (embeddings, else map position)."""
    if run is not None and hasattr(run, "rows") and set(table["trace_id"]) <= set(run.trace_ids):
        points = np.asarray(run.embeddings)[run.rows(table["trace_id"])]
    elif {"x", "y"} <= set(table.columns):
        points = table[["x", "y"]].to_numpy(dtype=float)
    else:
        return {c: rows for c, rows in members.items()}
    out = {}
    for c, rows in members.items():
        distance = np.linalg.norm(points[rows] - points[rows].mean(axis=0), axis=1)
        out[c] = rows[np.argsort(distance, kind="stable")]
    return out


def _alternate(items: list[int]) -> list[int]:
    """Largest, smallest, second largest, second smallest, ..."""
    out, low, high = [], 0, len(items) - 1
    while low <= high:
        out.append(items[low])
        if low != high:
            out.append(items[high])
        low, high = low + 1, high - 1
    return out


def _proportional(members: dict[int, np.ndarray], budget: int) -> dict[int, int]:
    """Split a budget in proportion to cluster sizes (largest remainders get the rest)."""
    total = sum(len(m) for m in members.values())
    exact = {c: budget * len(m) / total for c, m in members.items()}
    quota = {c: math.floor(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: (quota[c] - exact[c], c))[: budget - sum(quota.values())]:
        quota[c] += 1
    return quota
