"""The real trace files kept beside the repository load, with the counts they hold."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import workbench as wb
from workbench.traces import REQUIRED_COLUMNS, TraceLoadError, TraceLoadWarning


@pytest.mark.parametrize(
    ("name", "count", "first_id"),
    [
        ("hw2_query_response.jsonl", 250, "SYN025"),
        ("hw3_labeled_traces.jsonl", 101, None),
        ("hw5_raw_traces.jsonl", 96, "1373de99-f107-48da-b272-9e47c9b935dd"),
        ("hw5_labeled_traces.jsonl", 96, "1373de99-f107-48da-b272-9e47c9b935dd"),
        ("hw3_dietary_queries.csv", 60, "1"),
        ("hw3_judge_run_hamel_test_set.csv", 45, None),
        ("sample_queries.csv", 3, "1"),
        ("annotation_trace_example.json", 1, None),
    ],
)
def test_recipe_chatbot_files_load_without_configuration(
    shared_data: Path, name: str, count: int, first_id: str | None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)  # one file repeats a column name
        traces = wb.load_traces(shared_data / "recipe_chatbot" / name)
    assert len(traces) == count
    assert list(traces.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert traces["trace_id"].is_unique
    assert (traces["input"].str.len() > 0).all()
    if first_id is not None:
        assert traces["trace_id"][0] == first_id


def test_labels_and_extra_fields_are_kept_in_metadata(shared_data: Path) -> None:
    traces = wb.load_traces(shared_data / "recipe_chatbot" / "hw3_labeled_traces.jsonl")
    labels = traces["metadata"].map(lambda m: m["label"]).value_counts().to_dict()
    assert labels == {"PASS": 75, "FAIL": 26}
    assert {"dietary_restriction", "reasoning", "confidence"} <= traces["metadata"][0].keys()


def test_non_standard_agent_role_counts_as_the_app(shared_data: Path) -> None:
    traces = wb.load_traces(shared_data / "recipe_chatbot" / "hw5_raw_traces.jsonl")
    roles = {m["role"] for msgs in traces["messages"] for m in msgs}
    assert roles == {"user", "assistant", "agent"}
    assert (traces["output"].str.len() > 0).all()


def test_nurtureboss_needs_one_line_mapping_because_every_id_is_root(shared_data: Path) -> None:
    path = shared_data / "recipe_chatbot" / "nurtureboss_traces_labeled.json"
    with pytest.raises(TraceLoadError, match=r"'root'.*mapping=\{'lsmith_id': 'trace_id'\}"):
        wb.load_traces(path)
    traces = wb.load_traces(path, mapping={"lsmith_id": "trace_id"})
    assert len(traces) == 100
    assert traces["metadata"].map(lambda m: m.get("z_note") is not None).sum() == 42
    assert traces["tool_calls"].map(len).sum() == 0  # tool turns are role+content only here


def test_braintrust_style_csv_with_json_cells_and_its_malformed_row(shared_data: Path) -> None:
    path = shared_data / "recipe_chatbot" / "nurtureboss_logs.csv"
    with pytest.raises(TraceLoadError) as caught:
        wb.load_traces(path)
    assert str(caught.value).startswith(
        "nurtureboss_logs.csv record 40 (line 41), field 'input[2]'"
    )
    with pytest.warns(TraceLoadWarning, match="skipped 1 bad record"):
        traces = wb.load_traces(path, mapping={"span_id": "trace_id"}, errors="skip")
    assert len(traces) == 99
    assert wb.skipped(traces)["record"].tolist() == [40]
    assert traces["timestamp"].notna().all()
    assert (traces["tool_calls"].map(len) > 0).sum() == 82
    assert "lsmith_id" in traces["metadata"][0]


def test_recorded_openai_call_with_tool_calls(shared_data: Path) -> None:
    traces = wb.load_traces(shared_data / "openai" / "openai_chat_completions_tool_calls.yaml")
    assert len(traces) == 1
    row = traces.iloc[0]
    assert row["input"] == "What's the weather and population in San Francisco?"
    assert row["output"].startswith("[tool calls] get_weather(")
    assert row["model"] == "gpt-4o-mini-2024-07-18"
    assert row["tokens"] == {"prompt": 207, "completion": 46, "total": 253}
    assert [c["name"] for c in row["tool_calls"]] == [
        "get_weather",
        "get_population",
        "get_weather",
        "get_population",
    ]
    assert row["metadata"]["tools"][0]["function"]["name"] == "get_weather"


def test_judge_run_csv_keeps_both_of_its_confidence_columns(shared_data: Path) -> None:
    path = shared_data / "recipe_chatbot" / "hw3_judge_run_hamel_test_set.csv"
    with pytest.warns(TraceLoadWarning, match="'confidence'"):
        traces = wb.load_traces(path)
    assert {"confidence", "confidence.1", "llm_judge_label"} <= traces["metadata"][0].keys()
