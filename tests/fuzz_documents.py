"""Small, valid trace files in every format the loader reads, built from one span list.

The fuzz tests draw span forests with hypothesis and render them here; the mutation
fuzzer uses fixed ones as seeds for the formats that have no real sample file (OTLP,
MLflow, Parquet, Phoenix span tables). Each builder returns the documents of one file
and the trace ids the loader must report for them, so a valid file can be checked
exactly: every trace loaded, each with all of its spans.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_NS = 1_767_225_600_000_000_000
"""2026-01-01T00:00:00Z in nanoseconds: span times count from here."""


@dataclass(frozen=True)
class SpanSpec:
    """One span of a generated trace, independent of any export format."""

    trace: int
    """The trace it belongs to (0, 1, ...)."""
    span: int
    """Its number, unique in the file."""
    parent: int | None
    """The parent's ``span`` number; ``None`` for the root."""
    kind: str
    """``"AGENT"``, ``"LLM"``, ``"TOOL"`` or ``"CHAIN"``."""
    text_in: str
    """What the span received."""
    text_out: str
    """What it returned."""
    start_ms: int = 0
    """Start, in milliseconds after :data:`BASE_NS`."""
    duration_ms: int = 5
    """How long it ran."""


@dataclass(frozen=True)
class Built:
    """A rendered file: its container, its content and the traces it holds."""

    container: str
    """``"json"``, ``"jsonl"``, ``"csv"`` or ``"parquet"``."""
    documents: Any
    """A JSON document (``json``), a list of them (``jsonl``) or a list of rows (``csv``...)."""
    traces: dict[str, int]
    """Trace id as the loader reports it -> number of spans the trace has."""


def trace_hex(number: int) -> str:
    """A 16-byte trace id in hex."""
    return f"{number + 1:032x}"


def span_hex(number: int) -> str:
    """An 8-byte span id in hex."""
    return f"{number + 1:016x}"


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _times(spec: SpanSpec) -> tuple[int, int]:
    start = BASE_NS + spec.start_ms * 1_000_000
    return start, start + spec.duration_ms * 1_000_000


def _counts(specs: list[SpanSpec], name: Callable[[int], str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for spec in specs:
        counts[name(spec.trace)] = counts.get(name(spec.trace), 0) + 1
    return counts


def _llm_attributes(spec: SpanSpec) -> dict[str, Any]:
    """OpenInference attributes of a span, with flattened messages on model calls."""
    attrs: dict[str, Any] = {
        "openinference.span.kind": spec.kind,
        "input.value": spec.text_in,
        "output.value": spec.text_out,
    }
    if spec.kind == "LLM":
        attrs.update(
            {
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": spec.text_in,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": spec.text_out,
                "llm.token_count.prompt": 7,
                "llm.token_count.completion": 3,
            }
        )
    if spec.kind == "TOOL":
        attrs["tool.name"] = "lookup"
    return attrs


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def otlp(specs: list[SpanSpec]) -> Built:
    """One OTLP JSON export (the collector's file exporter) holding every span."""
    spans = []
    for spec in specs:
        start, end = _times(spec)
        attrs = [{"key": k, "value": _any_value(v)} for k, v in _llm_attributes(spec).items()]
        spans.append(
            {
                "traceId": trace_hex(spec.trace),
                "spanId": span_hex(spec.span),
                "parentSpanId": "" if spec.parent is None else span_hex(spec.parent),
                "name": f"{spec.kind.lower()}-{spec.span}",
                "kind": 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(end),
                "attributes": attrs,
                "status": {"code": 1},
            }
        )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]}
    scope = {"scope": {"name": "openinference", "version": "1"}, "spans": spans}
    doc = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}
    return Built("json", doc, _counts(specs, trace_hex))


def phoenix(specs: list[SpanSpec]) -> Built:
    """Phoenix span JSON: an array of spans with ``span_kind`` and flat attributes."""
    spans: list[dict[str, Any]] = []
    for spec in specs:
        start, end = _times(spec)
        spans.append(
            {
                "name": f"{spec.kind.lower()}-{spec.span}",
                "context": {"trace_id": f"trace-{spec.trace}", "span_id": f"s{spec.span}"},
                "span_kind": spec.kind,
                "parent_id": None if spec.parent is None else f"s{spec.parent}",
                "start_time": _iso(start),
                "end_time": _iso(end),
                "status_code": "OK",
                "status_message": "",
                "attributes": _llm_attributes(spec),
                "events": [],
            }
        )
    return Built("json", spans, _counts(specs, lambda t: f"trace-{t}"))


def phoenix_table(specs: list[SpanSpec]) -> Built:
    """A Phoenix span table (``context.*`` and ``attributes.*`` columns), one row per span."""
    rows = []
    for spec in specs:
        start, end = _times(spec)
        row: dict[str, Any] = {
            "name": f"{spec.kind.lower()}-{spec.span}",
            "span_kind": spec.kind,
            "parent_id": "" if spec.parent is None else f"s{spec.parent}",
            "start_time": _iso(start),
            "end_time": _iso(end),
            "status_code": "OK",
            "context.trace_id": f"trace-{spec.trace}",
            "context.span_id": f"s{spec.span}",
            "attributes.input.value": spec.text_in,
            "attributes.output.value": spec.text_out,
        }
        rows.append(row)
    return Built("csv", rows, _counts(specs, lambda t: f"trace-{t}"))


def otel_sdk(specs: list[SpanSpec]) -> Built:
    """OTel SDK ``span.to_json()`` records, one per line, with GenAI attributes."""
    lines: list[dict[str, Any]] = []
    for spec in specs:
        start, end = _times(spec)
        operation = {"LLM": "chat", "TOOL": "execute_tool", "AGENT": "invoke_agent"}
        attrs: dict[str, Any] = {"gen_ai.operation.name": operation.get(spec.kind, "workflow")}
        if spec.kind == "LLM":
            attrs["gen_ai.input.messages"] = json.dumps([{"role": "user", "content": spec.text_in}])
            attrs["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "content": spec.text_out}]
            )
            attrs["gen_ai.request.model"] = "mistral-small"
            attrs["gen_ai.usage.input_tokens"] = 11
        lines.append(
            {
                "name": f"{spec.kind.lower()}-{spec.span}",
                "context": {
                    "trace_id": "0x" + trace_hex(spec.trace),
                    "span_id": "0x" + span_hex(spec.span),
                    "trace_state": "[]",
                },
                "kind": "SpanKind.INTERNAL",
                "parent_id": None if spec.parent is None else "0x" + span_hex(spec.parent),
                "start_time": _iso(start),
                "end_time": _iso(end),
                "status": {"status_code": "UNSET"},
                "attributes": attrs,
                "events": [],
                "links": [],
                "resource": {"attributes": {"service.name": "shop"}, "schema_url": ""},
            }
        )
    return Built("jsonl", lines, _counts(specs, trace_hex))


def any_agent(specs: list[SpanSpec]) -> Built:
    """any-agent's run file: ``{"spans": [...], "final_output": ...}`` with integer ids."""
    spans: list[dict[str, Any]] = []
    for spec in specs:
        start, end = _times(spec)
        trace = int(trace_hex(spec.trace), 16)
        parent = None if spec.parent is None else {"trace_id": trace, "span_id": spec.parent + 1}
        spans.append(
            {
                "name": f"{spec.kind.lower()} {spec.span}",
                "kind": "internal",
                "parent": parent,
                "start_time": start,
                "end_time": end,
                "status": {"status_code": "ok", "description": None},
                "context": {"trace_id": trace, "span_id": spec.span + 1},
                "attributes": {"gen_ai.operation.name": "call_llm", "gen_ai.output": spec.text_out}
                if spec.kind == "LLM"
                else {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.args": spec.text_in},
                "links": [],
                "events": [],
                "resource": {"attributes": {"service.name": "agent"}, "schema_url": ""},
            }
        )
    final = specs[-1].text_out if specs else ""
    return Built("json", {"spans": spans, "final_output": final}, _counts(specs, trace_hex))


def langfuse(specs: list[SpanSpec]) -> Built:
    """Langfuse exports, ``{"trace", "observations"}``, one per line."""
    docs = []
    for trace in sorted({s.trace for s in specs}):
        members = [s for s in specs if s.trace == trace]
        observations = []
        for spec in members:
            start, end = _times(spec)
            kind = {"LLM": "GENERATION", "CHAIN": "SPAN"}.get(spec.kind, spec.kind)
            observations.append(
                {
                    "id": f"obs-{spec.span}",
                    "traceId": f"lf-{trace}",
                    "parentObservationId": None if spec.parent is None else f"obs-{spec.parent}",
                    "type": kind,
                    "name": f"{kind.lower()}-{spec.span}",
                    "startTime": _iso(start),
                    "endTime": _iso(end),
                    "input": json.dumps([{"role": "user", "content": spec.text_in}]),
                    "output": {"role": "assistant", "content": spec.text_out},
                    "model": "gpt-4.1" if kind == "GENERATION" else None,
                    "usageDetails": {"input": 5, "output": 2, "total": 7},
                    "costDetails": {"total": 0.001},
                    "level": "DEFAULT",
                    "metadata": json.dumps({"attributes": {"k": spec.span}}),
                }
            )
        root = members[0]
        trace_doc = {
            "id": f"lf-{trace}",
            "projectId": "p1",
            "name": "agent",
            "timestamp": _iso(_times(root)[0]),
            "input": root.text_in,
            "output": root.text_out,
            "metadata": json.dumps({"team": "search"}),
            "scores": [{"id": f"sc-{trace}", "name": "helpful", "value": 1, "source": "EVAL"}],
            "latency": 0.2,
        }
        docs.append({"trace": trace_doc, "observations": observations})
    return Built("jsonl", docs, _counts(specs, lambda t: f"lf-{t}"))


def langsmith(specs: list[SpanSpec]) -> Built:
    """A LangSmith run list (JSON array), runs linked by ``parent_run_id``."""

    def run_id(number: int) -> str:
        return str(uuid.UUID(int=number + 1))

    def trace_id(number: int) -> str:
        return str(uuid.UUID(int=(number + 1) << 64))

    runs = []
    for spec in specs:
        start, end = _times(spec)
        run_type = {"LLM": "llm", "TOOL": "tool"}.get(spec.kind, "chain")
        inputs: dict[str, Any] = {"messages": [{"type": "human", "content": spec.text_in}]}
        outputs: dict[str, Any] = {"output": {"type": "ai", "content": spec.text_out}}
        runs.append(
            {
                "id": run_id(spec.span),
                "trace_id": trace_id(spec.trace),
                "parent_run_id": None if spec.parent is None else run_id(spec.parent),
                "name": f"{run_type}-{spec.span}",
                "run_type": run_type,
                "inputs": inputs,
                "outputs": outputs,
                "error": None,
                "start_time": _iso(start),
                "end_time": _iso(end),
                "tags": ["production"],
                "extra": {"metadata": {"ls_model_name": "gpt-5.4-nano"}},
            }
        )
    return Built("json", runs, _counts(specs, trace_id))


def langsmith_nested(specs: list[SpanSpec]) -> Built:
    """LangSmith runs exported with ``child_runs``: each root holds its trace's other runs."""
    flat = langsmith(specs)
    roots = [run for run in flat.documents if run["parent_run_id"] is None]
    for root in roots:
        root["child_runs"] = [
            run for run in flat.documents if run["trace_id"] == root["trace_id"] and run is not root
        ]
    return Built("jsonl", roots, flat.traces)


def mlflow(specs: list[SpanSpec]) -> Built:
    """MLflow ``Trace.to_json()`` documents (schema 3, base64 ids), one per line."""
    docs = []
    for trace in sorted({s.trace for s in specs}):
        members = [s for s in specs if s.trace == trace]
        spans: list[dict[str, Any]] = []
        for spec in members:
            start, end = _times(spec)
            kind = "CHAT_MODEL" if spec.kind == "LLM" else spec.kind
            inputs = {"messages": [{"role": "user", "content": spec.text_in}]}
            outputs = {"choices": [{"message": {"role": "assistant", "content": spec.text_out}}]}
            spans.append(
                {
                    "trace_id": _b64(trace_hex(trace)),
                    "span_id": _b64(span_hex(spec.span)),
                    "parent_span_id": None if spec.parent is None else _b64(span_hex(spec.parent)),
                    "name": f"{kind.lower()}-{spec.span}",
                    "start_time_unix_nano": start,
                    "end_time_unix_nano": end,
                    "events": [],
                    "status": {"code": "STATUS_CODE_OK", "message": ""},
                    "attributes": {
                        "mlflow.spanType": json.dumps(kind),
                        "mlflow.spanInputs": json.dumps(inputs),
                        "mlflow.spanOutputs": json.dumps(outputs),
                        "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 3}),
                    },
                    "links": [],
                }
            )
        info = {
            "trace_id": f"tr-{trace_hex(trace)}",
            "request_time": _iso(_times(members[0])[0]),
            "state": "OK",
            "trace_metadata": {"mlflow.trace.user": "ana"},
            "tags": {"mlflow.traceName": "agent"},
            "execution_duration_ms": 12,
            "assessments": [
                {"assessment_name": "ok", "feedback": {"value": True}, "source": "HUMAN"}
            ],
        }
        docs.append({"info": info, "data": {"spans": spans}})
    return Built("jsonl", docs, _counts(specs, lambda t: f"tr-{trace_hex(t)}"))


SPAN_FORMATS: dict[str, Callable[[list[SpanSpec]], Built]] = {
    "otlp": otlp,
    "openinference": phoenix,
    "openinference-table": phoenix_table,
    "otel-sdk": otel_sdk,
    "langfuse": langfuse,
    "langsmith": langsmith,
    "langsmith-nested": langsmith_nested,
    "mlflow": mlflow,
    "otel-any-agent": any_agent,
}
"""Span-export formats by name."""


def render(built: Built, path: Path) -> Path:
    """Write a built file; CSV and Parquet rows become columns, JSON stays as built."""
    if built.container == "json":
        path.write_text(json.dumps(built.documents, ensure_ascii=False), encoding="utf-8")
    elif built.container == "jsonl":
        text = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in built.documents)
        path.write_text(text, encoding="utf-8")
    elif built.container == "csv":
        path.write_bytes(csv_bytes(built.documents))
    else:
        write_parquet(built.documents, path)
    return path


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Rows as UTF-8 CSV (unpaired surrogates kept as their bytes)."""
    return csv_text(rows).encode("utf-8", errors="surrogatepass")


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text; objects and lists in cells are written as JSON."""
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # so that cells holding a lone CR are quoted
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, allow_nan=True)
    return str(value)


def write_parquet(rows: list[dict[str, Any]], where: Path | io.BytesIO) -> None:
    """Rows as a Parquet file; a column pyarrow cannot give one type is written as JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError):
        text = [
            {k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in row.items()}
            for row in rows
        ]
        table = pa.Table.from_pylist(text)
    pq.write_table(table, where)


def parquet_bytes(rows: list[Any]) -> bytes:
    """Rows as the bytes of a Parquet file (see :func:`write_parquet`)."""
    sink = io.BytesIO()
    write_parquet(rows, sink)
    return sink.getvalue()
