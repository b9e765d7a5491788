"""See the failures: embed traces, reduce, cluster, and describe the clusters.

The pipeline is embed -> reduce -> cluster -> describe, each step a part you can swap:

- ``embedder``: any :class:`workbench.embed.Embedder` (default all-MiniLM-L6-v2, offline);
- ``reducer``: anything with ``fit_transform(X)`` (default :class:`UMAPReducer`, 5-D,
  cosine); :class:`NoReduction` skips the step;
- ``clusterer``: anything with ``fit_predict(X)`` returning labels, -1 for noise (default
  :class:`HDBSCANClusterer`); scikit-learn's ``KMeans`` works too;
- ``map_reducer``: the 2-D layout of the map (default :class:`UMAPReducer`, 2-D).

Both UMAP runs share one neighbour graph (:func:`nearest_neighbours`): exact up to 20,000
traces, NN-descent above. UMAP's layout code is compiled by numba once per Python process
(about 5 s); :func:`warm_up` does it on a tiny input, and :func:`cluster` starts it in a
background thread while the texts are embedded.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> clusters = wb.cluster(traces)
    >>> list(clusters.columns)
    ['trace_id', 'cluster', 'x', 'y', 'is_noise', 'keywords']
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.embed import Embedder, EmbeddingStore, SentenceTransformerEmbedder, embed_texts
from workbench.keywords import NOISE_NAME, ClusterRun, cluster_summary, ctfidf
from workbench.views import DEFAULT_VIEW, View, check_trace_ids, text_view

__all__ = [
    "NOISE_NAME", "ClusterRun", "Clusterer", "ClusteringWarning", "HDBSCANClusterer",
    "NoReduction", "Reducer", "UMAPReducer", "attach_noise", "cluster", "cluster_summary",
    "default_min_cluster_size", "nearest_neighbours", "warm_up",
]  # fmt: skip

EXACT_NEIGHBOURS_LIMIT = 20_000
"""Up to this many traces, neighbours are found exactly (about 5 s for 20,000 on 2 cores)."""

Array = npt.NDArray[Any]


class ClusteringWarning(UserWarning):
    """Clustering ran, but the result says less than it seems (e.g. everything is noise)."""


class Reducer(Protocol):
    """Reduces vectors to a few dimensions (scikit-learn's ``fit_transform``)."""

    def fit_transform(self, X: Array) -> Array:
        """Fit on ``X`` and return its reduced coordinates, one row per row of ``X``."""
        ...


class Clusterer(Protocol):
    """Assigns each row a cluster label, -1 for noise (scikit-learn's ``fit_predict``)."""

    def fit_predict(self, X: Array) -> Array:
        """Fit on ``X`` and return one integer label per row."""
        ...


class NoReduction:
    """The pass-through reducer: clusters (or maps) the vectors as they are.

    Examples:
        >>> NoReduction().fit_transform(np.eye(2)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """

    def fit_transform(self, X: Array) -> Array:
        """Return ``X`` unchanged."""
        self.n_features_in_ = X.shape[1] if X.ndim == 2 else 0
        return X


def nearest_neighbours(
    X: Array, k: int, metric: str = "cosine", random_state: int | None = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``k`` nearest rows (itself first) and their distances.

    Exact for up to :data:`EXACT_NEIGHBOURS_LIMIT` rows with the cosine or euclidean metric
    (blocks of one matrix product each); NN-descent (``pynndescent``) otherwise.

    Examples:
        >>> idx, dist = nearest_neighbours(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]]), 2)
        >>> idx[:, 0].tolist()
        [0, 1, 2]
    """
    X = np.asarray(X, dtype=np.float32)
    k = min(k, len(X))
    if len(X) > EXACT_NEIGHBOURS_LIMIT or metric not in ("cosine", "euclidean"):
        from pynndescent import NNDescent

        index = NNDescent(X, n_neighbors=k, metric=metric, random_state=random_state)
        found, far = index.neighbor_graph
        return found.astype(np.int64), far.astype(np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1.0)
    squares = (X * X).sum(axis=1)
    idx = np.empty((len(X), k), dtype=np.int64)
    dist = np.empty((len(X), k), dtype=np.float32)
    for start in range(0, len(X), 1024):
        block = X[start : start + 1024]
        sims = block @ X.T
        if metric == "euclidean":  # larger is nearer, as for cosine similarity
            sims = 2 * sims - squares[None, :] - squares[start : start + 1024, None]
        rows = np.arange(len(block))
        sims[rows, start + rows] = np.inf  # each row is its own first neighbour
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        idx[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        sims[rows, start + rows] = 1.0 if metric == "cosine" else 0.0
        near = np.take_along_axis(sims, idx[start : start + len(block)], axis=1)
        far = 1.0 - near if metric == "cosine" else np.sqrt(np.maximum(-near, 0.0))
        dist[start : start + len(block)] = far
    return idx, np.maximum(dist, 0.0)


class UMAPReducer:
    """UMAP (``umap-learn``) with the neighbour search of :func:`nearest_neighbours`.

    Args:
        n_components: output dimensions: 5 for clustering, 2 for the map.
        n_neighbors: neighbourhood size (local versus global structure).
        min_dist: 0.0 packs clusters tightly (for clustering); ~0.1 reads better on a map.
        metric: distance between input vectors.
        n_epochs: optimisation rounds; None is 200, and 100 above 50,000 rows (UMAP's own
            default is 500 below 10,000 rows). Measured on the sample traces and 10,000
            perturbed copies: the clusters find the failure modes as well as with 500 rounds
            (adjusted Rand index 0.36 and 0.25 either way), in 2.5 times less time.
        random_state: seed; the same input gives the same output.

    Examples:
        >>> X = np.random.default_rng(0).normal(size=(60, 8))
        >>> UMAPReducer(n_components=2).fit_transform(X).shape
        (60, 2)
    """

    def __init__(
        self,
        n_components: int = 5,
        n_neighbors: int = 15,
        min_dist: float = 0.0,
        metric: str = "cosine",
        n_epochs: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"UMAPReducer(n_components={self.n_components}, n_neighbors={self.n_neighbors})"

    def fit_transform(self, X: Array, knn: tuple[Array, Array] | None = None) -> Array:
        """Fit UMAP on ``X`` and return the embedding (``knn``: neighbours found before)."""
        X = np.asarray(X, dtype=np.float32)
        n = len(X)
        if n <= self.n_components + 1:  # too few points for a spectral layout: a small line
            self.embedding_ = np.zeros((n, self.n_components), dtype=np.float32)
            self.embedding_[:, 0] = np.arange(n, dtype=np.float32)
            return self.embedding_
        with warnings.catch_warnings():  # umap's import says TensorFlow is missing
            warnings.filterwarnings("ignore", message=".*ParametricUMAP")
            import umap

        k = min(self.n_neighbors, n - 1)
        idx, dist = knn if knn is not None else nearest_neighbours(X, k, self.metric)
        self.umap_ = umap.UMAP(
            n_components=self.n_components, n_neighbors=k, min_dist=self.min_dist,
            metric=self.metric, n_epochs=self.n_epochs or (200 if n <= 50_000 else 100),
            random_state=self.random_state,
            n_jobs=1, precomputed_knn=(idx[:, :k], dist[:, :k]),
            init="spectral" if n > 2 * k else "random",
        )  # fmt: skip
        with warnings.catch_warnings():
            # No search index is kept (transform is not offered), and a graph in several
            # pieces is what clusters look like; UMAP warns about both.
            warnings.filterwarnings("ignore", message=r".*(precomputed_knn|not fully connected)")
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            self.embedding_ = np.asarray(self.umap_.fit_transform(X), dtype=np.float32)
        return self.embedding_


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


class HDBSCANClusterer:
    """HDBSCAN (the ``hdbscan`` package) on the reduced vectors.

    Args:
        min_cluster_size: the smallest group called a cluster; None is
            :func:`default_min_cluster_size` of the number of rows.
        min_samples: how conservative (more noise) the clustering is; None is
            ``min_cluster_size``'s square root, rounded. HDBSCAN's default (equal to
            ``min_cluster_size``) left 14% of the sample traces as noise instead of 9%.
        cluster_selection_method: ``"eom"`` (fewer, larger clusters) or ``"leaf"``.

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
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method

    def fit_predict(self, X: Array) -> Array:
        """Cluster ``X``; fewer rows than one cluster needs are all noise (-1), with a warning."""
        size = self.min_cluster_size or default_min_cluster_size(len(X))
        self.min_cluster_size_ = size
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
        import hdbscan

        samples = self.min_samples or max(1, round(size**0.5))
        self.hdbscan_ = hdbscan.HDBSCAN(
            min_cluster_size=size,
            min_samples=min(samples, len(X) - 1),
            cluster_selection_method=self.cluster_selection_method,
        )
        self.labels_ = np.asarray(self.hdbscan_.fit_predict(X), dtype=np.int64)
        return self.labels_


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
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels).copy()
    noise = np.flatnonzero(labels == -1)
    if len(noise) == 0 or len(noise) == len(labels):
        return labels
    k = min(k, len(labels) - 1)
    search = NearestNeighbors(n_neighbors=k + 1).fit(reduced)  # a k-d tree: few dimensions
    dist, idx = search.kneighbors(reduced)  # column 0 is the point itself
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


@functools.cache
def warm_up() -> None:
    """Compile UMAP's numba code now (about 5 s, once per process) on a tiny input.

    Examples:
        >>> warm_up()
    """
    X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    UMAPReducer(n_components=2, n_neighbors=8).fit_transform(X)


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
            to 7.8% at the same adjusted Rand index; the lower ``min_samples`` of
            :class:`HDBSCANClusterer` had already taken them from 14% to 9%.
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
        >>> clusters["cluster"].max() >= 1
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
    warming = _start_warm_up(reducer, map_reducer)
    vectors = embed_texts(
        texts.tolist(), embedder, cache=cache, workspace=workspace, show_progress=show_progress
    )
    if warming is not None:
        warming.join()
    codes, first = _unique_rows(vectors)  # identical texts are laid out once, then shared
    reduced, coords = (
        a[codes] for a in _reduce(vectors[first], reducer, map_reducer, random_state)
    )
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


def _start_warm_up(*reducers: Reducer) -> threading.Thread | None:
    """Compile UMAP in the background while texts are embedded (once per process)."""
    if warm_up.cache_info().currsize or not any(isinstance(r, UMAPReducer) for r in reducers):
        return None
    thread = threading.Thread(target=warm_up, name="workbench-umap-warm-up", daemon=True)
    thread.start()
    return thread


def _reduce(
    vectors: Array, reducer: Reducer, map_reducer: Reducer, random_state: int
) -> tuple[Array, Array]:
    """Reduce for clustering and for the map, sharing one neighbour search between UMAPs."""
    both = (reducer, map_reducer)
    knn = None
    umaps = [r for r in both if isinstance(r, UMAPReducer)]
    if len(umaps) == 2 and umaps[0].metric == umaps[1].metric:
        k = min(max(r.n_neighbors for r in umaps), len(vectors) - 1)
        if k >= 1:
            knn = nearest_neighbours(vectors, k, umaps[0].metric, random_state)
    results = []
    for one in both:
        if isinstance(one, UMAPReducer):
            results.append(np.asarray(one.fit_transform(vectors, knn=knn)))
        else:
            results.append(np.asarray(one.fit_transform(vectors)))
    return results[0], results[1]


def _unique_rows(vectors: Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Each row's number among the distinct rows, and the first row of each distinct one."""
    codes, _ = pd.factorize(pd.Series([row.tobytes() for row in vectors], dtype=object))
    first = np.unique(codes, return_index=True)[1]
    return np.asarray(codes, dtype=np.intp), np.asarray(first, dtype=np.intp)


def _by_size(labels: Array) -> npt.NDArray[np.int64]:
    """Renumber clusters by size, largest first (ties by old number); -1 stays -1."""
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = found[np.lexsort((found, -counts))]
    mapping = {int(old): new for new, old in enumerate(order)}
    return np.array([mapping.get(int(c), -1) for c in labels], dtype=np.int64)
