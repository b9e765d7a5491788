"""Simulated reviewers stand in for people on the sample data, through the public API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from workbench.demo import ground_truth, simulate_reviews


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    return wb.load_traces(
        Path(__file__).parents[1] / "sample_data" / "traces.jsonl"
    ), ground_truth()


def test_a_perfect_reviewer_reproduces_the_ground_truth(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    traces, truth = sample
    ws = wb.open_workspace(tmp_path / "ws")
    ws.add_traces(traces)
    ids = truth["trace_id"].head(150).tolist()
    assert simulate_reviews(ws, ids, "ana", truth=truth, error_rate=0.0) == 150
    labelled = ws.traces().set_index("trace_id").loc[ids]
    expected = truth.set_index("trace_id").loc[ids]
    assert (labelled["verdict"] == expected["failed"].map({True: "fail", False: "pass"})).all()
    assert [sorted(m) for m in labelled["failure_modes"]] == [
        sorted(m) for m in expected["failure_modes"]
    ]
    assert labelled.loc[expected["failed"], "note"].map(bool).all()


def test_mistakes_follow_the_error_rate_and_the_seed(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    traces, truth = sample
    ids = truth["trace_id"].tolist()
    views = []
    for name in ("a", "b"):
        ws = wb.open_workspace(tmp_path / name)
        ws.add_traces(traces)
        simulate_reviews(ws, ids, "bob", truth=truth, error_rate=0.1, seed=3)
        views.append(ws.traces().set_index("trace_id").loc[ids, "verdict"])
    assert views[0].equals(views[1])
    wrong = (views[0] == "fail") != truth.set_index("trace_id").loc[ids, "failed"]
    assert 0.06 < wrong.mean() < 0.14


def test_unknown_trace_and_bad_rate(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    _, truth = sample
    ws = wb.open_workspace(tmp_path / "ws")
    with pytest.raises(KeyError, match="nope"):
        simulate_reviews(ws, ["nope"], "ana", truth=truth)
    with pytest.raises(ValueError, match="error_rate"):
        simulate_reviews(ws, [], "ana", truth=truth, error_rate=2)
