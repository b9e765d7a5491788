"""See the failures: embed traces, reduce, cluster, and describe the clusters.

The pipeline is embed -> reduce -> cluster -> describe, each step a part you can swap:

- ``embedder``: any :class:`workbench.embed.Embedder` (default all-MiniLM-L6-v2, offline);
- ``reducer``: anything with ``fit_transform(X)`` (default :class:`UMAPReducer`, 5-D,
  cosine); :class:`NoReduction` skips the step;
- ``clusterer``: anything with ``fit_predict(X)`` returning labels, -1 for noise (default
  :class:`HDBSCANClusterer`); scikit-learn's ``KMeans`` works too;
- ``map_reducer``: the 2-D layout of the map (default :class:`UMAPReducer`, 2-D).

The reducers live in :mod:`workbench.reduce`. Noise is kept small in two ways, both measured
against the sample's answer key (``benchmarks/bench_bertopic.py``): groups too small for
the main clusters but as dense as they are become *small clusters*
(:class:`HDBSCANClusterer`), and a noise point whose neighbours are mostly one cluster joins
it (:func:`attach_noise`). What stays is the "unclustered / novel" stratum.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> clusters = wb.cluster(traces)
    >>> list(clusters.columns)
    ['trace_id', 'cluster', 'x', 'y', 'is_noise', 'keywords']
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.embed import Embedder, EmbeddingStore, SentenceTransformerEmbedder, embed_texts
from workbench.keywords import NOISE_NAME, ClusterRun, cluster_summary, ctfidf
from workbench.reduce import (
    NoReduction,
    Reducer,
    UMAPReducer,
    nearest_neighbours,
    reduce_both,
    start_warm_up,
    warm_up,
)
from workbench.views import DEFAULT_VIEW, View, check_trace_ids, text_view

__all__ = [
    "NOISE_NAME", "ClusterRun", "Clusterer", "ClusteringWarning", "HDBSCANClusterer",
    "NoReduction", "Reducer", "UMAPReducer", "attach_noise", "cluster", "cluster_summary",
    "default_min_cluster_size", "nearest_neighbours", "warm_up",
]  # fmt: skip

Array = npt.NDArray[Any]


class ClusteringWarning(UserWarning):
    """Clustering ran, but the result says less than it seems (e.g. everything is noise)."""


class Clusterer(Protocol):
    """Assigns each row a cluster label, -1 for noise (scikit-learn's ``fit_predict``)."""

    def fit_predict(self, X: Array) -> Array:
        """Fit on ``X`` and return one integer label per row."""
        ...


def default_min_cluster_size(n: int) -> int:
    """The smallest cluster worth naming among ``n`` traces: ``max(8, n // 100)``, at most 200.

    Measured (``benchmarks/bench_bertopic.py --sweep``): on the 1,200 sample traces, sizes 8
    to 15 find the same three failure modes at the same adjusted Rand index (0.36-0.37 with
    the tools view); on 10,000 perturbed copies, 25 gives 165 clusters and 100 gives 38 at
    about the same index (0.22-0.26). A hundredth of the traces keeps the summary readable.

    Examples:
        >>> default_min_cluster_size(1_200), default_min_cluster_size(100_000)
        (12, 200)
    """
    return int(min(200, max(8, n // 100)))


SMALL_CLUSTER_MIN = 5
"""No small cluster (:class:`HDBSCANClusterer`) has fewer traces than this."""


class HDBSCANClusterer:
    """HDBSCAN (the ``hdbscan`` package) on the reduced vectors, then small clusters in the noise.

    HDBSCAN calls a group smaller than ``min_cluster_size`` noise, however tight it is. With
    ``small_clusters``, the noise is clustered again with a quarter of that size (at least
    :data:`SMALL_CLUSTER_MIN`), and a group found there becomes a cluster of its own when it
    is as dense as the loosest main cluster (the median distance of its traces to their 5th
    neighbour is no larger). Scattered traces stay noise. On 10,000 perturbed copies of the
    sample traces (tools view) this took noise from 16.5% to 1.0% and the adjusted Rand index
    against the failure modes from 0.32 to 0.35; on the 1,200 sample traces, noise from 3.6%
    to 0.3% and the index from 0.354 to 0.361 (means of 5 seeds;
    ``benchmarks/bench_bertopic.py``).

    Args:
        min_cluster_size: the smallest group called a cluster; None is
            :func:`default_min_cluster_size` of the number of rows.
        min_samples: how conservative (more noise) the clustering is; None is
            ``min_cluster_size``'s square root, rounded. HDBSCAN's default (equal to
            ``min_cluster_size``) left 14% of the sample traces as noise instead of 9%.
        cluster_selection_method: ``"eom"`` (fewer, larger clusters) or ``"leaf"``.
        small_clusters: look for small, dense clusters among the noise.

    Examples:
        >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))]
        >>> HDBSCANClusterer(min_cluster_size=5).fit_predict(X)[[0, 39]].tolist()
        [0, 1]
    """

    def __init__(
        self,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        cluster_selection_method: str = "eom",
        small_clusters: bool = True,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.small_clusters = small_clusters

    def fit_predict(self, X: Array) -> Array:
        """Cluster ``X``; fewer rows than one cluster needs are all noise (-1), with a warning."""
        size = self.min_cluster_size or default_min_cluster_size(len(X))
        self.min_cluster_size_ = size
        self.small_clusters_ = 0
        if len(X) < max(size, 2):
            warnings.warn(
                f"{len(X)} traces are fewer than min_cluster_size={size}: every trace is "
                f"{NOISE_NAME!r}. Pass a smaller min_cluster_size to find clusters.",
                ClusteringWarning,
                stacklevel=2,
            )
            self.labels_ = np.full(len(X), -1, dtype=np.int64)
            return self.labels_
        if len(np.unique(X, axis=0)) == 1:  # one point, many times: one cluster
            self.labels_ = np.zeros(len(X), dtype=np.int64)
            return self.labels_
        self.hdbscan_ = _hdbscan(size, self.min_samples, self.cluster_selection_method, len(X))
        labels = np.asarray(self.hdbscan_.fit_predict(X), dtype=np.int64)
        if self.small_clusters:
            labels = self._with_small_clusters(X, labels, max(SMALL_CLUSTER_MIN, size // 4))
        self.labels_ = labels
        return self.labels_

    def _with_small_clusters(self, X: Array, labels: Array, size: int) -> Array:
        """``labels`` with the dense groups of at least ``size`` noise rows as new clusters."""
        noise = np.flatnonzero(labels == -1)
        if len(noise) <= size or labels.max() < 0:
            return labels
        core = _neighbours(X, min(5, len(X) - 1))[0][:, -1]  # distance to the 5th neighbour
        loosest = max(np.median(core[labels == c]) for c in range(labels.max() + 1))
        found = _hdbscan(size, None, self.cluster_selection_method, len(noise))
        found.allow_single_cluster = True  # the noise may hold one group and nothing else
        groups = np.asarray(found.fit_predict(X[noise]), dtype=np.int64)
        labels = labels.copy()
        for group in range(groups.max() + 1):
            members = noise[groups == group]
            if np.median(core[members]) <= loosest:
                labels[members] = labels.max() + 1
                self.small_clusters_ += 1
        return labels


def _hdbscan(size: int, min_samples: int | None, method: str, n: int) -> Any:
    """An unfitted ``hdbscan.HDBSCAN`` (``min_samples`` None: the square root of ``size``)."""
    import hdbscan

    samples = min_samples or max(1, round(size**0.5))
    return hdbscan.HDBSCAN(
        min_cluster_size=size, min_samples=min(samples, n - 1), cluster_selection_method=method
    )


def _neighbours(X: Array, k: int) -> tuple[Array, Array]:
    """Distances to and positions of each row's ``k`` nearest rows, itself first (column 0).

    A k-d tree: the reduced vectors have few dimensions.
    """
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    return dist, idx


def attach_noise(reduced: Array, labels: Array, share: float = 0.5, k: int = 10) -> Array:
    """Give a noise point the cluster around it, when it is as close as that cluster's members.

    A noise point joins cluster ``c`` when ``c`` holds at least ``share`` of its ``k`` nearest
    neighbours *and* its distance to its ``k``-th neighbour is no more than that of ``c``'s
    loosest member. A point between clusters, or far from everything, stays unclustered.
    Returns new labels; the input is not changed.

    Examples:
        >>> pts = np.array([[0.0], [0.1], [0.2], [0.15], [9.0]])
        >>> attach_noise(pts, np.array([0, 0, 0, -1, -1]), k=3).tolist()
        [0, 0, 0, 0, -1]
    """
    labels = np.asarray(labels).copy()
    noise = np.flatnonzero(labels == -1)
    if len(noise) == 0 or len(noise) == len(labels):
        return labels
    k = min(k, len(labels) - 1)
    dist, idx = _neighbours(reduced, k)
    reach = dist[:, k]
    scale = {c: reach[labels == c].max() for c in np.unique(labels[labels >= 0])}
    original = labels.copy()
    for point in noise:
        votes = original[idx[point, 1:]]
        clustered = votes[votes >= 0]
        if len(clustered):
            values, counts = np.unique(clustered, return_counts=True)
            best = values[np.argmax(counts)]
            if counts.max() >= share * k and reach[point] <= scale[best]:
                labels[point] = best
    return labels


def cluster(
    traces: pd.DataFrame,
    workspace: Any = None,
    text: View = DEFAULT_VIEW,
    embedder: Embedder | None = None,
    reducer: Reducer | None = None,
    clusterer: Clusterer | None = None,
    min_cluster_size: int | None = None,
    random_state: int = 0,
    *,
    map_reducer: Reducer | None = None,
    attach: float | None = 0.5,
    cache: EmbeddingStore | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Embed, reduce and cluster traces, and lay them out on a 2-D map.

    Args:
        traces: the trace table; ``trace_id`` values must be unique.
        workspace: its ``embedding_cache()`` keeps the vectors (else the local cache).
        text: what to embed per trace, a view of :mod:`workbench.views` or a function.
        embedder: default all-MiniLM-L6-v2 (:class:`workbench.embed.SentenceTransformerEmbedder`).
        reducer: default 5-D cosine :class:`UMAPReducer`; :class:`NoReduction` to skip.
        clusterer: default :class:`HDBSCANClusterer`.
        min_cluster_size: for the default clusterer (default :func:`default_min_cluster_size`).
        random_state: seed of the default reducers: a re-run gives the same map.
        map_reducer: the 2-D layout, default a 2-D :class:`UMAPReducer` (``min_dist=0.1``).
        attach: noise points join a cluster holding this share of their 10 nearest
            neighbours (:func:`attach_noise`); they keep ``is_noise=True``. None turns it off.
            On the sample traces (assistant_turns view) it took unclustered traces from 9.0%
            to 7.8% at the same adjusted Rand index, before :class:`HDBSCANClusterer` looked
            for small clusters in the noise.
        cache: where vectors are kept (see :func:`workbench.embed.embed_texts`).
        show_progress: progress bars.

    Returns:
        One row per trace, in the order of ``traces``: ``trace_id``, ``cluster`` (0 is the
        largest; -1 is :data:`NOISE_NAME`), ``x``, ``y``, ``is_noise`` (the clusterer left it
        out) and ``keywords`` (of its cluster). ``attrs["cluster_run"]`` holds the embeddings,
        texts and reduced vectors (:class:`ClusterRun`).

    Raises:
        ValueError: no traces, repeated trace ids, or a view's missing column.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> clusters = wb.cluster(traces, text="assistant_turns", min_cluster_size=20)
        >>> int(clusters["cluster"].max()) >= 1
        True
    """
    if clusterer is not None and min_cluster_size is not None:
        raise ValueError("min_cluster_size is for the default clusterer; give it to yours")
    ids = check_trace_ids(traces, "traces to cluster")
    texts = text_view(traces, text)
    reducer = reducer if reducer is not None else UMAPReducer(5, random_state=random_state)
    map_reducer = map_reducer or UMAPReducer(2, min_dist=0.1, random_state=random_state)
    embedder = (
        embedder if embedder is not None else SentenceTransformerEmbedder(show_progress=False)
    )
    warming = start_warm_up(reducer, map_reducer)
    vectors = embed_texts(
        texts.tolist(), embedder, cache=cache, workspace=workspace, show_progress=show_progress
    )
    if warming is not None:
        warming.join()
    reduced, coords = reduce_both(vectors, reducer, map_reducer, random_state)
    clusterer = clusterer or HDBSCANClusterer(min_cluster_size=min_cluster_size)
    raw = np.asarray(clusterer.fit_predict(reduced), dtype=np.int64)
    labels = _by_size(attach_noise(reduced, raw, attach) if attach else raw)
    words = ctfidf(texts.tolist(), labels, n_words=5)
    frame = pd.DataFrame(
        {
            "trace_id": ids,
            "cluster": labels,
            "x": coords[:, 0],
            "y": coords[:, 1] if coords.shape[1] > 1 else 0.0,
            "is_noise": raw == -1,
            "keywords": [", ".join(words.get(int(c), [])) for c in labels],
        }
    )
    frame.attrs["cluster_run"] = ClusterRun.of(
        ids, texts, embedder.model_id, vectors, reduced, raw, clusterer
    )
    return frame


def _by_size(labels: Array) -> npt.NDArray[np.int64]:
    """Renumber clusters by size, largest first (ties by old number); -1 stays -1."""
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = found[np.lexsort((found, -counts))]
    mapping = {int(old): new for new, old in enumerate(order)}
    return np.array([mapping.get(int(c), -1) for c in labels], dtype=np.int64)
