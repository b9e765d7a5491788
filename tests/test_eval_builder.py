"""The eval builder driven from Python (no browser), on the sample with simulated reviews.

Week 1 of the sample is reviewed by a simulated annotator (2% mistakes); ``overlong_reply``
then has few failing labels in dev, so the builder must say its rates are unreliable.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llm_fixtures
import pandas as pd
import pytest
import yaml
from browser_fixtures import HOSTILE_IMG, HOSTILE_SCRIPT, hostile_trace

import workbench as wb
from workbench.demo import ground_truth, simulate_reviews
from workbench.evalgen import (
    DraftRefusedWarning,
    LowLabelCountWarning,
    ModelNeededWarning,
    ReusedTestSplitWarning,
    UnsafeCheckError,
    label_set,
    split_labels,
)
from workbench.evalgen.alignment import mcc, pooled
from workbench.widgets.eval_builder import COLUMNS, MODEL_NOTE, EvalBuilder
from workbench.workspace import Workspace

isolated_llm = llm_fixtures.isolated_llm  # no model configured unless a test passes one
pytestmark = [
    pytest.mark.usefixtures("isolated_llm"),
    pytest.mark.filterwarnings("ignore::workbench.evalgen.LowLabelCountWarning"),
]

REPO = Path(__file__).resolve().parents[1]
MODE = "overlong_reply"
MODEL = "openai/gpt-4o-mini"
HOSTILE_SOURCE = "__import__('os').system('touch pwned')"


def build_week1(path: Path) -> Workspace:
    """A fresh workspace with week 1 of the sample, every trace reviewed by a simulated ana."""
    ids = ground_truth().query("week == 1")["trace_id"].tolist()
    traces = wb.load_traces(REPO / "sample_data" / "traces.jsonl")
    ws = wb.open_workspace(path)
    ws.add_traces(traces[traces["trace_id"].isin(ids)])
    simulate_reviews(ws, ids, "ana", error_rate=0.02)
    return ws


def add_hostile_in_dev(ws: Workspace) -> str:
    """Add a trace of markup and script, tagged overlong_reply, whose id lands in dev."""
    failing = label_set(ws, MODE).failing
    for k in range(200):
        trace_id = f"tr_zz_hostile_{k}"  # sorts after the sample's ids, so it is listed last
        plan = split_labels(pd.concat([failing, pd.Series({trace_id: True})]))
        if trace_id in plan.dev:
            break
    ws.add_traces(pd.DataFrame([hostile_trace(trace_id)]))
    ws.label(trace_id, "fail", note=HOSTILE_SCRIPT, annotator="ana")
    ws.tag(trace_id, MODE, annotator="ana")
    return trace_id


@pytest.fixture(scope="module")
def week1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("week1") / "analysis"
    build_week1(path).close()
    return path


@pytest.fixture
def ws(week1: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh copy of the labelled workspace for each test (so each starts with no suite)."""
    shutil.copytree(week1, tmp_path / "analysis")
    workspace = wb.open_workspace(tmp_path / "analysis")
    yield workspace
    workspace.close()


def suite_entries(ws: Workspace) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((ws.evals_dir / "suite.yaml").read_text(encoding="utf-8"))
    return {entry["id"]: entry for entry in document["evals"]}


# Candidates ------------------------------------------------------------------------------------


def test_candidates_are_ranked_and_the_best_catches_overlong_replies(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    table = b.candidates
    assert list(table.columns) == list(COLUMNS) and len(table) >= 3
    assert set(table["kind"]) == {"assertion"}
    best = b.get(table["id"][0])
    assert best.spec["type"] == "max_length" and table["tpr"][0] >= 0.9
    assert table["tnr"][0] >= 0.95 and table["kappa"][0] > 0.8
    scores = [mcc(pooled([b.get(i).metrics[s] for s in ("train", "dev")], "")) for i in table["id"]]
    assert scores == sorted(scores, reverse=True)
    assert b.selected == best.id
    assert table["test_tpr"].isna().all() and not table["in_suite"].any()


def test_few_labels_give_a_plain_warning(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    with pytest.warns(LowLabelCountWarning, match="'overlong_reply' in dev"):
        b.propose()
    assert b.candidates["warning"].str.contains("only 4 failing labels in dev").all()
    status = b.view_state()["status"]
    assert "fewer than 10" in status["labels_note"] and "unreliable" in status["labels_note"]


def test_without_a_model_only_assertions_and_a_note_on_configuring_one(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelNeededWarning)
        assert set(b.candidates["kind"]) == {"assertion"}
    assert b.model_note == MODEL_NOTE and 'wb.llm.configure(model="' in b.model_note
    assert b.view_state()["status"]["model_note"] == MODEL_NOTE
    assert EvalBuilder(ws, MODE, kinds=("judge",)).candidates.empty


def test_unknown_failure_mode_and_no_labels(ws: Workspace) -> None:
    with pytest.raises(KeyError, match=r"known: .*overlong_reply"):
        EvalBuilder(ws, "no_such_mode")
    ws.define("brand_new", "Nobody tagged this yet.", annotator="ana")
    b = EvalBuilder(ws, "brand_new")
    with pytest.raises(ValueError, match="no trace is tagged 'brand_new'"):
        b.propose()
    state = b.view_state()
    assert state["cards"] == [] and state["status"]["message"].startswith("no candidates: ")


# Edit and measure ------------------------------------------------------------------------------


def test_editing_a_spec_and_measuring_again_changes_the_metrics(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    best = b.get(b.candidates["id"][0])
    edited = b.edit(best.id, spec={**best.spec, "value": 300})
    assert edited.id == f"{best.id}-edited" and edited.metrics == {}
    assert edited.provenance.generator == f"{best.provenance.generator}+edited"
    assert edited.provenance.labelled_trace_ids == best.provenance.labelled_trace_ids
    assert "value: 1000 -> 300" in edited.rationale and b.selected == edited.id
    table = b.candidates.set_index("id")
    assert table.loc[edited.id, "edited_from"] == best.id
    assert list(table.index).index(edited.id) == 1  # right after what it was edited from
    assert table.loc[edited.id, "warning"].startswith("not measured")
    measured = b.measure(edited.id)
    dev, before = measured.metrics["dev"], best.metrics["dev"]
    assert dev.fp > before.fp and dev.tnr < before.tnr  # 300 characters flags clean replies
    assert b.candidates.set_index("id").loc[edited.id, "n"] == dev.n
    again = b.edit(edited.id, spec={**best.spec, "value": 600})
    assert again.id == f"{best.id}-edited-2"
    assert b.edit(best.id, spec=dict(best.spec)).id == best.id  # unchanged: nothing new
    with pytest.raises(ValueError, match=r"test is b\.test"):
        b.measure(best.id, split="test")


def test_bad_edits_are_refused_with_the_reason(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    best = b.candidates["id"][0]
    with pytest.raises(TypeError, match="exactly one"):
        b.edit(best)
    with pytest.raises(ValueError, match="value must be an int"):
        b.edit(best, spec={"type": "max_length", "field": "replies", "value": "long"})
    with pytest.raises(ValueError, match="unknown check type 'nope'"):
        b.edit(best, spec={"type": "nope"})
    with pytest.raises(ValueError, match="not prompt="):
        b.edit(best, prompt="Judge $trace")
    assert len(b.candidates) == len(b.propose())


def test_a_hostile_python_edit_is_refused_and_nothing_is_saved(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    b = EvalBuilder(ws, MODE)
    best = b.candidates["id"][0]
    count = len(b.candidates)
    with pytest.raises(UnsafeCheckError, match="top level"):
        b.edit(best, source=HOSTILE_SOURCE)
    inside = f"def check(trace):\n    return {HOSTILE_SOURCE} == 0\n"
    with pytest.raises(UnsafeCheckError, match="'__import__' is not allowed"):
        b.edit(best, source=inside)
    assert b.message.startswith("not saved: refused python check")
    assert b.view_state()["detail"]["error"] == b.message
    b.receive({"type": "edit", "id": best, "source": inside, "measure": True})
    assert "'__import__' is not allowed (line 2)" in b.message
    assert len(b.candidates) == count
    assert not (ws.evals_dir / "suite.yaml").exists() and not (tmp_path / "pwned").exists()


def test_python_source_is_data_until_accepted_and_runs_sandboxed(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    best = b.candidates["id"][0]
    source = (
        "def check(trace):\n"
        "    turns = trace['messages'] or []\n"
        "    replies = [m['content'] for m in turns if m['role'] == 'assistant']\n"
        "    return all(len(r or '') <= 1000 for r in replies)\n"
    )
    edited = b.edit(best, source=source)
    assert edited.spec == {"type": "python", "value": source} and edited.kind == "assertion"
    measured = b.measure(edited.id)
    assert measured.metrics["dev"].tpr == 1.0 and measured.metrics["dev"].ungraded == 0
    eval_id = b.accept(edited.id)
    assert (ws.evals_dir / "assertions" / f"{eval_id}.py").read_text().count(source) == 1
    assert suite_entries(ws)[eval_id]["provenance"]["generator"] == "mined:length+edited"


# Test split and accept -------------------------------------------------------------------------


def test_the_test_split_is_measured_on_request_and_reuse_warns(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    first, second = b.candidates["id"][:2]
    tested = b.test(first)
    assert tested.metrics["test"].tpr >= 0.9 and "dev" in tested.metrics
    row = b.candidates.set_index("id").loc[first]
    assert row["test_n"] == tested.metrics["test"].n and row["test_tpr"] >= 0.9
    with pytest.warns(ReusedTestSplitWarning, match="already measured on test"):
        b.test(first)
    with pytest.warns(ReusedTestSplitWarning, match="already used for"):
        b.test(second)
    assert any("already used for" in note for note in b.notes)
    assert "once" in b.view_state()["status"]["test_note"]


def test_accept_writes_the_suite_with_provenance(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    best = b.get(b.candidates["id"][0])
    eval_id = b.accept(best.id, threshold=0.95)
    assert eval_id == best.id and (ws.evals_dir / "suite.yaml").exists()
    entry = suite_entries(ws)[eval_id]
    assert entry["threshold"] == 0.95 and entry["kind"] == "assertion"
    provenance = entry["provenance"]
    assert provenance["failure_mode"] == MODE and provenance["generator"] == "mined:length"
    assert provenance["annotators"] == ["ana"] and provenance["labelled_traces"]["count"] == 594
    assert entry["alignment"]["dev"]["tp"] == best.metrics["dev"].tp
    assert b.suite.get(eval_id).spec == best.spec
    assert b.candidates.set_index("id").loc[eval_id, "in_suite"]
    assert b.message.startswith(f"accepted {eval_id} into evals/suite.yaml")
    with pytest.raises(ValueError, match="exists already"):
        b.accept(eval_id)
    assert b.accept(eval_id, threshold=0.8, replace=True) == eval_id
    assert suite_entries(ws)[eval_id]["threshold"] == 0.8
    edited = b.edit(eval_id, spec={**best.spec, "value": 900})
    with pytest.raises(ValueError, match="not measured"):
        b.accept(edited.id)
    with pytest.raises(ValueError, match="threshold"):
        b.accept(b.measure(edited.id).id, threshold=1.5)
    assert set(suite_entries(ws)) == {eval_id}


# Judges (mocked model) -------------------------------------------------------------------------


def test_judge_candidates_with_a_mocked_model(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE, model=MODEL, mock_response="Too long.\nVERDICT: FAIL")
    with pytest.warns(DraftRefusedWarning, match="drafted check dropped"):
        table = b.candidates  # the mock's answer is no Python, so the drafted check is dropped
    assert "judge" in set(table["kind"]) and b.model_note == ""
    judge = b.get(table.loc[table["kind"] == "judge", "id"].iloc[0])
    assert table.set_index("id").loc[judge.id, "tnr"] == 0.0  # the mock fails everything
    assert any("drafted check dropped" in note for note in b.notes)
    found = b.disagreements(judge.id)
    assert set(found["disagreement"]) == {"false alarm"} and set(found["reason"]) == {"Too long."}
    with pytest.raises(ValueError, match=r"must contain \$trace"):
        b.edit(judge.id, prompt="Is this reply too long?")
    with pytest.raises(ValueError, match="only"):
        b.edit(judge.id, prompt="Judge $trace against $rubric")
    with pytest.raises(ValueError, match="not source="):
        b.edit(judge.id, source="def check(trace):\n    return True\n")
    prompt = judge.spec["prompt"].replace("Judge only this failure", "Judge only overlong replies")
    edited = b.edit(judge.id, prompt=prompt)
    assert edited.kind == "judge" and edited.spec["prompt"] == prompt
    assert edited.spec["model"] == MODEL and edited.spec["examples"] == judge.spec["examples"]
    b.llm_kw["mock_response"] = "Short enough.\nVERDICT: PASS"
    dev = b.measure(edited.id).metrics["dev"]
    assert (dev.tpr, dev.tnr) == (0.0, 1.0)
    eval_id = b.accept(edited.id, threshold=0.5)
    text = (ws.evals_dir / "judges" / f"{eval_id}.md").read_text(encoding="utf-8")
    assert "Judge only overlong replies" in text and f"model: {MODEL}" in text


# The widget ------------------------------------------------------------------------------------


def test_the_widget_mirrors_the_api(ws: Workspace) -> None:
    b = EvalBuilder(ws, MODE)
    widget = b.widget
    data, _ = b._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    cards = widget.cards
    json.dumps({"cards": cards, "detail": widget.detail, "status": widget.status}, allow_nan=False)
    assert [c["id"] for c in cards] == b.candidates["id"].tolist()
    assert widget.detail["id"] == cards[0]["id"] and widget.detail["editor"] == "fields"
    second = cards[1]["id"]
    b.receive({"type": "select", "id": second})
    assert b.selected == second and widget.detail["id"] == second
    spec = {**b.get(cards[0]["id"]).spec, "value": 500}
    b.receive({"type": "edit", "id": cards[0]["id"], "spec": spec, "measure": True})
    edited = f"{cards[0]['id']}-edited"
    assert widget.detail["id"] == edited and widget.detail["measured"]
    assert widget.cards[1]["id"] == edited and widget.cards[1]["tpr"] is not None
    b.receive({"type": "edit", "id": edited, "spec": {**spec, "value": -1}})
    assert widget.detail["error"].startswith("not saved: max_length spec: value must be")
    b.receive({"type": "test", "id": edited})
    assert widget.detail["tested"] and widget.cards[1]["test_n"] > 0
    b.receive({"type": "accept", "id": edited, "threshold": "0.97"})
    assert suite_entries(ws)[edited]["threshold"] == 0.97
    assert widget.detail["in_suite"] and widget.status["message"].startswith("accepted")
    b.receive({"type": "accept", "id": edited, "threshold": ""})
    assert "exists already" in widget.status["message"]
    b.receive({"type": "select", "id": "nope"})
    assert widget.status["message"].startswith("not done: no candidate 'nope'")
    b.receive({"type": "dance"})
    assert widget.status["message"] == "not done: unknown message type 'dance'"
    b.receive({"type": "propose"})
    assert [c["id"] for c in widget.cards] == [c["id"] for c in cards]


def test_disagreements_and_expanded_traces_are_escaped(ws: Workspace) -> None:
    hostile = add_hostile_in_dev(ws)
    b = EvalBuilder(ws, MODE)
    best = b.candidates["id"][0]
    found = b.disagreements(best).set_index("trace_id")
    assert found.loc[hostile, "disagreement"] == "missed failure"
    assert found.loc[hostile, "output"] == HOSTILE_SCRIPT  # data, shown as text by the page
    widget = b.widget
    rows = {r["trace_id"]: r for r in widget.detail["rows"]}
    assert rows[hostile]["output"] == HOSTILE_SCRIPT and widget.detail["total"] == len(found)
    b.receive({"type": "expand", "trace_id": hostile})
    html = widget.expanded["html"]
    assert widget.expanded["trace_id"] == hostile and html == b.expand(hostile)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;" in html and HOSTILE_IMG not in html
