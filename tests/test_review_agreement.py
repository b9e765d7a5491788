"""Agreement figures equal scikit-learn's and krippendorff's on the same ratings, edge cases too."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    ws_fixture,
)

from workbench.review import (
    adjudicate,
    agreement,
    agreement_from_labels,
    band,
    ratings,
    raw_agreement,
)
from workbench.workspace import Workspace

MODES = ["invented_policy", "wrong_tool", "tone"]


def labels_frame(rows: list[tuple[str, str, str | None, list[str]]]) -> pd.DataFrame:
    """Labels as ws.labels() gives them: (trace_id, annotator, verdict, failure_modes)."""
    return pd.DataFrame(
        {
            "trace_id": [r[0] for r in rows],
            "annotator": [r[1] for r in rows],
            "verdict": pd.Series([r[2] for r in rows], dtype=object),
            "note": None,
            "failure_modes": pd.Series([list(r[3]) for r in rows], dtype=object),
            "labelled_at": pd.Timestamp("2026-11-16", tz="UTC"),
        }
    )


def random_labels(seed: int) -> tuple[pd.DataFrame, list[str]]:
    """2-5 annotators, 4-40 traces, each reviewed or not at random, random verdicts and tags."""
    rng = np.random.default_rng(seed)
    people = [f"p{i}" for i in range(rng.integers(2, 6))]
    rows = []
    for t in range(rng.integers(4, 41)):
        for person in people:
            if rng.random() < 0.3:
                continue  # not reviewed by this person
            verdict = "fail" if rng.random() < 0.45 else "pass"
            modes = [m for m in MODES if verdict == "fail" and rng.random() < 0.5]
            rows.append((f"t{t}", person, verdict, modes))
    return labels_frame(rows), people


def library_matrix(labels: pd.DataFrame, item: str, people: list[str]) -> np.ndarray:
    """The annotators x traces matrix, built here independently of the workbench."""
    traces = sorted(set(labels["trace_id"]))
    matrix = np.full((len(people), len(traces)), np.nan)
    for row in labels.itertuples():
        if row.verdict is None or row.annotator not in people:
            continue
        value = (row.verdict == "fail") if item == "verdict" else (item in row.failure_modes)
        matrix[people.index(row.annotator), traces.index(row.trace_id)] = float(value)
    return matrix


def library_kappa(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns, then returns NaN, on one class
        return float(cohen_kappa_score(a[both], b[both]))


def library_alpha(matrix: np.ndarray) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 0/0 inside the library gives NaN
            return float(
                krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
            )
    except ValueError:  # one value in the domain, or no unit rated twice
        return math.nan


def same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


# Against the libraries --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(25))
def test_random_label_sets_match_sklearn_and_krippendorff(seed: int) -> None:
    labels, people = random_labels(seed)
    table = agreement_from_labels(labels, MODES)
    assert list(table.index) == ["verdict", *MODES]
    for item in table.index:
        matrix = library_matrix(labels, item, people)
        row = table.loc[item]
        pairs = row["kappa_pairs"]
        assert list(pairs) == list(itertools.combinations(people, 2))
        for (a, b), kappa in pairs.items():
            expected = library_kappa(matrix[people.index(a)], matrix[people.index(b)])
            assert same(kappa, expected), (item, a, b)
        assert same(row["alpha"], library_alpha(matrix)), item
        assert row["n_overlap"] == int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum())
        assert row["band"] == band(row["alpha"])


def test_the_ratings_matrix_is_the_one_the_libraries_get() -> None:
    labels, people = random_labels(3)
    for item in ["verdict", *MODES]:
        ours = ratings(labels, item, people).to_numpy()
        np.testing.assert_array_equal(ours, library_matrix(labels, item, people))


def test_a_constructed_case_with_known_values() -> None:
    # ana and bob on 10 traces: they agree on 8 (4 fail, 4 pass) and differ on 2.
    answers = [("fail", "fail")] * 4 + [("pass", "pass")] * 4 + [("fail", "pass"), ("pass", "fail")]
    rows = []
    for t, (a, b) in enumerate(answers):
        rows += [(f"t{t}", "ana", a, []), (f"t{t}", "bob", b, [])]
    row = agreement_from_labels(labels_frame(rows), []).loc["verdict"]
    assert row["kappa_pairs"] == {("ana", "bob"): pytest.approx(0.6)}  # (0.8 - 0.5) / 0.5
    # alpha, nominal: 1 - (n - 1) * (disagreeing pairs in the coincidence matrix) / (n_fail *
    # n_pass * 2), with n = 20 values, 10 of each class, and 2 units giving 2 disagreeing pairs
    assert row["alpha"] == pytest.approx(1 - (20 - 1) * 4 / (10 * 10 * 2))  # 0.62
    assert row["raw_agreement"] == pytest.approx(0.8)
    assert (row["n_overlap"], row["n_annotators"], row["band"], row["note"]) == (
        10,
        2,
        "substantial",
        "",
    )


def test_perfect_agreement_is_almost_perfect() -> None:
    rows = [(f"t{t}", who, v, []) for t, v in enumerate(["fail", "pass"] * 3) for who in "ab"]
    row = agreement_from_labels(labels_frame(rows), []).loc["verdict"]
    assert (row["kappa_mean"], row["alpha"], row["raw_agreement"]) == (1.0, 1.0, 1.0)
    assert row["band"] == "almost perfect"


# Edge cases ---------------------------------------------------------------------------------


def test_one_class_only_is_undefined_with_a_note_and_raw_agreement() -> None:
    rows = [(f"t{t}", who, "fail", ["tone"]) for t in range(6) for who in ("ana", "bob")]
    labels = labels_frame(rows)
    table = agreement_from_labels(labels, ["tone"])
    matrix = library_matrix(labels, "verdict", ["ana", "bob"])
    with pytest.raises(ValueError, match="more than one value"):
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    with pytest.warns(UserWarning):
        assert math.isnan(cohen_kappa_score(matrix[0], matrix[1]))
    for item, said in (("verdict", "fail"), ("tone", "tagged")):
        row = table.loc[item]
        assert math.isnan(row["alpha"]) and math.isnan(row["kappa_pairs"][("ana", "bob")])
        assert math.isnan(row["kappa_mean"])
        assert row["raw_agreement"] == 1.0 and row["n_overlap"] == 6
        assert row["band"] == "undefined"
        assert f"everyone said '{said}' on all 6 shared traces" in row["note"]


def test_no_overlap_gives_zero_shared_traces_and_a_note() -> None:
    rows = [("t0", "ana", "fail", []), ("t1", "ana", "pass", []), ("t2", "bob", "fail", [])]
    labels = labels_frame(rows)
    row = agreement_from_labels(labels, []).loc["verdict"]
    with pytest.raises(ValueError, match="at least two coders"):
        krippendorff.alpha(
            reliability_data=library_matrix(labels, "verdict", ["ana", "bob"]),
            level_of_measurement="nominal",
        )
    assert row["n_overlap"] == 0
    assert math.isnan(row["alpha"]) and math.isnan(row["raw_agreement"])
    assert math.isnan(row["kappa_pairs"][("ana", "bob")])
    assert row["note"] == "no trace was reviewed by two or more of ana, bob"


def test_a_missing_annotator_is_an_error_naming_them() -> None:
    labels = labels_frame([("t0", "ana", "fail", []), ("t0", "bob", "pass", [])])
    with pytest.raises(KeyError, match=r"\['zoe'\].*\['ana', 'bob'\]"):
        agreement_from_labels(labels, [], annotators=["ana", "zoe"])
    with pytest.raises(TypeError, match="list of names"):
        agreement_from_labels(labels, [], annotators="ana")


def test_one_annotator_only() -> None:
    labels = labels_frame([("t0", "ana", "fail", ["tone"]), ("t1", "ana", "pass", [])])
    table = agreement_from_labels(labels, ["tone"])
    for item in ("verdict", "tone"):
        row = table.loc[item]
        assert row["kappa_pairs"] == {} and row["n_overlap"] == 0 and row["n_annotators"] == 1
        assert math.isnan(row["alpha"]) and math.isnan(row["kappa_mean"])
        assert row["note"] == "only one annotator (ana): agreement needs two or more people"


def test_nobody_reviewed_anything() -> None:
    labels = labels_frame([("t0", "ana", None, ["tone"])])  # a tag without a verdict
    row = agreement_from_labels(labels, ["tone"]).loc["tone"]
    assert row["n_annotators"] == 0 and row["note"] == "nobody has reviewed a trace yet"


def test_a_pair_without_shared_traces_is_named_in_the_note() -> None:
    rows = [
        *[(f"t{t}", "ana", v, []) for t, v in enumerate(["fail", "pass", "fail"])],
        *[(f"t{t}", "bob", v, []) for t, v in enumerate(["fail", "pass", "pass"])],
        ("t9", "carl", "fail", []),
        ("t9", "ana", "fail", []),
    ]
    row = agreement_from_labels(labels_frame(rows), []).loc["verdict"]
    assert math.isnan(row["kappa_pairs"][("bob", "carl")])
    assert "bob/carl" in row["note"] and "ana/carl" in row["note"]  # ana-carl: one class
    assert not math.isnan(row["kappa_mean"])  # the mean is over the defined pairs


def test_failure_modes_count_only_on_reviewed_traces() -> None:
    rows = [
        ("t0", "ana", "fail", ["tone"]),
        ("t0", "bob", "fail", ["tone"]),
        ("t1", "ana", "pass", []),
        ("t1", "bob", None, ["tone"]),  # bob tagged t1 but gave no verdict: not reviewed
    ]
    row = agreement_from_labels(labels_frame(rows), ["tone"]).loc["tone"]
    assert row["n_overlap"] == 1 and row["raw_agreement"] == 1.0


def test_items_and_traces_restrict_the_table() -> None:
    labels, _ = random_labels(5)
    table = agreement_from_labels(labels, MODES, items=["tone"], traces=["t0", "t1", "t2"])
    assert list(table.index) == ["tone"]
    assert table.loc["tone", "n_overlap"] <= 3
    with pytest.raises(KeyError, match=r"\['nope'\].*'verdict'"):
        agreement_from_labels(labels, MODES, items=["nope"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-0.01, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.21, "fair"),
        (0.4, "fair"),
        (0.41, "moderate"),
        (0.6, "moderate"),
        (0.61, "substantial"),
        (0.8, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
        (math.nan, "undefined"),
    ],
)
def test_landis_koch_bands(value: float, expected: str) -> None:
    assert band(value) == expected


def test_raw_agreement_counts_pairs_of_people() -> None:
    shared = pd.DataFrame({"t0": [1.0, 1.0, 0.0], "t1": [0.0, 0.0, np.nan]})
    assert raw_agreement(shared) == pytest.approx(2 / 4)  # t0: 1 of 3 pairs, t1: 1 of 1


# Through the workspace ----------------------------------------------------------------------


def _label(ws: Workspace, who: str, trace_id: str, verdict: str, *modes: str) -> None:
    ws.label(trace_id, verdict, annotator=who)
    for mode in modes:
        ws.tag(trace_id, mode, annotator=who)


def test_workspace_agreement_matches_the_libraries(ws: Workspace) -> None:
    ws.add_traces(make_traces(7, start=5))
    script: dict[str, list[tuple[str, ...]]] = {
        "ana": [("fail", "tone"), ("pass",), ("fail", "tone"), ("fail",), ("pass",), ("fail",)],
        "bob": [("fail", "tone"), ("pass",), ("pass",), ("fail", "tone"), ("pass",), ("fail",)],
        "carl": [("fail",), ("fail", "tone"), ("pass",), ("fail",)],
    }
    for who, answers in script.items():
        for t, (verdict, *modes) in enumerate(answers):
            _label(ws, who, f"t{t}", verdict, *modes)
    table = agreement(ws)
    labels = ws.labels()
    people = ["ana", "bob", "carl"]
    for item in ("verdict", "tone"):
        matrix = library_matrix(labels, item, people)
        assert same(table.loc[item, "alpha"], library_alpha(matrix))
        for (a, b), kappa in table.loc[item, "kappa_pairs"].items():
            assert same(kappa, library_kappa(matrix[people.index(a)], matrix[people.index(b)]))


def test_adjudication_does_not_change_agreement(ws: Workspace) -> None:
    _label(ws, "ana", "t0", "fail", "tone")
    _label(ws, "bob", "t0", "pass")
    _label(ws, "ana", "t1", "pass")
    _label(ws, "bob", "t1", "pass")
    before = agreement(ws)
    adjudicate(ws, "t0", "fail", ["tone"], lead="ana")  # the lead is also a reviewer
    after = agreement(ws)
    pd.testing.assert_frame_equal(before, after)
    assert list(after.columns) == [
        "kappa_pairs", "kappa_mean", "alpha", "raw_agreement", "n_overlap", "n_annotators",
        "band", "note",
    ]  # fmt: skip


def test_renamed_and_merged_modes_are_measured_under_their_new_names(ws: Workspace) -> None:
    _label(ws, "ana", "t0", "fail", "rude")
    _label(ws, "bob", "t0", "fail", "impolite")
    before: Any = agreement(ws).loc["rude", "raw_agreement"]
    assert before == 0.0
    ws.merge(["rude", "impolite"], into="tone", annotator="ana")
    table = agreement(ws)
    assert list(table.index) == ["verdict", "tone"]
    assert table.loc["tone", "raw_agreement"] == 1.0
