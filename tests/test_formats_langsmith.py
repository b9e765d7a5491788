"""LangSmith run exports: run lists to traces, errors, feedback, LangChain messages."""

from __future__ import annotations

import copy
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench.traces import TraceLoadError, TraceLoadWarning

SAMPLE = Path("langsmith") / "recipe_bot_hw2_runs.json"


@pytest.fixture(scope="module")
def runs(shared_data: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((shared_data / SAMPLE).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def traces(shared_data: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceLoadWarning)
        return wb.load_traces(shared_data / SAMPLE)


def write(tmp_path: Path, content: Any, name: str = "runs.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def run(run_id: str, parent: str | None, run_type: str = "chain", **extra: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "trace_id": "root",
        "parent_run_id": parent,
        "name": f"run-{run_id}",
        "run_type": run_type,
        "inputs": {},
        "outputs": {},
        "error": None,
        "start_time": "2026-01-01T00:00:00+00:00",
        "end_time": "2026-01-01T00:00:01+00:00",
        **extra,
    }


def agent_with_failing_tool() -> list[dict[str, Any]]:
    """A small agent trace whose web_search tool run failed (the real export has no errors)."""
    question = {"type": "human", "content": "vegan lasagna?"}
    call = {"id": "call_1", "name": "web_search", "args": {"query": "vegan lasagna"}}
    asked = {"type": "ai", "content": "", "tool_calls": [call]}
    failure = "ToolException: search backend timed out"
    apology = {"type": "ai", "content": "Sorry, search is down right now."}
    return [
        run("root", None, inputs={"messages": [question]}, outputs={"messages": [asked, apology]}),
        run("llm1", "root", "llm", inputs={"messages": [question]}),
        run("tools", "root", error=failure),
        run(
            "search", "tools", "tool", inputs={"input": "{'query': 'vegan lasagna'}"}, error=failure
        ),
        run("llm2", "root", "llm", start_time="2026-01-01T00:00:00.5+00:00"),
    ]


# --- the real export ------------------------------------------------------------------------


def test_real_export_is_50_traces_of_510_runs(traces: Any, runs: list[dict[str, Any]]) -> None:
    assert len(runs) == 510
    assert len(traces) == 50
    assert traces["trace_id"].is_unique
    assert traces["spans"].map(len).sum() == 510
    assert set(traces["metadata"].map(lambda m: m["name"])) == {"Recipe_Bot"}
    assert all(row[0]["name"] == "Recipe_Bot" and row[0]["depth"] == 0 for row in traces["spans"])
    kinds = Counter(s["kind"] for spans in traces["spans"] for s in spans)
    assert kinds == {"CHAIN": 280, "LLM": 140, "TOOL": 90}
    assert set(traces["model"]) == {"gpt-5.4-nano"}
    assert (traces["input"].str.len() > 0).all() and (traces["output"].str.len() > 0).all()
    assert "error" not in traces.columns  # every run says error: null


def test_real_export_reviewer_comments_are_feedback_on_all_50(traces: Any) -> None:
    assert traces["feedback"].map(len).tolist() == [1] * 50
    entries = [row[0] for row in traces["feedback"]]
    assert {e["name"] for e in entries} == {"recipe-bot-feedback"}
    assert all(e["comment"] for e in entries)
    assert entries[0]["comment"] == "Three identical web_search calls when one would suffice"
    assert all("_feedback" not in m for m in traces["metadata"])


def test_real_export_web_search_calls_are_extracted(traces: Any) -> None:
    calls = [call for row in traces["tool_calls"] for call in row]
    assert len(calls) == 90
    assert {c["name"] for c in calls} == {"web_search"}
    first = traces.iloc[0]["tool_calls"][0]
    assert first["id"] == "call_8b452f4ff7ff4531a4528d75"
    assert first["arguments"] == {"query": "need quick chicken dish low sodium with lemon 🍋"}
    assert json.loads(first["result"])["results"][0]["title"] == "Creamy Garlic Chicken"
    assert traces["tool_calls"].map(len).value_counts().to_dict() == {1: 30, 3: 20}


def test_real_export_chat_tokens_and_metadata(traces: Any) -> None:
    row = traces.iloc[0]
    assert row["input"] == "need quick chicken dish low sodium with lemon 🍋"
    assert [m["role"] for m in row["messages"]][:3] == ["system", "user", "assistant"]
    assert row["messages"][-1]["content"] == row["output"]
    assert row["tokens"] == {"prompt": 318 + 283 + 290 + 513, "completion": 827, "total": 3037}
    assert row["metadata"]["agent_version"] == "1.0.0"
    assert row["metadata"]["tags"] == ["recipe-agent", "production"]
    assert row["latency_ms"] == pytest.approx(5493.0)


def test_sniffed_and_forced_agree(shared_data: Path, traces: Any) -> None:
    forced = wb.load_traces(shared_data / SAMPLE, format="langsmith")
    assert traces.drop(columns=["spans"]).equals(forced.drop(columns=["spans"]))


# --- errors, feedback, other shapes ---------------------------------------------------------


def test_failing_tool_run_is_the_trace_error(tmp_path: Path) -> None:
    row = wb.load_traces(write(tmp_path, agent_with_failing_tool())).iloc[0]
    assert row["error"] == "run-search: ToolException: search backend timed out"
    search = next(s for s in row["spans"] if s["name"] == "run-search")
    assert (search["status"], search["depth"]) == ("ERROR", 2)
    assert row["tool_calls"] == [
        {
            "id": None,
            "name": "run-search",
            "arguments": {"input": "{'query': 'vegan lasagna'}"},
            "result": None,
            "error": "ToolException: search backend timed out",
        }
    ]
    assert row["output"] == "Sorry, search is down right now."


def test_feedback_stats_and_feedback_objects(tmp_path: Path) -> None:
    root = run(
        "root",
        None,
        feedback_stats={"correctness": {"n": 2, "avg": 0.5}},
        feedback=[
            {"key": "helpful", "score": 1, "comment": "ok", "feedback_source": {"type": "app"}}
        ],
    )
    child = run(
        "c", "root", extra={"metadata": {"_feedback": {"key": "style", "comment": "terse"}}}
    )
    feedback = wb.load_traces(write(tmp_path, [root, child])).iloc[0]["feedback"]
    assert feedback == [
        {"name": "helpful", "value": 1, "source": "app", "comment": "ok"},
        {"name": "correctness", "value": 0.5, "source": "feedback_stats", "comment": None},
        {
            "name": "style",
            "value": None,
            "source": "metadata._feedback",
            "comment": "terse",
            "span_id": "c",
        },
    ]


def test_nested_child_runs(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    by_parent: dict[Any, list[dict[str, Any]]] = {}
    members = [copy.deepcopy(r) for r in runs if r["trace_id"] == runs[0]["trace_id"]]
    for member in members:
        by_parent.setdefault(member.pop("parent_run_id"), []).append(member)
    for member in members:
        member["child_runs"] = by_parent.get(member["id"], [])
    root = by_parent[None][0] | {"parent_run_id": None}
    row = wb.load_traces(write(tmp_path, [root])).iloc[0]
    assert len(row["spans"]) == 15
    assert len(row["tool_calls"]) == 3


def test_runs_without_trace_id_are_grouped_by_walking_up_to_the_root(tmp_path: Path) -> None:
    runs_ = [run("r", None), run("a", "r"), run("b", "a"), run("s", None)]
    for item in runs_:
        item.pop("trace_id")
    traces = wb.load_traces(write(tmp_path, runs_))
    assert traces["trace_id"].tolist() == ["r", "s"]
    assert [s["depth"] for s in traces.iloc[0]["spans"]] == [0, 1, 2]


def test_plain_prompt_llm_run(tmp_path: Path) -> None:
    llm = run("r", None, "llm", inputs={"prompts": ["Say hi"]})
    llm["outputs"] = {"generations": [[{"text": "hi!", "type": "Generation"}]]}
    row = wb.load_traces(write(tmp_path, [llm])).iloc[0]
    assert (row["input"], row["output"]) == ("Say hi", "hi!")


# --- malformed exports ----------------------------------------------------------------------


def test_run_without_trace_whose_parent_is_absent_is_refused(tmp_path: Path) -> None:
    lost = run("x", "nowhere")
    lost.pop("trace_id")
    path = write(tmp_path, [run("r", None), lost])
    with pytest.raises(TraceLoadError, match=r"runs.json record 2, field 'trace_id'"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning, match="skipped 1"):
        assert wb.load_traces(path, errors="skip")["trace_id"].tolist() == ["root"]


def test_cycle_between_runs(tmp_path: Path) -> None:
    path = write(tmp_path, [run("r", None), run("a", "b"), run("b", "a")])
    with pytest.raises(
        TraceLoadError, match=r"record 2, field 'parent_run_id'.*cycle: a -> b -> a"
    ):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning):
        assert wb.load_traces(path, errors="skip").empty


def test_truncated_export(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(agent_with_failing_tool(), indent=1)[:900], encoding="utf-8")
    with pytest.raises(TraceLoadError, match=r"runs.json line \d+: invalid JSON"):
        wb.load_traces(path)


def test_unknown_run_type_is_kept_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path, [run("r", None), run("a", "r", "quantum")])
    with pytest.warns(TraceLoadWarning, match=r"record 2, field 'run_type': 'quantum'"):
        row = wb.load_traces(path).iloc[0]
    assert row["spans"][1]["kind"] == "UNKNOWN"


def test_run_whose_parent_is_missing_is_kept_and_flagged(tmp_path: Path) -> None:
    path = write(tmp_path, [run("r", None), run("a", "ghost")])
    with pytest.warns(TraceLoadWarning, match=r"parent_run_id.*'ghost'"):
        row = wb.load_traces(path).iloc[0]
    assert row["spans"][1]["flags"] == ["missing_parent"]


def test_unreadable_run_leaves_its_trace_out_when_skipping(tmp_path: Path) -> None:
    bad = run("a", "r", start_time="the day before")
    other = run("s", None) | {"trace_id": "s"}
    path = write(tmp_path, [run("r", None), bad, other])
    with pytest.raises(TraceLoadError, match=r"record 2, field 'start_time': unreadable time"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["s"]
    assert "trace 'root' is left out" in wb.skipped(traces)["error"][0]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        [
            *("id", "trace_id", "parent_run_id", "name", "run_type", "inputs", "outputs", "error"),
            *("start_time", "end_time", "extra", "feedback_stats", "feedback", "child_runs"),
            *("total_tokens", "events", "tags"),
        ]
    ),
    value=JSONISH,
    which=st.sampled_from([0, 1, 3]),
)
def test_any_value_in_any_run_field_loads_or_fails_with_a_trace_load_error(
    tmp_path: Path, field: str, value: Any, which: int
) -> None:
    runs_ = agent_with_failing_tool()
    runs_[which][field] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        try:
            traces = wb.load_traces(write(tmp_path, runs_), format="langsmith")
        except TraceLoadError as exc:
            assert str(exc).startswith("runs.json")
            return
    for spans in traces["spans"]:
        json.dumps(spans, default=str)
