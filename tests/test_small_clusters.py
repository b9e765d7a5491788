"""Small clusters: tight groups too small for a cluster leave the noise; scattered ones stay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.cluster import HDBSCANClusterer, cluster
from workbench.embed import PrecomputedEmbedder
from workbench.reduce import NoReduction

RNG = np.random.default_rng(3)


def group(centre: tuple[float, float], n: int, spread: float) -> np.ndarray:
    return np.asarray(centre) + RNG.normal(scale=spread, size=(n, 2))


BIG = np.r_[group((0, 0), 80, 0.3), group((10, 0), 80, 0.3)]
TIGHT = group((30, 30), 12, 0.03)
"""Twelve traces, denser than the big clusters, too few for min_cluster_size=40."""
LOOSE = group((-30, 30), 12, 3.0)
"""Twelve traces spread ten times wider than the big clusters."""


def test_a_tight_group_below_min_cluster_size_becomes_a_small_cluster() -> None:
    X = np.r_[BIG, TIGHT]
    plain = HDBSCANClusterer(min_cluster_size=40, small_clusters=False).fit_predict(X)
    clusterer = HDBSCANClusterer(min_cluster_size=40)
    labels = clusterer.fit_predict(X)
    assert (plain[160:] == -1).all()  # HDBSCAN alone: noise
    small = np.bincount(labels[160:] + 1).argmax() - 1
    assert small >= 0 and small not in set(labels[:160])
    assert (labels[160:] == small).sum() >= 10  # HDBSCAN may leave its edge out
    assert clusterer.small_clusters_ == 1
    np.testing.assert_array_equal(labels[:160], plain[:160])  # the main clusters are unchanged


def test_a_scattered_group_stays_noise() -> None:
    X = np.r_[BIG, LOOSE]
    clusterer = HDBSCANClusterer(min_cluster_size=40)
    labels = clusterer.fit_predict(X)
    assert (labels[160:] == -1).all()
    assert clusterer.small_clusters_ == 0


def test_without_main_clusters_nothing_is_measured_against() -> None:
    X = np.r_[TIGHT, LOOSE]
    clusterer = HDBSCANClusterer(min_cluster_size=20)
    labels = clusterer.fit_predict(X)
    assert set(labels) == {-1}  # no main cluster to compare density with: all noise
    assert clusterer.small_clusters_ == 0


def test_small_cluster_members_are_not_noise_in_the_table() -> None:
    X = np.r_[BIG, TIGHT, LOOSE]
    traces = pd.DataFrame({"trace_id": [f"t{i}" for i in range(len(X))], "output": "x"})
    traces["output"] = [f"reply {i}" for i in range(len(X))]
    found = cluster(
        traces,
        text="output",
        embedder=PrecomputedEmbedder(X),
        reducer=NoReduction(),
        map_reducer=NoReduction(),
        min_cluster_size=40,
        show_progress=False,
    )
    tight = found.iloc[160:172]
    assert tight["cluster"].nunique() == 1  # its edge joins it (attach_noise)
    assert (~tight["is_noise"]).sum() >= 10
    assert tight["cluster"].iloc[0] == found["cluster"].max()  # numbered by size: last
    assert found.iloc[172:]["is_noise"].all()
