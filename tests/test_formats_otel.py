"""OpenTelemetry exports: OTLP JSON, Phoenix / OpenInference span JSON, GenAI spans, any-agent."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import workbench as wb
from workbench.traces import TraceLoadError, TraceLoadWarning, adapters
from workbench.traces.errors import LoadReport
from workbench.traces.messages import to_messages, visible_text
from workbench.traces.otel import hex_id
from workbench.traces.readers import read_items
from workbench.traces.semconv import unflatten

PHOENIX = Path("otel") / "phoenix_pxi_turn_trace.json"
ANY_AGENT = Path("otel") / "any_agent_OPENAI_trace.json"


def load_quietly(path: Path, **kwargs: Any) -> Any:
    """Load, failing the test on any loader warning (real samples must load cleanly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceLoadWarning)
        return wb.load_traces(path, **kwargs)


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def phoenix_span(
    span_id: str, parent: str | None, trace: str = "t1", **extra: Any
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "name": f"step-{span_id}",
        "context": {"trace_id": trace, "span_id": span_id},
        "span_kind": "CHAIN",
        "parent_id": parent,
        "start_time": f"2026-01-01T00:00:0{len(span_id) % 10}+00:00",
        "end_time": "2026-01-01T00:00:09+00:00",
        "status_code": "OK",
        "status_message": "",
        "attributes": {"input.value": f"in {span_id}", "output.value": f"out {span_id}"},
        "events": [],
    }
    span.update(extra)
    return span


# --- real samples ---------------------------------------------------------------------------


def test_phoenix_export_is_one_trace_of_18_spans(shared_data: Path) -> None:
    traces = load_quietly(shared_data / PHOENIX)
    assert len(traces) == 1
    row = traces.iloc[0]
    assert row["trace_id"] == "fixture-trace-1"
    assert len(row["spans"]) == 18
    assert Counter(s["kind"] for s in row["spans"]) == {"AGENT": 1, "LLM": 9, "TOOL": 8}
    assert [s["depth"] for s in row["spans"]] == [0] + [1] * 17
    assert row["spans"][0]["name"] == "pxi.turn" and row["spans"][0]["parent_id"] is None
    assert row["input"] == "can you save this trace to a dataset?"
    assert row["output"].startswith("Done! I created the dataset")
    assert row["metadata"] == {
        "name": "pxi.turn",
        "session_id": "fixture-session",
        "user_id": "user@example.com",
    }
    assert row["model"] == "claude-fable-5"
    assert row["latency_ms"] == 35_000.0
    assert str(row["timestamp"]) == "2026-07-09 00:00:00+00:00"
    json.dumps(row["spans"])  # the tree stays JSON-serialisable


def test_phoenix_error_surfaces_on_the_trace_and_its_tool_call(shared_data: Path) -> None:
    row = load_quietly(shared_data / PHOENIX).iloc[0]
    failed = [s for s in row["spans"] if s["status"] == "ERROR"]
    assert [s["name"] for s in failed] == ["add_spans_to_dataset"]
    assert row["error"].startswith("add_spans_to_dataset: Error fetching GraphQL query")
    calls = row["tool_calls"]
    assert [c["name"] for c in calls] == [
        "list_datasets",
        "list_datasets",
        "ask_user",
        "create_dataset",
        "add_spans_to_dataset",
        "bash",
        "add_spans_to_dataset",
        "get_route_info",
    ]
    assert calls[0]["id"] == "call-04"
    assert '"datasets"' in calls[0]["result"]
    assert calls[4]["error"].startswith("Error fetching GraphQL") and calls[6]["error"] is None
    assert json.loads(calls[3]["arguments"])["name"] == "golden_examples"


def test_phoenix_chat_is_unflattened_from_the_last_llm_span(shared_data: Path) -> None:
    row = load_quietly(shared_data / PHOENIX).iloc[0]
    messages = row["messages"]
    assert len(messages) == 27  # 26 input messages of the last LLM call and its reply
    assert [m["role"] for m in messages[:4]] == ["system", "user", "assistant", "tool"]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "load_skill"
    assert messages[3]["tool_call_id"] == "call-01"
    assert messages[-1]["content"].startswith("Done! I created the dataset")
    llm = [s for s in row["spans"] if s["kind"] == "LLM"]
    assert row["tokens"]["total"] == sum(s["attributes"]["llm.token_count.total"] for s in llm)


def test_any_agent_trace_with_integer_ids_tokens_and_cost(shared_data: Path) -> None:
    traces = load_quietly(shared_data / ANY_AGENT)
    assert len(traces) == 1
    row = traces.iloc[0]
    assert row["trace_id"] == f"{100927429609276267646756448943279827607:032x}"
    assert len(row["spans"]) == 6
    root = row["spans"][0]
    assert root["name"] == "invoke_agent [any_agent]" and root["kind"] == "AGENT"
    assert root["span_id"] == f"{12324293800750531911:016x}"
    assert {s["parent_id"] for s in row["spans"][1:]} == {root["span_id"]}
    assert Counter(s["kind"] for s in row["spans"]) == {"AGENT": 1, "LLM": 3, "TOOL": 2}
    assert row["tokens"] == {"prompt": 269 + 359 + 392, "completion": 16 + 14 + 46, "total": 1096}
    expected_cost = 2.69e-05 + 4.8e-06 + 3.59e-05 + 4.2e-06 + 3.92e-05 + 1.38e-05
    assert row["cost_usd"] == pytest.approx(expected_cost)
    assert row["latency_ms"] == pytest.approx(1227.25)
    assert json.loads(row["output"])["steps"][1]["description"] == "Write the year to a file."
    assert row["input"].startswith("Find what year it is in the America/New_York timezone")
    assert row["model"] == "mistral/mistral-small-latest"
    assert row["metadata"]["resource"]["service.name"] == "unknown_service"


def test_any_agent_tool_calls_and_chat(shared_data: Path) -> None:
    row = load_quietly(shared_data / ANY_AGENT).iloc[0]
    calls = row["tool_calls"]
    assert [c["name"] for c in calls] == ["get_current_time", "write_file"]
    assert json.loads(calls[0]["arguments"]) == {"timezone": "America/New_York"}
    assert '"is_dst": true' in calls[0]["result"]
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert row["messages"][4]["tool_calls"][0]["function"]["name"] == "write_file"


@pytest.mark.parametrize(("sample", "forced"), [(PHOENIX, "phoenix"), (ANY_AGENT, "otel")])
def test_sniffing_picks_the_format_that_forcing_gives(
    shared_data: Path, sample: Path, forced: str
) -> None:
    sniffed = load_quietly(shared_data / sample)
    forced_frame = load_quietly(shared_data / sample, format=forced)
    assert sniffed.drop(columns=["spans"]).equals(forced_frame.drop(columns=["spans"]))


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("otel/phoenix_pxi_turn_trace.json", "openinference"),
        ("otel/any_agent_OPENAI_trace.json", "otel"),
        ("langfuse/openai-agents-2025-09-30.trace.json", "langfuse"),
        ("langsmith/recipe_bot_hw2_runs.json", "langsmith"),
        ("openai/openai_chat_completions_tool_calls.yaml", "cassette"),
        ("recipe_chatbot/hw2_query_response.jsonl", "records"),
        ("recipe_chatbot/annotation_trace_example.json", "records"),
        ("recipe_chatbot/nurtureboss_traces_labeled.json", "records"),
        ("recipe_chatbot/nurtureboss_logs.csv", "records"),
        ("recipe_chatbot/hw5_raw_traces.jsonl", "records"),
    ],
)
def test_each_real_sample_is_sniffed_as_its_format(
    shared_data: Path, sample: str, expected: str
) -> None:
    report = LoadReport(skip=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        _, items = read_items(shared_data / sample, None, report)
    assert adapters.choose(items).name == expected
    others = [a for a in adapters.adapters() if a.name not in (expected, "records")]
    assert [a.name for a in others if a.sniff(items)] == []  # no second format claims it


def test_forcing_an_otel_format_on_plain_records_names_the_record(shared_data: Path) -> None:
    path = shared_data / "recipe_chatbot" / "hw2_query_response.jsonl"
    with pytest.raises(TraceLoadError, match=r"line 1.*'context'"):
        wb.load_traces(path, format="openinference")


# --- generated by the OpenTelemetry SDK -----------------------------------------------------


def sdk_spans() -> list[ReadableSpan]:
    """Two traces recorded by the real SDK, with GenAI attributes and one failed tool."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for city in ("Paris", "Atlantis"):
        with tracer.start_as_current_span("invoke_agent weather") as agent:
            agent.set_attribute("gen_ai.operation.name", "invoke_agent")
            agent.set_attribute("session.id", "s-1")
            with tracer.start_as_current_span("chat gpt-4o") as llm:
                llm.set_attribute("gen_ai.operation.name", "chat")
                llm.set_attribute("gen_ai.request.model", "gpt-4o")
                llm.set_attribute("gen_ai.usage.input_tokens", 12)
                llm.set_attribute("gen_ai.usage.output_tokens", 3)
                parts = [{"type": "text", "content": f"Weather in {city}?"}]
                llm.set_attribute(
                    "gen_ai.input.messages", json.dumps([{"role": "user", "parts": parts}])
                )
                call = {"type": "tool_call", "id": "c1", "name": "weather", "arguments": city}
                reply = [{"role": "assistant", "parts": [call]}]
                llm.set_attribute("gen_ai.output.messages", json.dumps(reply))
            with tracer.start_as_current_span("execute_tool weather") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "weather")
                tool.set_attribute("gen_ai.tool.call.id", "c1")
                tool.set_attribute("gen_ai.tool.call.arguments", json.dumps({"city": city}))
                if city == "Atlantis":
                    tool.set_status(Status(StatusCode.ERROR, "no such city"))
                else:
                    tool.set_attribute("gen_ai.tool.call.result", "sunny")
    provider.shutdown()
    return list(exporter.get_finished_spans())


def otlp_json(spans: list[ReadableSpan]) -> str:
    """The spans as OTLP JSON through protobuf's own JSON mapping (base64 ids, enum names)."""
    request = trace_pb2.TracesData()
    group = request.resource_spans.add()
    for key, value in spans[0].resource.attributes.items():
        group.resource.attributes.add(key=key, value=common_pb2.AnyValue(string_value=str(value)))
    scoped = group.scope_spans.add()
    scoped.scope.name = "tests"
    for span in spans:
        out = scoped.spans.add()
        out.trace_id = span.context.trace_id.to_bytes(16, "big")
        out.span_id = span.context.span_id.to_bytes(8, "big")
        if span.parent is not None:
            out.parent_span_id = span.parent.span_id.to_bytes(8, "big")
        out.name = span.name
        out.kind = trace_pb2.Span.SPAN_KIND_INTERNAL
        out.start_time_unix_nano = span.start_time or 0
        out.end_time_unix_nano = span.end_time or 0
        for key, value in (span.attributes or {}).items():
            any_value = (
                common_pb2.AnyValue(int_value=value)
                if isinstance(value, int)
                else common_pb2.AnyValue(string_value=str(value))
            )
            out.attributes.add(key=key, value=any_value)
        if span.status.status_code is StatusCode.ERROR:
            out.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            out.status.message = span.status.description or ""
    return json_format.MessageToJson(request)


def check_weather_traces(traces: Any) -> None:
    assert len(traces) == 2
    paris, atlantis = traces.iloc[0], traces.iloc[1]
    assert [s["kind"] for s in paris["spans"]] == ["AGENT", "LLM", "TOOL"]
    assert paris["input"] == "Weather in Paris?"
    assert paris["tokens"] == {"prompt": 12, "completion": 3, "total": 15}
    assert paris["model"] == "gpt-4o"
    assert paris["tool_calls"] == [
        {"id": "c1", "name": "weather", "arguments": "Paris", "result": "sunny", "error": None}
    ]
    assert paris["metadata"]["session_id"] == "s-1"
    assert paris["metadata"]["resource"]["service.name"] == "weather-bot"
    assert atlantis["error"] == "execute_tool weather: no such city"
    assert atlantis["tool_calls"][0]["error"] == "no such city"
    assert len(paris["trace_id"]) == 32 and len(paris["spans"][0]["span_id"]) == 16


def test_otlp_json_from_protobuf_mapping_with_base64_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "export.json", otlp_json(sdk_spans()))
    traces = load_quietly(path)
    check_weather_traces(traces)
    assert traces.iloc[0]["spans"][0]["attributes"]["otel.kind"] == "SPAN_KIND_INTERNAL"


def test_otlp_json_lines_spread_over_lines_are_grouped_by_trace(tmp_path: Path) -> None:
    spans = sdk_spans()
    lines = [json.dumps(json.loads(otlp_json([span]))) for span in spans]
    traces = load_quietly(write(tmp_path, "export.jsonl", "\n".join(lines) + "\n"))
    check_weather_traces(traces)


def test_sdk_span_json_one_span_per_line(tmp_path: Path) -> None:
    lines = [json.dumps(json.loads(span.to_json())) for span in sdk_spans()]
    traces = load_quietly(write(tmp_path, "spans.jsonl", "\n".join(lines)))
    check_weather_traces(traces)


def test_hand_written_otlp_with_hex_ids_and_typed_values(tmp_path: Path) -> None:
    def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"key": key, "value": value}

    span = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "",
        "name": "retrieve",
        "kind": 3,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [
            attr("openinference.span.kind", {"stringValue": "RETRIEVER"}),
            attr("retrieval.top_k", {"intValue": "5"}),
            attr("score", {"doubleValue": 0.5}),
            attr("cached", {"boolValue": True}),
            attr("ids", {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}}),
            attr("opts", {"kvlistValue": {"values": [attr("k", {"stringValue": "v"})]}}),
        ],
        "status": {"code": 1},
    }
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    row = load_quietly(write(tmp_path, "otlp.json", doc)).iloc[0]
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    only = row["spans"][0]
    assert only["kind"] == "RETRIEVER" and only["status"] == "OK" and only["duration_ms"] == 1000.0
    assert only["start"] == "2018-12-13T14:51:00+00:00"
    attributes = only["attributes"]
    assert (attributes["retrieval.top_k"], attributes["score"], attributes["cached"]) == (
        5,
        0.5,
        True,
    )
    assert attributes["ids"] == ["a", 2] and attributes["opts"] == {"k": "v"}


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        (255, 8, "00000000000000ff"),
        ("0x00000000000000FF", 8, "00000000000000ff"),
        ("AAAAAAAAAP8=", 8, "00000000000000ff"),
        ("0000000000000000", 8, None),
        ("", 8, None),
        ("fixture-trace-1", 16, "fixture-trace-1"),
    ],
)
def test_ids_hex_base64_integer_or_text(value: Any, size: int, expected: str | None) -> None:
    assert hex_id(value, size) == expected


def test_bad_typed_value_in_otlp_names_the_span(tmp_path: Path) -> None:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x"}
    span["attributes"] = [{"key": "n", "value": {"intValue": "many"}}]
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with pytest.raises(TraceLoadError) as caught:
        wb.load_traces(write(tmp_path, "otlp.json", doc))
    message = str(caught.value)
    assert message.startswith("otlp.json, field 'resourceSpans[0].scopeSpans[0].spans[0]'")
    assert "ValueError" in message


def test_unflatten_dotted_keys_into_lists_and_objects() -> None:
    flat = {
        "1.message.role": "assistant",
        "0.message.role": "user",
        "0.message.content": "hi",
        "1.message.tool_calls.0.tool_call.function.name": "f",
        "10.message.role": "tool",
    }
    nested = unflatten(flat)
    assert [m["message"]["role"] for m in nested] == ["user", "assistant", "tool"]
    assert nested[1]["message"]["tool_calls"][0]["tool_call"]["function"]["name"] == "f"


def test_phoenix_span_table_rows_with_flattened_columns(tmp_path: Path) -> None:
    row = {
        "name": "llm",
        "span_kind": "LLM",
        "parent_id": None,
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:00:01Z",
        "status_code": "OK",
        "context.trace_id": "t",
        "context.span_id": "s",
        "attributes.llm.input_messages": [{"message.role": "user", "message.content": "hi?"}],
        "attributes.llm.output_messages": [{"message.role": "assistant", "message.content": "yo"}],
    }
    traces = load_quietly(write(tmp_path, "spans.jsonl", json.dumps(row)))
    assert (traces.iloc[0]["input"], traces.iloc[0]["output"]) == ("hi?", "yo")


# --- malformed exports ----------------------------------------------------------------------


def test_missing_trace_id_names_file_record_and_field(tmp_path: Path) -> None:
    spans = [phoenix_span("a", None), phoenix_span("b", "a", trace="t2")]
    spans[1]["context"].pop("trace_id")
    path = write(tmp_path, "spans.json", spans)
    with pytest.raises(TraceLoadError) as caught:
        wb.load_traces(path)
    assert (
        str(caught.value) == "spans.json record 2, field 'context.trace_id': span has no trace id"
    )
    with pytest.warns(TraceLoadWarning, match="skipped 1 bad record"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["t1"]
    assert wb.skipped(traces)["field"].tolist() == ["context.trace_id"]


def test_cycle_in_parent_links_rejects_the_trace(tmp_path: Path) -> None:
    spans = [phoenix_span("a", None), phoenix_span("b", "c"), phoenix_span("c", "b")]
    spans += [phoenix_span("x", None, trace="t2")]
    path = write(tmp_path, "spans.json", spans)
    with pytest.raises(TraceLoadError, match=r"record 2, field 'parent_id': .*cycle: b -> c -> b"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning, match="skipped 1"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["t2"]
    assert wb.skipped(traces)["record"].tolist() == [2]


def test_a_span_that_is_its_own_parent_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "spans.json", [phoenix_span("a", None), phoenix_span("b", "b")])
    with pytest.raises(TraceLoadError, match="cycle: b -> b"):
        wb.load_traces(path)


def test_truncated_json_array_names_the_line(tmp_path: Path) -> None:
    text = json.dumps([phoenix_span("a", None), phoenix_span("b", "a")], indent=1)
    path = write(tmp_path, "spans.json", text[: len(text) // 2])
    with pytest.raises(TraceLoadError, match=r"spans.json line \d+: invalid JSON"):
        wb.load_traces(path)


def test_truncated_json_lines_file_keeps_the_complete_traces_when_skipping(tmp_path: Path) -> None:
    lines = [json.dumps(phoenix_span("a", None)), json.dumps(phoenix_span("x", None, trace="t2"))]
    path = write(tmp_path, "spans.jsonl", lines[0] + "\n" + lines[1][:40])
    with pytest.raises(TraceLoadError, match=r"spans.jsonl line 2: invalid JSON"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning, match="skipped 1"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["t1"]
    assert wb.skipped(traces)["line"].tolist() == [2]


def test_unknown_span_kind_is_kept_flagged_and_reported(tmp_path: Path) -> None:
    spans = [phoenix_span("a", None), phoenix_span("b", "a", span_kind="TELEPORTER")]
    path = write(tmp_path, "spans.json", spans)
    with pytest.warns(TraceLoadWarning, match=r"1 span\(s\) have a kind .* record 2.*'TELEPORTER'"):
        traces = wb.load_traces(path)
    span = traces.iloc[0]["spans"][1]
    assert (span["kind"], span["flags"]) == ("UNKNOWN", ["unknown_kind"])


def test_span_whose_parent_is_missing_is_kept_under_the_root(tmp_path: Path) -> None:
    spans = [phoenix_span("a", None), phoenix_span("b", "gone"), phoenix_span("c", "b")]
    path = write(tmp_path, "spans.json", spans)
    with pytest.warns(TraceLoadWarning, match=r"name a parent that is not in the export.*'gone'"):
        traces = wb.load_traces(path)
    spans_out = traces.iloc[0]["spans"]
    assert [(s["span_id"], s["parent_id"], s["depth"]) for s in spans_out] == [
        ("a", None, 0),
        ("b", "a", 1),
        ("c", "b", 2),
    ]
    assert spans_out[1]["flags"] == ["missing_parent"]
    assert spans_out[1]["source_parent_id"] == "gone"


def test_trace_without_its_root_keeps_every_span(tmp_path: Path) -> None:
    path = write(tmp_path, "spans.json", [phoenix_span("b", "gone"), phoenix_span("c", "gone")])
    with pytest.warns(TraceLoadWarning, match="2 span"):
        traces = wb.load_traces(path)
    assert [s["span_id"] for s in traces.iloc[0]["spans"]] == ["b", "c"]


def test_second_root_is_an_orphan_under_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "spans.json", [phoenix_span("a", None), phoenix_span("b", None)])
    with pytest.warns(TraceLoadWarning, match="extra roots"):
        traces = wb.load_traces(path)
    assert traces.iloc[0]["spans"][1]["flags"] == ["orphan"]


def test_repeated_span_id_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "spans.json", [phoenix_span("a", None), phoenix_span("a", None)])
    with pytest.raises(TraceLoadError, match=r"record 2, field 'context.span_id'.*repeats"):
        wb.load_traces(path)


def test_a_bad_span_leaves_its_whole_trace_out_when_skipping(tmp_path: Path) -> None:
    spans = [phoenix_span("a", None), phoenix_span("b", "a", start_time="yesterday-ish")]
    spans.append(phoenix_span("x", None, trace="t2"))
    path = write(tmp_path, "spans.json", spans)
    with pytest.raises(TraceLoadError, match=r"record 2, field 'start_time': unreadable time"):
        wb.load_traces(path)
    with pytest.warns(TraceLoadWarning):
        traces = wb.load_traces(path, errors="skip")
    assert traces["trace_id"].tolist() == ["t2"]
    assert "trace 't1' is left out" in wb.skipped(traces)["error"][0]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = ["name", "context", "span_kind", "parent_id", "start_time", "end_time", "status_code"]
FIELDS += ["status_message", "attributes", "events"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=JSONISH)
def test_any_value_in_any_span_field_loads_or_fails_with_a_trace_load_error(
    tmp_path: Path, field: str, value: Any
) -> None:
    span = phoenix_span("b", "a")
    span[field] = value
    path = write(tmp_path, "spans.json", [phoenix_span("a", None), span])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        try:
            traces = wb.load_traces(path)
        except TraceLoadError as exc:
            assert "spans.json record" in str(exc)
            return
    assert len(traces) >= 1
    json.dumps(traces.iloc[0]["spans"], default=str)


@settings(max_examples=300, deadline=None)
@given(value=JSONISH, side=st.sampled_from(["input", "output"]))
def test_message_shapes_never_fail_on_odd_values(value: Any, side: str) -> None:
    messages = to_messages(value)
    assert messages is None or all(
        isinstance(m["role"], str) and isinstance(m["content"], str) for m in messages
    )
    assert isinstance(visible_text(value, side), str)


@pytest.mark.parametrize(
    "value",
    [
        [{"role": "user", "content": 5, "tool_calls": 7, "contents": 3}],
        [{"lc": 1, "type": "constructor", "id": [], "kwargs": {"type": "human", "content": "x"}}],
        {"choices": [[]], "generations": [[]], "output": [{"type": "reasoning"}]},
        {"messages": [[{"type": "human", "content": "batched"}]]},
        [{"role": "user", "parts": [{"type": "tool_call_response", "id": 1, "response": {}}]}],
    ],
)
def test_message_shapes_odd_but_real(value: Any) -> None:
    assert isinstance(visible_text(value, "input"), str)
