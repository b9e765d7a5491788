"""Plain log records (one trace per record) to canonical rows.

This covers what most teams log themselves: ``{"query": ..., "response": ...}``
rows, OpenAI chat logs with a ``messages`` list, and request/response pairs of
chat-completion calls. Fields it does not recognise go to ``metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workbench.traces import chat
from workbench.traces.errors import RecordError
from workbench.traces.fields import (
    merge_metadata,
    pick,
    to_feedback,
    to_float,
    to_text,
    to_timestamp,
    to_tokens,
)

Row = dict[str, Any]


def record_to_row(record: Any, mapping: dict[str, str]) -> Row:
    """Turn one log record into a canonical row.

    Raises:
        RecordError: the record is not an object, has no usable content, or a
            recognised field has the wrong type; the error names the field.
    """
    if not isinstance(record, dict):
        raise RecordError(f"expected an object with fields, got {type(record).__name__}")
    row: Row = {}
    record, logged = _split_logged_call(record, row)
    found, rest = pick(record, mapping)
    messages = logged if logged is not None else _messages(found, rest)
    row["messages"] = messages
    row["input"] = _text_of(found.get("input"), "input", messages, chat.first_input)
    row["output"] = _text_of(found.get("output"), "output", messages, chat.last_reply)
    if messages is None and "input" not in found and "output" not in found:
        raise RecordError(
            "no input, output or messages field; fields are "
            f"{sorted(record)}: pass mapping={{'<field>': 'input', ...}} to name them"
        )
    if messages is not None:
        row["tool_calls"] = chat.tool_calls(messages)
    if "trace_id" in found:
        row["trace_id"] = to_text(found["trace_id"], "trace_id").strip() or None
    _optional_fields(found, row)
    row["metadata"] = merge_metadata(found.get("metadata"), rest)
    return row


def _split_logged_call(record: dict[str, Any], row: Row) -> tuple[dict[str, Any], list[Row] | None]:
    """Take a logged chat-completions call (request with messages, and its response) apart.

    Done before field recognition, so ``response`` is read as the API reply rather
    than as an ``output`` text.
    """
    request = record.get("request")
    if not (isinstance(request, dict) and "messages" in request):
        return record, None
    rest = {k: v for k, v in record.items() if k not in ("request", "response")}
    response = record.get("response")
    messages = chat.from_request_response(request, response)
    _from_response(request, response, row, rest)
    return rest, messages


def _messages(found: dict[str, Any], rest: dict[str, Any]) -> list[Row] | None:
    """The chat of a record, from ``messages`` or message-shaped input."""
    if "messages" in found:
        messages = chat.normalise_messages(found["messages"])
        return _append_output_messages(messages, found)
    source = found.get("input")
    if isinstance(source, dict) and isinstance(source.get("messages"), list):
        found.pop("input")
        return _append_output_messages(chat.normalise_messages(source["messages"], "input"), found)
    if isinstance(source, list) and source and all(isinstance(m, dict | list) for m in source):
        found.pop("input")
        return _append_output_messages(chat.normalise_messages(source, "input"), found)
    return None


def _append_output_messages(messages: list[Row], found: dict[str, Any]) -> list[Row]:
    """An ``output`` holding the reply message(s) joins the conversation."""
    output = found.get("output")
    if isinstance(output, dict) and "role" in output:
        found.pop("output")
        return [*messages, *chat.normalise_messages([output], "output")]
    if isinstance(output, list) and output and all(isinstance(m, dict) for m in output):
        found.pop("output")
        return [*messages, *chat.normalise_messages(output, "output")]
    return messages


def _from_response(request: Row, response: Any, row: Row, rest: Row) -> None:
    """Model, usage, time and tool definitions of a logged chat-completions call."""
    if request.get("tools"):
        rest["tools"] = request["tools"]
    body = response if isinstance(response, dict) else {}
    model = body.get("model") or request.get("model")
    if model:
        row["model"] = str(model)
    if isinstance(body.get("usage"), dict):
        row["tokens"] = to_tokens(body["usage"], "response.usage")
    if body.get("created") is not None:
        row["timestamp"] = to_timestamp(body["created"], "response.created")
    if body.get("id"):
        rest["response_id"] = body["id"]


def _text_of(
    value: Any, field: str, messages: list[Row] | None, from_chat: Callable[[list[Row]], str]
) -> str:
    """Input/output text: the field itself when it is text, else taken from the chat."""
    if value is None:
        return from_chat(messages) if messages else ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        texts = [v for v in value.values() if isinstance(v, str)]
        if len(value) == 1 and texts:
            return texts[0]
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return to_text(value, field)


def _optional_fields(found: dict[str, Any], row: Row) -> None:
    """Coerce the optional canonical fields that the record has (a record's own win)."""
    if "timestamp" in found:
        row["timestamp"] = to_timestamp(found["timestamp"])
    if "model" in found:
        row["model"] = to_text(found["model"], "model")
    if "latency_ms" in found:
        row["latency_ms"] = to_float(found["latency_ms"], "latency_ms")
    if "cost_usd" in found:
        row["cost_usd"] = to_float(found["cost_usd"], "cost_usd")
    if "tokens" in found:
        row["tokens"] = to_tokens(found["tokens"])
    if "feedback" in found:
        row["feedback"] = to_feedback(found["feedback"])
    if "error" in found:
        error = found["error"]
        row["error"] = error if isinstance(error, str) else json.dumps(error, default=str)
    if "spans" in found:
        row["spans"] = found["spans"]
    if "tool_calls" in found and "tool_calls" not in row:
        row["tool_calls"] = found["tool_calls"]
