"""Structured output: the response formats to ask for, and strict reading of the answer.

A model asked for JSON can still answer with prose, a fenced block, a cut-off object or a
verdict outside the allowed set. :func:`parse_json` turns the text into data or says exactly
what is wrong, in words that can go back to the model in one repair request
(:func:`repair_messages`). The schema check covers the keywords judges use (type, enum,
required, properties, additionalProperties, items); it is not a full JSON Schema validator.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROMPTS = Path(__file__).parent / "prompts"
"""Where the prompt templates live."""

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class JSONOutputProblem(ValueError):
    """The text is not valid JSON for the schema; the message says why, for the model."""


def schema_format(schema: Mapping[str, Any], name: str = "output") -> dict[str, Any]:
    """The ``response_format`` that asks a server to constrain output to ``schema``.

    Examples:
        >>> schema_format({"type": "object"}, "verdict")["json_schema"]["name"]
        'verdict'
    """
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": dict(schema), "strict": True},
    }


JSON_MODE: dict[str, Any] = {"type": "json_object"}
"""The ``response_format`` for plain JSON mode (any JSON object, no schema)."""


def prompt(name: str) -> string.Template:
    """A prompt template from ``workbench/prompts/`` (``$name`` placeholders).

    Examples:
        >>> prompt("json_repair.md").substitute(problem="not valid JSON")[:40]
        'Your reply was rejected: it is not valid'
    """
    return string.Template((PROMPTS / name).read_text(encoding="utf-8").strip())


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """A system message that states the schema, for servers with JSON mode only."""
    text = json.dumps(schema, ensure_ascii=False)
    return prompt("json_schema_instruction.md").substitute(schema=text)


def _type_ok(value: Any, expected: str) -> bool:
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


def schema_problems(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """List how ``value`` breaks ``schema`` (empty when it conforms).

    Examples:
        >>> s = {"type": "object", "required": ["verdict"],
        ...      "properties": {"verdict": {"enum": ["PASS", "FAIL"]}}}
        >>> schema_problems({"verdict": "MAYBE"}, s)
        ["$.verdict: 'MAYBE' is not one of ['PASS', 'FAIL']"]
    """
    problems: list[str] = []
    expected = schema.get("type")
    types = [expected] if isinstance(expected, str) else list(expected or [])
    if types and not any(_type_ok(value, t) for t in types):
        return [f"{path}: expected {' or '.join(types)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {list(schema['enum'])}")
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties", {})
        problems += [
            f"{path}: missing key {k!r}" for k in schema.get("required", ()) if k not in value
        ]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}: unexpected key {k!r}" for k in value if k not in props]
        for key, sub in props.items():
            if key in value and isinstance(sub, Mapping):
                problems += schema_problems(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{path}[{i}]")
    return problems


def parse_json(text: str, schema: Mapping[str, Any] | None = None) -> Any:
    r"""Read a model's JSON answer strictly.

    One markdown code fence around the JSON is tolerated (JSON-mode models often add one);
    anything else around it is an error.

    Args:
        text: The model's answer.
        schema: When given, the value must conform to it.

    Returns:
        The parsed value.

    Raises:
        JSONOutputProblem: Not JSON, or not conforming; the message lists the problems.

    Examples:
        >>> parse_json('```json\n{"verdict": "PASS"}\n```')
        {'verdict': 'PASS'}
    """
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise JSONOutputProblem(f"not valid JSON: {exc}") from exc
    if schema is not None:
        problems = schema_problems(value, schema)
        if problems:
            raise JSONOutputProblem("does not match the schema: " + "; ".join(problems))
    return value


def repair_messages(
    messages: Sequence[Mapping[str, Any]], bad_text: str, problem: str
) -> list[dict[str, Any]]:
    """The conversation for one repair attempt: the bad answer and what is wrong with it.

    Examples:
        >>> m = repair_messages([{"role": "user", "content": "q"}], "{oops", "not valid JSON")
        >>> [x["role"] for x in m]
        ['user', 'assistant', 'user']
    """
    return [
        *(dict(m) for m in messages),
        {"role": "assistant", "content": bad_text},
        {"role": "user", "content": prompt("json_repair.md").substitute(problem=problem)},
    ]
