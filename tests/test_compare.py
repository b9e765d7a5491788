"""Week over week: periods, structure, clusters, failure-mode rates, taxonomy, rendering."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from embed_fixtures import (  # noqa: F401 (fixtures are found by name)
    minilm_fixture,
    sample_traces_fixture,
)

import workbench as wb
from workbench.compare import (
    PeriodComparison,
    PeriodWarning,
    compare_periods,
    last_and_this,
    split_periods,
)
from workbench.compare.drift import cluster_status
from workbench.compare.stats import cohen_h, numbers_moved, share_moved, share_p
from workbench.demo import ground_truth, simulate_reviews
from workbench.embed import SentenceTransformerEmbedder
from workbench.evalgen.candidate import Candidate, Metrics, Provenance
from workbench.suite import Suite
from workbench.workspace import Workspace

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:umap", "ignore::DeprecationWarning:numba"
)

SEEDED = {"overlong_reply": "up", "malformed_tool_args": "down"}
"""The failure modes whose rate the sample's prompt change moved, and which way."""

SCRIPT = "<script>alert(1)</script>"


def mini(ids: list[str], output: str = "ok", **columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"trace_id": ids, "input": "hi", "output": output, **columns})


@pytest.fixture(name="weeks", scope="module")
def weeks_fixture(sample_traces: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return last_and_this(sample_traces)


@pytest.fixture(name="reviewed", scope="module")
def reviewed_fixture(
    sample_traces: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """Every sample trace reviewed by a simulated annotator (3% errors), then reorganised."""
    ws = wb.open_workspace(tmp_path_factory.mktemp("reviewed"))
    ws.add_traces(sample_traces)
    simulate_reviews(ws, sample_traces["trace_id"], "ana", error_rate=0.03)
    ws.rename("dismissive_tone", "curt_tone", annotator="lea")
    this_week = sample_traces["trace_id"].iloc[-1]
    ws.tag(this_week, SCRIPT, annotator="lea")
    yield ws
    ws.close()


@pytest.fixture(name="comparison", scope="module")
def comparison_fixture(
    weeks: tuple[pd.DataFrame, pd.DataFrame],
    reviewed: Workspace,
    minilm: SentenceTransformerEmbedder,
) -> PeriodComparison:
    # The run's shared cache: the demo and notebook tests embed the same sample traces.
    return compare_periods(*weeks, workspace=reviewed, embedder=minilm, show_progress=False)


# Periods ------------------------------------------------------------------------------------


def test_split_periods_cuts_utc_iso_weeks_in_time_order(sample_traces: pd.DataFrame) -> None:
    periods = split_periods(sample_traces.iloc[::-1])
    assert [(p.attrs["period"], len(p)) for p in periods] == [("2026-W45", 594), ("2026-W46", 606)]
    truth = ground_truth().set_index("trace_id")["week"]
    assert set(truth[periods[0]["trace_id"]]) == {1}
    assert len(split_periods(sample_traces, by="day")) == 14


def test_split_periods_by_a_metadata_key_or_a_column(sample_traces: pd.DataFrame) -> None:
    by_prompt = split_periods(sample_traces, by="prompt_version")
    assert [p.attrs["period"] for p in by_prompt] == ["v12", "v13"]
    assert [len(p) for p in by_prompt] == [594, 606]
    assert {p.attrs["period"] for p in split_periods(sample_traces, by="model")} == {
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-mini",
    }
    with pytest.raises(ValueError, match="cannot split by 'colour'"):
        split_periods(sample_traces, by="colour")


def test_traces_without_a_timestamp_are_left_out_with_a_warning() -> None:
    stamps = pd.to_datetime(["2026-11-02", None, "2026-11-10"], utc=True)
    traces = mini(["a", "b", "c"], timestamp=stamps)
    with pytest.warns(PeriodWarning, match="1 of 3 traces have no 'week'"):
        last, this = last_and_this(traces)
    assert (last["trace_id"].tolist(), this["trace_id"].tolist()) == (["a"], ["c"])


def test_last_and_this_needs_two_periods() -> None:
    traces = mini(["a"], timestamp=pd.to_datetime(["2026-11-02"], utc=True))
    with pytest.raises(
        ValueError, match="need two periods by 'week' to compare; the traces have 2026-W45"
    ):
        last_and_this(traces)


@pytest.mark.parametrize("empty", ["last_week", "this_week"])
def test_an_empty_period_is_refused_by_name(empty: str) -> None:
    periods = {"last_week": mini(["a"]), "this_week": mini(["b"])}
    periods[empty] = periods[empty].iloc[:0]
    with pytest.raises(ValueError, match=f"^{empty} has no traces"):
        compare_periods(**periods, semantic=False)


def test_traces_in_both_periods_or_repeated_are_refused() -> None:
    with pytest.raises(ValueError, match="1 traces are in both periods: 'b'"):
        compare_periods(mini(["a", "b"]), mini(["b", "c"]), semantic=False)
    with pytest.raises(ValueError, match="this_week repeats trace ids: 'c'"):
        compare_periods(mini(["a"]), mini(["c", "c"]), semantic=False)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        compare_periods(mini(["a"]), mini(["c"]), semantic=False, alpha=5)


# Statistics ---------------------------------------------------------------------------------


def test_shares_use_fisher_when_counts_are_small_and_z_otherwise() -> None:
    assert share_moved(0, 300, 4, 300).test == "Fisher exact"
    assert share_p(0, 300, 4, 300) == pytest.approx(0.1241, abs=1e-3)
    moved = share_moved(90, 100, 70, 100)
    assert moved.test == "two-proportion z" and moved.p_value == pytest.approx(0.0004, abs=1e-4)
    assert math.isnan(share_p(1, 0, 1, 10))
    assert cohen_h(0.02, 0.064) == pytest.approx(0.228, abs=1e-3)


def test_numbers_compare_the_whole_distribution_and_the_tail() -> None:
    rng = np.random.default_rng(0)
    same = numbers_moved(rng.normal(size=400), rng.normal(size=400))
    assert same.p_value > 0.05 and abs(same.effect) < 0.1
    tail = numbers_moved(
        np.r_[np.zeros(380), np.ones(20)], np.r_[np.zeros(340), np.ones(60) * 5], "p95"
    )
    assert tail.test == "share above last p95" and tail.p_value < 0.001
    assert numbers_moved([1, 1, 1], [1, 1], "mean").p_value == 1.0
    with pytest.raises(ValueError, match="statistic must be"):
        numbers_moved([1.0], [2.0], "max")


def test_cluster_status_needs_significance_and_a_minimum_size() -> None:
    assert cluster_status(0, 30, True, 5) == "appeared"
    assert cluster_status(30, 2, True, 5) == "disappeared"
    assert cluster_status(10, 30, True, 5) == "grew"
    assert cluster_status(0, 30, False, 5) == "stable"


# Structure ----------------------------------------------------------------------------------


def test_structure_shows_the_prompt_version_and_longer_replies(
    weeks: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    table = compare_periods(*weeks, semantic=False).structure.set_index(["metric", "statistic"])
    prompt = table.loc[("prompt_version: v13", "share")]
    assert (prompt["last"], prompt["this"], prompt["flag"]) == (0.0, 1.0, True)
    for statistic in ("median", "p95"):
        longest = table.loc[("longest reply length (chars)", statistic)]
        assert longest["this"] > longest["last"] and longest["flag"], statistic
    malformed = table.loc[("traces with malformed tool arguments (of traces with calls)", "share")]
    assert malformed["this"] < malformed["last"] and malformed["flag"]
    assert not table.loc[("channel: web", "share")]["flag"]
    assert {"user language: de", "reply language: en", "traces calling get_policy"} <= {
        m for m, _ in table.index
    }


def test_structure_reads_json_replies_errors_and_token_totals() -> None:
    last = mini(["a", "b"], output=['{"ok": true}', "plain"], error=[None, "boom"],
                tokens=[{"prompt": 3, "completion": 2}, {"total": 9}])  # fmt: skip
    this = mini(["c", "d"], output=['{"ok": tru', '```json\n{"a": 1}\n```'], error=[None, None],
                tokens=[{"total": 4}, {"total": 6}])  # fmt: skip
    table = compare_periods(last, this, semantic=False).structure.set_index("metric")
    assert table.loc["replies that are JSON", ["last", "this"]].tolist() == [0.5, 1.0]
    assert table.loc["JSON replies that parse", ["last", "this"]].tolist() == [1.0, 0.5]
    assert table.loc["traces with an error", ["last", "this"]].tolist() == [0.5, 0.0]
    assert table.loc["tokens"].iloc[0][["last", "this"]].tolist() == [7.0, 5.0]
    assert "longest reply length (chars)" not in table.index  # one reply each: same as final


# Failure modes, summary, taxonomy, clusters (real model, all sample traces) -----------------


@pytest.mark.slow
def test_the_seeded_failure_modes_move_significantly(comparison: PeriodComparison) -> None:
    rates = comparison.failure_modes
    labels = rates[rates["source"] == "labels"].set_index("failure_mode")
    moved = labels[labels["significant"]]
    assert dict(zip(moved.index, moved["direction"], strict=True)) == SEEDED
    overlong = labels.loc["overlong_reply"]
    assert overlong["last_low"] < overlong["last"] < overlong["last_high"] < overlong["this"]
    assert labels.loc["malformed_tool_args", "n_last"] == 594


@pytest.mark.slow
def test_the_summary_leads_with_the_seeded_modes(comparison: PeriodComparison) -> None:
    summary = comparison.summary()
    assert set(summary["item"].iloc[:2]) == set(SEEDED)
    assert (summary["section"].iloc[:2] == "failure modes").all()
    assert "prompt_version: v13" in set(summary["item"])
    assert "overlong_reply up" in repr(comparison)


@pytest.mark.slow
def test_cluster_shares_sum_to_one_per_period(comparison: PeriodComparison) -> None:
    clusters = comparison.clusters
    assert clusters["share_last"].sum() == pytest.approx(1.0)
    assert clusters["share_this"].sum() == pytest.approx(1.0)
    assert (clusters["n_last"].sum(), clusters["n_this"].sum()) == (594, 606)
    assert set(clusters["status"]) <= {"grew", "shrank", "appeared", "disappeared", "stable"}
    traces = comparison.traces
    assert traces["period"].value_counts().to_dict() == {"this": 606, "last": 594}
    malformed = ground_truth().query("failure_modes.str.len() > 0")
    bad = malformed[malformed["failure_modes"].map(lambda m: "malformed_tool_args" in m)]
    home = traces[traces["trace_id"].isin(bad["trace_id"])]["cluster"].mode()[0]
    assert clusters.set_index("cluster").loc[home, "change"] < 0  # its cluster shrank


@pytest.mark.slow
def test_taxonomy_lists_renames_and_new_modes(comparison: PeriodComparison) -> None:
    taxonomy = comparison.taxonomy.set_index("failure_mode")
    assert taxonomy.loc["curt_tone", "change"].tolist() == ["renamed", "kept"]
    assert taxonomy.loc["curt_tone"].iloc[0]["was"] == "dismissive_tone"
    assert taxonomy.loc[SCRIPT, "change"] == "new"
    assert (taxonomy.loc["overlong_reply", ["last", "this"]] > 0).all()


@pytest.mark.slow
def test_html_and_plot_escape_every_text(comparison: PeriodComparison) -> None:
    page = comparison._repr_html_()
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert "overlong_reply" in page and "2026-W46" in page
    figure = comparison.plot()
    labels = [str(y) for trace in figure.data for y in (trace.y or ()) if y is not None]
    assert any("overlong_reply" in label for label in labels)
    assert not any("<script" in label for label in labels)


# Evals, and what is missing ---------------------------------------------------------------


def eval_candidate(
    eval_id: str, spec: dict[str, Any], mode: str, traces: pd.DataFrame
) -> Candidate:
    """An assertion with its alignment measured against the ground truth of 300 traces."""
    prov = Provenance(mode, "mined:test", "2026-11-20T10:00:00Z")
    check = Candidate(eval_id, "assertion", spec, "", prov)
    test = traces.iloc[::4]
    truth = ground_truth().set_index("trace_id").loc[test["trace_id"], "failure_modes"]
    human = truth.map(lambda modes: mode in modes).to_numpy()
    flagged = ~check.run(test).reindex(test["trace_id"]).to_numpy(dtype=bool)
    counts = [int((human & flagged).sum()), int((~human & flagged).sum()),
              int((~human & ~flagged).sum()), int((human & ~flagged).sum())]  # fmt: skip
    return Candidate(eval_id, "assertion", spec, "", prov, {"test": Metrics("test", *counts)})


def test_suite_rates_are_corrected_and_flagged(
    sample_traces: pd.DataFrame, weeks: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    suite = Suite(tmp_path / "evals")
    specs = {
        "long-reply": ({"type": "max_length", "field": "replies", "value": 1200}, "overlong_reply"),
        "args-json": ({"type": "json_valid", "field": "tool_args"}, "malformed_tool_args"),
    }
    for eval_id, (spec, mode) in specs.items():
        suite.add(eval_candidate(eval_id, spec, mode, sample_traces))
    results = suite.run(sample_traces, progress=False)
    found = compare_periods(*weeks, suite_results=results, suite=suite, semantic=False)
    rates = found.failure_modes.set_index("failure_mode")
    for mode, direction in SEEDED.items():
        row = rates.loc[mode]
        assert row["source"].startswith("eval ") and row["direction"] == direction
        assert row["method"] == "Rogan-Gladen, bootstrap"
        assert row["last_low"] <= row["last"] <= row["last_high"]
    plain = compare_periods(*weeks, suite_results=results[["trace_id", "eval", "passed"]],
                            suite={"long-reply": "too_long"}, semantic=False)  # fmt: skip
    modes = plain.failure_modes.set_index("failure_mode")
    assert modes.loc["too_long", "method"] == "raw, Wilson"
    assert modes.loc["args-json", "significant"]  # no mapping: the eval id names the mode


def test_without_workspace_or_labels_the_rates_are_empty_with_a_note(
    weeks: tuple[pd.DataFrame, pd.DataFrame], sample_traces: pd.DataFrame, tmp_path: Path
) -> None:
    alone = compare_periods(*weeks, semantic=False)
    assert alone.failure_modes.empty and alone.taxonomy.empty and alone.clusters.empty
    assert any("no workspace" in note for note in alone.notes)
    assert len(alone.traces) == 1200 and alone.traces["cluster"].isna().all()
    with wb.open_workspace(tmp_path / "ws") as ws:
        ws.add_traces(sample_traces)
        unlabelled = compare_periods(*weeks, workspace=ws, semantic=False)
    assert unlabelled.failure_modes.empty and unlabelled.taxonomy.empty
    assert "2026-W45: 0 of 594 traces reviewed" in unlabelled.notes
    assert any("no failure-mode rates" in note for note in unlabelled.notes)
    assert "Nothing to show" in unlabelled._repr_html_()
    notes = [a.text for a in unlabelled.plot().layout.annotations]
    assert {"no labels or eval results", "no clustering"} <= set(notes)


def test_periods_concatenate_back_into_the_table(sample_traces: pd.DataFrame) -> None:
    # Regression: periods kept the loader's attrs (a DataFrame), and pandas refused to concat.
    both = pd.concat(split_periods(sample_traces))
    assert sorted(both["trace_id"]) == sorted(sample_traces["trace_id"])
