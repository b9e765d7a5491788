"""MLflow traces: ``Trace.to_json()`` documents, ``{"info": {...}, "data": {"spans": [...]}}``.

One trace per document; a file holds one, a JSON array of them, or one per line.
Both schemas are read: version 3 (``info.trace_id``, ``request_time``, ``state``,
``assessments``; spans with base64 ``span_id``/``parent_span_id`` and nanosecond
times) and version 2 (``info.request_id``, ``timestamp_ms``, ``status``; spans with
``context.span_id`` and ``parent_id``). MLflow stores span attributes as JSON text;
they are decoded. Inputs and outputs come from ``mlflow.spanInputs`` /
``mlflow.spanOutputs``, usage from ``mlflow.chat.tokenUsage``, and assessments of
kind feedback (a person's, an LLM judge's, code's) become ``feedback``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from workbench.traces.adapters import Adapter, Context
from workbench.traces.errors import Place, RecordError
from workbench.traces.fields import to_tokens
from workbench.traces.messages import to_messages
from workbench.traces.otel import hex_id
from workbench.traces.readers import Item
from workbench.traces.rollup import TraceInfo, row_or_reject
from workbench.traces.span_fields import as_dict, classify, parse_json, status_of, to_time
from workbench.traces.spans import Notes, Row, SpanRecord, link

_KINDS = {
    "LLM": "LLM",
    "CHAT_MODEL": "LLM",
    "CHAIN": "CHAIN",
    "AGENT": "AGENT",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "RERANKER": "RERANKER",
    "PARSER": "PARSER",
    "MEMORY": "MEMORY",
    "WORKFLOW": "WORKFLOW",
    "TASK": "TASK",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
    "UNKNOWN": "UNKNOWN",
}
_INFO_MAPPED = frozenset(
    {"trace_id", "request_id", "request_time", "timestamp_ms", "execution_duration_ms"}
    | {"execution_time_ms", "assessments", "trace_metadata", "request_metadata", "tags"}
)
_METADATA_MAPPED = {
    "mlflow.traceInputs": None,
    "mlflow.traceOutputs": None,
    "mlflow.trace.tokenUsage": None,
    "mlflow.trace.cost": None,
    "mlflow.trace.user": "user_id",
    "mlflow.trace.session": "session_id",
}
_SHAPE_ERRORS = (
    TypeError,
    AttributeError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
)
_V2_ID_FIELDS = ("context.span_id", "parent_id")


def _sniff(items: Sequence[Item]) -> bool:
    data = items[0].data if items else None
    return (
        isinstance(data, dict)
        and isinstance(data.get("info"), dict)
        and isinstance(data.get("data"), dict)
        and isinstance(data["data"].get("spans"), list)
    )


def convert(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    """One canonical row per MLflow trace document."""
    notes = Notes()
    rows: list[tuple[Row, Place]] = []
    for item in items:
        try:
            trace_id, spans, info = _read(item.data, item.place, notes)
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
            continue
        except _SHAPE_ERRORS as exc:
            context.report.reject(item.place, f"unexpected value ({type(exc).__name__}: {exc})")
            continue
        tree = link(trace_id, spans, context.report, notes)
        row = row_or_reject(tree, info, item.place, context.report) if tree else None
        if row is not None:
            rows.append((row, item.place))
    notes.warn()
    return rows


def _read(data: Any, place: Place, notes: Notes) -> tuple[str, list[SpanRecord], TraceInfo]:
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        raise RecordError('expected an MLflow trace {"info": ..., "data": {"spans": [...]}}')
    info = data["info"]
    trace_id = info.get("trace_id") or info.get("request_id")
    if not trace_id:
        raise RecordError("trace has no id", "info.trace_id")
    body = as_dict(data.get("data"))
    spans = [
        _span(str(trace_id), span, place, f"data.spans[{index}]", notes)
        for index, span in enumerate(body.get("spans") or [])
    ]
    return str(trace_id), spans, _info(info, body)


def _decoded(attributes: Any, path: str) -> dict[str, Any]:
    """MLflow's attributes: every value is JSON text; plain text stays as it is."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise RecordError("expected an object of attributes", f"{path}.attributes")
    return {key: _json_or_text(value) for key, value in attributes.items()}


def _json_or_text(value: Any) -> Any:
    """A JSON-encoded attribute value, decoded; text that is not JSON stays text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _span(trace_id: str, span: Any, place: Place, path: str, notes: Notes) -> SpanRecord:
    """One span, v3 (``span_id``, ``*_unix_nano``) or v2 (``context``, ``start_time``)."""
    if not isinstance(span, dict):
        raise RecordError(f"expected a span object, got {type(span).__name__}", path)
    context = as_dict(span.get("context"))
    ids = ("span_id", "parent_span_id") if "span_id" in span else _V2_ID_FIELDS
    span_id = hex_id(span.get("span_id", context.get("span_id")), 8, f"{path}.{ids[0]}")
    if span_id is None:
        raise RecordError("span has no span id", f"{path}.span_id")
    attributes = _decoded(span.get("attributes"), path)
    kind, flags = classify(
        attributes.get("mlflow.spanType"),
        _KINDS,
        notes,
        place,
        f"{path}.attributes.mlflow.spanType",
    )
    status = as_dict(span.get("status"))
    code = status_of(status.get("code", span.get("status_code")))
    message = status.get("message", span.get("status_message"))
    inputs, outputs = attributes.get("mlflow.spanInputs"), attributes.get("mlflow.spanOutputs")
    llm = kind == "LLM"
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=hex_id(span.get(ids[1].split(".")[-1]), 8, f"{path}.{ids[1]}"),
        name=str(span.get("name") or ""),
        kind=kind,
        place=place,
        path=path,
        id_fields=ids,
        start=_time(span, "start", path),
        end=_time(span, "end", path),
        status=code,
        error=(message or _exception(span.get("events"))) if code == "ERROR" else None,
        input=inputs,
        output=outputs,
        attributes=attributes,
        events=list(span.get("events") or []),
        prompt=_prompt(attributes, inputs) if llm else None,
        reply=to_messages(parse_json(outputs)) if llm else None,
        model=_model(attributes, inputs, outputs),
        tokens=_usage(
            attributes.get("mlflow.chat.tokenUsage"), f"{path}.attributes.mlflow.chat.tokenUsage"
        ),
        cost_usd=_cost(attributes.get("mlflow.llm.cost")),
        flags=flags,
    )


def _time(span: dict[str, Any], which: str, path: str) -> datetime | None:
    """``start``/``end``: v3 ``*_time_unix_nano``, v2 ``*_time`` (both in nanoseconds)."""
    key = f"{which}_time_unix_nano" if f"{which}_time_unix_nano" in span else f"{which}_time"
    return to_time(span.get(key), f"{path}.{key}")


def _prompt(attributes: dict[str, Any], inputs: Any) -> list[Row] | None:
    """The messages a model call got: ``mlflow.chat.messages`` (older traces) or its inputs."""
    chat = attributes.get("mlflow.chat.messages")
    return to_messages(chat) if isinstance(chat, list) else to_messages(parse_json(inputs))


def _model(attributes: dict[str, Any], inputs: Any, outputs: Any) -> str | None:
    """The model named by the span, else by the request or the response it logged."""
    model = attributes.get("mlflow.llm.model")
    for logged in (outputs, inputs):
        if not model and isinstance(logged, dict):
            model = logged.get("model")
    return str(model) if model else None


def _exception(events: Any) -> str | None:
    for event in events or []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            parts = [attrs.get("exception.type"), attrs.get("exception.message")]
            return ": ".join(str(p) for p in parts if p) or "exception"
    return None


def _usage(value: Any, field: str) -> dict[str, int] | None:
    value = parse_json(value)
    if not isinstance(value, dict):
        return None
    return to_tokens(value, field) or None


def _cost(value: Any) -> float | None:
    value = parse_json(value)
    if isinstance(value, dict) and isinstance(value.get("total_cost"), int | float):
        return float(value["total_cost"])
    return None


def _info(info: dict[str, Any], body: dict[str, Any]) -> TraceInfo:
    """The trace's own facts: time, duration, usage, state, tags, metadata, assessments."""
    trace_meta = info.get("trace_metadata") or info.get("request_metadata") or {}
    meta = dict(trace_meta)
    tags = dict(info.get("tags") or {})
    metadata: dict[str, Any] = {"name": tags.pop("mlflow.traceName", None)}
    for key, column in _METADATA_MAPPED.items():
        value = meta.pop(key, None)
        if column and value is not None:
            metadata[column] = value
    metadata.update({k: v for k, v in info.items() if k not in _INFO_MAPPED and v is not None})
    metadata.update({"tags": tags, "trace_metadata": meta})
    assessments = [a for a in info.get("assessments") or [] if isinstance(a, dict)]
    expectations = [_expectation(a) for a in assessments if "expectation" in a]
    if expectations:
        metadata["expectations"] = expectations
    state = str(info.get("state") or info.get("status") or "")
    duration = info.get("execution_duration_ms", info.get("execution_time_ms"))
    return TraceInfo(
        metadata={k: v for k, v in metadata.items() if v not in (None, {}, [])},
        input=parse_json(body.get("request")),
        output=parse_json(body.get("response")),
        timestamp=to_time(info.get("request_time", info.get("timestamp_ms")), "info.request_time"),
        latency_ms=float(duration) if isinstance(duration, int | float) else None,
        cost_usd=_cost(trace_meta.get("mlflow.trace.cost")),
        tokens=_usage(trace_meta.get("mlflow.trace.tokenUsage"), "info.trace_metadata"),
        error=f"trace ended in state {state}" if status_of(state) == "ERROR" else None,
        feedback=[_feedback(a) for a in assessments if "feedback" in a],
    )


def _source(assessment: dict[str, Any]) -> Any:
    source = assessment.get("source")
    return source.get("source_type") if isinstance(source, dict) else source


def _feedback(assessment: dict[str, Any]) -> Row:
    """A feedback assessment: value, source type (HUMAN, LLM_JUDGE, CODE) and rationale."""
    feedback = as_dict(assessment.get("feedback"))
    entry: Row = {
        "name": assessment.get("assessment_name", assessment.get("name")),
        "value": feedback.get("value"),
        "source": _source(assessment),
        "comment": assessment.get("rationale"),
    }
    source = assessment.get("source")
    if isinstance(source, dict) and source.get("source_id"):
        entry["annotator"] = source["source_id"]
    if assessment.get("span_id"):
        entry["span_id"] = assessment["span_id"]
    return entry


def _expectation(assessment: dict[str, Any]) -> Row:
    expectation = assessment.get("expectation")
    value = expectation.get("value") if isinstance(expectation, dict) else expectation
    return {
        "name": assessment.get("assessment_name"),
        "value": value,
        "source": _source(assessment),
    }


ADAPTER = Adapter("mlflow", sniff=_sniff, convert=convert)
"""The ``mlflow`` format."""
