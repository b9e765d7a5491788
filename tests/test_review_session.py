"""Review sessions, disagreements, adjudication, the judge gate and the audit log."""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from collections.abc import Callable

import pandas as pd
import pytest
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    ws_fixture,
)

from workbench.review import (
    AgreementWarning,
    NotReadyError,
    adjudicate,
    assign,
    audit,
    disagreements,
    ensure_judge_ready,
    judge_readiness,
    open_review_session,
    review_session,
    review_sessions,
    settled_labels,
)
from workbench.workspace import Workspace

MakeWs = Callable[..., Workspace]
IDS = [f"t{i}" for i in range(100)]


# Assignment -------------------------------------------------------------------------------


def test_shared_traces_go_to_everyone_and_the_rest_is_split_evenly() -> None:
    shared, queues = assign(IDS, ["ana", "bob", "carl"], overlap=0.2)
    assert len(shared) == 20
    for queue in queues.values():
        assert queue[:20] == shared  # the shared part comes first
        assert len(set(queue)) == len(queue)
    own = [t for q in queues.values() for t in q[20:]]
    assert sorted(own + shared) == sorted(IDS)  # every trace once, the shared ones thrice
    assert sorted(len(q) for q in queues.values()) == [46, 47, 47]
    assert Counter(t for q in queues.values() for t in q)["t0"] in (1, 3)


def test_assignment_is_deterministic_by_seed_whatever_the_input_order() -> None:
    first = assign(IDS, ["ana", "bob"], 0.3, seed=4)
    assert assign(list(reversed(IDS)), ["ana", "bob"], 0.3, seed=4) == first
    assert assign(IDS, ["ana", "bob"], 0.3, seed=5) != first


@pytest.mark.parametrize(
    ("overlap", "per_person", "people", "expected_shared", "expected_sizes"),
    [
        (0.0, None, 2, 0, [50, 50]),
        (1.0, None, 3, 100, [100, 100, 100]),
        (0.2, None, 1, 0, [100]),  # one annotator: nothing to share
        (0.001, None, 2, 1, [51, 50]),  # a positive overlap shares at least one trace
        (0.2, 30, 3, 13, [30, 30, 30]),  # 64 traces fit: 13 shared + 3 x 17
        (0.5, 10, 2, 7, [10, 10]),
        (0.2, 1000, 2, 20, [60, 60]),  # more room than traces: all of them
    ],
)
def test_overlap_and_per_person(
    overlap: float,
    per_person: int | None,
    people: int,
    expected_shared: int,
    expected_sizes: list[int],
) -> None:
    annotators = ["ana", "bob", "carl"][:people]
    shared, queues = assign(IDS, annotators, overlap, per_person)
    assert len(shared) == expected_shared
    assert [len(q) for q in queues.values()] == expected_sizes
    if per_person is not None:
        assert max(len(q) for q in queues.values()) <= per_person


def test_a_session_is_stored_and_seen_from_another_notebook(ws: Workspace, make_ws: MakeWs) -> None:
    ws.add_traces(make_traces(15, start=5))
    ids = list(ws.traces()["trace_id"])
    session = review_session(ws, ids, ["ana", "bob"], overlap=0.25, name="week-46", seed=3)
    other = make_ws()  # the same workspace opened again, as a colleague's notebook would
    seen = open_review_session(other, "week-46")
    assert seen.queue("bob") == session.queue("bob")
    assert seen == session and seen.shared == session.shared and len(seen.shared) == 5
    assert set(seen.traces) == set(ids)
    assert open_review_session(other) == session  # the latest
    listed = review_sessions(other)
    assert listed[["name", "annotators", "traces", "shared"]].values.tolist() == [
        ["week-46", ["ana", "bob"], 20, 5]
    ]
    with pytest.raises(KeyError, match=r"'zoe' is not in review session 'week-46'.*'ana', 'bob'"):
        session.queue("zoe")
    with pytest.raises(KeyError, match=r"no review session named 'week-47'.*'week-46'"):
        open_review_session(other, "week-47")


def test_creating_a_session_again_returns_it_and_a_different_one_needs_replace(
    ws: Workspace,
) -> None:
    first = review_session(ws, IDS[:5], ["ana", "bob"], name="s", created_by="lead")
    assert first.created_by == "lead"
    again = review_session(ws, IDS[:5], ["ana", "bob"], name="s")
    assert again == first and again.created_at == first.created_at
    with pytest.raises(ValueError, match=r"a different review session named 's'.*replace=True"):
        review_session(ws, IDS[:5], ["ana", "carl"], name="s")
    replaced = review_session(ws, IDS[:5], ["ana", "carl"], name="s", replace=True)
    assert open_review_session(ws, "s").annotators == replaced.annotators == ("ana", "carl")


def test_session_arguments_are_checked(ws: Workspace) -> None:
    with pytest.raises(KeyError, match=r"1 trace id\(s\) not in the workspace.*'nope'"):
        review_session(ws, ["t0", "nope"], ["ana"])
    with pytest.raises(TypeError, match="not one id"):
        review_session(ws, "t0", ["ana"])
    with pytest.raises(TypeError, match="list of names"):
        review_session(ws, ["t0"], "ana")
    with pytest.raises(ValueError, match=r"more than once: \['ana'\]"):
        review_session(ws, ["t0"], ["ana", "ana"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        review_session(ws, ["t0"], ["ana"], overlap=20)
    with pytest.raises(ValueError, match="per_person"):
        review_session(ws, ["t0"], ["ana"], per_person=0)
    with pytest.raises(ValueError, match="at least one trace"):
        review_session(ws, [], ["ana"])
    with pytest.raises(KeyError, match="no review session in this workspace"):
        open_review_session(ws)


def test_progress_counts_verdicts_in_each_queue(ws: Workspace) -> None:
    session = review_session(ws, ws.traces(), ["ana", "bob"], overlap=0.4, name="s")
    ana = session.queue("ana")
    ws.label(ana[0], "fail", annotator="ana")
    ws.label(ana[1], "pass", annotator="ana")
    ws.tag(ana[2], "tone", annotator="ana")  # a tag alone is not a review
    ws.label(ana[0], "pass", annotator="carl")  # not in the session
    progress = session.progress()
    assert progress.values.tolist() == [
        ["ana", 4, 2, 2, 0.5],
        ["bob", 3, 0, 3, 0.0],
    ]


def test_session_agreement_uses_the_shared_traces_of_those_who_started(ws: Workspace) -> None:
    session = review_session(ws, ws.traces(), ["ana", "bob", "carl"], overlap=0.4, name="s")
    for who in ("ana", "bob"):
        for t in session.queue(who):
            ws.label(t, "fail", annotator=who)
    table = session.agreement()
    assert table.loc["verdict", "n_overlap"] == 2 and table.loc["verdict", "n_annotators"] == 2


# Disagreements and adjudication -------------------------------------------------------------


def _disagree(ws: Workspace) -> None:
    ws.label("t0", "fail", note="made up a rule", annotator="ana")
    ws.tag("t0", "invented_policy", annotator="ana")
    ws.label("t0", "pass", note="fine", annotator="bob")
    ws.label("t1", "fail", annotator="ana")
    ws.tag("t1", "invented_policy", annotator="ana")
    ws.label("t1", "fail", annotator="bob")
    ws.tag("t1", "wrong_tool", annotator="bob")
    ws.label("t2", "pass", annotator="ana")
    ws.label("t2", "pass", annotator="bob")
    ws.label("t3", "fail", annotator="ana")  # only ana: no disagreement possible


def test_disagreements_side_by_side(ws: Workspace) -> None:
    _disagree(ws)
    found = disagreements(ws)
    assert list(found.columns) == [
        "trace_id", "differ_on", "settled",
        "ana: verdict", "ana: failure_modes", "ana: note",
        "bob: verdict", "bob: failure_modes", "bob: note",
        "input", "output",
    ]  # fmt: skip
    assert found["trace_id"].tolist() == ["t0", "t1"]
    first = found.iloc[0]
    assert first["differ_on"] == ["verdict", "invented_policy"]
    assert (first["ana: verdict"], first["ana: failure_modes"], first["ana: note"]) == (
        "fail",
        ["invented_policy"],
        "made up a rule",
    )
    assert (first["bob: verdict"], first["bob: failure_modes"], first["bob: note"]) == (
        "pass",
        [],
        "fine",
    )
    assert first["input"].startswith("question 0")
    assert found.iloc[1]["differ_on"] == ["invented_policy", "wrong_tool"]
    assert disagreements(ws, "verdict")["trace_id"].tolist() == ["t0"]
    assert disagreements(ws, "wrong_tool")["trace_id"].tolist() == ["t1"]
    assert disagreements(ws, traces=["t1", "t2"])["trace_id"].tolist() == ["t1"]
    with pytest.raises(KeyError, match="no item named"):
        disagreements(ws, "nope")


def test_disagreements_of_an_empty_workspace(ws: Workspace) -> None:
    found = disagreements(ws)
    assert found.empty and list(found.columns) == [
        "trace_id", "differ_on", "settled", "input", "output"
    ]  # fmt: skip


def test_adjudication_appends_one_event_and_keeps_every_label(ws: Workspace) -> None:
    _disagree(ws)
    labels_before = ws.labels()
    count = len(ws.history())
    event = adjudicate(
        ws, "t0", "fail", ["invented_policy"], note="the rule is made up", lead="bob"
    )
    assert len(ws.history()) == count + 1
    assert (event.kind, event.annotator, event.trace_id) == ("label", "bob", "t0")
    assert event.payload == {
        "verdict": "fail",
        "failure_modes": ["invented_policy"],
        "note": "the rule is made up",
        "adjudication": True,
    }
    pd.testing.assert_frame_equal(ws.labels(), labels_before)  # bob's own "pass" is still there
    row = ws.traces().set_index("trace_id").loc["t0"]
    assert (row["verdict"], row["failure_modes"], row["note"], row["annotator"]) == (
        "fail",
        ["invented_policy"],
        "the rule is made up",
        "bob",
    )
    assert ws.traces(annotator="bob").set_index("trace_id").loc["t0", "verdict"] == "pass"
    assert disagreements(ws)["trace_id"].tolist() == ["t1"]
    settled = disagreements(ws, include_settled=True)
    assert settled[["trace_id", "settled"]].values.tolist() == [["t0", True], ["t1", False]]
    assert settled_labels(ws)[["trace_id", "annotator", "verdict"]].values.tolist() == [
        ["t0", "bob", "fail"]
    ]


def test_the_settled_label_wins_over_later_labels_until_undone(ws: Workspace) -> None:
    _disagree(ws)
    adjudicate(ws, "t1", "fail", ["wrong_tool"], lead="lead")
    ws.label("t1", "pass", annotator="ana")  # a later change of mind does not unsettle it
    assert ws.traces().set_index("trace_id").loc["t1", "failure_modes"] == ["wrong_tool"]
    counts = ws.failure_modes().set_index("name")["count"].to_dict()
    assert counts == {"wrong_tool": 1, "invented_policy": 0}  # t0: bob's latest, untagged
    assert ws.undo("lead") is not None
    assert ws.traces().set_index("trace_id").loc["t1", "verdict"] == "pass"  # latest again
    assert settled_labels(ws).empty


def test_reorganising_failure_modes_moves_the_settled_tags_too(ws: Workspace) -> None:
    _disagree(ws)
    adjudicate(ws, "t1", "fail", ["wrong_tool", "invented_policy"], lead="lead")
    ws.rename("wrong_tool", "bad_tool_call", annotator="ana")
    ws.split("invented_policy", {"made_up_refund": ["t1"]}, annotator="ana")
    assert settled_labels(ws).loc[0, "failure_modes"] == ["bad_tool_call", "made_up_refund"]
    row = ws.traces().set_index("trace_id").loc["t1"]
    assert row["failure_modes"] == ["bad_tool_call", "made_up_refund"]
    ws.merge(["bad_tool_call"], into="made_up_refund", annotator="ana")
    assert settled_labels(ws).loc[0, "failure_modes"] == ["made_up_refund"]


def test_a_settled_mode_nobody_tagged_is_a_failure_mode(ws: Workspace) -> None:
    ws.label("t0", "fail", annotator="ana")
    adjudicate(ws, "t0", "fail", ["brand_new"], lead="lead")
    assert ws.failure_modes()[["name", "count"]].values.tolist() == [["brand_new", 1]]


def test_adjudication_arguments_are_checked(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="'pass' or 'fail'"):
        adjudicate(ws, "t0", "maybe", lead="lead")
    with pytest.raises(ValueError, match=r"trace 't0': a passing trace carries no failure mode"):
        adjudicate(ws, "t0", "pass", ["tone"], lead="lead")
    with pytest.raises(TypeError, match="not a str"):
        adjudicate(ws, "t0", "fail", "tone", lead="lead")
    with pytest.raises(KeyError, match="'nope'"):
        adjudicate(ws, "nope", "fail", lead="lead")
    with pytest.raises(ValueError, match="who is the lead"):
        adjudicate(ws, "t0", "fail")
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "dana")
    assert adjudicate(ws, "t0", "pass").annotator == "dana"


# The judge gate -----------------------------------------------------------------------------


def _agreeing_team(ws: Workspace, traces: int, differ: int = 0) -> None:
    """ana and bob label the same traces; every third has 'tone'; they differ on a few."""
    ws.add_traces(make_traces(traces, start=5))
    for i in range(traces):
        for who in ("ana", "bob"):
            tagged = (i % 3 == 0) != (who == "bob" and i < differ)
            ws.label(f"t{i}", "fail" if tagged else "pass", annotator=who)
            if tagged:
                ws.tag(f"t{i}", "tone", annotator=who)


def test_a_mode_people_agree_on_with_labels_enough_is_ready(ws: Workspace) -> None:
    _agreeing_team(ws, 21)
    readiness = judge_readiness(ws, "tone")
    assert readiness.ok and readiness.reasons == ()
    assert (readiness.kappa, readiness.n_labels, readiness.n_tagged) == (1.0, 21, 7)
    assert readiness.n_overlap == 21 and readiness.open_disagreements == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ensure_judge_ready(ws, "tone", strict=True).ok


def test_not_ready_says_why(ws: Workspace) -> None:
    _agreeing_team(ws, 12, differ=3)
    readiness = judge_readiness(ws, "tone", min_kappa=0.6, min_labels=20)
    assert not readiness.ok and readiness.kappa < 0.6
    reasons = "\n".join(readiness.reasons)
    assert "mean Cohen's kappa" in reasons and "< 0.6" in reasons
    assert "only 12 traces have a verdict; at least 20" in reasons
    assert "3 disagreement(s) on 'tone' are not settled, e.g. ['t0', 't1', 't2']" in reasons
    with pytest.warns(AgreementWarning, match="'tone' is not ready for a judge") as caught:
        ensure_judge_ready(ws, "tone")
    assert caught[0].message.readiness == readiness  # type: ignore[union-attr]
    with pytest.raises(NotReadyError, match="only 12 traces") as raised:
        ensure_judge_ready(ws, "tone", strict=True)
    assert raised.value.readiness == readiness


def test_agreement_unknown_or_examples_missing(ws: Workspace) -> None:
    ws.label("t0", "fail", annotator="ana")
    ws.tag("t0", "tone", annotator="ana")
    reasons = "\n".join(judge_readiness(ws, "tone", min_labels=1).reasons)
    assert "agreement on 'tone' is not known (only one annotator (ana)" in reasons
    assert "every labelled trace has 'tone'" in reasons
    ws.define("unused", "never tagged", annotator="ana")
    assert "no labelled trace has 'unused'" in "\n".join(judge_readiness(ws, "unused").reasons)
    with pytest.raises(KeyError, match=r"no failure mode named 'nope'.*\['tone', 'unused'\]"):
        judge_readiness(ws, "nope")


def test_settling_the_disagreements_makes_a_mode_ready(ws: Workspace) -> None:
    _agreeing_team(ws, 30, differ=1)
    assert judge_readiness(ws, "tone").open_disagreements == 1
    adjudicate(ws, "t0", "fail", ["tone"], lead="ana")
    assert judge_readiness(ws, "tone").ok


# Audit ----------------------------------------------------------------------------------------


def test_audit_says_who_did_what_and_when(ws: Workspace) -> None:
    _disagree(ws)
    ws.define("tone", "rude or dismissive", annotator="carl")
    ws.rename("tone", "dismissive_tone", annotator="carl")
    adjudicate(ws, "t0", "fail", ["invented_policy"], note="made up", lead="bob")
    ws.undo("ana")
    log = audit(ws)
    assert list(log.columns) == [
        "id", "created_at", "annotator", "action", "trace_id", "detail", "undone"
    ]  # fmt: skip
    assert log["action"].tolist()[-4:] == ["define", "rename", "adjudicate", "undo"]
    details = dict(zip(log["action"], log["detail"], strict=False))
    assert details["rename"] == "tone → dismissive_tone"
    assert details["adjudicate"] == "verdict fail; failure modes invented_policy; note 'made up'"
    assert details["undo"].startswith("undid event 10 (label)")
    assert log.loc[log["id"] == 10, "undone"].item()
    assert set(audit(ws, "carl")["action"]) == {"define", "rename"}
    assert len(audit(ws, ["ana", "bob"])) == len(log) - 2
    assert audit(ws, trace_id="t3")["detail"].tolist() == ["verdict fail", "undid event 10 (label)"]
    assert audit(ws, since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).empty
    assert len(audit(ws, since="2000-01-01")) == len(log)
