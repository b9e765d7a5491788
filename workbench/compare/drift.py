"""Semantic drift: which kinds of traces grew, shrank, appeared or disappeared.

Both periods are embedded together and clustered *once* (:func:`workbench.cluster`), so a
cluster means the same thing in both; embeddings are cached by content, so traces embedded
last week cost nothing now. Each cluster's share of each period is compared (the unclustered
traces, cluster -1, are a row of their own, so the shares of a period sum to 1):

- ``appeared``: under ``min_traces`` traces last period, at least that many now, and the
  share grew significantly; ``disappeared`` the reverse;
- ``grew`` / ``shrank``: the share changed significantly (at ``alpha``);
- ``stable``: otherwise.

Examples:
    >>> import workbench as wb
    >>> from workbench.compare.periods import last_and_this
    >>> last, this = last_and_this(wb.load_traces("sample_data/traces.jsonl"))
    >>> table, traces = cluster_drift(last, this, show_progress=False)
    >>> [round(float(table[c].sum()), 6) for c in ("share_last", "share_this")]
    [1.0, 1.0]
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from workbench.cluster import cluster
from workbench.compare.stats import share_moved
from workbench.embed import Embedder, EmbeddingStore
from workbench.views import DEFAULT_VIEW, View

__all__ = ["CLUSTER_COLUMNS", "MIN_TRACES", "cluster_drift", "cluster_status"]

MIN_TRACES: Final = 5
"""A cluster with fewer traces in a period is absent from it (for appeared / disappeared)."""

CLUSTER_COLUMNS: Final = (
    "cluster", "keywords", "n_last", "n_this", "share_last", "share_this", "change",
    "p_value", "effect", "status",
)  # fmt: skip
"""Columns of the cluster table (cluster -1: the unclustered traces)."""


def cluster_drift(
    last: pd.DataFrame,
    this: pd.DataFrame,
    *,
    workspace: Any = None,
    text: View = DEFAULT_VIEW,
    embedder: Embedder | None = None,
    cache: EmbeddingStore | None = None,
    min_cluster_size: int | None = None,
    random_state: int = 0,
    alpha: float = 0.01,
    min_traces: int = MIN_TRACES,
    show_progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster both periods together and compare each cluster's share.

    Args:
        last: last period's traces.
        this: this period's traces (no trace id in both).
        workspace: its embedding cache is used (see :func:`workbench.cluster`).
        text: the view to embed.
        embedder: default all-MiniLM-L6-v2.
        cache: where vectors are kept.
        min_cluster_size: for the default clusterer.
        random_state: seed of the reducers.
        alpha: significance level of a status other than ``stable``.
        min_traces: see :data:`MIN_TRACES`.
        show_progress: progress bars while embedding.

    Returns:
        The cluster table (:data:`CLUSTER_COLUMNS`, largest cluster first, noise last) and
        one row per trace: ``trace_id``, ``period`` (``"last"`` or ``"this"``), ``cluster``,
        ``x``, ``y``, ``is_noise`` (for a map, or to read the traces of a cluster).
    """
    union = _union(last, this)
    found = cluster(
        union, workspace=workspace, text=text, embedder=embedder,
        min_cluster_size=min_cluster_size, random_state=random_state, cache=cache,
        show_progress=show_progress,
    )  # fmt: skip
    found.insert(1, "period", np.where(np.arange(len(found)) < len(last), "last", "this"))
    table = _shares(found, alpha, min_traces)
    found.attrs = {}
    return table, found[["trace_id", "period", "cluster", "x", "y", "is_noise"]]


def cluster_status(n_last: int, n_this: int, significant: bool, min_traces: int) -> str:
    """The status of a cluster from its counts and whether its share moved significantly.

    Examples:
        >>> cluster_status(0, 30, True, 5), cluster_status(40, 20, True, 5)
        ('appeared', 'shrank')
    """
    if not significant:
        return "stable"
    if n_last < min_traces <= n_this:
        return "appeared"
    if n_this < min_traces <= n_last:
        return "disappeared"
    return "grew" if n_this > n_last else "shrank"


def _union(last: pd.DataFrame, this: pd.DataFrame) -> pd.DataFrame:
    """Both periods in one table, last first (their ``attrs`` left behind)."""
    parts = []
    for frame in (last, this):
        part = frame.copy(deep=False)
        part.attrs = {}
        parts.append(part)
    union = pd.concat(parts, ignore_index=True)
    union["trace_id"] = union["trace_id"].astype(str)
    return union


def _shares(found: pd.DataFrame, alpha: float, min_traces: int) -> pd.DataFrame:
    counts = pd.crosstab(found["cluster"], found["period"]).reindex(
        columns=["last", "this"], fill_value=0
    )
    keywords = found.drop_duplicates("cluster").set_index("cluster")["keywords"]
    n_last, n_this = int(counts["last"].sum()), int(counts["this"].sum())
    rows = []
    for label, (k1, k2) in zip(counts.index, counts.to_numpy(), strict=True):
        moved = share_moved(int(k1), n_last, int(k2), n_this)
        significant = bool(moved.p_value < alpha)
        rows.append({
            "cluster": int(label), "keywords": str(keywords.get(label, "")),
            "n_last": int(k1), "n_this": int(k2), "share_last": moved.last,
            "share_this": moved.this, "change": moved.change, "p_value": moved.p_value,
            "effect": moved.effect,
            "status": cluster_status(int(k1), int(k2), significant, min_traces),
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=list(CLUSTER_COLUMNS))
    noise_last = table["cluster"] == -1
    return pd.concat([table[~noise_last], table[noise_last]], ignore_index=True)
