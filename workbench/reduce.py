"""Reduce: embeddings to a few dimensions for clustering, and to two for the map.

:class:`UMAPReducer` is the default for both; :class:`NoReduction` skips the step; anything
with ``fit_transform(X)`` works. Both UMAP runs of :func:`workbench.cluster` share one
neighbour graph (:func:`nearest_neighbours`): exact up to 20,000 traces, NN-descent above.
UMAP's layout code is compiled by numba once per Python process (about 5 s); :func:`warm_up`
does it on a tiny input, and :func:`start_warm_up` in a background thread while the texts
are embedded.

numba runs its parallel code on the ``workqueue`` threading layer here (TBB when installed),
not OpenMP (:func:`keep_numba_off_openmp`): numba's OpenMP pool, started before PyTorch,
took over PyTorch's OpenMP calls and made MiniLM encode 35 times slower for the rest of the
process (4.8 instead of 172 texts/s, ``benchmarks/bench_threads.py``).

Examples:
    >>> import numpy as np
    >>> UMAPReducer(n_components=2).fit_transform(np.eye(12)).shape
    (12, 2)
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "EXACT_NEIGHBOURS_LIMIT", "NoReduction", "Reducer", "UMAPReducer",
    "capped_copies", "keep_numba_off_openmp", "nearest_neighbours", "reduce_both",
    "start_warm_up", "warm_up",
]  # fmt: skip

EXACT_NEIGHBOURS_LIMIT = 20_000
"""Up to this many traces, neighbours are found exactly (about 5 s for 20,000 on 2 cores)."""
Array = npt.NDArray[Any]

_NUMBA_PARALLEL = threading.Lock()
"""Held while numba's parallel code runs: the ``workqueue`` layer allows one thread at a time."""


class Reducer(Protocol):
    """Reduces vectors to a few dimensions (scikit-learn's ``fit_transform``)."""

    def fit_transform(self, X: Array) -> Array:
        """Fit on ``X`` and return its reduced coordinates, one row per row of ``X``."""
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
        keep_numba_off_openmp()
        from pynndescent import NNDescent

        with _NUMBA_PARALLEL:
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
        keep_numba_off_openmp()
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
            with _NUMBA_PARALLEL:
                self.embedding_ = np.asarray(self.umap_.fit_transform(X), dtype=np.float32)
        return self.embedding_


def keep_numba_off_openmp() -> None:
    """Make numba prefer TBB, then its own ``workqueue``, to OpenMP (unless you chose).

    numba's OpenMP pool loads the system ``libgomp``; when it starts before PyTorch,
    PyTorch's OpenMP calls land in that library too and MiniLM encodes 35 times slower from
    then on (UMAP first, then the model: 4.8 texts/s; the other way round, or ``workqueue``:
    172 texts/s). Takes effect when numba first runs parallel code; a
    ``NUMBA_THREADING_LAYER`` or ``NUMBA_THREADING_LAYER_PRIORITY`` you set is kept.
    ``workqueue`` aborts the process when two threads run parallel code at once, so the
    reducers here take turns; install ``tbb`` to run your own numba code in threads too.

    Examples:
        >>> keep_numba_off_openmp()
        >>> os.environ["NUMBA_THREADING_LAYER_PRIORITY"]
        'tbb workqueue omp'
    """
    if "NUMBA_THREADING_LAYER" in os.environ or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        return
    os.environ["NUMBA_THREADING_LAYER_PRIORITY"] = "tbb workqueue omp"
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba was imported before: it read its settings then
        setattr(config, "THREADING_LAYER_PRIORITY", ["tbb", "workqueue", "omp"])  # noqa: B010


@functools.cache
def warm_up() -> None:
    """Compile UMAP's numba code now (about 5 s, once per process) on a tiny input.

    Examples:
        >>> warm_up()
    """
    X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    UMAPReducer(n_components=2, n_neighbors=8).fit_transform(X)


def start_warm_up(*reducers: Reducer) -> threading.Thread | None:
    """Compile UMAP in the background while texts are embedded (once per process)."""
    if warm_up.cache_info().currsize or not any(isinstance(r, UMAPReducer) for r in reducers):
        return None
    thread = threading.Thread(target=warm_up, name="workbench-umap-warm-up", daemon=True)
    thread.start()
    return thread


def reduce_both(
    vectors: Array, reducer: Reducer, map_reducer: Reducer, random_state: int
) -> tuple[Array, Array]:
    """Reduce for clustering and for the map, sharing one neighbour search between UMAPs.

    A vector repeated more times than UMAP has neighbours is laid out with that many copies
    (:func:`capped_copies`); the other copies take their place.
    """
    both = (reducer, map_reducer)
    umaps = [r for r in both if isinstance(r, UMAPReducer)]
    k = max((r.n_neighbors for r in umaps), default=15)
    kept, place = capped_copies(vectors, k)
    vectors = vectors[kept]
    shared = min(k, len(vectors) - 1)
    knn = None
    if len(umaps) == 2 and umaps[0].metric == umaps[1].metric and shared >= 1:
        knn = nearest_neighbours(vectors, shared, umaps[0].metric, random_state)
    results = []
    for one in both:
        if isinstance(one, UMAPReducer):
            results.append(np.asarray(one.fit_transform(vectors, knn=knn)))
        else:
            results.append(np.asarray(one.fit_transform(vectors)))
    return results[0][place], results[1][place]


def capped_copies(vectors: Array, cap: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The rows to lay out (at most ``cap`` of each distinct vector), and where each row lands.

    Copies beyond the number of neighbours UMAP looks at change no neighbourhood, yet cost it
    dearly: 1,000 texts repeated 20 times took 41 s to lay out, 13 s with 15 copies each.
    One copy each (0.3 s) lays a frequent text out like a rare one, and on the sample traces
    found the failure modes less well (adjusted Rand index 0.356 instead of 0.365, mean of
    5 seeds). Every copy lands where the first one was laid out: identical texts share a point.

    Examples:
        >>> kept, place = capped_copies(np.array([[1.0], [1.0], [1.0], [2.0]]), cap=2)
        >>> kept.tolist(), place.tolist()
        ([0, 1, 3], [0, 0, 0, 2])
    """
    codes, _ = pd.factorize(pd.Series([row.tobytes() for row in vectors], dtype=object))
    copy_number = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    kept = np.flatnonzero(copy_number < cap)
    position = np.empty(len(vectors), dtype=np.intp)
    position[kept] = np.arange(len(kept))
    first = np.unique(codes, return_index=True)[1]  # copy number 0: always kept
    return kept.astype(np.intp), position[first[codes]]
