"""What a check sees of a trace: plain records, named text fields and a language guess.

Checks never read a DataFrame row. :func:`records` turns the trace table into plain dicts
(str, int, float, bool, None, list, dict only), which can cross into the sandbox process
unchanged, and :func:`texts` reads a named *field* of such a record as a list of strings:

========================  ==========================================================
field                     the strings
========================  ==========================================================
``input``                 the user's opening request
``output``                the app's last reply
``replies``               every assistant message with text (``[output]`` without messages)
``user``                  every user message (``[input]`` without messages)
``conversation``          every user and assistant message with text
``tool_names``            the name of every tool call, in order
``tool_args``             the raw ``arguments`` string of every tool call
``tool_results``          the result of every tool call, as text
========================  ==========================================================
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import pandas as pd

FIELDS: Final = (
    "input",
    "output",
    "replies",
    "user",
    "conversation",
    "tool_names",
    "tool_args",
    "tool_results",
)
"""The text fields a typed check can read."""

LANGUAGES: Final = ("en", "es", "de", "fr")
"""Languages :func:`detect_language` can tell apart."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "en": _words(
        "the and you your is are to of for with it this that have has was will can my we our "
        "be on at not please thanks thank what when where how would could there here an if so "
        "just do does did any but about from they been yet i i'm it's don't can't"
    ),
    "es": _words(
        "el la los las de del que y en un una por para con no es mi su se lo le al pero más "
        "está están gracias hola como cuando dónde qué muy ya sí tu te nos hay este esta ha "
        "he puedo puede tengo favor usted pedido envío"
    ),
    "de": _words(
        "der die das und ist ich nicht ein eine einen mit für auf den dem des zu im es sie wir "
        "ihr ihre mein meine meinen noch schon bitte danke hallo wann wo wie kann können haben "
        "hat bis aber oder auch sind war wird ihnen uns vielen bestellung gern"
    ),
    "fr": _words(
        "le la les des du de et est un une pour avec pas je vous votre vos mon ma mes nous que "
        "qui dans sur ce cette il elle sont merci bonjour commande quand où comment pouvez peux "
        "avez ai été très mais ou au aux bien être c'est j'ai n'est"
    ),
}
_MARKS: Final[dict[str, str]] = {"es": "ñ¿¡", "de": "äöüß", "fr": "çœèêàù"}
_WORD: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def records(traces: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn a trace table into plain dicts, one per row, with tool calls normalised.

    Examples:
        >>> import workbench as wb
        >>> first = records(wb.load_traces("sample_data/traces.jsonl").head(1))[0]
        >>> first["trace_id"], sorted(first["tool_calls"][0])
        ('tr_000001', ['arguments', 'id', 'name', 'result'])
    """
    rows = traces.to_dict("records")
    out = []
    for row in rows:
        record = {str(key): plain(value) for key, value in row.items()}
        record["tool_calls"] = tool_calls(record)
        out.append(record)
    return out


def plain(value: Any) -> Any:
    """Convert a value to plain JSON-like Python: NaN and NA become None, times ISO text.

    Examples:
        >>> plain({"a": float("nan"), "b": [pd.Timestamp("2026-11-02", tz="UTC")]})
        {'a': None, 'b': ['2026-11-02T00:00:00+00:00']}
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if kind is float:
        return None if math.isnan(value) else value
    if isinstance(value, str | int):  # subclasses (bool is an int)
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def tool_calls(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of a record as ``{id, name, arguments, result}`` dicts, in call order.

    Uses the ``tool_calls`` column when the loader filled it, else reads the OpenAI-style
    ``tool_calls`` of assistant messages and matches results by ``tool_call_id``.
    """
    given = record.get("tool_calls")
    if isinstance(given, list) and given:
        return [_one_call(call) for call in given if isinstance(call, Mapping)]
    messages = record.get("messages")
    if not isinstance(messages, list):
        return []
    results = {
        m.get("tool_call_id"): _text(m.get("content"))
        for m in messages
        if isinstance(m, Mapping) and m.get("role") == "tool"
    }
    calls = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        for call in message.get("tool_calls") or []:
            if not isinstance(call, Mapping):
                continue
            function = call.get("function") or {}
            calls.append(
                {
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                    "result": results.get(call.get("id")),
                }
            )
    return calls


def _one_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    if isinstance(function, Mapping):  # OpenAI shape inside the column
        name, arguments = function.get("name"), function.get("arguments")
    else:
        name, arguments = call.get("name"), call.get("arguments")
    return {
        "id": call.get("id"),
        "name": name,
        "arguments": arguments,
        "result": call.get("result"),
    }


def texts(record: Mapping[str, Any], field: str) -> list[str]:
    """Read a named field of a record as a list of strings (see the module docstring).

    Raises:
        ValueError: for an unknown field, naming the known ones.

    Examples:
        >>> texts({"input": "hi", "output": "hello", "messages": None}, "replies")
        ['hello']
    """
    reader = _READERS.get(field)
    if reader is None:
        raise ValueError(f"unknown trace field {field!r}; use one of {', '.join(FIELDS)}")
    return reader(record)


def _messages(record: Mapping[str, Any], roles: Iterable[str]) -> list[str] | None:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    wanted = set(roles)
    found = [
        _text(m.get("content"))
        for m in messages
        if isinstance(m, Mapping) and m.get("role") in wanted
    ]
    return [t for t in found if t]


def _text(content: Any) -> str:
    """Message content as text: a str, or the text parts of a multi-part content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return "\n".join(p for p in parts if isinstance(p, str))
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False) if isinstance(content, dict) else str(content)


def _field(name: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda record: [_text(record.get(name))]


def _role_texts(
    roles: tuple[str, ...], fallback: tuple[str, ...]
) -> Callable[[Mapping[str, Any]], list[str]]:
    def read(record: Mapping[str, Any]) -> list[str]:
        found = _messages(record, roles)
        if found is not None:
            return found
        return [t for t in (_text(record.get(name)) for name in fallback) if t]

    return read


def _call_part(part: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda record: [_text(c.get(part)) for c in tool_calls(record)]


_READERS: Final[dict[str, Callable[[Mapping[str, Any]], list[str]]]] = {
    "input": _field("input"),
    "output": _field("output"),
    "replies": _role_texts(("assistant",), ("output",)),
    "user": _role_texts(("user",), ("input",)),
    "conversation": _role_texts(("user", "assistant"), ("input", "output")),
    "tool_names": _call_part("name"),
    "tool_args": _call_part("arguments"),
    "tool_results": _call_part("result"),
}


def detect_language(text: str) -> str | None:
    """Guess whether a text is English, Spanish, German or French from its function words.

    Returns None when the text is too short or too mixed to tell (fewer than two
    stopword hits, or a runner-up within two thirds of the winner).

    Examples:
        >>> detect_language("Hola, ¿dónde está mi pedido? Gracias")
        'es'
        >>> detect_language("Wo ist meine Bestellung?")
        'de'
        >>> detect_language("NW-4003626") is None
        True
    """
    lowered = unicodedata.normalize("NFC", text.lower())
    words = _WORD.findall(lowered)
    scores = {lang: float(sum(w in stop for w in words)) for lang, stop in _STOPWORDS.items()}
    for lang, marks in _MARKS.items():
        scores[lang] += 2.0 * min(3, sum(lowered.count(mark) for mark in marks))
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < 2 or second > top * 2 / 3:
        return None
    return best
