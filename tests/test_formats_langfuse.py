"""Langfuse exports: trace + observations (+ scores), alone, in lists, and API pages."""

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

SAMPLE = Path("langfuse") / "openai-agents-2025-09-30.trace.json"


@pytest.fixture(scope="module")
def export(shared_data: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / SAMPLE).read_text(encoding="utf-8"))
    return data


def load_quietly(path: Path, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceLoadWarning)
        return wb.load_traces(path, **kwargs)


def write(tmp_path: Path, content: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def observation(
    obs_id: str, parent: str | None, kind: str = "SPAN", **extra: Any
) -> dict[str, Any]:
    return {
        "id": obs_id,
        "traceId": "tr-1",
        "parentObservationId": parent,
        "type": kind,
        "name": f"obs-{obs_id}",
        "startTime": "2026-01-01T00:00:00.000Z",
        "endTime": "2026-01-01T00:00:01.000Z",
        "level": "DEFAULT",
        **extra,
    }


def small_export(*observations: dict[str, Any], **trace: Any) -> dict[str, Any]:
    base = {"id": "tr-1", "name": "t", "timestamp": "2026-01-01T00:00:00.000Z", "input": "hi"}
    return {"trace": {**base, **trace}, "observations": list(observations)}


# --- the real export ------------------------------------------------------------------------


def test_real_export_is_one_trace_of_five_observations(shared_data: Path) -> None:
    traces = load_quietly(shared_data / SAMPLE)
    assert len(traces) == 1
    row = traces.iloc[0]
    assert row["trace_id"] == "fee618f96dc31e0ca38b2f7b26eb8b29"
    assert len(row["spans"]) == 5
    assert Counter(s["attributes"]["type"] for s in row["spans"]) == {
        "AGENT": 2,
        "GENERATION": 2,
        "TOOL": 1,
    }
    assert [(s["name"], s["depth"]) for s in row["spans"]] == [
        ("Agent workflow", 0),
        ("Hello world", 1),
        ("response", 2),
        ("get_weather", 2),
        ("response", 2),
    ]
    assert row["model"] == "gpt-4.1-2025-04-14"
    assert str(row["timestamp"]) == "2025-09-30 09:03:59.962000+00:00"
    assert row["latency_ms"] == pytest.approx(2190.0)
    assert row["cost_usd"] == pytest.approx(0.00023 + 0.000402)
    assert row["tokens"] == {"prompt": 55 + 85, "completion": 15 + 29, "total": 70 + 114}
    json.dumps(row["spans"])


def test_real_export_scores_become_feedback(shared_data: Path) -> None:
    feedback = load_quietly(shared_data / SAMPLE).iloc[0]["feedback"]
    assert [(f["name"], f["value"], f["source"]) for f in feedback] == [
        ("toxicity", 0.8, "EVAL"),
        ("hallucination", 0, "EVAL"),
    ]
    assert feedback[0]["comment"].startswith("The generation contains aggressive")
    assert feedback[1]["comment"].startswith("There is no specific generation")


def test_real_export_input_output_chat_and_tool_call(shared_data: Path) -> None:
    row = load_quietly(shared_data / SAMPLE).iloc[0]
    assert row["input"] == "What's the weather in Tokyo?"  # the trace's own input is null
    assert row["output"].startswith("The weather in Tokyo is currently sunny.")
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert row["tool_calls"] == [
        {
            "id": "call_Kud0j0DxWSmLzv9W5m6qVqXn",
            "name": "get_weather",
            "arguments": '{"city":"Tokyo"}',
            "result": "The weather in Tokyo is sunny.",
            "error": None,
        }
    ]
    assert "error" not in row.index or row["error"] is None


def test_real_export_keeps_trace_fields_as_metadata(shared_data: Path) -> None:
    metadata = load_quietly(shared_data / SAMPLE).iloc[0]["metadata"]
    assert metadata["name"] == "Agent workflow"
    assert metadata["environment"] == "default"
    assert metadata["projectId"] == "cloramnkj0002jz088vzn1ja4"
    assert metadata["resourceAttributes"]["telemetry.sdk.version"] == "1.37.0"
    assert metadata["scope"]["name"] == "openinference.instrumentation.openai_agents"


def test_sniffed_and_forced_agree(shared_data: Path) -> None:
    sniffed = load_quietly(shared_data / SAMPLE)
    forced = load_quietly(shared_data / SAMPLE, format="langfuse")
    assert sniffed.drop(columns=["spans"]).equals(forced.drop(columns=["spans"]))


# --- other shapes of the same export ---------------------------------------------------------


def test_trace_object_alone_with_nested_observations(
    tmp_path: Path, export: dict[str, Any], shared_data: Path
) -> None:
    alone = {**copy.deepcopy(export["trace"]), "observations": export["observations"]}
    row = load_quietly(write(tmp_path, alone)).iloc[0]
    reference = load_quietly(shared_data / SAMPLE).iloc[0]
    assert row["trace_id"] == reference["trace_id"]
    assert [s["span_id"] for s in row["spans"]] == [s["span_id"] for s in reference["spans"]]
    assert row["feedback"] == reference["feedback"]
    assert row["output"] == reference["output"]


def test_stripped_nested_copies_are_filled_from_the_full_ones(
    tmp_path: Path, export: dict[str, Any]
) -> None:
    reordered = {"observations": export["trace"]["observations"], "trace": export["trace"]}
    reordered["trace"] = {**export["trace"], "observations": export["observations"]}
    row = load_quietly(write(tmp_path, reordered)).iloc[0]
    assert row["input"] == "What's the weather in Tokyo?"
    assert row["spans"][0]["attributes"]["metadata"]["scope"]["version"] == "1.3.0"


def test_list_of_exports_and_api_page(tmp_path: Path, export: dict[str, Any]) -> None:
    second = copy.deepcopy(export)
    second["trace"]["id"] = "another"
    for obs in second["observations"] + second["trace"]["observations"]:
        obs["traceId"] = "another"
    traces = load_quietly(write(tmp_path, [export, second]))
    assert traces["trace_id"].tolist() == ["fee618f96dc31e0ca38b2f7b26eb8b29", "another"]
    page = {"data": [export["trace"], second["trace"]], "meta": {"page": 1}}
    assert load_quietly(write(tmp_path, page, "page.json"))["trace_id"].tolist() == [
        "fee618f96dc31e0ca38b2f7b26eb8b29",
        "another",
    ]


def test_human_and_api_scores_with_categorical_and_boolean_values(tmp_path: Path) -> None:
    scores = [
        {
            "id": "s1",
            "name": "tone",
            "value": None,
            "stringValue": "rude",
            "dataType": "CATEGORICAL",
            "source": "ANNOTATION",
            "comment": "snippy",
            "authorUserId": "ana",
        },
        {
            "id": "s2",
            "name": "resolved",
            "value": 1,
            "dataType": "BOOLEAN",
            "source": "API",
            "observationId": "a",
        },
    ]
    doc = small_export(observation("a", None), scores=scores)
    feedback = load_quietly(write(tmp_path, doc)).iloc[0]["feedback"]
    assert feedback == [
        {
            "name": "tone",
            "value": "rude",
            "source": "ANNOTATION",
            "comment": "snippy",
            "annotator": "ana",
        },
        {"name": "resolved", "value": True, "source": "API", "comment": None, "span_id": "a"},
    ]


def test_error_level_observation_is_the_trace_error(tmp_path: Path) -> None:
    failing = observation("b", "a", "TOOL", level="ERROR", statusMessage="timeout after 30s")
    doc = small_export(observation("a", None, "AGENT"), failing)
    row = load_quietly(write(tmp_path, doc)).iloc[0]
    assert row["error"] == "obs-b: timeout after 30s"
    assert row["spans"][1]["status"] == "ERROR"
    assert row["tool_calls"][0]["error"] == "timeout after 30s"


def test_trace_without_observations_still_loads(tmp_path: Path) -> None:
    doc = small_export(output="hello there")
    row = load_quietly(write(tmp_path, doc)).iloc[0]
    assert (row["input"], row["output"], row["spans"]) == ("hi", "hello there", [])


# --- malformed exports ----------------------------------------------------------------------


def test_missing_trace_id_names_the_record_and_field(tmp_path: Path) -> None:
    good = small_export(observation("a", None))
    bad = small_export(observation("a", None) | {"traceId": None})
    bad["trace"].pop("id")
    path = write(tmp_path, [good, bad])
    with pytest.raises(
        TraceLoadError, match=r"export.json record 2, field 'trace.id': trace has no id"
    ):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning, match="skipped 1"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["tr-1"]
    assert wb.skipped(traces)["record"].tolist() == [2]


def test_cycle_in_parent_observations(tmp_path: Path) -> None:
    doc = small_export(observation("a", None), observation("b", "c"), observation("c", "b"))
    with pytest.raises(TraceLoadError, match=r"'observations\[1\].parentObservationId'.*cycle"):
        wb.load_traces(write(tmp_path, doc))


def test_truncated_export(tmp_path: Path, export: dict[str, Any]) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export, indent=1)[:5000], encoding="utf-8")
    with pytest.raises(TraceLoadError, match=r"export.json line \d+: invalid JSON"):
        wb.load_traces(path, format="langfuse")


def test_unknown_observation_type_is_kept_and_reported(tmp_path: Path) -> None:
    doc = small_export(observation("a", None), observation("b", "a", "HOLOGRAM"))
    with pytest.warns(TraceLoadWarning, match=r"observations\[1\].type.*'HOLOGRAM'"):
        row = wb.load_traces(write(tmp_path, doc)).iloc[0]
    assert (row["spans"][1]["kind"], row["spans"][1]["flags"]) == ("UNKNOWN", ["unknown_kind"])


def test_observation_whose_parent_is_missing_is_kept_and_flagged(tmp_path: Path) -> None:
    doc = small_export(observation("a", None), observation("b", "zzz"))
    with pytest.warns(TraceLoadWarning, match=r"parentObservationId.*'zzz'"):
        row = wb.load_traces(write(tmp_path, doc)).iloc[0]
    assert row["spans"][1]["flags"] == ["missing_parent"]
    assert (row["spans"][1]["parent_id"], row["spans"][1]["source_parent_id"]) == ("a", "zzz")


def test_observation_without_id(tmp_path: Path) -> None:
    doc = small_export(observation("a", None), observation("", "a"))
    with pytest.raises(
        TraceLoadError, match=r"field 'observations\[1\].id': observation has no id"
    ):
        wb.load_traces(write(tmp_path, doc))


@pytest.mark.parametrize("bad", [[], "text", {"observations": 3, "id": "x", "timestamp": 1}])
def test_forcing_langfuse_on_something_else_is_a_load_error(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(TraceLoadError, match=r"export\.json record 1"):
        wb.load_traces(write(tmp_path, [bad]), format="langfuse")


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
            *("id", "parentObservationId", "type", "startTime", "endTime", "input", "output"),
            *("level", "model", "usageDetails", "costDetails", "metadata", "statusMessage"),
        ]
    ),
    value=JSONISH,
    where=st.sampled_from(["observation", "trace", "score"]),
)
def test_any_value_in_any_field_loads_or_fails_with_a_trace_load_error(
    tmp_path: Path, field: str, value: Any, where: str
) -> None:
    doc = small_export(observation("a", None), observation("b", "a", "GENERATION"))
    doc["scores"] = [{"id": "s", "name": "n", "value": 1, "source": "API"}]
    target = {
        "observation": doc["observations"][1],
        "trace": doc["trace"],
        "score": doc["scores"][0],
    }
    target[where][field] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        try:
            traces = wb.load_traces(write(tmp_path, doc))
        except TraceLoadError as exc:
            assert str(exc).startswith("export.json")
            return
    json.dumps(traces.iloc[0]["spans"], default=str)
