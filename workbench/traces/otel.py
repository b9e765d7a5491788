"""OpenTelemetry traces: OTLP JSON, span JSON (Phoenix, the OTel SDK, any-agent), span tables.

Containers:

- OTLP JSON, as the OTel collector's file exporter writes it:
  ``{"resourceSpans": [{"resource", "scopeSpans": [{"scope", "spans": [...]}]}]}`` with
  attributes as ``[{"key", "value": {"stringValue": ...}}]``, ids in hex (or base64,
  protobuf's JSON mapping) and times in nanoseconds; one export or one per line.
- Span JSON, one span per record (a JSON array or JSON Lines): Phoenix's span export
  (``context.trace_id``, ``parent_id``, ``span_kind``, flat ``attributes``) and the OTel
  SDK's ``span.to_json()`` (``context``, ``parent``, ``kind``); any-agent wraps a run
  as ``{"spans": [...], "final_output": ...}`` with integer ids and nanosecond times.
- Phoenix span tables (CSV/Parquet with ``context.span_id`` and ``attributes.*`` columns).

This module reads the containers, ids, times and statuses; what a span's attributes
say under the OpenInference or OTel GenAI conventions (kind, messages, model, usage,
tool call) is read by :mod:`workbench.traces.semconv`. A trace's spans may be spread
over records.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from workbench.traces.adapters import Adapter, Context
from workbench.traces.errors import Place, RecordError
from workbench.traces.readers import Item
from workbench.traces.rollup import TraceInfo, row_or_reject
from workbench.traces.semconv import semantics, span_error, span_kind, trace_metadata
from workbench.traces.span_fields import as_dict, status_of, to_time
from workbench.traces.spans import Notes, Row, SpanRecord, build_trees

_SPAN_KEYS = frozenset(
    {"name", "context", "parent_id", "parent", "span_kind", "kind", "start_time", "end_time"}
    | {"status_code", "status_message", "status", "attributes", "events", "resource"}
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
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class _Raw:
    """A span's fields as found, before interpretation, whatever container held them."""

    ids: tuple[Any, Any, Any]
    """Trace id, span id and parent span id as written."""
    id_fields: tuple[str, str, str]
    """The names of the trace-id, span-id and parent-id fields, for messages."""
    name: Any
    """The span name."""
    kind: Any
    """The semantic kind given outright (Phoenix ``span_kind``), if any."""
    times: tuple[Any, Any]
    """Start and end as written."""
    status: tuple[Any, Any]
    """Status code and message as written."""
    attributes: dict[str, Any]
    """Flat attributes."""
    events: list[Any]
    """Span events."""
    extra: dict[str, Any]
    """The span's other fields (OTel span kind, scope, links...)."""
    resource: dict[str, Any]
    """Resource attributes."""
    place: Place
    """The record it came from."""
    path: str
    """Where it sits in the record."""


def _sniff_otel(items: Sequence[Item]) -> bool:
    data = items[0].data if items else None
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("resourceSpans"), list):
        return True
    spans = data.get("spans")
    if isinstance(spans, list) and ("final_output" in data or (spans and _is_span(spans[0]))):
        return True
    return _is_span(data) and "span_kind" not in data and ("parent_id" in data or "parent" in data)


def _sniff_openinference(items: Sequence[Item]) -> bool:
    data = items[0].data if items else None
    if not isinstance(data, dict) or "span_kind" not in data:
        return False
    return _is_span(data) or "context.span_id" in data


def _is_span(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("context"), dict)
        and ("span_id" in data["context"])
    )


def convert(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    """Group the spans of all items into traces; one canonical row per trace."""
    notes = Notes()
    records: list[SpanRecord] = []
    facts: dict[str, dict[str, Any]] = {}
    bad: set[str] = set()
    for item in items:
        try:
            raws, extra = _guard(_raw_spans, item.data, item.place)
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
            continue
        for raw in raws:
            try:
                record = _guard(_record, raw, notes)
            except RecordError as exc:
                trace = _trace_id_or_none(raw)
                context.report.reject(raw.place, _left_out(exc.reason, trace), exc.field)
                bad.update([trace] if trace else [])
                continue
            records.append(record)
            known = facts.setdefault(record.trace_id, dict(extra))
            known.setdefault("resource", raw.resource)
    rows: list[tuple[Row, Place]] = []
    for tree in build_trees((r for r in records if r.trace_id not in bad), context.report, notes):
        place = tree.nodes[0].span.place
        known = facts[tree.trace_id]
        row = row_or_reject(tree, partial(_info, tree.nodes, known), place, context.report)
        rows.extend([(row, place)] if row is not None else [])
    notes.warn()
    return rows


def _guard(function: Any, *args: Any) -> Any:
    """Run one parsing step; a value of an unexpected type becomes a :class:`RecordError`."""
    try:
        return function(*args)
    except _SHAPE_ERRORS as exc:
        raise RecordError(f"unexpected value ({type(exc).__name__}: {exc})") from None


def _left_out(reason: str, trace: str | None) -> str:
    return f"{reason}; trace {trace!r} is left out" if trace else reason


def _trace_id_or_none(raw: _Raw) -> str | None:
    try:
        return hex_id(raw.ids[0], 16)
    except RecordError:
        return None


def _raw_spans(data: Any, place: Place) -> tuple[list[_Raw], dict[str, Any]]:
    """The spans of one record, and the record's own fields (any-agent's ``final_output``)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a span or an OTLP export object, got {type(data).__name__}")
    if "resourceSpans" in data:
        return _otlp(data, place), {}
    if isinstance(data.get("spans"), list):
        extra = {k: v for k, v in data.items() if k != "spans"}
        return [_span(s, place, f"spans[{i}]") for i, s in enumerate(data["spans"])], extra
    if "context.span_id" in data or "context.trace_id" in data:
        return [_span(_table_row(data), place, "")], {}
    return [_span(data, place, "")], {}


def _table_row(data: dict[str, Any]) -> dict[str, Any]:
    """A Phoenix span-table row (``context.*``, ``attributes.*`` columns) as span JSON."""
    span: dict[str, Any] = {"context": {}, "attributes": {}}
    for key, value in data.items():
        head, _, rest = key.partition(".")
        if rest and head in ("context", "attributes"):
            span[head][rest] = value
        else:
            span[key] = value
    return span


def _span(data: Any, place: Place, path: str) -> _Raw:
    """One span in span JSON (Phoenix, OTel SDK ``to_json``, any-agent)."""
    where = f"{path}." if path else ""
    if not isinstance(data, dict):
        raise RecordError(f"expected a span object, got {type(data).__name__}", path or None)
    context = data.get("context")
    if not isinstance(context, dict):
        raise RecordError("span has no context object with trace_id and span_id", where + "context")
    parent, parent_field = data.get("parent_id"), "parent_id"
    if parent is None and "parent" in data:
        parent, parent_field = as_dict(data.get("parent")).get("span_id"), "parent.span_id"
    status = as_dict(data.get("status"))
    code = data.get("status_code", status.get("status_code"))
    message = data.get("status_message") or status.get("description") or status.get("message")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise RecordError("expected an object of attributes", where + "attributes")
    resource = as_dict(data.get("resource"))
    extra = {k: v for k, v in data.items() if k not in _SPAN_KEYS and v not in (None, [], {})}
    if data.get("kind") is not None:
        extra["otel.kind"] = data["kind"]
    return _Raw(
        ids=(context.get("trace_id"), context.get("span_id"), parent),
        id_fields=("context.trace_id", "context.span_id", parent_field),
        name=data.get("name"),
        kind=data.get("span_kind"),
        times=(data.get("start_time"), data.get("end_time")),
        status=(code, message),
        attributes=attributes,
        events=list(data.get("events") or []),
        extra=extra,
        resource=as_dict(resource.get("attributes", resource)),
        place=place,
        path=path,
    )


def _otlp(doc: dict[str, Any], place: Place) -> list[_Raw]:
    """The spans of an OTLP JSON export."""
    raws = []
    for ri, group in enumerate(doc["resourceSpans"] or []):
        resource = _attributes((group.get("resource") or {}).get("attributes"))
        scopes = group.get("scopeSpans") or group.get("instrumentationLibrarySpans") or []
        for si, scoped in enumerate(scopes):
            scope = scoped.get("scope") or scoped.get("instrumentationLibrary") or {}
            for pi, span in enumerate(scoped.get("spans") or []):
                path = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                try:
                    raws.append(_otlp_span(span, scope, resource, place, path))
                except _SHAPE_ERRORS as exc:
                    reason = f"unexpected value ({type(exc).__name__}: {exc})"
                    raise RecordError(reason, path) from None
    return raws


def _otlp_span(
    span: dict[str, Any], scope: dict[str, Any], resource: dict[str, Any], place: Place, path: str
) -> _Raw:
    status = span.get("status") or {}
    known = {"traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano"}
    known |= {"endTimeUnixNano", "attributes", "events", "status"}
    extra = {k: v for k, v in span.items() if k not in known and v not in (None, [], {}, "", 0)}
    extra["otel.kind"] = span.get("kind")
    if scope.get("name"):
        extra["otel.scope"] = {k: scope[k] for k in ("name", "version") if scope.get(k)}
    events = [
        {
            "name": event.get("name"),
            "time": event.get("timeUnixNano"),
            "attributes": _attributes(event.get("attributes")),
        }
        for event in span.get("events") or []
    ]
    return _Raw(
        ids=(span.get("traceId"), span.get("spanId"), span.get("parentSpanId")),
        id_fields=("traceId", "spanId", "parentSpanId"),
        name=span.get("name"),
        kind=None,
        times=(span.get("startTimeUnixNano"), span.get("endTimeUnixNano")),
        status=(status.get("code"), status.get("message")),
        attributes=_attributes(span.get("attributes")),
        events=events,
        extra=extra,
        resource=resource,
        place=place,
        path=path,
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    """OTLP ``[{"key", "value": {...}}]`` attributes as a flat dict of plain values."""
    if pairs is None:
        return {}
    if isinstance(pairs, dict):
        return pairs
    return {pair["key"]: _value(pair.get("value")) for pair in pairs}


def _value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain value (bytes stay base64 text)."""
    if not isinstance(value, dict) or not value:
        return value or None
    kind, inner = next(iter(value.items()))
    if kind == "intValue":
        return int(inner)
    if kind == "doubleValue":
        return float(inner)
    if kind == "arrayValue":
        return [_value(v) for v in (inner or {}).get("values") or []]
    if kind == "kvlistValue":
        return _attributes((inner or {}).get("values"))
    return inner  # stringValue, boolValue, bytesValue


def hex_id(value: Any, size: int, field: str | None = None) -> str | None:
    """A trace or span id as text: integers and base64 bytes become hex, strings stay.

    ``size`` is the id's byte length (16 for traces, 8 for spans). Empty and all-zero
    ids (OTLP's "no parent") are ``None``; another type is a bad ``field``.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"{value:0{size * 2}x}" if value else None
    if not isinstance(value, str):
        raise RecordError(f"expected an id, got {type(value).__name__}", field)
    text = value[2:] if value[:2].lower() == "0x" else value
    if len(text) == size * 2 and _HEX.issuperset(text):
        return text.lower() if text.strip("0") else None
    if len(value) == (size + 2) // 3 * 4:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
        if len(raw) == size:
            return raw.hex() if any(raw) else None
    return value


def _record(raw: _Raw, notes: Notes) -> SpanRecord:
    """Interpret one span's fields and attributes."""
    where = f"{raw.path}." if raw.path else ""
    trace_id = hex_id(raw.ids[0], 16, where + raw.id_fields[0])
    span_id = hex_id(raw.ids[1], 8, where + raw.id_fields[1])
    if trace_id is None:
        raise RecordError("span has no trace id", where + raw.id_fields[0])
    if span_id is None:
        raise RecordError("span has no span id", where + raw.id_fields[1])
    attributes = raw.attributes
    kind, flags = span_kind(raw.kind, attributes, notes, raw.place, where)
    status = status_of(raw.status[0])
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=hex_id(raw.ids[2], 8, where + raw.id_fields[2]),
        name=str(raw.name or ""),
        kind=kind,
        place=raw.place,
        path=raw.path,
        id_fields=(raw.id_fields[1], raw.id_fields[2]),
        start=to_time(raw.times[0], where + "start_time"),
        end=to_time(raw.times[1], where + "end_time"),
        status=status,
        error=span_error(status, raw.status[1], raw.events),
        attributes={**attributes, **raw.extra},
        events=raw.events,
        flags=flags,
        **semantics(attributes, kind),
    )


def _info(nodes: Sequence[Any], facts: dict[str, Any]) -> TraceInfo:
    """Trace-level metadata: root name, session and user, tags, resource, the record's fields."""
    spans = [node.span for node in nodes]
    metadata: dict[str, Any] = {"name": spans[0].name, **trace_metadata(spans)}
    output = facts.get("final_output")
    metadata.update({k: v for k, v in facts.items() if k != "final_output" and v})
    return TraceInfo(metadata=metadata, output=output)


ADAPTERS = (
    Adapter("otel", sniff=_sniff_otel, convert=convert, aliases=("otlp", "opentelemetry")),
    Adapter("openinference", sniff=_sniff_openinference, convert=convert, aliases=("phoenix",)),
)
"""The OTel adapters: ``otel`` (OTLP, SDK span JSON, any-agent) and ``openinference`` (Phoenix)."""
