"""OpenAI-style chat: message lists, request/response logs, and what a user saw.

A chat trace keeps its full message list (roles, tool calls, tool results) so the
reviewer can show it the way the app's user saw it; ``input`` is the user's opening
request and ``output`` the app's last reply, for tables, search and embedding.
"""

from __future__ import annotations

import json
from typing import Any

from workbench.traces.errors import RecordError

ASSISTANT_ROLES = frozenset({"assistant", "agent", "ai", "bot", "model", "asssistant"})
"""Roles that speak for the app; logs use several, and typos happen."""
USER_ROLES = frozenset({"user", "human", "customer"})
"""Roles that speak for the app's user."""

_LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def normalise_messages(value: Any, field: str = "messages") -> list[dict[str, Any]]:
    """Check and tidy a message list; every message keeps all of its own keys.

    Raises:
        RecordError: the value is not a list of ``{"role", "content"}`` objects; the
            field names the offending index, e.g. ``messages[2]``.
    """
    if not isinstance(value, list):
        raise RecordError(f"expected a list of messages, got {type(value).__name__}", field)
    messages = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise RecordError(
                f'expected a message object with "role" and "content", '
                f"got {type(message).__name__}",
                where,
            )
        messages.append(_normalise_message(message, where))
    return messages


def _normalise_message(message: dict[str, Any], where: str) -> dict[str, Any]:
    """Give a message a ``role`` and text ``content`` while keeping all other keys."""
    tidy = dict(message)
    role = tidy.get("role")
    if role is None and "type" in tidy:  # LangChain serialises messages with "type"
        role = _LANGCHAIN_ROLES.get(str(tidy["type"]), str(tidy["type"]))
    if not isinstance(role, str) or not role:
        raise RecordError('message has no "role"', where)
    tidy["role"] = role
    tidy["content"] = content_text(tidy.get("content"), f"{where}.content")
    if tidy.get("tool_calls") is not None and not isinstance(tidy["tool_calls"], list):
        raise RecordError("expected a list of tool calls", f"{where}.tool_calls")
    return tidy


def content_text(content: Any, field: str) -> str:
    """Message content as text: strings stay, content parts are joined, None is empty."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'part')}]")
            else:
                raise RecordError(f"unexpected content part {type(part).__name__}", field)
        return "\n".join(parts)
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False)
    raise RecordError(f"expected text content, got {type(content).__name__}", field)


def first_input(messages: list[dict[str, Any]]) -> str:
    """The request that opened the conversation: the user's first non-empty turn, or ``""``.

    In multi-turn chats the last user turn is often a closing ("thanks!"); the first
    one says what the user came for, as the root span's input does in tracing tools.
    """
    for message in messages:
        if message["role"].lower() in USER_ROLES and message["content"].strip():
            return str(message["content"])
    return ""


def last_reply(messages: list[dict[str, Any]]) -> str:
    """What the app said last: the last assistant turn's text, or the tool calls it made.

    A conversation that ends in tool calls (an agent mid-task, or a logged single
    call) shows those calls, not an older text reply that answered something else.
    """
    for message in reversed(messages):
        if message["role"].lower() not in ASSISTANT_ROLES:
            continue
        if message["content"].strip():
            return str(message["content"])
        calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        if calls:
            return "[tool calls] " + "; ".join(_call_text(c) for c in calls)
    return ""


def _function(call: dict[str, Any]) -> dict[str, Any]:
    """The name/arguments part of a tool call (OpenAI nests it under ``function``)."""
    function = call.get("function")
    return function if isinstance(function, dict) else call


def _call_text(call: dict[str, Any]) -> str:
    function = _function(call)
    arguments = function.get("arguments", function.get("args", ""))
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return f"{function.get('name')}({arguments})"


def tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool call in order, with its raw arguments and, where logged, its result."""
    results = {
        m["tool_call_id"]: m["content"]
        for m in messages
        if m["role"] == "tool" and m.get("tool_call_id") and _is_key(m["tool_call_id"])
    }
    calls = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            function = _function(call)
            arguments = function.get("arguments", function.get("args"))
            calls.append(
                {
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": arguments,
                    "result": results.get(call.get("id")) if _is_key(call.get("id")) else None,
                }
            )
    return calls


def _is_key(value: Any) -> bool:
    """True for ids that can be looked up (logs hold objects and lists where ids belong too)."""
    return isinstance(value, str | int | float | bool | None)


def from_request_response(request: Any, response: Any) -> list[dict[str, Any]]:
    """The conversation of one logged API call: request messages plus the reply.

    Accepts chat-completions bodies (``choices[].message``) and wrappers whose
    response carries a full ``messages`` list.
    """
    if not isinstance(request, dict):
        raise RecordError("expected an object", "request")
    messages = normalise_messages(request.get("messages", []), "request.messages")
    if not isinstance(response, dict):
        return messages
    if isinstance(response.get("messages"), list):
        full = normalise_messages(response["messages"], "response.messages")
        return full if len(full) >= len(messages) else messages + full
    choices = response.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise RecordError(
            f"expected a list of choices, got {type(choices).__name__}", "response.choices"
        )
    for index, choice in enumerate(choices or []):
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            where = f"response.choices[{index}].message"
            messages.append(_normalise_message(choice["message"], where))
            break
    return messages


def cassette_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Recorded HTTP interactions (VCR cassettes) with chat completions, as log records."""
    records = []
    for index, interaction in enumerate(doc.get("interactions") or []):
        where = f"interactions[{index}]"
        interaction = _object(interaction, where)
        request = _object(interaction.get("request"), f"{where}.request")
        response = _object(interaction.get("response"), f"{where}.response")
        if "chat/completions" not in str(request.get("uri", "")):
            continue
        body = response.get("body")
        status = response.get("status")
        records.append(
            {
                "request": _json_body(request.get("body"), f"{where}.request.body"),
                "response": _json_body(
                    body.get("string") if isinstance(body, dict) else body,
                    f"{where}.response.body",
                ),
                "uri": request.get("uri"),
                "status": status.get("code") if isinstance(status, dict) else status,
            }
        )
    return records


def _object(value: Any, field: str) -> dict[str, Any]:
    """An optional object of a cassette: missing is empty, any other type a bad field."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"expected an object, got {type(value).__name__}", field)
    return value


def _json_body(body: Any, field: str) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RecordError(f"body is not JSON ({exc})", field) from None
        except RecursionError:
            raise RecordError("body is JSON nested too deeply to parse", field) from None
    return body
