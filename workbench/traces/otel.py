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

Attributes follow OpenInference (``openinference.span.kind``, ``input.value``,
``llm.input_messages.N.message.*``, ``llm.token_count.*``, ``tool.name``) or the OTel
GenAI conventions (``gen_ai.operation.name``, ``gen_ai.input.messages``,
``gen_ai.usage.*``, ``gen_ai.tool.*``). A trace's spans may be spread over records.
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
from workbench.traces.spans import (
    Notes,
    Row,
    SpanRecord,
    TraceInfo,
    as_dict,
    build_trees,
    classify,
    parse_json,
    row_or_reject,
    status_of,
    to_messages,
    to_time,
    tool_call_of,
)

_OI_KINDS = {
    kind: kind
    for kind in (
        *("LLM", "TOOL", "AGENT", "CHAIN", "RETRIEVER", "EMBEDDING", "RERANKER"),
        *("GUARDRAIL", "EVALUATOR", "PROMPT", "UNKNOWN"),
    )
}
_GENAI_KINDS = {
    "CHAT": "LLM",
    "TEXT_COMPLETION": "LLM",
    "GENERATE_CONTENT": "LLM",
    "CALL_LLM": "LLM",
    "EXECUTE_TOOL": "TOOL",
    "INVOKE_AGENT": "AGENT",
    "CREATE_AGENT": "AGENT",
    "EMBEDDINGS": "EMBEDDING",
}
_SPAN_KEYS = frozenset(
    {"name", "context", "parent_id", "parent", "span_kind", "kind", "start_time", "end_time"}
    | {"status_code", "status_message", "status", "attributes", "events", "resource"}
)
_SHAPE_ERRORS = (TypeError, AttributeError, ValueError, KeyError, IndexError)
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
    explicit = raw.kind or attributes.get("openinference.span.kind")
    if explicit:
        field = where + ("span_kind" if raw.kind else "attributes.openinference.span.kind")
        kind, flags = classify(explicit, _OI_KINDS, notes, raw.place, field)
    else:
        operation = str(attributes.get("gen_ai.operation.name", "")).upper()
        kind, flags = _GENAI_KINDS.get(operation, "SPAN"), ()
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
        error=_error(status, raw.status[1], raw.events),
        attributes={**attributes, **raw.extra},
        events=raw.events,
        flags=flags,
        **_semantics(attributes, kind),
    )


def _error(status: str, message: Any, events: list[Any]) -> str | None:
    """A failed span's message: its status message, else its exception event."""
    if status != "ERROR":
        return None
    if message:
        return str(message)
    for event in events:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            kind, text = attrs.get("exception.type"), attrs.get("exception.message")
            return ": ".join(str(p) for p in (kind, text) if p) or "exception"
    return None


def _semantics(attrs: dict[str, Any], kind: str) -> dict[str, Any]:
    """What OpenInference and GenAI attributes say: messages, model, usage, tool call."""
    system = attrs.get("gen_ai.system_instructions")
    prompt = (
        _nested_messages(attrs, "llm.input_messages")
        or to_messages(parse_json(attrs.get("gen_ai.input.messages")))
        or _nested_messages(attrs, "gen_ai.prompt")
    )
    if prompt and system:
        prompt = [{"role": "system", "content": _system_text(system)}, *prompt]
    reply = (
        _nested_messages(attrs, "llm.output_messages")
        or to_messages(parse_json(attrs.get("gen_ai.output.messages")))
        or _nested_messages(attrs, "gen_ai.completion")
        or (_genai_output(attrs) if kind == "LLM" else None)
    )
    return {
        "input": _pick(attrs, "input.value", "gen_ai.tool.call.arguments", "gen_ai.tool.args")
        or attrs.get("gen_ai.input.messages"),
        "output": _pick(attrs, "output.value", "gen_ai.tool.call.result", "gen_ai.output")
        or attrs.get("gen_ai.output.messages"),
        "prompt": prompt,
        "reply": reply,
        "model": _pick(attrs, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model"),
        "tokens": _tokens(attrs),
        "cost_usd": _cost(attrs),
        "tool_name": _pick(attrs, "tool.name", "gen_ai.tool.name"),
        "tool_call_id": _pick(attrs, "tool_call.id", "tool.id", "gen_ai.tool.call.id"),
    }


def _pick(attrs: dict[str, Any], *keys: str) -> Any:
    return next((attrs[k] for k in keys if attrs.get(k) not in (None, "")), None)


def _system_text(system: Any) -> str:
    parsed = parse_json(system)
    if isinstance(parsed, list):
        return "\n".join(
            str(p.get("content", "")) if isinstance(p, dict) else str(p) for p in parsed
        )
    return str(parsed)


def _nested_messages(attrs: dict[str, Any], prefix: str) -> list[Row] | None:
    """Messages stored as flattened keys (``prefix.0.message.role``) or as a nested list."""
    value = attrs.get(prefix)
    if not isinstance(value, list):
        start = prefix + "."
        flat = {k[len(start) :]: v for k, v in attrs.items() if k.startswith(start)}
        if not flat:
            return None
        value = unflatten(flat)
    if not isinstance(value, list):
        return None
    return to_messages([_unflattened(e) for e in value])


def _unflattened(entry: Any) -> Any:
    """A message given with dotted keys (Phoenix span tables) as a nested object."""
    if isinstance(entry, dict) and any("." in key for key in entry):
        return unflatten(entry)
    return entry


def unflatten(flat: dict[str, Any]) -> Any:
    """Dotted keys as nested objects; objects whose keys are all digits become lists.

    Examples:
        >>> unflatten({"0.message.role": "user", "0.message.content": "hi"})
        [{'message': {'role': 'user', 'content': 'hi'}}]
    """
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        *heads, leaf = key.split(".")
        for head in heads:
            child = node.get(head)
            if not isinstance(child, dict):
                child = node[head] = {} if child is None else {"": child}
            node = child
        if isinstance(node.get(leaf), dict):
            node[leaf][""] = value
        else:
            node[leaf] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    done = {k: _lists(v) for k, v in node.items()}
    if done and all(k.isdigit() for k in done):
        return [done[k] for k in sorted(done, key=int)]
    return done


def _genai_output(attrs: dict[str, Any]) -> list[Row] | None:
    """any-agent's ``gen_ai.output`` on a model call: tool calls, or the reply text."""
    output = attrs.get("gen_ai.output")
    if output is None:
        return None
    parsed = parse_json(output)
    if (
        isinstance(parsed, list)
        and parsed
        and all(isinstance(c, dict) and "tool.name" in c for c in parsed)
    ):
        return [
            {"role": "assistant", "content": "", "tool_calls": [tool_call_of(c) for c in parsed]}
        ]
    found = to_messages(parsed) if isinstance(parsed, dict | list) else None
    if found and any(m["role"] != "user" for m in found):
        return found
    return [{"role": "assistant", "content": output if isinstance(output, str) else str(output)}]


def _number(attrs: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and not isinstance(value, bool):
            return float(value)
    return None


def _tokens(attrs: dict[str, Any]) -> dict[str, int] | None:
    names = {
        "prompt": (
            "llm.token_count.prompt",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
        ),
        "completion": (
            "llm.token_count.completion",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ),
        "total": ("llm.token_count.total", "gen_ai.usage.total_tokens"),
    }
    tokens = {
        key: int(n) for key, keys in names.items() if (n := _number(attrs, *keys)) is not None
    }
    if "total" not in tokens and {"prompt", "completion"} <= tokens.keys():
        tokens["total"] = tokens["prompt"] + tokens["completion"]
    return tokens or None


def _cost(attrs: dict[str, Any]) -> float | None:
    total = _number(attrs, "llm.cost.total", "gen_ai.usage.cost")
    if total is not None:
        return total
    parts = [
        _number(attrs, "llm.cost.prompt", "gen_ai.usage.input_cost"),
        _number(attrs, "llm.cost.completion", "gen_ai.usage.output_cost"),
    ]
    found = [p for p in parts if p is not None]
    return sum(found) if found else None


def _info(nodes: Sequence[Any], facts: dict[str, Any]) -> TraceInfo:
    """Trace-level metadata: root name, session and user, tags, resource, the record's fields."""
    spans = [node.span for node in nodes]
    metadata: dict[str, Any] = {"name": spans[0].name}
    wanted = {
        "session_id": ("session.id", "gen_ai.conversation.id"),
        "user_id": ("user.id",),
        "tags": ("tag.tags",),
        "metadata": ("metadata",),
    }
    for key, names in wanted.items():
        found = next((s.attributes[n] for s in spans for n in names if n in s.attributes), None)
        if found is not None:
            metadata[key] = parse_json(found)
    output = facts.get("final_output")
    metadata.update({k: v for k, v in facts.items() if k != "final_output" and v})
    return TraceInfo(metadata=metadata, output=output)


ADAPTERS = (
    Adapter("otel", sniff=_sniff_otel, convert=convert, aliases=("otlp", "opentelemetry")),
    Adapter("openinference", sniff=_sniff_openinference, convert=convert, aliases=("phoenix",)),
)
"""The OTel adapters: ``otel`` (OTLP, SDK span JSON, any-agent) and ``openinference`` (Phoenix)."""
