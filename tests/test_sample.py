from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench.sample import is_negative_feedback, sample

REASONS_WITHOUT_CLUSTERS = {"negative feedback", "error", "slow", "costly", "long output", "random"}


def traces(n: int = 100) -> pd.DataFrame:
    """Plain traces with a few clear signals: feedback, errors, latency, cost, long output."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in range(n)],
            "input": ["q"] * n,
            "output": ["short answer"] * n,
            "latency_ms": rng.uniform(500, 1_500, n),
            "cost_usd": rng.uniform(0.001, 0.002, n),
            "error": [None] * n,
            "feedback": [None] * n,
        }
    )
    if n < 10:
        return frame
    frame.loc[3, "feedback"] = [{"name": "thumb", "value": "down"}]  # type: ignore[call-overload]
    frame.loc[4, "feedback"] = [{"name": "thumb", "value": "up"}]  # type: ignore[call-overload]
    frame.loc[5, "error"] = "TimeoutError: tool did not answer"
    frame.loc[6, "latency_ms"] = 90_000.0
    frame.loc[7, "cost_usd"] = 0.5
    frame.loc[8, "output"] = "very long " * 500
    return frame


def clusters_for(frame: pd.DataFrame, sizes: dict[int, int]) -> pd.DataFrame:
    labels = [c for c, size in sizes.items() for _ in range(size)]
    assert len(labels) == len(frame)
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "trace_id": frame["trace_id"],
            "cluster": labels,
            "x": [c * 10 + rng.normal() for c in labels],
            "y": rng.normal(size=len(labels)),
            "is_noise": [c == -1 for c in labels],
        }
    )


def test_random_sample_is_deterministic_without_repeats() -> None:
    first = sample(traces(), 30, strategy="random")
    assert first.equals(sample(traces(), 30, strategy="random"))
    assert not first.equals(sample(traces(), 30, strategy="random", random_state=1))
    assert first["trace_id"].is_unique and (first["reason"] == "random").all()
    assert list(first.columns) == ["trace_id", "reason", "cluster"]
    assert first["cluster"].isna().all()


def test_stratified_without_clusters_picks_each_signal_first() -> None:
    picked = sample(traces(), 20)
    first = dict(zip(picked["reason"], picked["trace_id"], strict=False))
    assert first["negative feedback"] == "t003"
    assert first["error"] == "t005"
    assert "t006" in set(picked.loc[picked["reason"] == "slow", "trace_id"])
    assert "t007" in set(picked.loc[picked["reason"] == "costly", "trace_id"])
    assert "t008" in set(picked.loc[picked["reason"] == "long output", "trace_id"])
    assert set(picked["reason"]) <= REASONS_WITHOUT_CLUSTERS
    assert picked["trace_id"].is_unique and len(picked) == 20
    assert "t004" not in set(picked.loc[picked["reason"] == "negative feedback", "trace_id"])


def test_stratified_with_clusters_covers_every_cluster_and_the_noise() -> None:
    frame = traces(100)
    clusters = clusters_for(frame, {0: 50, 1: 25, 2: 12, 3: 5, -1: 8})
    picked = sample(frame, 20, clusters=clusters)
    assert picked["trace_id"].is_unique and len(picked) == 20
    by_cluster = set(picked["cluster"].dropna().astype(int))
    assert {0, 1, 2, 3, -1} <= by_cluster
    assert "unclustered / novel" in set(picked["reason"])
    assert "representative of cluster 0" in set(picked["reason"])
    assert "small cluster" in set(picked["reason"])  # cluster 3 is too small to earn a pick
    reps = picked[picked["reason"] == "representative of cluster 0"]
    central = clusters[clusters["cluster"] == 0].assign(d=lambda t: (t.x - t.x.mean()) ** 2)
    assert reps["trace_id"].iloc[0] in set(central.nsmallest(10, "d")["trace_id"])


def test_stratified_is_deterministic() -> None:
    frame = traces(100)
    clusters = clusters_for(frame, {0: 60, 1: 30, -1: 10})
    assert sample(frame, 25, clusters=clusters).equals(sample(frame, 25, clusters=clusters))


def test_asking_for_more_than_there_is_returns_everything_once() -> None:
    frame = traces(30)
    clusters = clusters_for(frame, {0: 20, 1: 10})
    picked = sample(frame, 500, clusters=clusters)
    assert sorted(picked["trace_id"]) == sorted(frame["trace_id"])


def test_traces_missing_from_the_clusters_can_still_be_picked() -> None:
    frame = traces(40)
    clusters = clusters_for(frame.iloc[:30], {0: 20, 1: 10})
    picked = sample(frame, 40, clusters=clusters)
    assert len(picked) == 40
    assert picked.set_index("trace_id").loc["t035", "cluster"] is pd.NA


@pytest.mark.parametrize("n", [0, 5])
def test_empty_tables_and_zero_n_give_empty_samples(n: int) -> None:
    empty = traces(0)
    assert sample(empty, n).empty
    assert list(sample(traces(), 0).columns) == ["trace_id", "reason", "cluster"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"n": 2.5}, "n must be"),
        ({"n": 3, "strategy": "clever"}, "strategy"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample(traces(), **kwargs)


def test_repeated_ids_and_bad_clusters_are_refused() -> None:
    frame = traces(5)
    frame.loc[4, "trace_id"] = "t000"
    with pytest.raises(ValueError, match="'t000'"):
        sample(frame, 2)
    with pytest.raises(ValueError, match="cluster"):
        sample(traces(5), 2, clusters=pd.DataFrame({"trace_id": ["t000"]}))


def test_works_on_a_bare_table_with_unicode_ids() -> None:
    frame = pd.DataFrame({"trace_id": ["é", "😀", "注文"], "output": ["a", "b", "c"]})
    assert sorted(sample(frame, 3)["trace_id"]) == sorted(["é", "😀", "注文"])


@pytest.mark.parametrize(
    ("feedback", "negative"),
    [
        ([{"name": "thumb", "value": "down"}], True),
        ([{"name": "thumb", "value": "Down"}], True),
        ([{"name": "thumb", "value": "up"}], False),
        ([{"name": "score", "value": 0}], True),
        ([{"name": "score", "value": 0.8}], False),
        ([{"name": "ok", "value": False}], True),
        ([{"name": "ok", "value": True}], False),
        ([{"name": "score", "value": float("nan")}], False),
        (None, False),
        ([], False),
    ],
)
def test_negative_feedback(feedback: Any, negative: bool) -> None:
    assert is_negative_feedback(feedback) is negative


def test_tool_results_reporting_errors_count_as_errors() -> None:
    frame = traces(20).drop(columns=["error"])
    frame["tool_calls"] = [[] for _ in range(20)]
    frame.at[11, "tool_calls"] = [
        {"name": "lookup", "arguments": "{}", "result": '{"error": "invalid_arguments"}'}
    ]
    picked = sample(frame, 8)
    assert "t011" in set(picked.loc[picked["reason"] == "error", "trace_id"])
