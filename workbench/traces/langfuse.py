"""Langfuse trace exports: ``{"trace": {...}, "observations": [...]}`` and lists of them.

Also accepted: a trace object alone with its ``observations`` nested (what the
Langfuse API returns for one trace), and the API's ``{"data": [trace, ...]}`` pages.
Observations (spans, generations, agent and tool steps, events) become the span
tree; scores, whether a person's, an LLM judge's or sent through the API
(``source`` ``ANNOTATION``/``EVAL``/``API``), become ``feedback``. Langfuse often
stores inputs, outputs and metadata as JSON text; they are read as JSON where the
meaning matters (messages, metadata) and kept as logged in the spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.traces.adapters import Adapter, Context
from workbench.traces.errors import Place, RecordError
from workbench.traces.fields import merge_metadata, to_tokens
from workbench.traces.messages import to_messages
from workbench.traces.readers import Item
from workbench.traces.rollup import TraceInfo, row_or_reject
from workbench.traces.span_fields import classify, parse_json, text_id, to_time
from workbench.traces.spans import Notes, Row, SpanRecord, link

_KINDS = {
    "GENERATION": "LLM",
    "SPAN": "SPAN",
    "EVENT": "EVENT",
    "AGENT": "AGENT",
    "TOOL": "TOOL",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "EVALUATOR": "EVALUATOR",
    "EMBEDDING": "EMBEDDING",
    "GUARDRAIL": "GUARDRAIL",
}
_TRACE_MAPPED = frozenset(
    {"id", "input", "output", "timestamp", "latency", "observations", "scores", "totalCost"}
)
_OBSERVATION_MAPPED = frozenset(
    {"id", "traceId", "parentObservationId", "name", "type", "startTime", "endTime"}
    | {"input", "output", "level", "statusMessage", "model", "metadata"}
)
_SHAPE_ERRORS = (
    TypeError,
    AttributeError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
)
_EMPTY: tuple[Any, ...] = (None, "", "{}", {}, [])


def _is_trace(data: Any) -> bool:
    """A trace object with its observations nested."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("observations"), list)
        and "id" in data
        and ("projectId" in data or "timestamp" in data)
    )


def _sniff(items: Sequence[Item]) -> bool:
    data = items[0].data if items else None
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("trace"), dict) and isinstance(data.get("observations"), list):
        return True
    if isinstance(data.get("data"), list) and data["data"] and _is_trace(data["data"][0]):
        return True
    return _is_trace(data)


def convert(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    """One canonical row per Langfuse trace."""
    notes = Notes()
    rows: list[tuple[Row, Place]] = []
    for item in items:
        try:
            exports = _exports(item.data)
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
            continue
        for path, export in exports:
            try:
                trace_id, spans, info = _read(export, item.place, path, notes)
            except _SHAPE_ERRORS as exc:
                reason = f"unexpected value ({type(exc).__name__}: {exc})"
                context.report.reject(item.place, reason, path or None)
                continue
            except RecordError as exc:
                context.report.reject(item.place, exc.reason, exc.field)
                continue
            tree = link(trace_id, spans, context.report, notes)
            row = row_or_reject(tree, info, item.place, context.report) if tree else None
            if row is not None:
                rows.append((row, item.place))
    notes.warn()
    return rows


def _exports(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """(field path, ``{"trace", "observations", "scores"}``) for each trace in one item."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a Langfuse trace export object, got {type(data).__name__}")
    if isinstance(data.get("trace"), dict):
        return [("trace", data)]
    if isinstance(data.get("data"), list):
        return [(f"data[{i}]", {"trace": t}) for i, t in enumerate(data["data"])]
    if isinstance(data.get("observations"), list):
        return [("", {"trace": data})]
    raise RecordError('expected {"trace": ..., "observations": [...]} or a trace object', "trace")


def _read(
    export: dict[str, Any], place: Place, path: str, notes: Notes
) -> tuple[str, list[SpanRecord], TraceInfo]:
    """The trace id, its observations as spans, and what the trace says of itself."""
    trace = export["trace"]
    if not isinstance(trace, dict):
        raise RecordError(f"expected a trace object, got {type(trace).__name__}", path)
    prefix = f"{path}." if path else ""
    observations = _merged(
        ("observations", export.get("observations")),
        (f"{prefix}observations", trace.get("observations")),
    )
    trace_id = text_id(trace.get("id"), prefix + "id") or next(
        (text_id(o.get("traceId"), "traceId") for o in observations.values() if o.get("traceId")),
        None,
    )
    if not trace_id:
        raise RecordError("trace has no id", prefix + "id")
    spans = [
        _span(str(trace_id), obs, place, f"observations[{index}]", notes)
        for index, obs in enumerate(observations.values())
    ]
    scores = _merged(("scores", export.get("scores")), (f"{prefix}scores", trace.get("scores")))
    return str(trace_id), spans, _info(trace, scores, prefix)


def _merged(*lists: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    """Objects from several ``(field, list)`` pairs by id; a field empty in one copy is filled.

    Exports repeat observations and scores at the top level and inside the trace,
    sometimes with fields stripped from one of the copies. An entry that is not an
    object is a bad record, not something to leave out unsaid.
    """
    merged: dict[str, dict[str, Any]] = {}
    for field, values in lists:
        if values is not None and not isinstance(values, list):
            raise RecordError(f"expected a list, got {type(values).__name__}", field)
        for index, value in enumerate(values or []):
            if not isinstance(value, dict):
                reason = f"expected an object, got {type(value).__name__}"
                raise RecordError(reason, f"{field}[{index}]")
            kept = merged.setdefault(str(value.get("id", f"#{index}")), dict(value))
            for key, other in value.items():
                if kept.get(key) in _EMPTY and other not in _EMPTY:
                    kept[key] = other
    return merged


def _span(trace_id: str, obs: dict[str, Any], place: Place, path: str, notes: Notes) -> SpanRecord:
    """One observation as a span."""
    span_id = text_id(obs.get("id"), f"{path}.id")
    if span_id is None:
        raise RecordError("observation has no id", f"{path}.id")
    kind, flags = classify(obs.get("type"), _KINDS, notes, place, f"{path}.type")
    failed = str(obs.get("level", "")).upper() == "ERROR"
    attributes = {k: v for k, v in obs.items() if k not in _OBSERVATION_MAPPED and v is not None}
    for key in ("type", "level", "statusMessage"):
        if obs.get(key) is not None:
            attributes[key] = obs[key]
    metadata = parse_json(obs.get("metadata"))
    if metadata not in (None, {}, ""):
        attributes["metadata"] = metadata
    llm = kind == "LLM"
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=text_id(obs.get("parentObservationId"), f"{path}.parentObservationId"),
        name=str(obs.get("name") or ""),
        kind=kind,
        place=place,
        path=path,
        id_fields=("id", "parentObservationId"),
        start=to_time(obs.get("startTime"), f"{path}.startTime"),
        end=to_time(obs.get("endTime"), f"{path}.endTime"),
        status="ERROR" if failed else "UNSET",
        error=(obs.get("statusMessage") or "level ERROR") if failed else None,
        input=obs.get("input"),
        output=obs.get("output"),
        attributes=attributes,
        prompt=to_messages(parse_json(obs.get("input"))) if llm else None,
        reply=to_messages(parse_json(obs.get("output"))) if llm else None,
        model=obs.get("model") or None,
        tokens=_tokens(obs, path),
        cost_usd=_cost(obs),
        flags=flags,
    )


def _tokens(obs: dict[str, Any], path: str) -> dict[str, int] | None:
    usage = obs.get("usageDetails") or obs.get("usage")
    if not isinstance(usage, dict) or not any(usage.values()):
        return None
    return to_tokens(usage, f"{path}.usageDetails") or None


def _cost(obs: dict[str, Any]) -> float | None:
    details = obs.get("costDetails")
    if isinstance(details, dict) and isinstance(details.get("total"), int | float):
        return float(details["total"])
    total = obs.get("calculatedTotalCost") or obs.get("totalCost")
    return float(total) if total else None


def _info(trace: dict[str, Any], scores: dict[str, dict[str, Any]], prefix: str) -> TraceInfo:
    """The trace's own input, output, time, latency, cost, metadata and scores."""
    rest = {k: v for k, v in trace.items() if k not in _TRACE_MAPPED and v is not None}
    source = parse_json(rest.pop("metadata", None))
    latency = trace.get("latency")
    cost = trace.get("totalCost")
    return TraceInfo(
        metadata=merge_metadata(source, rest),
        input=parse_json(trace.get("input")),
        output=parse_json(trace.get("output")),
        timestamp=to_time(trace.get("timestamp"), prefix + "timestamp"),
        latency_ms=float(latency) * 1000.0 if isinstance(latency, int | float) else None,
        cost_usd=float(cost) if isinstance(cost, int | float) and cost else None,
        feedback=[_feedback(score) for score in scores.values()],
    )


def _feedback(score: dict[str, Any]) -> Row:
    """A score as a feedback entry; categorical scores keep their label as the value."""
    value = score.get("value")
    if str(score.get("dataType", "")).upper() == "CATEGORICAL" or value is None:
        value = score.get("stringValue", value)
    elif str(score.get("dataType", "")).upper() == "BOOLEAN":
        value = bool(value)
    entry: Row = {
        "name": score.get("name"),
        "value": value,
        "source": score.get("source"),
        "comment": score.get("comment"),
    }
    for key, name in (("authorUserId", "annotator"), ("observationId", "span_id")):
        if score.get(key):
            entry[name] = score[key]
    if score.get("timestamp"):
        entry["timestamp"] = score["timestamp"]
    return entry


ADAPTER = Adapter("langfuse", sniff=_sniff, convert=convert)
"""The ``langfuse`` format."""
