"""``evals/assertions/<id>.py``: an assertion as a standalone Python file, and back.

Every file defines ``check(trace: dict) -> bool`` (True when the failure is absent) that runs
with nothing but the standard library, and ``get_assert(output, context)``, the entry point
of promptfoo's python assertions. The check as data is the ``SPEC = {...}`` literal:

- for a typed spec (``regex``, ``contains``, ``max_length`` ...) SPEC is the whole spec and
  the code below it is fixed text that interprets SPEC the way
  :func:`workbench.evalgen.runtime.compile_check` does. Nothing from the spec is pasted
  into code: SPEC is written with ``repr`` and, before the file is written, parsed back with
  :mod:`ast` to prove that the literal evaluates to the spec and that the rest of the file
  is exactly the fixed text. Text copied from traces can only ever be a string constant.
- for a ``python`` spec, SPEC holds the options and the source follows it verbatim.

Loading reverses this: SPEC is read with ``ast.literal_eval`` (never executed); a typed file
whose code was edited by hand is refused with a message saying to edit SPEC instead.

Examples:
    >>> from workbench.evalgen.candidate import Candidate, Provenance
    >>> spec = {"type": "max_length", "field": "output", "value": 20}
    >>> prov = Provenance("long", "x", "")
    >>> c = Candidate("short", "assertion", spec, "Replies stay short.", prov)
    >>> text = render_assertion(c)
    >>> parse_assertion(text, "evals/assertions/short.py") == spec
    True
    >>> namespace: dict = {}
    >>> exec(compile(text, "short.py", "exec"), namespace)
    >>> namespace["check"]({"output": "Hello!"})
    True
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from workbench.evalgen.runtime import compile_check, describe
from workbench.evalgen.sandbox import UnsafeCheckError, check_source
from workbench.suite.format import SuiteFormatError
from workbench.suite.snippets import ADAPTER, COMMON, LANGUAGE, RULES

if TYPE_CHECKING:
    from workbench.evalgen.candidate import Candidate

MARKER: Final = "# ---- promptfoo adapter (generated; not part of the check) ----"
"""The line that ends the check and starts the promptfoo adapter."""

_LINE_BREAKS: Final = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_CODING: Final = re.compile(r"(coding)([:=])")  # how Python finds an encoding declaration


def _comment(text: str, width: int = 96) -> str:
    """``text`` as ``#`` comment lines, where trace text can not change how Python reads the file.

    Line breaks inside it cannot end the comment; other unprintable characters (NUL, ANSI
    escapes, bidi overrides) are written as escapes; and no line can declare the file's
    encoding (``coding:utf-7`` in its first two lines would make Python decode the file,
    string literals included, differently from the text that was checked).
    """
    flat = _LINE_BREAKS.sub(" ", text).strip()
    flat = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in flat)
    flat = _CODING.sub(r"\1 \2", flat)
    lines = textwrap.wrap(flat, width - 2, break_long_words=True) or [""]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _header(candidate: Candidate) -> str:
    spec = candidate.spec
    rule = "the source below" if spec.get("type") == "python" else describe(spec)
    out = _comment(
        f"Eval {candidate.id!r}: a check for the failure mode {candidate.failure_mode!r}."
    )
    out += _comment(f"Rule: {rule}.")
    if candidate.rationale:
        out += _comment(f"Why: {candidate.rationale}")
    out += "#\n"
    if spec.get("type") == "python":
        out += _comment(
            "check(trace) below is the source as accepted; the workbench runs it sandboxed "
            "(standard modules re, json, math, string, collections, itertools, datetime and "
            "unicodedata only). Edit it freely: the eval's version follows the file."
        )
    else:
        out += _comment(
            "SPEC is the check as data; the code below it interprets SPEC and is the same in "
            "every typed assertion. To change the check, change SPEC."
        )
    out += _comment(
        "check(trace) returns True when the failure is absent and needs only the standard "
        "library; get_assert() at the end adapts it to promptfoo's python assertions."
    )
    return out


def _types_in(spec: Mapping[str, Any]) -> list[str]:
    """The check types a spec uses, its ``when`` conditions included, in first-use order."""
    found: list[str] = []
    node: Any = spec
    while isinstance(node, Mapping):
        kind = str(node.get("type"))
        if kind not in found:
            found.append(kind)
        node = node.get("when")
    return found


def typed_code(spec: Mapping[str, Any]) -> str:
    """The fixed code that follows SPEC in a typed assertion file.

    Raises:
        ValueError: a type has no standalone code (``python`` or ``judge`` in a condition).
    """
    kinds = _types_in(spec)
    missing = [k for k in kinds if k not in RULES]
    if missing:
        raise ValueError(
            f"no standalone code for check type(s) {missing} inside a typed spec; "
            f"supported: {', '.join(sorted(RULES))}"
        )
    parts = [COMMON]
    if "language" in kinds:
        parts.append(LANGUAGE)
    parts.extend(RULES[k] for k in kinds)
    table = ", ".join(f"{k!r}: _{k}" for k in kinds)
    parts.append(
        f"_RULES = {{{table}}}\n\n\n"
        "def _passes(spec: dict, trace: dict) -> bool:\n"
        '    """Whether one spec passes: its condition, its rule, then its negation."""\n'
        '    when = spec.get("when")\n'
        "    if when is not None and not _passes(when, trace):\n"
        "        return True\n"
        '    return _RULES[spec["type"]](spec, trace) != bool(spec.get("negate", False))\n\n\n'
        "def check(trace: dict) -> bool:\n"
        '    """True when the failure is absent (the rule is stated at the top of the file)."""\n'
        "    return _passes(SPEC, trace)\n"
    )
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def spec_literal(data: Mapping[str, Any]) -> str:
    """A spec as a Python literal, one key per line, every value written with ``repr``.

    Examples:
        >>> print(spec_literal({"type": "contains", "value": ["a", "b"]}))
        {
            'type': 'contains',
            'value': ['a', 'b'],
        }
    """
    return "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in data.items()) + "}"


def normalised_source(source: str) -> str:
    r"""Python source as stored: no trailing blank lines or spaces, one final newline.

    Examples:
        >>> normalised_source("def check(t):\n    return True\n\n\n")
        'def check(t):\n    return True\n'
    """
    return source.rstrip() + "\n"


def render_assertion(candidate: Candidate) -> str:
    """The text of ``assertions/<id>.py`` for an assertion candidate, verified by parsing.

    Raises:
        ValueError: the spec is not a valid check, cannot be written as a literal, or its
            type has no standalone code.
    """
    spec = dict(candidate.spec)
    is_python = spec.get("type") == "python"
    if is_python:  # the file runs outside the sandbox too (pytest, promptfoo, Inspect)
        check_source(str(spec.get("value", "")), standalone=True)
    else:
        compile_check(spec)
    data = {k: v for k, v in spec.items() if k != "value"} if is_python else spec
    literal = spec_literal(data)
    body = normalised_source(str(spec["value"])) if is_python else typed_code(spec)
    text = f"{_header(candidate)}\nSPEC = {literal}\n\n{body}\n\n{MARKER}\n{ADAPTER.lstrip()}"
    expected = {**spec, "value": normalised_source(str(spec["value"]))} if is_python else spec
    if parse_assertion(text, f"assertions/{candidate.id}.py") != expected:
        raise ValueError(f"spec of {candidate.id!r} does not survive a round trip: {spec!r}")
    _same_code(text, text[len(_header(candidate)) :], candidate.id)
    return text


def _same_code(text: str, expected: str, eval_id: str) -> None:
    """Refuse a file whose header comments changed its syntax tree (they must stay comments)."""
    if ast.dump(ast.parse(text)) != ast.dump(ast.parse(expected)):
        raise ValueError(f"the header of the assertion file of {eval_id!r} is not only comments")


def _spec_node(tree: ast.Module, display: str) -> ast.Assign:
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "SPEC"
    ]
    if len(found) != 1:
        what = "is missing" if not found else f"is assigned {len(found)} times"
        raise SuiteFormatError(
            [f"{display}: SPEC: {what}; the file needs one `SPEC = {{'type': ...}}` literal"]
        )
    return found[0]


def parse_assertion(text: str, display: str) -> dict[str, Any]:
    """Read the spec back from the text of an assertion file, without running any of it.

    Args:
        text: The file's text.
        display: How to name the file in errors, e.g. ``evals/assertions/x.py``.

    Raises:
        SuiteFormatError: Not Python, no SPEC literal, an invalid spec, a python check the
            sandbox refuses, or typed code edited by hand; the message names the file.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise SuiteFormatError([f"{display}: line {exc.lineno}: {exc.msg}"]) from None
    node = _spec_node(tree, display)
    try:
        data = ast.literal_eval(node.value)
    except ValueError:
        raise SuiteFormatError(
            [f"{display}: line {node.lineno}: SPEC: must be a literal dict (str, numbers, lists)"]
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise SuiteFormatError([f"{display}: SPEC.type: required, a str such as 'regex'"])
    lines = text.splitlines(keepends=True)
    start = node.end_lineno or node.lineno
    end = next((i for i in range(start, len(lines)) if lines[i].rstrip() == MARKER), len(lines))
    code = "".join(lines[start:end])
    if data["type"] == "python":
        return _python_spec(data, code, display, start)
    return _typed_spec(data, code, display)


def _python_spec(data: dict[str, Any], code: str, display: str, offset: int) -> dict[str, Any]:
    source = normalised_source(code.lstrip("\n"))
    skipped = len(code) - len(code.lstrip("\n"))
    try:
        check_source(source, standalone=True)  # the file also runs outside the sandbox
    except UnsafeCheckError as exc:
        line = f"line {exc.line + offset + skipped}: " if exc.line is not None else ""
        raise SuiteFormatError([f"{display}: {line}check: {exc}"]) from None
    if "value" in data:
        raise SuiteFormatError([f"{display}: SPEC.value: the source follows SPEC, not inside it"])
    return {**data, "value": source}


def _typed_spec(data: dict[str, Any], code: str, display: str) -> dict[str, Any]:
    try:
        compile_check(data)
        expected = typed_code(data)
    except (ValueError, TypeError) as exc:
        raise SuiteFormatError([f"{display}: SPEC: {exc}"]) from None
    try:
        same = ast.dump(ast.parse(code)) == ast.dump(ast.parse(expected))
    except SyntaxError:
        same = False
    if not same:
        raise SuiteFormatError(
            [
                f"{display}: check: the code below SPEC differs from the code of a "
                f"{data['type']!r} check; change SPEC instead, or turn this into a python "
                "check by setting SPEC = {'type': 'python'} and keeping your code below it"
            ]
        )
    return data
