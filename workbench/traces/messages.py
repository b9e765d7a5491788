"""Chats in the shapes trace exports hold them, read as OpenAI-style messages.

Exports hold chats in many shapes: OpenAI chat messages and completions, OpenAI
Responses items, LangChain messages (plain and serialised), OTel GenAI "parts",
OpenInference message objects. :func:`to_messages` turns each into OpenAI-style
message dicts (``role``, text ``content``, ``tool_calls``), so that every format
fills the ``messages`` column and the roll-ups in one shape; :func:`visible_text` and
:func:`said` pick out what a user saw of a logged input or output.
"""

from __future__ import annotations

from typing import Any

from workbench.traces import chat
from workbench.traces.errors import RecordError
from workbench.traces.span_fields import as_dict, dumps, parse_json
from workbench.traces.spans import Row

_TYPE_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}

_LANGCHAIN_CLASSES = {
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "function",
}


def said(messages: list[Row], side: str) -> str:
    """The user's latest turn (``side="input"``) or the app's last reply (``"output"``).

    A trace is one turn of a conversation: the chat a model call saw holds the
    earlier turns too, and the request this trace answers is the latest user turn.
    """
    if side != "input":
        return chat.last_reply(messages)
    for message in reversed(messages):
        if str(message.get("role", "")).lower() in chat.USER_ROLES and message["content"].strip():
            return str(message["content"])
    return ""


def visible_text(value: Any, side: str) -> str:
    """What a user saw of a logged input or output (``side`` is ``"input"`` or ``"output"``)."""
    if value is None:
        return ""
    data = parse_json(value)
    if isinstance(data, str):
        return data
    if not isinstance(data, dict | list):
        return dumps(data)
    messages = to_messages(data)
    text = said(messages, side) if messages else ""
    if text:
        return text
    if isinstance(data, dict) and len(data) == 1:
        only = next(iter(data.values()))
        if isinstance(only, str):
            return only
    return value if isinstance(value, str) else dumps(data)


def to_messages(value: Any) -> list[Row] | None:
    """OpenAI-style messages from any chat shape an export holds, or ``None`` if it holds none."""
    if isinstance(value, dict):
        prompts = value.get("prompts")
        if isinstance(prompts, list) and prompts and all(isinstance(p, str) for p in prompts):
            return [{"role": "user", "content": prompt} for prompt in prompts]
        inner = value.get("messages")
        if isinstance(inner, list):
            return to_messages(
                inner[0] if len(inner) == 1 and isinstance(inner[0], list) else inner
            )
        for key in ("choices", "generations", "output"):
            items = value.get(key)
            if isinstance(items, list) and items:
                first = items[0]
                found = to_messages([first[0]] if isinstance(first, list) and first else items)
                if found:
                    return found[:1] if key == "choices" else found
        single = _message(value)
        return [single] if single else None
    if not isinstance(value, list):
        return None
    messages: list[Row] = []
    for item in value:
        message = _message(item) if isinstance(item, dict) else None
        if message is None:
            if isinstance(item, dict) and "type" in item:
                continue  # an item that is not a message (reasoning, a hosted tool call)
            return None
        last = messages[-1] if messages else None
        if last and message.get("merge") and last.get("merge"):
            last["tool_calls"].extend(message["tool_calls"])
        else:
            messages.append(message)
    for message in messages:
        message.pop("merge", None)
    return messages or None


def _message(item: dict[str, Any]) -> Row | None:
    """One message from one item, or ``None`` when the item is not a message."""
    kind = item.get("type")
    if item.get("lc") == 1 and isinstance(item.get("kwargs"), dict):
        kwargs = item["kwargs"]
        ids = item["id"] if isinstance(item.get("id"), list) and item["id"] else [""]
        role = _TYPE_ROLES.get(str(kwargs.get("type"))) or _LANGCHAIN_CLASSES.get(str(ids[-1]))
        return _tidy(kwargs, role or kwargs.get("role"))
    if kind == "function_call":  # OpenAI Responses API
        call = tool_call(
            item.get("call_id") or item.get("id"), item.get("name"), item.get("arguments")
        )
        return {"role": "assistant", "content": "", "tool_calls": [call], "merge": True}
    if kind == "function_call_output":
        return {
            "role": "tool",
            "content": _text(item.get("output")),
            "tool_call_id": item.get("call_id"),
        }
    if "role" not in item and isinstance(item.get("message"), dict):
        return _message(item["message"])  # OpenInference {"message": {...}}, LangChain generations
    if kind in ("Generation", "GenerationChunk") and isinstance(item.get("text"), str):
        return {"role": "assistant", "content": item["text"]}  # a LangChain text completion
    role = item.get("role") or _TYPE_ROLES.get(str(kind))
    if not any(k in item for k in ("content", "parts", "tool_calls", "contents", "text")):
        return None
    return _tidy(item, role)


def _tidy(item: dict[str, Any], role: Any) -> Row | None:
    """Role, text content and OpenAI-style tool calls; the message's other keys are kept."""
    if not isinstance(role, str) or not role:
        return None
    message = {k: v for k, v in item.items() if k not in ("parts", "contents", "type")}
    message["role"] = role
    content = item.get("content", item.get("text"))
    if isinstance(item.get("contents"), list) and content is None:
        content = [as_dict(part).get("message_content", part) for part in item["contents"]]
    listed = item.get("tool_calls")
    calls = (
        [tool_call_of(c) for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    )
    if isinstance(item.get("parts"), list):
        content, calls, answered = _parts(item["parts"], calls)
        if answered is not None:
            message.update(role="tool", tool_call_id=answered)
    message["content"] = _text(content)
    if calls:
        message["tool_calls"] = calls
    return message


def _parts(parts: list[Any], calls: list[Row]) -> tuple[str, list[Row], str | None]:
    """OTel GenAI message parts: text, tool calls, and a tool call's response."""
    texts: list[str] = []
    answered = None
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            answered = str(part.get("id"))
            texts.append(_text(part.get("response", part.get("result"))))
        elif kind != "reasoning":
            texts.append(_text(part.get("content", f"[{kind}]")))
    return "\n".join(texts), calls, answered


def tool_call(call_id: Any, name: Any, arguments: Any) -> Row:
    """A tool call in the OpenAI shape (arguments kept as logged)."""
    function = {"name": name, "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


def tool_call_of(call: dict[str, Any]) -> Row:
    """OpenAI, LangChain (``args``), OpenInference (``tool_call``) and GenAI calls, as OpenAI's."""
    call = as_dict(call.get("tool_call")) or call
    function = as_dict(call.get("function")) or call
    name = function.get("name", call.get("tool.name"))
    arguments = function.get("arguments", function.get("args", call.get("tool.args")))
    return tool_call(call.get("id"), name, arguments)


def _text(content: Any) -> str:
    """Message content as text, whatever it holds."""
    try:
        return chat.content_text(content, "content")
    except RecordError:
        return content if isinstance(content, str) else dumps(content)
