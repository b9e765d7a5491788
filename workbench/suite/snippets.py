r"""The fixed code written into standalone assertion files (see :mod:`.assertion_file`).

These texts are the same in every file; only the ``SPEC`` literal above them differs. They
mirror, with the standard library alone, how :mod:`workbench.evalgen.fields` reads a trace
and how :func:`workbench.evalgen.runtime.compile_check` decides each typed check, so a file
gives the same verdicts outside the workbench as inside (``tests/test_suite_format.py``
checks that on the sample traces). Files already on disk are compared with these texts when
loaded: if a text here ever changes, keep accepting the old one so existing suites load.

Examples:
    >>> sorted(RULES)[:3]
    ['contains', 'json_valid', 'language']
"""

from __future__ import annotations

from typing import Final

COMMON: Final = r'''
import json
import re


def _text(content: object) -> str:
    """Message content as text: a str, or the text parts of a multi-part content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False) if isinstance(content, dict) else str(content)


def _tool_calls(trace: dict) -> list:
    """The tool calls as {name, arguments, result} dicts, from the column or the messages."""
    given = trace.get("tool_calls")
    if isinstance(given, list) and given:
        calls = []
        for call in given:
            if isinstance(call, dict):
                function = call.get("function")
                source = function if isinstance(function, dict) else call
                calls.append(
                    {
                        "name": source.get("name"),
                        "arguments": source.get("arguments"),
                        "result": call.get("result"),
                    }
                )
        return calls
    messages = trace.get("messages")
    if not isinstance(messages, list):
        return []
    results = {
        m.get("tool_call_id"): _text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "tool"
    }
    calls = []
    for message in messages:
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            if isinstance(call, dict):
                function = call.get("function") or {}
                calls.append(
                    {
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                        "result": results.get(call.get("id")),
                    }
                )
    return calls


def _role_texts(trace: dict, roles: tuple, fallback: tuple) -> list:
    messages = trace.get("messages")
    if isinstance(messages, list) and messages:
        found = [
            _text(m.get("content"))
            for m in messages
            if isinstance(m, dict) and m.get("role") in roles
        ]
        return [t for t in found if t]
    return [t for t in (_text(trace.get(name)) for name in fallback) if t]


def _texts(trace: dict, field: str) -> list:
    """The strings of a named field: input, output, replies, user, conversation, tool_*."""
    if field in ("input", "output"):
        return [_text(trace.get(field))]
    if field == "replies":
        return _role_texts(trace, ("assistant",), ("output",))
    if field == "user":
        return _role_texts(trace, ("user",), ("input",))
    if field == "conversation":
        return _role_texts(trace, ("user", "assistant"), ("input", "output"))
    part = {"tool_names": "name", "tool_args": "arguments", "tool_results": "result"}[field]
    return [_text(call.get(part)) for call in _tool_calls(trace)]
'''

LANGUAGE: Final = r'''
_STOPWORDS = {
    "en": frozenset(
        "the and you your is are to of for with it this that have has was will can my we our "
        "be on at not please thanks thank what when where how would could there here an if so "
        "just do does did any but about from they been yet i i'm it's don't can't".split()
    ),
    "es": frozenset(
        "el la los las de del que y en un una por para con no es mi su se lo le al pero más "
        "está están gracias hola como cuando dónde qué muy ya sí tu te nos hay este esta ha "
        "he puedo puede tengo favor usted pedido envío".split()
    ),
    "de": frozenset(
        "der die das und ist ich nicht ein eine einen mit für auf den dem des zu im es sie wir "
        "ihr ihre mein meine meinen noch schon bitte danke hallo wann wo wie kann können haben "
        "hat bis aber oder auch sind war wird ihnen uns vielen bestellung gern".split()
    ),
    "fr": frozenset(
        "le la les des du de et est un une pour avec pas je vous votre vos mon ma mes nous que "
        "qui dans sur ce cette il elle sont merci bonjour commande quand où comment pouvez peux "
        "avez ai été très mais ou au aux bien être c'est j'ai n'est".split()
    ),
}
_MARKS = {"es": "ñ¿¡", "de": "äöüß", "fr": "çœèêàù"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _detect_language(text: str):
    """en, es, de or fr from function words and accents; None when it can not be told."""
    import unicodedata

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
'''

RULES: Final = {
    "contains": r"""
def _contains(spec: dict, trace: dict) -> bool:
    sensitive = bool(spec.get("case_sensitive", False))
    needles = [spec["value"]] if isinstance(spec["value"], str) else list(spec["value"])
    needles = needles if sensitive else [n.casefold() for n in needles]
    for text in _texts(trace, spec.get("field", "output")):
        hay = text if sensitive else text.casefold()
        if any(needle in hay for needle in needles):
            return True
    return False
""",
    "regex": r"""
def _regex(spec: dict, trace: dict) -> bool:
    flags = 0
    for letter in spec.get("flags", ""):
        flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    pattern = re.compile(str(spec["value"]), flags)
    return any(pattern.search(t) for t in _texts(trace, spec.get("field", "output")))
""",
    "max_length": r"""
def _max_length(spec: dict, trace: dict) -> bool:
    return all(len(t) <= spec["value"] for t in _texts(trace, spec.get("field", "output")))
""",
    "min_length": r"""
def _min_length(spec: dict, trace: dict) -> bool:
    return all(len(t) >= spec["value"] for t in _texts(trace, spec.get("field", "output")))
""",
    "json_valid": r"""
def _json_valid(spec: dict, trace: dict) -> bool:
    for text in _texts(trace, spec.get("field", "output")):
        try:
            json.loads(text)
        except ValueError:
            return False
    return True
""",
    "tool_called": r"""
def _tool_called(spec: dict, trace: dict) -> bool:
    names = _texts(trace, "tool_names")
    if spec.get("value") is None:
        return bool(names)
    wanted = [spec["value"]] if isinstance(spec["value"], str) else list(spec["value"])
    return any(name in wanted for name in names)
""",
    "tool_not_called": r"""
def _tool_not_called(spec: dict, trace: dict) -> bool:
    unwanted = [spec["value"]] if isinstance(spec["value"], str) else list(spec["value"])
    return not any(name in unwanted for name in _texts(trace, "tool_names"))
""",
    "tool_order": r"""
def _tool_order(spec: dict, trace: dict) -> bool:
    first, then = spec["value"]
    seen_first = False
    for name in _texts(trace, "tool_names"):
        seen_first = seen_first or name == first
        if name == then and not seen_first:
            return False
    return True
""",
    "language": r"""
def _language(spec: dict, trace: dict) -> bool:
    found = _detect_language("\n".join(_texts(trace, spec.get("field", "replies"))))
    other = spec.get("value")
    if other is None:
        other = _detect_language("\n".join(_texts(trace, spec["match"])))
    return found is None or other is None or found == other
""",
}
"""Check type -> the function ``_<type>(spec, trace) -> bool`` deciding it."""

ADAPTER: Final = r'''
def get_assert(output, context):
    """promptfoo's entry point: grade the trace held in the test's vars with check().

    The trace comes from vars["trace"] (JSON text or a mapping) or from the vars themselves;
    promptfoo's output, when it is text, stands in for the trace's output.
    """
    import json as json_module

    variables = dict((context or {}).get("vars") or {})
    trace = variables.get("trace", variables)
    trace = dict(json_module.loads(trace) if isinstance(trace, str) else trace)
    if isinstance(output, str):
        trace["output"] = output
    verdict = check(trace)
    passed, reason = verdict if isinstance(verdict, tuple) else (verdict, "")
    reason = reason or ("the failure is absent" if passed else "the failure is present")
    return {"pass": bool(passed), "score": 1.0 if passed else 0.0, "reason": reason}
'''
"""The promptfoo adapter appended to every assertion file."""
