"""The one place where eval specs become checks and run.

A spec is typed data in the manner of promptfoo; :func:`compile_check` is the only function
that turns one into a callable ``check(trace) -> bool`` (True: the failure is absent). Typed
specs are built into closures from their values, so text copied from traces stays a value
(a substring, a regular expression) and is never turned into code. ``python`` specs go
through the gates of :mod:`workbench.evalgen.sandbox`; ``judge`` specs are run by
:mod:`workbench.evalgen.judges` through the LLM door.

Typed specs (every one also takes ``negate: bool`` and ``when: <spec>``, a condition: where
the condition does not pass, the check passes without looking):

================  =============================================================================
type              passes when
================  =============================================================================
contains          some text of ``field`` contains ``value`` (a str or any of a list);
                  ``case_sensitive`` defaults to False
regex             some text of ``field`` matches the pattern ``value`` (``flags``: "imsx")
max_length        every text of ``field`` has at most ``value`` characters
min_length        every text of ``field`` has at least ``value`` characters
json_valid        every text of ``field`` is valid JSON (``field`` ``output`` or ``tool_args``)
tool_called       a tool named ``value`` (a str or any of a list; None: any tool) was called
tool_not_called   no tool named ``value`` (a str or any of a list) was called
tool_order        every call of ``value[1]`` comes after a call of ``value[0]``
language          the language of ``field`` is ``value``, or (no ``value``) the language of
                  the ``match`` field; passes when either language can not be told
python            ``check(trace)`` defined in ``value`` returns True
================  =============================================================================

``field`` is one of :data:`workbench.evalgen.fields.FIELDS` (default ``output``, and
``replies`` for ``language``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.evalgen.fields import FIELDS, detect_language, records, texts
from workbench.evalgen.sandbox import check_source, run_python

if TYPE_CHECKING:
    from workbench.evalgen.candidate import Candidate

Check = Callable[[dict[str, Any]], bool]
"""A compiled check: a plain trace record in, True (failure absent) or False out."""

_COMMON: Final = frozenset({"type", "negate", "when", "metric", "description"})


class CheckError(Exception):
    """A check could not grade one trace (the python check failed or timed out)."""


class PythonCheck:
    """A compiled ``python`` spec: its source passed the static check and runs sandboxed.

    Calling it grades one trace in a fresh worker process; :meth:`many` grades a batch in
    one process, which is what :func:`run_candidate` uses.
    """

    def __init__(self, source: str, time_limit_s: float = 1.0) -> None:
        check_source(source)
        self.source = source
        """The reviewed (or to be reviewed) source of ``check(trace)``."""
        self.time_limit_s = time_limit_s
        """Seconds each trace may take."""

    def __call__(self, trace: dict[str, Any]) -> bool:
        """Grade one trace; raises :class:`CheckError` when it can not be graded."""
        passed, reason = self.many([trace])[0]
        if passed is None:
            raise CheckError(reason)
        return passed

    def many(self, traces: Sequence[dict[str, Any]]) -> list[tuple[bool | None, str]]:
        """Grade traces in one worker process: ``(passed or None, reason)`` each."""
        return run_python(self.source, traces, time_limit_s=self.time_limit_s)


def compile_check(spec: Mapping[str, Any]) -> Check:
    """Turn a spec into a check; the only place that does.

    Raises:
        ValueError: for an unknown type, a missing or unexpected key, or a bad value, naming it.
        UnsafeCheckError: for python source refused by the static check.

    Examples:
        >>> check = compile_check({"type": "max_length", "field": "output", "value": 5})
        >>> check({"output": "hello"}), check({"output": "hello!"})
        (True, False)
        >>> compile_check({"type": "contains", "value": "ID", "negate": True})({"output": "id 7"})
        False
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"a spec is a dict, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind == "python":
        _keys(spec, {"value", "time_limit_s"}, {"value"})
        return PythonCheck(str(spec["value"]), float(spec.get("time_limit_s", 1.0)))
    if kind == "judge":
        raise ValueError("judge specs call a model; run them with Candidate.run or judges.grade")
    built = _BUILDERS.get(str(kind))
    if built is None:
        known = ", ".join(sorted([*_BUILDERS, "python", "judge"]))
        raise ValueError(f"unknown check type {kind!r}; known types: {known}")
    builder, optional, required = built
    _keys(spec, optional | required, required)
    check = builder(spec)
    if spec.get("negate", False):
        check = _negated(check)
    when = spec.get("when")
    return _guarded(compile_check(when), check) if when is not None else check


def _negated(check: Check) -> Check:
    return lambda trace: not check(trace)


def _guarded(condition: Check, check: Check) -> Check:
    return lambda trace: check(trace) if condition(trace) else True


def _keys(spec: Mapping[str, Any], allowed: set[str], required: set[str]) -> None:
    kind = spec.get("type")
    unexpected = sorted(set(spec) - allowed - _COMMON)
    if unexpected:
        raise ValueError(f"{kind} spec: unexpected key(s) {unexpected}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(spec))
    if missing:
        raise ValueError(f"{kind} spec: missing key(s) {missing}")
    if "field" in spec and spec["field"] not in FIELDS:
        raise ValueError(f"{kind} spec: unknown field {spec['field']!r}; use one of {FIELDS}")
    if not isinstance(spec.get("negate", False), bool):
        raise ValueError(f"{kind} spec: negate must be true or false, got {spec['negate']!r}")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if (
        not isinstance(items, list | tuple)
        or not items
        or not all(isinstance(v, str) for v in items)
    ):
        raise ValueError(f"{what}: value must be a str or a non-empty list of str, got {value!r}")
    return tuple(items)


def _contains(spec: Mapping[str, Any]) -> Check:
    field, sensitive = spec.get("field", "output"), bool(spec.get("case_sensitive", False))
    needles = _strings(spec["value"], "contains")
    needles = needles if sensitive else tuple(n.casefold() for n in needles)

    def check(trace: dict[str, Any]) -> bool:
        for text in texts(trace, field):
            hay = text if sensitive else text.casefold()
            if any(needle in hay for needle in needles):
                return True
        return False

    return check


def _regex(spec: Mapping[str, Any]) -> Check:
    field, flags = spec.get("field", "output"), str(spec.get("flags", ""))
    if set(flags) - set("imsx"):
        raise ValueError(f"regex spec: flags must be letters of 'imsx', got {flags!r}")
    bits = 0
    for letter in flags:
        bits |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    try:
        pattern = re.compile(str(spec["value"]), bits)
    except re.error as exc:
        raise ValueError(f"regex spec: invalid pattern {spec['value']!r}: {exc}") from exc
    return lambda trace: any(pattern.search(t) for t in texts(trace, field))


def _length(longest: bool) -> Callable[[Mapping[str, Any]], Check]:
    def build(spec: Mapping[str, Any]) -> Check:
        field, limit = spec.get("field", "output"), spec["value"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"{spec['type']} spec: value must be an int >= 0, got {limit!r}")
        if longest:
            return lambda trace: all(len(t) <= limit for t in texts(trace, field))
        return lambda trace: all(len(t) >= limit for t in texts(trace, field))

    return build


def _json_valid(spec: Mapping[str, Any]) -> Check:
    field = spec.get("field", "output")

    def valid(text: str) -> bool:
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    return lambda trace: all(valid(t) for t in texts(trace, field))


def _tool_called(spec: Mapping[str, Any]) -> Check:
    if spec.get("value") is None:
        return lambda trace: bool(texts(trace, "tool_names"))
    names = frozenset(_strings(spec["value"], "tool_called"))
    return lambda trace: any(n in names for n in texts(trace, "tool_names"))


def _tool_not_called(spec: Mapping[str, Any]) -> Check:
    names = frozenset(_strings(spec["value"], "tool_not_called"))
    return lambda trace: not any(n in names for n in texts(trace, "tool_names"))


def _tool_order(spec: Mapping[str, Any]) -> Check:
    pair = _strings(spec["value"], "tool_order")
    if len(pair) != 2:
        raise ValueError(f"tool_order spec: value must be [first, then], got {spec['value']!r}")
    first, then = pair

    def check(trace: dict[str, Any]) -> bool:
        seen_first = False
        for name in texts(trace, "tool_names"):
            seen_first = seen_first or name == first
            if name == then and not seen_first:
                return False
        return True

    return check


def _language(spec: Mapping[str, Any]) -> Check:
    field, wanted = str(spec.get("field", "replies")), spec.get("value")
    match = str(spec["match"]) if spec.get("match") is not None else None
    if (wanted is None) == (match is None):
        raise ValueError("language spec: give either value (a language code) or match (a field)")
    if match is not None and match not in FIELDS:
        raise ValueError(f"language spec: unknown match field {match!r}; use one of {FIELDS}")

    def check(trace: dict[str, Any]) -> bool:
        found = detect_language("\n".join(texts(trace, field)))
        if wanted is not None:
            other = wanted
        else:
            other = detect_language("\n".join(texts(trace, match or "user")))
        return found is None or other is None or found == other

    return check


_F = {"field"}
_BUILDERS: Final[dict[str, tuple[Callable[[Mapping[str, Any]], Check], set[str], set[str]]]] = {
    "contains": (_contains, _F | {"case_sensitive"}, {"value"}),
    "regex": (_regex, _F | {"flags"}, {"value"}),
    "max_length": (_length(longest=True), _F, {"value"}),
    "min_length": (_length(longest=False), _F, {"value"}),
    "json_valid": (_json_valid, _F, set()),
    "tool_called": (_tool_called, {"value"}, set()),
    "tool_not_called": (_tool_not_called, set(), {"value"}),
    "tool_order": (_tool_order, set(), {"value"}),
    "language": (_language, _F | {"value", "match"}, set()),
}
"""type -> (factory, optional keys, required keys)."""


# ---------------------------------------------------------------- running


def grade_records(
    candidate: Candidate, items: Sequence[dict[str, Any]], **llm_kw: Any
) -> list[tuple[bool | None, str]]:
    """Run a candidate on plain trace records: ``(passed or None, reason)`` per record."""
    spec = candidate.spec
    if candidate.kind == "judge" or spec.get("type") == "judge":
        from workbench.evalgen.judges import grade

        return [(g.passed, g.reason) for g in grade(spec, items, **llm_kw)]
    check = compile_check(spec)
    if isinstance(check, PythonCheck):
        return check.many(items)
    return [_run_one(check, item) for item in items]


def run_with_reasons(candidate: Candidate, traces: pd.DataFrame, **llm_kw: Any) -> pd.DataFrame:
    """Run a candidate on traces: ``passed`` (nullable boolean) and ``reason``, by trace_id.

    ``passed`` is True where the failure is absent and ``pd.NA`` where the check could not
    grade; ``reason`` says why (the judge's reasoning, an error, a timeout), or is empty.
    ``llm_kw`` go to the LLM calls of a judge (e.g. ``mock_response`` in tests).

    Examples:
        >>> import workbench as wb
        >>> from workbench.evalgen.candidate import Candidate, Provenance
        >>> spec = {"type": "max_length", "field": "replies", "value": 1200}
        >>> c = Candidate("c", "assertion", spec, "", Provenance("overlong_reply", "x", ""))
        >>> result = run_with_reasons(c, wb.load_traces("sample_data/traces.jsonl").head(3))
        >>> result.columns.tolist(), str(result["passed"].dtype)
        (['passed', 'reason'], 'boolean')
    """
    if "trace_id" not in traces.columns:
        raise ValueError(f"traces have no trace_id column (columns: {list(traces.columns)})")
    items = records(traces)
    graded = grade_records(candidate, items, **llm_kw)
    ids = pd.Index([r["trace_id"] for r in items], name="trace_id")
    passed = pd.Series([p for p, _ in graded], index=ids, dtype="boolean", name=candidate.id)
    return pd.DataFrame({"passed": passed, "reason": [r for _, r in graded]}, index=ids)


def _run_one(check: Check, trace: dict[str, Any]) -> tuple[bool | None, str]:
    try:
        return bool(check(trace)), ""
    except Exception as exc:  # one trace that breaks a check is ungraded, not the whole run
        return None, f"{type(exc).__name__}: {exc}"


def run_candidate(candidate: Candidate, traces: pd.DataFrame, **llm_kw: Any) -> pd.Series:
    """Run a candidate: a nullable boolean Series by trace_id, True where the failure is absent.

    Examples:
        >>> import workbench as wb
        >>> from workbench.evalgen.candidate import Candidate, Provenance
        >>> spec = {"type": "json_valid", "field": "tool_args"}
        >>> c = Candidate("c", "assertion", spec, "", Provenance("malformed_tool_args", "x", ""))
        >>> passed = run_candidate(c, wb.load_traces("sample_data/traces.jsonl"))
        >>> int((~passed).sum()), len(passed)
        (50, 1200)
    """
    return run_with_reasons(candidate, traces, **llm_kw)["passed"]


def source_of(candidate: Candidate) -> str:
    r"""The reviewable text of a candidate: Python source, the judge prompt, or a rule + spec.

    Examples:
        >>> from workbench.evalgen.candidate import Candidate, Provenance
        >>> spec = {"type": "regex", "field": "replies", "value": r"cust_int_\d+", "negate": True}
        >>> c = Candidate("c", "assertion", spec, "", Provenance("leaked_internal_id", "x", ""))
        >>> print(c.source.splitlines()[0])
        passes when no text of replies matches the regular expression /cust_int_\d+/
    """
    spec = candidate.spec
    if spec.get("type") == "python":
        return str(spec.get("value", ""))
    if spec.get("type") == "judge":
        return str(spec.get("prompt", ""))
    return describe(spec) + "\n\n" + json.dumps(spec, indent=2, ensure_ascii=False)


def describe(spec: Mapping[str, Any]) -> str:
    """One sentence saying when a typed spec passes."""
    kind, field, value = spec.get("type"), spec.get("field", "output"), spec.get("value")
    neg = bool(spec.get("negate", False))
    listed = ", ".join(repr(v) for v in _as_list(value))
    rules = {
        "contains": f"passes when {'no' if neg else 'some'} text of {field} contains "
        f"{'any of ' if isinstance(value, list) else ''}{listed}",
        "regex": f"passes when {'no' if neg else 'some'} text of {field} matches the regular "
        f"expression /{value}/{spec.get('flags', '')}",
        "max_length": f"passes when every text of {field} has at most {value} characters",
        "min_length": f"passes when every text of {field} has at least {value} characters",
        "json_valid": f"passes when every text of {field} is valid JSON",
        "tool_called": f"passes when {'any tool' if value is None else listed} is called",
        "tool_not_called": f"passes when none of {listed} is called",
        "tool_order": f"passes when every call of {_as_list(value)[-1]!r} follows a call of "
        f"{_as_list(value)[0]!r}",
        "language": f"passes when the language of {spec.get('field', 'replies')} is "
        + (repr(value) if value is not None else f"that of {spec.get('match')}"),
    }
    text = rules.get(str(kind), f"a {kind} check")
    if neg and kind not in ("contains", "regex"):
        text = "negated: " + text
    when = spec.get("when")
    return text + (f" (only checked when the condition {describe(when)})" if when else "")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a spec, for candidate ids.

    Examples:
        >>> spec_hash({"type": "json_valid", "field": "tool_args"})
        '...'
    """
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
