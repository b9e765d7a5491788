"""The reduce step: laying out repeated vectors, and numba's threads beside PyTorch's."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from embed_fixtures import blobs

from workbench.cluster import cluster
from workbench.embed import PrecomputedEmbedder
from workbench.reduce import NoReduction, UMAPReducer, capped_copies, reduce_both

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (numba picks its threading layer once a process)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=environ | env,
        check=False,
    )


LAYER_AFTER_UMAP = """
    import numpy as np
    from workbench.reduce import UMAPReducer
    UMAPReducer(2).fit_transform(np.random.default_rng(0).normal(size=(200, 8)))
    import numba
    print(numba.threading_layer())
"""


@pytest.mark.slow
def test_numba_runs_off_openmp_so_pytorch_keeps_its_speed() -> None:
    # Regression: numba's OpenMP pool, started before PyTorch, made MiniLM 35x slower.
    done = run_python(LAYER_AFTER_UMAP)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] in ("tbb", "workqueue")


@pytest.mark.slow
def test_a_threading_layer_order_the_user_chose_is_kept() -> None:
    # (NUMBA_THREADING_LAYER=omp itself is turned into workqueue by pynndescent's import.)
    done = run_python(LAYER_AFTER_UMAP, NUMBA_THREADING_LAYER_PRIORITY="omp workqueue tbb")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "omp"


@pytest.mark.slow
def test_umap_in_several_threads_at_once_does_not_abort() -> None:
    # Regression: numba's workqueue layer aborts the process on concurrent parallel code.
    done = run_python("""
        import threading
        import numpy as np
        from workbench.reduce import UMAPReducer, nearest_neighbours
        X = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
        def work():
            UMAPReducer(5).fit_transform(X)
            nearest_neighbours(X, 10, metric="manhattan")  # NN-descent, also parallel
        threads = [threading.Thread(target=work) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print("done")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"


def test_capped_copies_lays_out_at_most_cap_of_each_vector() -> None:
    vectors = np.repeat(np.eye(3), [1, 5, 2], axis=0)  # 1, 5 and 2 copies
    kept, place = capped_copies(vectors, cap=3)
    assert kept.tolist() == [0, 1, 2, 3, 6, 7]
    assert place.tolist() == [0, 1, 1, 1, 1, 1, 4, 4]  # every copy lands on its first one
    np.testing.assert_array_equal(vectors[kept][place], vectors)


def test_capped_copies_of_nothing() -> None:
    kept, place = capped_copies(np.zeros((0, 4)), cap=15)
    assert kept.tolist() == [] and place.tolist() == []


def test_identical_texts_share_one_point_on_the_map() -> None:
    texts = [f"reply {i}" for i in range(60)] + ["same"] * 40
    vectors = np.r_[blobs([30, 30]), np.tile(np.eye(16)[5], (40, 1))]
    traces = pd.DataFrame({"trace_id": [f"t{i}" for i in range(100)], "output": texts})
    found = cluster(
        traces, text="output", embedder=PrecomputedEmbedder(vectors), show_progress=False
    )
    same = found.iloc[60:]
    assert same[["x", "y"]].drop_duplicates().shape[0] == 1
    assert same["cluster"].nunique() == 1 and not same["is_noise"].any()


def test_reduce_both_lays_out_capped_rows_and_spreads_them_back() -> None:
    class Recording(NoReduction):
        def fit_transform(self, X: np.ndarray) -> np.ndarray:
            self.rows = len(X)
            return super().fit_transform(X)

    vectors = np.repeat(np.eye(4), [20, 1, 1, 1], axis=0)
    first, second = Recording(), Recording()
    reduced, coords = reduce_both(vectors, first, second, random_state=0)
    assert first.rows == second.rows == 15 + 3  # no UMAP here: 15 copies, like UMAP's default
    np.testing.assert_array_equal(reduced, vectors)
    np.testing.assert_array_equal(coords, vectors)


def test_umap_reducer_keeps_its_neighbour_count_as_the_cap() -> None:
    vectors = np.repeat(np.random.default_rng(0).normal(size=(30, 8)), 12, axis=0)
    reducer = UMAPReducer(2, n_neighbors=5)
    reduced, coords = reduce_both(vectors, reducer, NoReduction(), random_state=0)
    assert reducer.embedding_.shape == (30 * 5, 2)  # five copies of each of the 30 vectors
    assert reduced.shape == (360, 2) and coords.shape == (360, 8)


@pytest.mark.slow
@pytest.mark.parametrize("module", ["workbench.reduce", "workbench.cluster"])
def test_docstring_examples_run(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the examples read sample_data/
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
