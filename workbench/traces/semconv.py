"""What OTel span attributes say, under the OpenInference and OTel GenAI conventions.

An OTel span tells what it did only through attributes, named by one of two
semantic conventions:

- OpenInference (Phoenix): ``openinference.span.kind``, ``input.value`` and
  ``output.value``, ``llm.input_messages.N.message.*`` (flattened keys, rebuilt by
  :func:`unflatten`), ``llm.model_name``, ``llm.token_count.*``, ``llm.cost.*``,
  ``tool.name``, ``session.id``, ``user.id``, ``tag.tags``.
- OTel GenAI: ``gen_ai.operation.name``, ``gen_ai.input.messages`` and
  ``gen_ai.output.messages`` (messages of typed "parts"), the older
  ``gen_ai.prompt.N``/``gen_ai.completion.N`` keys, ``gen_ai.usage.*``,
  ``gen_ai.tool.*``, ``gen_ai.conversation.id``; any-agent's ``gen_ai.output``.

Where both name a value, the OpenInference attribute wins. The same attributes
arrive in every container :mod:`workbench.traces.otel` reads (OTLP JSON, SDK span
JSON, Phoenix span tables), so reading them is kept apart from the containers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from workbench.traces.errors import Place, RecordError
from workbench.traces.fields import to_float
from workbench.traces.messages import to_messages, tool_call_of
from workbench.traces.span_fields import classify, parse_json
from workbench.traces.spans import Notes, Row, SpanRecord

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

_TRACE_KEYS = {
    "session_id": ("session.id", "gen_ai.conversation.id"),
    "user_id": ("user.id",),
    "tags": ("tag.tags",),
    "metadata": ("metadata",),
}


def span_kind(
    given: Any, attributes: dict[str, Any], notes: Notes, place: Place, where: str
) -> tuple[str, tuple[str, ...]]:
    """A span's kind: the OpenInference kind when one is given, else the GenAI operation's.

    Args:
        given: The kind the span states outside its attributes (Phoenix ``span_kind``).
        attributes: The span's flat attributes.
        notes: Where an unknown kind is reported.
        place: The record the span came from.
        where: The span's path in its record followed by a dot, or empty.

    Returns:
        One of :data:`~workbench.traces.spans.KINDS`, and the span's flags.
    """
    explicit = given or attributes.get("openinference.span.kind")
    if explicit:
        field = where + ("span_kind" if given else "attributes.openinference.span.kind")
        return classify(explicit, _OI_KINDS, notes, place, field)
    operation = str(attributes.get("gen_ai.operation.name", "")).upper()
    return _GENAI_KINDS.get(operation, "SPAN"), ()


def span_error(status: str, message: Any, events: list[Any]) -> str | None:
    """A failed span's message: its status message, else its OTel ``exception`` event's."""
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


def semantics(attrs: dict[str, Any], kind: str) -> dict[str, Any]:
    """What OpenInference and GenAI attributes say: messages, model, usage, tool call.

    Returns:
        :class:`~workbench.traces.spans.SpanRecord` fields by name: ``input``, ``output``,
        ``prompt``, ``reply``, ``model``, ``tokens``, ``cost_usd``, ``tool_name`` and
        ``tool_call_id``.
    """
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
            number = to_float(value, f"attributes.{key}")
            if not math.isfinite(number):
                raise RecordError(f"expected a finite number, got {number!r}", f"attributes.{key}")
            return number
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


def trace_metadata(spans: Sequence[SpanRecord]) -> dict[str, Any]:
    """Session, user, tags and metadata of a trace, each from the first span naming it."""
    metadata: dict[str, Any] = {}
    for key, names in _TRACE_KEYS.items():
        found = next((s.attributes[n] for s in spans for n in names if n in s.attributes), None)
        if found is not None:
            metadata[key] = parse_json(found)
    return metadata
