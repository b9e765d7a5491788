"""The reviewer and the failure-mode board, driven from Python (no browser)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_fixtures import HOSTILE_IMG, HOSTILE_SCRIPT, hostile_trace, support_trace, trace_frame

import workbench
from workbench.store import Event
from workbench.widgets.failure_board import FailureModes, chart_html
from workbench.widgets.render import TEXT_LIMIT, trace_html, trace_view
from workbench.widgets.review_state import KEYMAP
from workbench.widgets.reviewer import Reviewer
from workbench.workspace import Workspace, open_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = open_workspace(tmp_path / "analysis")
    workspace.add_traces(trace_frame(20))
    return workspace


def events(ws: Workspace) -> int:
    return len(ws.history())


def label(ws: Workspace, trace_id: str, annotator: str = "ana") -> dict[str, object]:
    rows = ws.labels()
    rows = rows[(rows["trace_id"] == trace_id) & (rows["annotator"] == annotator)]
    if rows.empty:
        return {"verdict": None, "note": None, "failure_modes": []}
    return {k: rows.iloc[-1][k] for k in ("verdict", "note", "failure_modes")}


# One action, one event -------------------------------------------------------------------------


def test_every_action_is_exactly_one_event(ws: Workspace) -> None:
    r = Reviewer(ws, annotator="ana")
    first = r.current
    assert first is not None
    steps: list[tuple[Callable[[], Event | None], str]] = [
        (lambda: r.mark("fail"), "label"),
        (lambda: r.note("made up a 90-day return rule"), "label"),
        (lambda: r.toggle("invented_policy"), "tag"),
        (lambda: r.toggle("invented_policy"), "untag"),
        (lambda: r.tag("wrong_eta"), "tag"),
        (lambda: r.undo(), "undo"),
    ]
    for step, kind in steps:
        before = events(ws)
        event = step()
        assert event is not None
        history = ws.history()
        assert len(history) == before + 1
        assert history.iloc[-1]["kind"] == kind == event.kind
        assert history.iloc[-1]["annotator"] == "ana"
    assert label(ws, first) == {
        "verdict": "fail",
        "note": "made up a 90-day return rule",
        "failure_modes": [],
    }


def test_repeating_a_verdict_or_an_unchanged_note_writes_nothing(ws: Workspace) -> None:
    r = Reviewer(ws)
    r.mark("pass")
    r.note("fine")
    before = events(ws)
    assert r.mark("pass") is None
    assert r.note("fine") is None
    assert r.tag("x") is not None and r.tag("x") is None
    assert events(ws) == before + 1
    assert r.message == "already tagged x"


def test_note_keeps_the_verdict_and_verdict_keeps_the_note(ws: Workspace) -> None:
    r = Reviewer(ws)
    r.mark("fail")
    r.note("line one\nline two")
    r.mark("pass")
    assert label(ws, r.current) == {  # type: ignore[arg-type]
        "verdict": "pass",
        "note": "line one\nline two",
        "failure_modes": [],
    }


def test_undo_restores_the_label_and_goes_back_to_its_trace(ws: Workspace) -> None:
    r = Reviewer(ws, filter="all")
    first = r.current
    r.mark("fail")
    r.toggle("wrong_tool")
    r.next()
    assert r.current != first
    undo = r.undo()
    assert undo is not None and undo.payload["kind"] == "tag"
    assert r.current == first
    assert label(ws, first)["failure_modes"] == []  # type: ignore[arg-type]
    assert r.undo() is not None
    assert r.undo() is None
    assert r.message == "nothing to undo"


# Queue, filters, progress ----------------------------------------------------------------------


def test_unreviewed_filter_is_a_fixed_queue_and_progress_counts_verdicts(ws: Workspace) -> None:
    Reviewer(ws, annotator="bob").mark("fail")  # someone else's verdict does not count for ana
    r = Reviewer(ws, annotator="ana")
    assert r.progress == (0, 20)
    r.mark("fail")
    r.next()
    r.mark("pass")
    r.note("only a note")  # a note is not a verdict
    assert r.progress == (2, 20)
    assert len(r.queue) == 20  # reviewed traces stay in the queue until the filter changes
    again = Reviewer(ws, annotator="ana")
    assert again.progress == (0, 18)
    assert again.current == "t-0002"


def test_filters_restrict_the_queue(ws: Workspace) -> None:
    r = Reviewer(ws, filter="all")
    r.mark("fail")
    r.toggle("invented_policy")
    r.next()
    r.mark("pass")
    bob = Reviewer(ws, annotator="bob", filter="all")
    bob.goto("t-0010")
    bob.mark("fail")
    bob.toggle("invented_policy")

    def queue(**filters: object) -> list[str]:
        return Reviewer(ws, annotator="ana", **filters).queue  # type: ignore[arg-type]

    assert queue(filter="fail") == ["t-0000"]
    assert queue(filter="pass") == ["t-0001"]
    assert queue(filter="reviewed") == ["t-0000", "t-0001"]
    assert len(queue(filter="unreviewed")) == 18
    assert queue(filter="all", failure_mode="invented_policy") == ["t-0000", "t-0010"]
    assert queue(failure_mode="invented_policy") == ["t-0010"]  # unreviewed by ana, tagged by bob
    assert queue(filter="all", labelled_by="bob") == ["t-0010"]
    assert queue(filter="all", traces=["t-0005", "t-0003", "t-0005"]) == ["t-0005", "t-0003"]
    assert queue(filter="all", traces=pd.Series(["t-0004"])) == ["t-0004"]


def test_cluster_filter_uses_the_cluster_table(ws: Workspace) -> None:
    clusters = pd.DataFrame(
        {"trace_id": [f"t-{i:04d}" for i in range(20)], "cluster": [i % 3 for i in range(20)]}
    )
    r = Reviewer(ws, clusters, filter="all", cluster=2)
    assert r.queue == [f"t-{i:04d}" for i in range(20) if i % 3 == 2]
    assert r.view_state()["status"]["options"]["cluster"] == ["0", "1", "2"]
    r.receive({"type": "filter", "filter": "all", "cluster": "1"})
    assert r.current == "t-0001"
    r.receive({"type": "filter", "filter": "all", "cluster": ""})
    assert len(r.queue) == 20


def test_bad_filters_and_scopes_are_refused(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="filter must be one of"):
        Reviewer(ws, filter="todo")
    with pytest.raises(ValueError, match="needs the cluster table"):
        Reviewer(ws, cluster=1)
    with pytest.raises(KeyError, match="not in the workspace"):
        Reviewer(ws, traces=["t-0001", "nope"])
    with pytest.raises(TypeError, match="not one id"):
        Reviewer(ws, traces="t-0001")
    with pytest.raises(ValueError, match="no trace_id column"):
        Reviewer(ws, traces=pd.DataFrame({"id": ["t-0001"]}))
    with pytest.raises(ValueError, match="annotator"):
        Reviewer(ws, annotator=" ")


def test_empty_queue_shows_nothing_and_refuses_actions(tmp_path: Path) -> None:
    empty = open_workspace(tmp_path / "empty")
    r = Reviewer(empty)
    assert r.current is None and r.progress == (0, 0)
    assert r.next() is None
    with pytest.raises(LookupError, match="queue is empty"):
        r.mark("fail")
    state = r.view_state()
    assert state["trace"] == {} and state["status"]["total"] == 0
    r.receive({"type": "key", "key": "f"})
    assert "queue is empty" in r.message


def test_navigation_next_previous_skip_goto(ws: Workspace) -> None:
    r = Reviewer(ws, traces=["t-0000", "t-0001", "t-0002"], filter="all")
    assert r.previous() == "t-0000" and r.message == "start of the queue"
    assert r.next() == "t-0001"
    assert r.skip() == "t-0002"
    assert r.queue == ["t-0000", "t-0002", "t-0001"]
    assert r.skip() == "t-0001"
    assert r.queue == ["t-0000", "t-0001", "t-0002"]
    assert r.next() == "t-0002"
    assert r.skip() == "t-0002" and r.message == "nothing after this trace to skip to"
    assert r.next() == "t-0002" and r.message == "end of the queue"
    assert r.goto("t-0000") == "t-0000"
    assert r.goto("t-0015") == "t-0015"  # outside the queue: put right after the current trace
    assert r.queue == ["t-0000", "t-0015", "t-0001", "t-0002"]
    with pytest.raises(KeyError, match="nope"):
        r.goto("nope")


# Keys ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(KEYMAP))
def test_each_key_does_its_action(ws: Workspace, key: str) -> None:
    r = Reviewer(ws, filter="all")
    for name in [f"mode_{n}" for n in range(1, 10)]:
        r.tag(name, trace_id="t-0019")
    r.goto("t-0003")
    r.mark("fail")  # something to undo
    before = events(ws)
    action = r.press(key)
    assert action == KEYMAP[key]
    written = events(ws) - before
    if action in ("pass", "undo") or action.startswith("toggle_"):
        assert written == 1
    else:
        assert written == 0
    state = label(ws, "t-0003")
    if action == "pass":
        assert state["verdict"] == "pass"
    elif action == "fail":
        assert state["verdict"] == "fail" and r.message == "already fail"
    elif action == "next":
        assert r.current == "t-0004"
    elif action == "previous":
        assert r.current == "t-0002"
    elif action == "skip":
        assert r.current == "t-0004" and r.queue[-1] == "t-0003"
    elif action == "undo":
        assert state["verdict"] is None
    elif action.startswith("toggle_"):
        assert state["failure_modes"] == [f"mode_{key}"]
    elif action in ("focus_tag", "focus_note", "leave_input"):
        assert r.focus == {"focus_tag": "tag", "focus_note": "note", "leave_input": "root"}[action]
    else:
        assert action == "help" and r.show_help


def test_number_keys_keep_their_mode_while_counts_change(ws: Workspace) -> None:
    r = Reviewer(ws, filter="all")
    r.tag("rare")
    r.next()
    assert r.modes == ["rare"]
    for _ in range(3):
        r.tag("common")
        r.next()
    assert list(ws.failure_modes()["name"]) == ["common", "rare"]
    assert r.modes == ["rare", "common"]
    r.press("2")
    assert label(ws, r.current)["failure_modes"] == ["common"]  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="no failure mode 3"):
        r.press("3")


def test_unknown_key_is_refused(ws: Workspace) -> None:
    r = Reviewer(ws)
    with pytest.raises(KeyError, match="no action on key 'x'"):
        r.press("x")


# Messages from the front end -------------------------------------------------------------------


def _history(ws: Workspace) -> list[tuple[str, str, str]]:
    rows = ws.history()
    return [
        (k, t, json.dumps(p, sort_keys=True))
        for k, t, p in zip(rows["kind"], rows["trace_id"], rows["payload"], strict=True)
    ]


def test_messages_write_the_same_events_as_python_calls(tmp_path: Path) -> None:
    by_python, by_messages = (open_workspace(tmp_path / name) for name in ("a", "b"))
    for workspace in (by_python, by_messages):
        workspace.add_traces(trace_frame(5))
    r = Reviewer(by_python)
    r.press("f")
    r.note("wrong ETA")
    r.tag("wrong_eta")
    r.press("n")
    r.press("p")
    r.press("1")
    r.press("u")
    m = Reviewer(by_messages)
    for message in (
        {"type": "key", "key": "f"},
        {"type": "note", "text": "wrong ETA", "trace_id": "t-0000"},
        {"type": "tag", "mode": " wrong_eta ", "trace_id": "t-0000"},
        {"type": "key", "key": "ArrowRight"},
        {"type": "key", "key": "p", "trace_id": "t-0001"},
        {"type": "toggle", "mode": "wrong_eta"},
        {"type": "key", "key": "u"},
    ):
        m.receive(message)
    assert _history(by_python) == _history(by_messages)
    assert len(_history(by_python)) == 6


def test_widget_on_msg_routes_to_the_same_handler(ws: Workspace) -> None:
    r = Reviewer(ws)
    widget = r.widget
    assert widget.trace["trace_id"] == "t-0000"
    widget._handle_custom_msg({"type": "key", "key": "f"}, [])
    widget._handle_custom_msg({"type": "tag", "mode": "invented_policy"}, [])
    assert [k for k in ws.history()["kind"]] == ["label", "tag"]
    assert widget.label == {
        "trace_id": "t-0000",
        "verdict": "fail",
        "note": None,
        "failure_modes": ["invented_policy"],
    }
    assert widget.status["modes"] == [{"name": "invented_policy", "count": 1, "key": "1"}]
    widget._handle_custom_msg({"type": "key", "key": "n"}, [])
    assert widget.trace["trace_id"] == "t-0001"
    assert widget.status["position"] == 1 and widget.status["reviewed"] == 1
    r.press("t")
    assert widget.focus_request["target"] == "tag"
    widget.show_help = True  # the front end toggles help by setting the trait
    assert r.show_help


def test_note_message_for_a_trace_already_left_lands_on_that_trace(ws: Workspace) -> None:
    r = Reviewer(ws)
    r.next()
    r.receive({"type": "note", "text": "typed before moving on", "trace_id": "t-0000"})
    assert label(ws, "t-0000")["note"] == "typed before moving on"
    assert r.current == "t-0001"


def test_refused_message_is_reported_not_raised(ws: Workspace) -> None:
    r = Reviewer(ws)
    r.receive({"type": "tag", "mode": "   "})
    r.receive({"type": "bogus"})
    assert "unknown message type" in r.message
    r.receive({"type": "key", "key": "9"})
    assert "no failure mode 9" in r.message
    assert events(ws) == 0


def test_view_state_is_json(ws: Workspace) -> None:
    ws.add_traces(pd.DataFrame([hostile_trace()]))
    r = Reviewer(ws, filter="all")
    r.goto("t-hostile")
    r.mark("fail")
    text = json.dumps(r.view_state())
    assert "t-hostile" in text
    assert repr(r).startswith("<Reviewer 'ana': 1 of 21 reviewed")


# Rendering -------------------------------------------------------------------------------------


def test_render_escapes_markup_in_every_field() -> None:
    html = trace_html(trace_view(hostile_trace()))
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in html


def test_view_model_keeps_raw_text_for_text_content() -> None:
    view = trace_view(hostile_trace())
    assert view["turns"][0]["content"].startswith(HOSTILE_SCRIPT)
    assert view["turns"][-1]["kind"] == "other"  # an unknown role never becomes a class name
    assert view["turns"][1]["tool_calls"][0]["name"] == HOSTILE_IMG
    assert view["span_errors"] == 1


def test_render_pairs_tool_results_with_their_calls() -> None:
    view = trace_view(support_trace(4))
    assert [t["role"] for t in view["turns"]] == ["system", "user", "assistant", "assistant"]
    call = view["turns"][2]["tool_calls"][0]
    assert call["name"] == "lookup_order" and call["arguments_ok"]
    assert call["arguments"] == '{\n  "order_id": "A1004"\n}'
    assert json.loads(call["result"])["carrier"] == "UPS"
    assert view["turns"][0]["collapsed"] and not view["turns"][1]["collapsed"]
    assert view["span_errors"] == 1 and view["spans"][1]["detail"].startswith("timeout")
    assert ["latency_ms", "1,348 ms"] in view["details"]


def test_render_odd_shapes() -> None:
    view = trace_view(
        {
            "trace_id": "odd",
            "input": "x" * (TEXT_LIMIT + 5),
            "output": "ok",
            "messages": None,
            "tool_calls": [{"id": "c1", "name": "search", "arguments": "{bad", "result": None}],
            "feedback": {"name": "thumb", "value": "up"},
            "error": "RateLimitError",
            "spans": [{"name": "s", "status": {"status_code": "error", "description": "boom"}}],
        }
    )
    assert view["turns"][0]["content"].endswith("(5 more characters)")
    assert view["extra_tool_calls"][0]["arguments_ok"] is False
    assert view["feedback"] == [{"name": "thumb", "value": "up", "comment": ""}]
    assert view["error"] == "RateLimitError" and view["spans"][0]["error"]
    tree = trace_view(
        {
            "trace_id": "tree",
            "spans": [
                {"name": "turn", "depth": 0, "status": "OK", "error": None, "duration_ms": 900.0},
                {"name": "search", "depth": 1, "status": "ERROR", "error": "HTTP 500"},
                {"name": "deep", "depth": 40, "status": "UNSET", "start": "2026-01-01T00:00:00Z"},
            ],
        }
    )
    assert [(s["depth"], s["error"], s["detail"]) for s in tree["spans"]] == [
        (0, False, ""),
        (1, True, "HTTP 500"),
        (12, False, ""),
    ]
    assert tree["spans"][0]["duration"] == "900 ms" and tree["span_errors"] == 1
    parts = trace_view(
        {
            "trace_id": "mm",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hé 🌲"}, {"type": "image_url"}],
                }
            ],
        }
    )
    assert parts["turns"][0]["content"] == "hé 🌲\n[image_url]"


def test_real_multi_turn_traces_render(shared_data: Path) -> None:
    traces = workbench.load_traces(
        shared_data / "recipe_chatbot" / "nurtureboss_traces_labeled.json",
        mapping={"lsmith_id": "trace_id"},
    )
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in traces.to_dict("records")
    ]
    for trace in records:
        view = trace_view(trace)
        json.dumps(view)
        assert view["turns"] and "<script" not in trace_html(view)
    roles = {t["role"] for trace in records for t in trace_view(trace)["turns"]}
    assert {"system", "user", "assistant", "tool"} <= roles


# Failure-mode board ----------------------------------------------------------------------------


def test_board_ranks_modes_with_examples_and_reorganises_in_place(ws: Workspace) -> None:
    r = Reviewer(ws, filter="all")
    for mode in ("made_up_policy", "fake_rule", "made_up_policy", "wrong_eta", "wrong_eta"):
        r.mark("fail")
        r.note(f"note about {mode}")
        r.tag(mode)
        r.next()
    board = FailureModes(ws, annotator="ana", examples=2)
    table = board.table()
    assert list(table["name"]) == ["made_up_policy", "wrong_eta", "fake_rule"]
    assert table.iloc[0]["examples"] == ["t-0002", "t-0000"]
    assert board.example_rows("fake_rule")[0]["note"] == "note about fake_rule"
    before = events(ws)
    board.merge(["made_up_policy", "fake_rule"], into="invented_policy")
    board.rename("wrong_eta", "wrong_delivery_date")
    board.split("invented_policy", {"invented_return_rule": ["t-0000"]})
    board.define("invented_policy", "States a policy that is not in the handbook.")
    assert events(ws) == before + 4
    modes = ws.failure_modes().set_index("name")["count"].to_dict()
    assert modes == {"invented_policy": 2, "wrong_delivery_date": 2, "invented_return_rule": 1}


def test_board_widget_buttons_call_the_same_methods(ws: Workspace) -> None:
    r = Reviewer(ws, filter="all")
    r.tag("a")
    r.next()
    r.tag("b")
    board = FailureModes(ws, annotator="ana")
    widget = board.widget
    parts = board._parts
    assert "Failure modes, most frequent first" in parts["chart"].value
    parts["modes"].value = ("a", "b")
    parts["name"].value = "ab"
    buttons = {b.description: b for b in widget.children[2].children[2].children}
    buttons["Merge"].click()
    assert list(ws.failure_modes()["name"]) == ["ab"]
    assert board.message == "merged into ab"
    buttons["Rename"].click()  # nothing selected any more
    assert board.message.startswith("not done: select 1 failure mode")


def test_board_escapes_mode_names_and_trace_text(ws: Workspace) -> None:
    ws.add_traces(pd.DataFrame([hostile_trace()]))
    r = Reviewer(ws, traces=["t-hostile"], filter="all")
    r.note(HOSTILE_IMG)
    r.tag(HOSTILE_SCRIPT)
    board = FailureModes(ws)
    board.widget  # noqa: B018 - builds and fills the widget
    html = board._parts["list"].value + board._parts["chart"].value
    assert "<script" not in html and "<img" not in html
    table = pd.DataFrame({"name": [], "count": [], "share": []})
    assert chart_html(table) == "<i>No failure modes yet.</i>"


def test_sample_traces_review_end_to_end(repo: Path, tmp_path: Path) -> None:
    sample = repo / "sample_data" / "traces.jsonl"
    if not sample.exists():
        pytest.skip(f"{sample} is not generated yet (python sample_data/generate.py)")
    ws = open_workspace(tmp_path / "sample")
    ws.add_traces(workbench.load_traces(sample).head(40))
    r = Reviewer(ws, annotator="ana")
    for _ in range(40):
        state = r.view_state()
        json.dumps(state)
        assert state["trace"]["turns"]
        r.press("p")
        r.press("n")
    assert r.progress == (40, 40)
    assert list(ws.history()["kind"]) == ["label"] * 40
