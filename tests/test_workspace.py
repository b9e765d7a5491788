"""The workspace API: traces, labels, undo, history, failure modes, settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    PYTHON,
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    subprocess_env,
    ws_fixture,
)

from workbench.workspace import NoAnnotatorError, TraceConflictWarning, Workspace, open_workspace

MakeWs = Callable[..., Workspace]


# Opening ------------------------------------------------------------------------------------


def test_open_creates_folder_and_evals_dir(make_ws: MakeWs, db_url: str | None) -> None:
    ws = make_ws("new/nested")
    assert ws.path.is_dir()
    assert ws.evals_dir == ws.path / "evals"
    assert ws.evals_dir.is_dir()
    assert (ws.path / "workbench.db").exists() == (db_url is None)


def test_open_refuses_a_file_path(tmp_path: Path) -> None:
    file = tmp_path / "not-a-folder"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="not-a-folder"):
        open_workspace(file)


@pytest.mark.parametrize("url", ["mysql://u@localhost/db", "sqlite://", "not a url at all"])
def test_open_refuses_unsupported_databases(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match=r"database|SQLite|URL"):
        open_workspace(str(tmp_path), db=url)


def test_an_empty_workspace_answers_every_query(make_ws: MakeWs) -> None:
    ws = make_ws()
    frame = ws.traces()
    assert frame.empty
    assert list(frame.columns[:6]) == [
        "trace_id", "input", "output", "messages", "metadata", "timestamp"
    ]  # fmt: skip
    assert "failure_modes" in frame.columns
    assert ws.labels().empty and ws.history().empty and ws.failure_modes().empty
    assert ws.undo("ana") is None


# Adding traces --------------------------------------------------------------------------------


def test_add_traces_counts_new_ones_and_is_idempotent(ws: Workspace) -> None:
    assert ws.add_traces(make_traces(5)) == 0
    assert ws.add_traces(make_traces(8)) == 3
    assert list(ws.traces()["trace_id"]) == [f"t{i}" for i in range(8)]


def test_add_empty_frame_adds_nothing(ws: Workspace) -> None:
    assert ws.add_traces(pd.DataFrame()) == 0
    assert ws.add_traces(make_traces(0)) == 0
    assert len(ws.traces()) == 5


def test_duplicate_ids_in_one_add_keep_the_first(make_ws: MakeWs) -> None:
    ws = make_ws()
    frame = pd.concat([make_traces(3), make_traces(3)], ignore_index=True)
    assert ws.add_traces(frame) == 3  # identical duplicates: no warning
    changed = make_traces(2, start=10)
    changed = pd.concat([changed, changed.assign(output="other")], ignore_index=True)
    with pytest.warns(TraceConflictWarning, match="t10") as caught:
        assert ws.add_traces(changed) == 2
    assert caught[0].message.trace_ids == ("t10", "t11")  # type: ignore[union-attr]
    assert ws.trace("t10")["output"] == "answer 10: it is on its way"


def test_changed_content_under_known_id_is_refused_with_the_ids(ws: Workspace) -> None:
    changed = make_traces(2).assign(output="rewritten")
    with pytest.warns(TraceConflictWarning, match=r"'t0', 't1'"):
        assert ws.add_traces(changed) == 0
    assert ws.trace("t0")["output"].startswith("answer 0")


def test_add_traces_needs_trace_ids(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="trace_id"):
        ws.add_traces(pd.DataFrame({"input": ["x"]}))
    with pytest.raises(ValueError, match="row 1"):
        ws.add_traces(pd.DataFrame({"trace_id": ["ok", None], "input": ["x", "y"]}))
    with pytest.raises(TypeError, match="DataFrame"):
        ws.add_traces([{"trace_id": "x"}])  # type: ignore[arg-type]


def test_unicode_nested_and_huge_fields_round_trip(ws: Workspace) -> None:
    huge = "é" * 1_000_000
    frame = pd.DataFrame(
        {
            "trace_id": ["ü-1", "emoji-🙂"],
            "input": ["日本語の質問", huge],
            "output": ["<script>alert('x')</script>", "ok"],
            "messages": [None, [{"role": "user", "content": "🙂", "tool_calls": [{"n": 1}]}]],
            "metadata": [{"nested": {"deep": [1, 2, {"x": None}]}}, {}],
            "timestamp": [pd.Timestamp("2025-03-01T12:00:00+02:00"), pd.NaT],
        }
    )
    assert ws.add_traces(frame) == 2
    got = ws.traces().set_index("trace_id")
    assert got.loc["emoji-🙂", "input"] == huge
    assert got.loc["emoji-🙂", "messages"][0]["content"] == "🙂"
    assert got.loc["ü-1", "metadata"] == {"nested": {"deep": [1, 2, {"x": None}]}}
    assert got.loc["ü-1", "timestamp"] == pd.Timestamp("2025-03-01T10:00:00Z")
    assert pd.isna(got.loc["emoji-🙂", "timestamp"])
    one = ws.trace("ü-1")
    assert one["output"] == "<script>alert('x')</script>"
    assert one["timestamp"] == pd.Timestamp("2025-03-01T10:00:00Z")
    assert ws.add_traces(frame) == 0  # same content hashes the same


def test_trace_accessor(ws: Workspace) -> None:
    trace = ws.trace("t3")
    assert list(trace)[:6] == ["trace_id", "input", "output", "messages", "metadata", "timestamp"]
    assert trace["latency_ms"] == 103.0
    with pytest.raises(KeyError, match="'nope'"):
        ws.trace("nope")


# Labels ---------------------------------------------------------------------------------------


def test_traces_has_label_columns_empty_when_unlabelled(ws: Workspace) -> None:
    frame = ws.traces()
    assert list(frame.columns[-5:]) == [
        "verdict", "note", "failure_modes", "annotator", "labelled_at"
    ]  # fmt: skip
    assert frame["verdict"].tolist() == [None] * 5
    assert frame["failure_modes"].tolist() == [[]] * 5
    assert frame["labelled_at"].isna().all()


def test_label_returns_the_committed_event(ws: Workspace) -> None:
    event = ws.label("t1", "fail", note="made up a refund rule", annotator="ana")
    assert (event.kind, event.trace_id, event.annotator) == ("label", "t1", "ana")
    assert dict(event.payload) == {"verdict": "fail", "note": "made up a refund rule"}
    assert event.created_at.tzinfo is not None
    assert event.created_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "tag"  # type: ignore[misc]
    row = ws.traces().set_index("trace_id").loc["t1"]
    assert (row["verdict"], row["note"], row["annotator"]) == (
        "fail",
        "made up a refund rule",
        "ana",
    )
    assert row["labelled_at"] == pd.Timestamp(event.created_at)


def test_label_validation(ws: Workspace) -> None:
    with pytest.raises(KeyError, match="'ghost'"):
        ws.label("ghost", "fail", annotator="ana")
    with pytest.raises(ValueError, match="'ok'"):
        ws.label("t0", "ok", annotator="ana")
    with pytest.raises(ValueError, match="annotator"):
        ws.label("t0", "fail", annotator="  ")
    with pytest.raises(TypeError, match="note"):
        ws.label("t0", "fail", note=3, annotator="ana")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trace ids are str"):
        ws.tag(0, "x", annotator="ana")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="'ghost'"):
        ws.tag("ghost", "x", annotator="ana")
    assert ws.history().empty


def test_annotator_defaults(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="WORKBENCH_ANNOTATOR"):
        ws.label("t0", "pass")
    ws.set("annotator", "from-settings")
    assert ws.label("t0", "pass").annotator == "from-settings"
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "from-env")
    assert ws.label("t0", "pass").annotator == "from-env"
    assert ws.label("t0", "pass", annotator="explicit").annotator == "explicit"


def test_annotator_resolution_is_public(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoAnnotatorError, match=r"WORKBENCH_ANNOTATOR.*ws\.set\('annotator'"):
        ws.annotator()
    assert issubclass(NoAnnotatorError, ValueError)
    ws.set("annotator", "from-settings")
    assert ws.annotator() == "from-settings"
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "from-env")
    assert (ws.annotator(), ws.annotator(" explicit ")) == ("from-env", "explicit")
    with pytest.raises(ValueError, match="annotator must be a non-empty string"):
        ws.annotator("  ")


def test_adjudicate_appends_one_settled_label(ws: Workspace) -> None:
    ws.label("t0", "fail", note="mine", annotator="ana")
    ws.label("t0", "pass", annotator="bob")
    event = ws.adjudicate("t0", "fail", ["x", "x", " y "], note="the rule", annotator="lea")
    assert (event.kind, event.trace_id, event.annotator) == ("label", "t0", "lea")
    assert dict(event.payload) == {
        "verdict": "fail",
        "failure_modes": ["x", "y"],
        "note": "the rule",
        "adjudication": True,
    }
    assert len(ws.history()) == 3
    row = ws.traces().set_index("trace_id").loc["t0"]
    assert (row["verdict"], row["failure_modes"], row["annotator"]) == ("fail", ["x", "y"], "lea")
    assert ws.traces(annotator="ana").loc[0, ["verdict", "note"]].tolist() == ["fail", "mine"]
    assert ws.labels()["annotator"].tolist() == ["ana", "bob"]  # own labels untouched
    assert ws.undo("lea") is not None
    assert ws.traces().loc[0, "annotator"] == "bob"


def test_adjudicate_validation(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="'pass' or 'fail', got None"):
        ws.adjudicate("t0", None, annotator="lea")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a passing trace carries no failure mode"):
        ws.adjudicate("t0", "pass", ["x"], annotator="lea")
    with pytest.raises(TypeError, match="not a str"):
        ws.adjudicate("t0", "fail", "x", annotator="lea")
    with pytest.raises(ValueError, match="failure mode name"):
        ws.adjudicate("t0", "fail", [""], annotator="lea")
    with pytest.raises(TypeError, match="note"):
        ws.adjudicate("t0", "fail", note=1, annotator="lea")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trace ids are str"):
        ws.adjudicate(0, "fail", annotator="lea")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="'ghost'"):
        ws.adjudicate("ghost", "fail", annotator="lea")
    with pytest.raises(NoAnnotatorError):
        ws.adjudicate("t0", "fail")
    assert ws.history().empty


def test_note_is_kept_unless_given(ws: Workspace) -> None:
    ws.label("t0", "fail", note="first", annotator="ana")
    ws.label("t0", "pass", annotator="ana")
    assert ws.labels().loc[0, "note"] == "first"
    ws.note("t0", "second", annotator="ana")
    assert ws.labels().loc[0, ["verdict", "note"]].tolist() == ["pass", "second"]
    ws.label("t0", None, note="", annotator="ana")
    assert ws.labels().loc[0, ["verdict", "note"]].tolist() == [None, ""]


def test_latest_label_per_trace_and_annotator_views(ws: Workspace) -> None:
    ws.label("t0", "fail", note="ana says", annotator="ana")
    ws.label("t0", "pass", note="bob says", annotator="bob")
    ws.label("t1", "fail", annotator="bob")
    latest = ws.traces().set_index("trace_id")
    assert latest.loc["t0", ["verdict", "annotator"]].tolist() == ["pass", "bob"]
    ana = ws.traces(annotator="ana").set_index("trace_id")
    assert ana.loc["t0", ["verdict", "note"]].tolist() == ["fail", "ana says"]
    assert ana.loc["t1", "verdict"] is None
    labels = ws.labels()
    assert list(labels.columns) == [
        "trace_id", "annotator", "verdict", "note", "failure_modes", "labelled_at"
    ]  # fmt: skip
    assert sorted(zip(labels["trace_id"], labels["annotator"], strict=True)) == [
        ("t0", "ana"), ("t0", "bob"), ("t1", "bob")
    ]  # fmt: skip


def test_changing_returned_frames_does_not_change_the_workspace(ws: Workspace) -> None:
    """Guards the cached labels against callers mutating the lists they were given."""
    ws.tag("t0", "x", annotator="ana")
    ws.traces().loc[0, "failure_modes"].append("sneaky")
    ws.labels().loc[0, "failure_modes"].append("sneaky")
    assert ws.traces().loc[0, "failure_modes"] == ["x"]
    assert ws.labels().loc[0, "failure_modes"] == ["x"]


def test_tag_and_untag(ws: Workspace) -> None:
    ws.tag("t0", "invented_policy", annotator="ana")
    ws.tag("t0", "wrong_tool", annotator="ana")
    ws.tag("t0", "invented_policy", annotator="ana")  # tagging twice changes nothing
    assert ws.labels().loc[0, "failure_modes"] == ["invented_policy", "wrong_tool"]
    ws.untag("t0", "invented_policy", annotator="ana")
    ws.untag("t0", "never_there", annotator="ana")
    assert ws.traces().loc[0, "failure_modes"] == ["wrong_tool"]
    assert len(ws.history()) == 5


# Undo and history -----------------------------------------------------------------------------


def test_undo_tag_and_label(ws: Workspace) -> None:
    ws.label("t0", "fail", note="n1", annotator="ana")
    ws.label("t0", "pass", note="n2", annotator="ana")
    ws.tag("t0", "x", annotator="ana")
    undo = ws.undo("ana")
    assert undo is not None
    assert (undo.kind, undo.trace_id, undo.payload["kind"]) == ("undo", "t0", "tag")
    assert ws.labels().loc[0, "failure_modes"] == []
    ws.undo("ana")
    assert ws.labels().loc[0, ["verdict", "note"]].tolist() == ["fail", "n1"]
    ws.undo("ana")
    assert ws.labels().empty
    assert ws.undo("ana") is None
    history = ws.history()
    assert history["kind"].tolist() == ["label", "label", "tag", "undo", "undo", "undo"]
    assert history["undone"].tolist() == [True, True, True, False, False, False]


def test_undo_with_nothing_to_undo(ws: Workspace) -> None:
    assert ws.undo("ana") is None
    ws.tag("t0", "x", annotator="bob")
    assert ws.undo("ana") is None  # only one's own actions
    assert ws.traces().loc[0, "failure_modes"] == ["x"]


def test_undo_merge_brings_the_modes_back(ws: Workspace) -> None:
    ws.tag("t0", "a", annotator="ana")
    ws.tag("t1", "b", annotator="ana")
    ws.merge(["a", "b"], into="c", annotator="bob")
    assert ws.failure_modes()["name"].tolist() == ["c"]
    undo = ws.undo("bob")
    assert undo is not None and undo.payload["kind"] == "merge"
    assert sorted(ws.failure_modes()["name"]) == ["a", "b"]
    assert ws.traces()["failure_modes"].tolist()[:2] == [["a"], ["b"]]


def test_history_is_oldest_first_and_filters_by_trace(ws: Workspace) -> None:
    ws.tag("t0", "x", annotator="ana")
    ws.label("t1", "fail", annotator="ana")
    ws.define("x", "made up", annotator="ana")
    ws.undo("ana")
    history = ws.history()
    assert list(history.columns) == [
        "id", "kind", "trace_id", "annotator", "payload", "created_at", "undone"
    ]  # fmt: skip
    assert history["id"].is_monotonic_increasing
    assert history["created_at"].is_monotonic_increasing
    assert ws.history("t1")["kind"].tolist() == ["label"]
    assert ws.history("t4").empty
    with pytest.raises(KeyError, match="'ghost'"):
        ws.history("ghost")


# Failure modes ----------------------------------------------------------------------------------


def test_failure_modes_count_share_and_order(ws: Workspace) -> None:
    for trace_id in ["t0", "t1", "t2", "t3"]:
        ws.label(trace_id, "fail", annotator="ana")
    for trace_id in ["t0", "t1", "t2"]:
        ws.tag(trace_id, "invented_policy", annotator="ana")
    ws.tag("t3", "wrong_tool", annotator="ana")
    ws.tag("t4", "wrong_tool", annotator="ana")  # t4 has no fail verdict
    ws.define("unused", "defined, never tagged", annotator="ana")
    modes = ws.failure_modes()
    assert list(modes.columns) == ["name", "definition", "count", "share"]
    assert modes["name"].tolist() == ["invented_policy", "wrong_tool", "unused"]
    assert modes["count"].tolist() == [3, 2, 0]
    assert modes["share"].tolist() == [0.75, 0.25, 0.0]
    assert modes.loc[2, "definition"] == "defined, never tagged"


def test_failure_modes_empty(ws: Workspace) -> None:
    modes = ws.failure_modes()
    assert modes.empty
    assert list(modes.columns) == ["name", "definition", "count", "share"]


def test_define_and_redefine(ws: Workspace) -> None:
    ws.define("invented_policy", "states a policy that does not exist", annotator="ana")
    ws.define("invented_policy", "states a rule not in the policy docs", annotator="bob")
    modes = ws.failure_modes()
    assert modes["definition"].tolist() == ["states a rule not in the policy docs"]
    with pytest.raises(ValueError, match="non-empty"):
        ws.define(" ", "x", annotator="ana")


def test_rename_moves_tags_and_refuses_existing_names(ws: Workspace) -> None:
    ws.define("made_up", "invents things", annotator="ana")
    ws.tag("t0", "made_up", annotator="ana")
    ws.tag("t1", "made_up", annotator="bob")
    ws.tag("t2", "wrong_tool", annotator="ana")
    ws.rename("made_up", "invented_policy", annotator="ana")
    modes = ws.failure_modes().set_index("name")
    assert modes.loc["invented_policy", ["definition", "count"]].tolist() == ["invents things", 2]
    assert "made_up" not in modes.index
    assert ws.labels()["failure_modes"].tolist()[:2] == [["invented_policy"]] * 2
    ws.tag("t3", "made_up", annotator="ana")  # the old name is free again
    with pytest.raises(ValueError, match=r"ws\.merge\(\['invented_policy'\], into='wrong_tool'\)"):
        ws.rename("invented_policy", "wrong_tool", annotator="ana")
    with pytest.raises(KeyError, match="ghost"):
        ws.rename("ghost", "x", annotator="ana")


def test_merge_into_new_and_existing_modes(ws: Workspace) -> None:
    ws.define("a", "def a", annotator="ana")
    ws.define("c", "def c", annotator="ana")
    ws.tag("t0", "a", annotator="ana")
    ws.tag("t0", "b", annotator="ana")
    ws.tag("t1", "c", annotator="bob")
    event = ws.merge(["a", "b"], into="c", annotator="ana")
    assert dict(event.payload) == {"sources": ["a", "b"], "into": "c", "definition": "def c"}
    modes = ws.failure_modes()
    assert modes[["name", "count"]].values.tolist() == [["c", 2]]
    assert ws.labels()["failure_modes"].tolist() == [["c"], ["c"]]  # t0 keeps one "c"
    ws.tag("t2", "d", annotator="ana")
    ws.tag("t3", "e", annotator="ana")
    ws.merge(["d", "e"], into="de", definition="both", annotator="ana")
    assert ws.failure_modes().set_index("name").loc["de", "definition"] == "both"
    with pytest.raises(KeyError, match="ghost"):
        ws.merge(["ghost", "c"], into="c", annotator="ana")
    with pytest.raises(TypeError, match="list"):
        ws.merge("c", into="x", annotator="ana")


def test_split_moves_only_the_listed_traces(ws: Workspace) -> None:
    for trace_id in ["t0", "t1", "t2"]:
        ws.tag(trace_id, "wrong_answer", annotator="ana")
    ws.tag("t0", "wrong_answer", annotator="bob")
    ws.split("wrong_answer", {"wrong_math": ["t0"], "wrong_date": ["t1"]}, annotator="ana")
    counts = dict(ws.failure_modes()[["name", "count"]].values.tolist())
    assert counts == {"wrong_answer": 1, "wrong_math": 1, "wrong_date": 1}
    labels = ws.labels().set_index(["trace_id", "annotator"])["failure_modes"]
    assert labels[("t0", "bob")] == ["wrong_math"]  # every annotator's tag moves
    ws.split("wrong_answer", {"wrong_date": ["t2"]}, annotator="ana")
    assert "wrong_answer" not in set(ws.failure_modes()["name"])  # emptied: gone


def test_split_refuses_traces_not_tagged_with_the_mode(ws: Workspace) -> None:
    ws.tag("t0", "wrong_answer", annotator="ana")
    with pytest.raises(ValueError, match=r"\['t3', 'zz'\]"):
        ws.split("wrong_answer", {"a": ["t0", "t3"], "b": ["zz"]}, annotator="ana")
    with pytest.raises(ValueError, match="more than one part"):
        ws.split("wrong_answer", {"a": ["t0"], "b": ["t0"]}, annotator="ana")
    with pytest.raises(TypeError, match="list of trace ids"):
        ws.split("wrong_answer", {"a": "t0"}, annotator="ana")
    with pytest.raises(KeyError, match="ghost"):
        ws.split("ghost", {"a": ["t0"]}, annotator="ana")
    assert ws.history()["kind"].tolist() == ["tag"]


# Settings and persistence -----------------------------------------------------------------------


def test_settings_persist(make_ws: MakeWs) -> None:
    ws = make_ws()
    assert ws.settings == {}
    ws.set("model", "openai/gpt-4o-mini")
    ws.set("thresholds", {"min_kappa": 0.6})
    ws.set("model", "openai/gemma3-270m")
    again = make_ws()
    assert again.settings == {"model": "openai/gemma3-270m", "thresholds": {"min_kappa": 0.6}}
    with pytest.raises(TypeError):
        ws.set("bad", object())


def test_each_call_is_committed_before_it_returns(make_ws: MakeWs) -> None:
    first, second = make_ws(), make_ws()
    first.add_traces(make_traces(3))
    assert len(second.traces()) == 3
    first.tag("t1", "x", annotator="ana")
    assert second.traces().loc[1, "failure_modes"] == ["x"]
    second.add_traces(make_traces(2, start=3))
    first.label("t4", "fail", annotator="bob")
    assert first.traces()["trace_id"].tolist() == ["t0", "t1", "t2", "t3", "t4"]
    assert first.failure_modes()["count"].tolist() == [1]


def test_reopen_in_a_new_process_shows_the_same_labels(ws: Workspace, db_url: str | None) -> None:
    ws.label("t0", "fail", note="née", annotator="ana")
    ws.tag("t0", "invented_policy", annotator="ana")
    ws.label("t2", "pass", annotator="bob")
    script = (
        "import json, sys\n"
        "from workbench.workspace import open_workspace\n"
        "ws = open_workspace(sys.argv[1], db=sys.argv[2] or None)\n"
        "cols = ['trace_id', 'verdict', 'note', 'failure_modes', 'annotator']\n"
        "print(json.dumps(ws.traces()[cols].to_dict('records')))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script, str(ws.path), db_url or ""],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=True,
    )
    cols = ["trace_id", "verdict", "note", "failure_modes", "annotator"]
    assert json.loads(done.stdout) == ws.traces()[cols].to_dict("records")


def test_labels_of_one_annotator_or_one_trace(ws: Workspace) -> None:
    ws.label("t0", "fail", annotator="ana")
    ws.label("t1", "pass", annotator="ana")
    ws.label("t0", "pass", annotator="bob")
    ws.tag("t0", "x", annotator="ana")
    assert ws.labels(annotator="ana")["trace_id"].tolist() == ["t1", "t0"]
    assert ws.labels(trace_id="t0")["annotator"].tolist() == ["bob", "ana"]
    mine = ws.labels(annotator="ana", trace_id="t0")
    assert mine[["verdict", "failure_modes"]].values.tolist() == [["fail", ["x"]]]
    mine.loc[mine.index[0], "failure_modes"].append("changed")
    assert ws.labels(annotator="ana", trace_id="t0")["failure_modes"].iloc[0] == ["x"]
    assert ws.labels(annotator="cy").empty
    assert ws.annotators() == ["ana", "bob"]
