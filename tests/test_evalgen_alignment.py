"""Splits, agreement metrics, tables, disagreements and corrected prevalence."""

from __future__ import annotations

import doctest
import importlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

import workbench.evalgen.prevalence as prev
from workbench.evalgen.alignment import (
    LabelSet,
    LowLabelCountWarning,
    Split,
    SplitPlan,
    alignment_table,
    confusion,
    confusion_matrix,
    disagreements,
    kappa,
    mcc,
    measure,
    split_labels,
)
from workbench.evalgen.candidate import Candidate, Metrics, Provenance


def _labels(n_fail: int, n_clean: int, prefix: str = "t") -> pd.Series:
    ids = [f"{prefix}{i:04d}" for i in range(n_fail + n_clean)]
    return pd.Series([True] * n_fail + [False] * n_clean, index=ids)


def _traces(failing: pd.Series) -> pd.DataFrame:
    """Failing traces say 'LEAK-1' in the output; clean ones do not."""
    outputs = [f"ref LEAK-{i}" if bad else "all good" for i, bad in enumerate(failing)]
    return pd.DataFrame(
        {"trace_id": failing.index, "input": "hi", "output": outputs, "messages": None}
    )


def _label_set(failing: pd.Series, plan: SplitPlan | None = None) -> LabelSet:
    return LabelSet("leak", failing, split_labels(failing, plan), _traces(failing))


LEAK = Candidate(
    "leak-regex",
    "assertion",
    {"type": "regex", "value": r"LEAK-\d+", "negate": True},
    "",
    Provenance("leak", "test", ""),
)


# ---------------------------------------------------------------- splits


def test_split_is_stratified_and_complete() -> None:
    failing = _labels(40, 160)
    split = split_labels(failing)
    assert [len(split.ids(n)) for n in ("train", "dev", "test")] == [80, 60, 60]
    for name, n_fail in (("train", 16), ("dev", 12), ("test", 12)):
        assert int(failing.loc[list(split.ids(name))].sum()) == n_fail
    everything = split.train + split.dev + split.test
    assert sorted(everything) == sorted(failing.index) and len(set(everything)) == 200


def test_split_is_fixed_by_seed_and_records_it() -> None:
    failing = _labels(20, 80)
    assert split_labels(failing) == split_labels(failing)
    other = split_labels(failing, SplitPlan(seed=1))
    assert other.seed == 1 and other.train != split_labels(failing).train
    custom = split_labels(failing, SplitPlan((0.5, 0.25, 0.25)))
    assert custom.fractions == (0.5, 0.25, 0.25) and len(custom.train) == 50


def test_more_labels_move_few_old_traces() -> None:
    before = split_labels(_labels(30, 270))
    more = pd.concat([_labels(30, 270), _labels(3, 27, prefix="new")])
    after = split_labels(more)
    moved = sum(
        1 for name in ("train", "dev", "test") for i in before.ids(name) if i not in after.ids(name)
    )
    assert moved < 30  # of 300; a fresh shuffle would move about two thirds


def test_tiny_classes_still_reach_train() -> None:
    split = split_labels(_labels(1, 3))
    assert "t0000" in split.train
    two = split_labels(_labels(2, 2))
    assert sum(i in two.train for i in ("t0000", "t0001")) >= 1


def test_split_rejects_duplicates_and_bad_plans() -> None:
    labels = pd.Series([True, False], index=["a", "a"])
    with pytest.raises(ValueError, match=r"duplicate trace ids.*'a'"):
        split_labels(labels)
    with pytest.raises(ValueError, match="sum to 1"):
        SplitPlan((0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="three shares"):
        SplitPlan((1.0, 0.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown split"):
        Split(0, (0.4, 0.3, 0.3), (), (), ()).ids("validation")


# ---------------------------------------------------------------- metrics


def test_confusion_counts_na_and_missing_ids_as_ungraded() -> None:
    labels = pd.Series([True, True, False, False, False], index=list("abcde"))
    passed = pd.Series([False, True, False, pd.NA], index=list("abcd"), dtype="boolean")
    m = confusion(passed, labels, "dev")
    assert (m.tp, m.fn, m.fp, m.tn, m.ungraded) == (1, 1, 1, 0, 2)
    assert m.split == "dev" and m.n == 3


def test_measure_a_candidate_and_predictions() -> None:
    labels = _label_set(_labels(40, 100))
    metrics = measure(LEAK, labels, "dev")
    assert (metrics.tpr, metrics.tnr, metrics.ungraded) == (1.0, 1.0, 0)
    always_pass = pd.Series(True, index=labels.failing.index, dtype="boolean")
    flat = measure(always_pass, labels, "test")
    assert flat.tpr == 0.0 and flat.tnr == 1.0 and mcc(flat) == 0.0


def test_low_label_count_warns_and_notes() -> None:
    labels = _label_set(_labels(12, 200))  # dev gets 4 failing labels
    with pytest.warns(LowLabelCountWarning, match=r"only 4 failing label\(s\) of 'leak' in dev"):
        measure(LEAK, labels, "dev")
    with pytest.warns(LowLabelCountWarning):
        table = alignment_table([LEAK], labels, "dev")
    assert table.loc[0, "warning"].startswith("only 4 failing")


def test_kappa_matches_sklearn_and_is_nan_when_undefined() -> None:
    m = Metrics("dev", tp=7, fp=3, tn=40, fn=2)
    human = [1] * 7 + [0] * 3 + [0] * 40 + [1] * 2
    check = [1] * 7 + [1] * 3 + [0] * 40 + [0] * 2
    assert kappa(m) == pytest.approx(cohen_kappa_score(human, check))
    assert math.isnan(kappa(Metrics("dev", 0, 0, 5, 0)))


def test_alignment_table_uses_stored_metrics() -> None:
    stored = Candidate(
        "stored",
        "judge",
        {"type": "judge", "prompt": "$trace"},
        "",
        Provenance("leak", "test", ""),
        {"dev": Metrics("dev", tp=9, fp=1, tn=80, fn=1, ungraded=2)},
    )
    table = alignment_table([stored], split="dev")
    row = table.iloc[0]
    assert list(table.columns) == [
        "candidate", "kind", "split", "n", "tp", "fp", "tn", "fn", "ungraded",
        "tpr", "tnr", "precision", "recall", "f1", "kappa", "warning",
    ]  # fmt: skip
    assert (row["n"], row["tpr"], row["recall"]) == (91, 0.9, 0.9)
    assert row["warning"] == "only 10 failing / 81 clean labels: unreliable" or row["warning"] == ""
    with pytest.raises(ValueError, match="stored has no test metrics"):
        alignment_table([stored], split="test")


def test_confusion_matrix_layout() -> None:
    matrix = confusion_matrix(Metrics("test", tp=5, fp=2, tn=90, fn=1))
    assert matrix.loc["humans: fail", "check: fail"] == 5
    assert matrix.loc["humans: fail", "check: pass"] == 1
    assert matrix.loc["humans: pass", "check: fail"] == 2


def test_disagreements_list_missed_failures_false_alarms_and_ungraded() -> None:
    failing = pd.Series([True, True, False, False], index=list("abcd"))
    traces = _traces(failing)
    passed = pd.Series([False, True, False, pd.NA], index=list("abcd"), dtype="boolean")
    found = disagreements(passed, traces, failing)
    assert found.set_index("trace_id")["disagreement"].to_dict() == {
        "b": "missed failure",
        "c": "false alarm",
        "d": "ungraded",
    }
    assert {"human", "check", "reason", "input", "output"} <= set(found.columns)
    labels = _label_set(_labels(40, 100))
    assert disagreements(LEAK, labels.traces, labels, "dev").empty
    with pytest.raises(TypeError, match="needs a LabelSet"):
        disagreements(passed, traces, failing, "dev")


# ---------------------------------------------------------------- prevalence


def test_rogan_gladen_by_hand() -> None:
    assert prev.corrected_rate(0.10, tpr=0.9, tnr=0.95) == pytest.approx(0.05 / 0.85)
    assert prev.corrected_rate(0.01, tpr=0.9, tnr=0.95) == 0.0  # clipped below
    assert prev.corrected_rate(0.99, tpr=0.9, tnr=0.95) == 1.0  # clipped above
    assert math.isnan(prev.corrected_rate(0.3, tpr=0.5, tnr=0.4))


def test_perfect_check_needs_no_correction() -> None:
    test = [True] * 10 + [False] * 40
    result = prev.estimate([True] * 3 + [False] * 97, test, test)
    assert (result.tpr, result.tnr) == (1.0, 1.0)
    assert result.raw == pytest.approx(0.03) and result.corrected == pytest.approx(0.03)
    assert result.low <= 0.03 <= result.high


def test_estimate_interval_and_validation() -> None:
    result = prev.estimate(
        [True] * 150 + [False] * 850,
        [True] * 50 + [False] * 150,
        [True] * 40 + [False] * 10 + [True] * 15 + [False] * 135,
        rounds=3000,
    )
    expected = (0.15 + 0.9 - 1) / (0.8 + 0.9 - 1)
    assert result.corrected == pytest.approx(expected)
    assert result.low < expected < result.high and result.high - result.low < 0.2
    with pytest.raises(ValueError, match="both failing and clean"):
        prev.estimate([True], [True, True], [True, False])
    with pytest.raises(ValueError, match="2 test labels but 1"):
        prev.estimate([True], [True, False], [True])


def test_prevalence_from_check_results_skips_ungraded() -> None:
    unlabelled = pd.Series([False, True, True, pd.NA] * 25, dtype="boolean")
    labels = pd.Series([True] * 10 + [False] * 30, index=[f"t{i}" for i in range(40)])
    test = pd.Series([False] * 10 + [True] * 30, index=labels.index, dtype="boolean")
    test.iloc[0] = pd.NA
    result = prev.estimate_prevalence(unlabelled, test, labels)
    assert result.n_unlabelled == 75 and result.n_test == 39
    assert result.raw == pytest.approx(1 / 3) and result.corrected == pytest.approx(1 / 3)


def test_matches_judgy() -> None:
    judgy = pytest.importorskip("judgy")
    rng = np.random.default_rng(3)
    human = rng.random(300) < 0.2
    flagged = np.where(human, rng.random(300) < 0.85, rng.random(300) < 0.07)
    unlabelled = rng.random(5000) < 0.18
    ours = prev.estimate(unlabelled, human, flagged, rounds=5000, resample_unlabelled=False)
    # judgy estimates the pass rate, with pass as its positive class
    np.random.seed(0)
    theta, low, high = judgy.estimate_success_rate(
        (~human).astype(int),
        (~flagged).astype(int),
        (~unlabelled).astype(int),
        bootstrap_iterations=5000,
    )
    assert ours.corrected == pytest.approx(1 - theta, abs=1e-12)
    assert ours.low == pytest.approx(1 - high, abs=0.015)
    assert ours.high == pytest.approx(1 - low, abs=0.015)
    wider = prev.estimate(unlabelled, human, flagged, rounds=5000)
    assert wider.high - wider.low >= ours.high - ours.low - 0.005


@pytest.mark.parametrize("module", ["workbench.evalgen.alignment", "workbench.evalgen.prevalence"])
def test_docstring_examples_run(module: str, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
