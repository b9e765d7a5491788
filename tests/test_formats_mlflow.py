"""MLflow traces, built with the mlflow-tracing package itself (no MLflow sample file exists).

No tracking server runs in tests: the traces are recorded with ``@mlflow.trace`` and
``mlflow.start_span`` as usual, and the exporter's final network step (sending the
finished trace to a server) is replaced by keeping the ``Trace`` object, which is
then serialised with MLflow's own ``Trace.to_json()``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench.traces import TraceLoadError, TraceLoadWarning

mlflow = pytest.importorskip("mlflow", reason="mlflow-tracing (a dev extra) builds the traces")

from mlflow.entities import AssessmentSource, Feedback, SpanType, Trace  # noqa: E402
from mlflow.entities.trace_info_v2 import TraceInfoV2  # noqa: E402
from mlflow.entities.trace_location import MlflowExperimentLocation  # noqa: E402
from mlflow.tracing.constant import SpanAttributeKey, TraceMetadataKey  # noqa: E402
from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter  # noqa: E402


def chat_reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    if messages[-1]["role"] == "user":
        arguments = json.dumps({"city": "Paris"})
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "weather", "arguments": arguments},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
    else:
        message = {"role": "assistant", "content": "It is sunny in Paris."}
    return {"model": "gpt-4o-mini", "choices": [{"index": 0, "message": message}]}


@mlflow.trace(span_type=SpanType.CHAT_MODEL)
def chat_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
    span = mlflow.get_current_active_span()
    usage = {
        "input_tokens": 10 * len(messages),
        "output_tokens": 5,
        "total_tokens": 10 * len(messages) + 5,
    }
    span.set_attribute(SpanAttributeKey.CHAT_USAGE, usage)
    return chat_reply(messages)


@mlflow.trace(span_type=SpanType.TOOL)
def weather(city: str) -> str:
    if city == "Atlantis":
        raise ValueError(f"no such city: {city}")
    return f"sunny in {city}"


@mlflow.trace(name="weather_agent", span_type=SpanType.AGENT)
def agent(question: str) -> str:
    mlflow.update_current_trace(
        tags={"team": "search"},
        metadata={TraceMetadataKey.TRACE_USER: "ana", TraceMetadataKey.TRACE_SESSION: "s-1"},
    )
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    first = chat_model(messages)["choices"][0]["message"]
    messages += [first, {"role": "tool", "tool_call_id": "c1", "content": weather("Paris")}]
    answer: str = chat_model(messages)["choices"][0]["message"]["content"]
    return answer


def failing_agent() -> None:
    with mlflow.start_span("lookup", span_type=SpanType.CHAIN) as span:
        span.set_inputs({"question": "Weather in Atlantis?"})
        weather("Atlantis")


def odd_kind() -> None:
    with mlflow.start_span("root", span_type=SpanType.AGENT) as span:
        span.set_inputs({"q": "hi"})
        with mlflow.start_span("beam me up", span_type="HOLOGRAM"):
            pass
        span.set_outputs("bye")


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Trace]]:
    """Traces recorded by mlflow: a tool-using agent, a failing one, one with a custom kind."""
    captured: list[Trace] = []

    def keep(exporter: Any, trace: Trace, prompts: Any = (), workspace: Any = None) -> None:
        captured.append(trace)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # never contacted
        patch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
        patch.setattr(MlflowV3SpanExporter, "_log_trace", keep)
        patch.setattr(MlflowV3SpanExporter, "_export_spans_incrementally", lambda *_: None)
        mlflow.tracing.reset()
        mlflow.tracing.set_destination(MlflowExperimentLocation(experiment_id="0"))
        try:
            agent("Weather in Paris?")
            with pytest.raises(ValueError, match="no such city"):
                failing_agent()
            odd_kind()
        finally:
            mlflow.tracing.reset()
    assert len(captured) == 3
    captured[0].info.assessments = [
        Feedback(
            name="correct",
            value=False,
            rationale="the user asked about Rome",
            source=AssessmentSource(source_type="HUMAN", source_id="ana"),
        ),
        Feedback(
            name="relevance",
            value=0.5,
            rationale="partly on topic",
            source=AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-4o"),
        ),
    ]
    yield captured


def write(tmp_path: Path, text: str, name: str = "trace.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_quietly(path: Path, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceLoadWarning)
        return wb.load_traces(path, **kwargs)


def test_single_trace_document(tmp_path: Path, recorded: list[Trace]) -> None:
    traces = load_quietly(write(tmp_path, recorded[0].to_json()))
    assert len(traces) == 1
    row = traces.iloc[0]
    assert row["trace_id"] == recorded[0].info.trace_id
    assert row["input"] == "Weather in Paris?"
    assert row["output"] == "It is sunny in Paris."
    assert [(s["name"], s["kind"], s["depth"]) for s in row["spans"]] == [
        ("weather_agent", "AGENT", 0),
        ("chat_model", "LLM", 1),
        ("weather", "TOOL", 1),
        ("chat_model", "LLM", 1),
    ]
    assert row["model"] == "gpt-4o-mini"
    assert row["tokens"] == {"prompt": 20 + 40, "completion": 10, "total": 70}
    assert row["latency_ms"] == recorded[0].info.execution_duration
    assert row["timestamp"].value // 10**6 == recorded[0].info.request_time
    json.dumps(row["spans"])


def test_chat_and_tool_calls(tmp_path: Path, recorded: list[Trace]) -> None:
    row = load_quietly(write(tmp_path, recorded[0].to_json())).iloc[0]
    assert [m["role"] for m in row["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert row["tool_calls"] == [
        {
            "id": "c1",
            "name": "weather",
            "arguments": '{"city": "Paris"}',
            "result": "sunny in Paris",
            "error": None,
        }
    ]


def test_assessments_are_feedback_and_trace_fields_are_metadata(
    tmp_path: Path, recorded: list[Trace]
) -> None:
    row = load_quietly(write(tmp_path, recorded[0].to_json())).iloc[0]
    assert row["feedback"] == [
        {
            "name": "correct",
            "value": False,
            "source": "HUMAN",
            "comment": "the user asked about Rome",
            "annotator": "ana",
        },
        {
            "name": "relevance",
            "value": 0.5,
            "source": "LLM_JUDGE",
            "comment": "partly on topic",
            "annotator": "gpt-4o",
        },
    ]
    metadata = row["metadata"]
    assert (metadata["name"], metadata["user_id"], metadata["session_id"]) == (
        "weather_agent",
        "ana",
        "s-1",
    )
    assert metadata["tags"] == {"team": "search"}
    assert metadata["state"] == "OK"


def test_failed_tool_is_the_trace_error(tmp_path: Path, recorded: list[Trace]) -> None:
    row = load_quietly(write(tmp_path, recorded[1].to_json())).iloc[0]
    assert row["error"] == "weather: ValueError: no such city: Atlantis"
    assert [s["status"] for s in row["spans"]] == ["ERROR", "ERROR"]
    assert row["tool_calls"][0]["error"] == "ValueError: no such city: Atlantis"
    assert row["input"] == "Weather in Atlantis?"


def test_json_array_and_json_lines_of_traces(tmp_path: Path, recorded: list[Trace]) -> None:
    docs = [recorded[0].to_dict(), recorded[1].to_dict()]
    as_array = load_quietly(write(tmp_path, json.dumps(docs)))
    as_lines = load_quietly(write(tmp_path, "\n".join(json.dumps(d) for d in docs), "t.jsonl"))
    assert (
        as_array["trace_id"].tolist()
        == as_lines["trace_id"].tolist()
        == [
            recorded[0].info.trace_id,
            recorded[1].info.trace_id,
        ]
    )
    forced = load_quietly(write(tmp_path, json.dumps(docs)), format="mlflow")
    assert forced.drop(columns=["spans"]).equals(as_array.drop(columns=["spans"]))


def test_version_2_trace_info(tmp_path: Path, recorded: list[Trace]) -> None:
    info = TraceInfoV2.from_v3(recorded[1].info).to_dict()
    doc = {"info": info, "data": recorded[1].data.to_dict()}
    row = load_quietly(write(tmp_path, json.dumps(doc))).iloc[0]
    assert row["trace_id"] == recorded[1].info.trace_id
    assert row["timestamp"].value // 10**6 == info["timestamp_ms"]
    assert row["error"].startswith("weather: ValueError")


def test_custom_span_type_is_kept_as_unknown_and_reported(
    tmp_path: Path, recorded: list[Trace]
) -> None:
    with pytest.warns(TraceLoadWarning, match=r"mlflow.spanType': 'HOLOGRAM'"):
        row = wb.load_traces(write(tmp_path, recorded[2].to_json())).iloc[0]
    assert (row["spans"][1]["kind"], row["spans"][1]["flags"]) == ("UNKNOWN", ["unknown_kind"])
    assert (row["input"], row["output"]) == ("hi", "bye")


# --- malformed exports ----------------------------------------------------------------------


def test_missing_trace_id(tmp_path: Path, recorded: list[Trace]) -> None:
    bad = recorded[0].to_dict()
    bad["info"].pop("trace_id")
    path = write(tmp_path, json.dumps([recorded[1].to_dict(), bad]))
    with pytest.raises(TraceLoadError, match=r"trace.json record 2, field 'info.trace_id'"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning, match="skipped 1"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == [recorded[1].info.trace_id]


def test_cycle_in_parent_span_ids(tmp_path: Path, recorded: list[Trace]) -> None:
    doc = recorded[0].to_dict()
    spans = doc["data"]["spans"]
    spans[0]["parent_span_id"] = spans[1]["span_id"]  # the root now hangs under its child
    with pytest.raises(TraceLoadError, match=r"data.spans\[0\].parent_span_id'.*cycle"):
        wb.load_traces(write(tmp_path, json.dumps(doc)))


def test_missing_root_span_keeps_the_rest_flagged(tmp_path: Path, recorded: list[Trace]) -> None:
    doc = recorded[0].to_dict()
    del doc["data"]["spans"][0]
    with pytest.warns(TraceLoadWarning, match=r"3 span\(s\) name a parent"):
        row = wb.load_traces(write(tmp_path, json.dumps(doc))).iloc[0]
    assert [s["flags"] for s in row["spans"]] == [["missing_parent"]] * 3
    assert row["input"] == "Weather in Paris?"  # the trace's own facts still apply


def test_truncated_trace(tmp_path: Path, recorded: list[Trace]) -> None:
    text = recorded[0].to_json(pretty=True)
    with pytest.raises(TraceLoadError, match=r"trace.json line \d+: invalid JSON"):
        wb.load_traces(write(tmp_path, text[: len(text) // 2]), format="mlflow")


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
            *("span_id", "parent_span_id", "name", "start_time_unix_nano", "end_time_unix_nano"),
            *("status", "attributes", "events", "info.trace_id", "info.assessments"),
            *("info.trace_metadata", "info.request_time", "info.tags"),
        ]
    ),
    value=JSONISH,
)
def test_any_value_in_any_field_loads_or_fails_with_a_trace_load_error(
    tmp_path: Path, recorded: list[Trace], field: str, value: Any
) -> None:
    doc = recorded[0].to_dict()
    if field.startswith("info."):
        doc["info"][field[5:]] = value
    else:
        doc["data"]["spans"][1][field] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        try:
            traces = wb.load_traces(write(tmp_path, json.dumps(doc)))
        except TraceLoadError as exc:
            assert str(exc).startswith("trace.json")
            return
    json.dumps(traces.iloc[0]["spans"], default=str)
