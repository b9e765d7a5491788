"""Export a suite to other tools: a promptfoo config, a pytest module, Inspect AI scorers.

- ``promptfoo``: a config whose ``defaultTest.assert`` holds one assertion per eval, with
  ``metric`` set to its failure mode and its provenance in a comment above it. Typed checks
  promptfoo has natively become ``contains``/``icontains`` (``-any``, ``not-``), ``regex``
  and ``is-json`` when they read the final output; every other assertion is ``type:
  python`` with ``value: file://.../assertions/<id>.py`` (each file has the ``get_assert``
  entry point promptfoo calls); judges become ``llm-rubric``. Traces are graded as recorded:
  the ``echo`` provider returns each test's ``output`` var, and the tests (one per trace)
  are in ``<config>_tests.jsonl``, written when ``traces`` are given. The config is checked
  against :data:`PROMPTFOO_SCHEMA`, a JSON schema of the fields written here taken from
  promptfoo's configuration reference.
- ``pytest`` and ``inspect``: see :mod:`workbench.suite.export_modules`.

Examples:
    >>> from workbench.suite import Suite
    >>> export(Suite("analysis/evals"), "promptfoo", "analysis/evals/promptfooconfig.yaml")
    ... # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import yaml

from workbench.evalgen.fields import records
from workbench.suite.assertion_file import _LINE_BREAKS
from workbench.suite.export_modules import inspect_module, pytest_module
from workbench.suite.format import atomic_write_text
from workbench.suite.loading import LoadedSuite, SuiteEval
from workbench.traces.show import printable

if TYPE_CHECKING:
    from workbench.suite.suite import Suite

FORMATS: Final = ("promptfoo", "pytest", "inspect")
"""The formats :func:`export` writes."""

_TYPES: Final = [
    "python", "contains", "icontains", "not-contains", "not-icontains", "contains-any",
    "icontains-any", "not-contains-any", "not-icontains-any", "regex", "not-regex", "is-json",
    "not-is-json", "llm-rubric",
]  # fmt: skip
_ASSERTION: Final = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": _TYPES},
        "value": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "metric": {"type": "string"},
        "provider": {"type": "string"},
        "threshold": {"type": "number"},
        "weight": {"type": "number"},
    },
    "if": {"properties": {"type": {"const": "python"}}},
    "then": {"required": ["value"], "properties": {"value": {"pattern": "^file://.+\\.py$"}}},
}
PROMPTFOO_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["prompts", "providers", "tests"],
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "prompts": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "providers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id"],
                "additionalProperties": False,
                "properties": {"id": {"type": "string"}, "label": {"type": "string"}},
            },
        },
        "tests": {"type": "string", "pattern": "^file://.+\\.jsonl$"},
        "defaultTest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"assert": {"type": "array", "items": _ASSERTION}},
        },
    },
}
"""What promptfoo's config reference allows for the fields this export writes."""

PROMPTFOO_TEST_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "vars": {"type": "object", "additionalProperties": {"type": "string"}},
        "assert": {"type": "array", "items": _ASSERTION},
    },
}
"""One test case of the tests file (a line of JSONL)."""

_PY_ONLY_REGEX: Final = re.compile(r"\(\?[P#>aiLmsux]|\\[AZ]|[*+?}][+]")


def export(
    suite: Suite,
    format: str = "promptfoo",
    out: str | os.PathLike[str] = "promptfooconfig.yaml",
    *,
    traces: pd.DataFrame | None = None,
) -> Path:
    """Write the suite in another tool's format.

    Args:
        suite: The suite to export.
        format: ``promptfoo``, ``pytest`` or ``inspect``.
        out: The file to write (YAML config, or Python module).
        traces: For ``promptfoo``: also write these traces as its tests file.

    Returns:
        The path written.

    Raises:
        ValueError: An unknown format, or a generated file that fails its check.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    target = Path(out)
    loaded = suite.load()
    if format == "promptfoo":
        atomic_write_text(target, promptfoo_config(loaded, target))
        if traces is not None:
            atomic_write_text(promptfoo_tests_path(target), promptfoo_tests(traces))
    elif format == "pytest":
        atomic_write_text(target, pytest_module(loaded, target))
    else:
        atomic_write_text(target, inspect_module(loaded, target))
    return target


def promptfoo_tests_path(config: Path) -> Path:
    """Where the tests of a promptfoo config go: ``<config stem>_tests.jsonl`` beside it."""
    return config.with_name(f"{config.stem}_tests.jsonl")


def _comment(text: str, indent: str) -> str:
    r"""``text`` as one YAML comment line: line breaks made spaces, control characters escaped.

    YAML refuses NUL, ANSI escapes and other control characters anywhere in a document,
    comments included, and a line break would end the comment: a failure-mode name holding
    one could break the config or add YAML of its own.

    Examples:
        >>> _comment("a\nb: c\x00 \x1b[31m#", "  ")
        '  # a b: c\\x00 \\x1b[31m#\n'
    """
    return f"{indent}# {printable(_LINE_BREAKS.sub(' ', text)).strip()}\n"


def native_assertion(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The promptfoo assertion equal to a typed spec, or None when there is none.

    Only checks of the final output without a condition qualify: ``contains`` (any of a
    list, case-insensitive unless ``case_sensitive``), ``regex`` without flags or Python-only
    syntax, and ``json_valid``.

    Examples:
        >>> native_assertion({"type": "contains", "value": "refund", "negate": True})
        {'type': 'not-icontains', 'value': 'refund'}
    """
    if spec.get("when") is not None or spec.get("field", "output") != "output":
        return None
    negate = "not-" if spec.get("negate", False) else ""
    kind, value = spec.get("type"), spec.get("value")
    if kind == "contains":
        base = "contains" if spec.get("case_sensitive", False) else "icontains"
        if isinstance(value, list):
            return {"type": f"{negate}{base}-any", "value": [str(v) for v in value]}
        return {"type": f"{negate}{base}", "value": str(value)}
    if kind == "regex" and not spec.get("flags") and not _PY_ONLY_REGEX.search(str(value)):
        return {"type": f"{negate}regex", "value": str(value)}
    if kind == "json_valid":
        return {"type": f"{negate}is-json"}
    return None


def _provider(model: str | None) -> str | None:
    if not model or "/" not in model:
        return None
    vendor, name = model.split("/", 1)
    return {"openai": f"openai:{name}", "anthropic": f"anthropic:messages:{name}"}.get(vendor)


def _assertion(record: SuiteEval, loaded: LoadedSuite, prefix: str) -> dict[str, Any]:
    spec, mode = record.candidate.spec, record.failure_mode
    if record.kind == "judge":
        definition = loaded.failure_modes.get(mode) or record.candidate.rationale
        rubric = f"The response does not show the failure mode {mode!r}. {definition}".strip()
        found: dict[str, Any] = {"type": "llm-rubric", "value": rubric}
        provider = _provider(spec.get("model"))
        if provider:
            found["provider"] = provider
    else:
        found = native_assertion(spec) or {
            "type": "python",
            "value": f"file://{prefix}{record.file.relative_to(loaded.path).as_posix()}",
        }
    return {**found, "metric": mode}


def _provenance(record: SuiteEval) -> str:
    p = record.candidate.provenance
    return (
        f"{record.id} (version {record.version}): {record.failure_mode}, by {p.generator} on "
        f"{p.created_at}; {len(p.labelled_trace_ids)} labelled traces"
        + (f" by {', '.join(p.annotators)}" if p.annotators else "")
        + f"; gate: pass rate >= {record.threshold:g}"
    )


def promptfoo_config(loaded: LoadedSuite, out: Path) -> str:
    """The text of the promptfoo config for a suite written at ``out``, validated.

    Raises:
        ValueError: The config does not match :data:`PROMPTFOO_SCHEMA`.
    """
    relative = os.path.relpath(loaded.path.resolve(), out.resolve().parent)
    prefix = "" if relative == "." else f"{Path(relative).as_posix()}/"
    head = {
        "description": f"trace-workbench eval suite ({len(loaded.evals)} evals)",
        "prompts": ["{{output}}"],
        "providers": [{"id": "echo", "label": "recorded traces"}],
        "tests": f"file://{promptfoo_tests_path(out).name}",
    }
    asserts = [_assertion(r, loaded, prefix) for r in loaded.evals]
    text = (
        "# promptfoo config written by trace-workbench from the eval suite.\n"
        "# Grades recorded traces: the echo provider returns each test's `output` var.\n"
        f"# Tests: {promptfoo_tests_path(out).name}, one per trace "
        "(vars: trace_id, output, trace).\n"
        + yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=100)
        + "defaultTest:\n  assert:\n"
    )
    for record, item in zip(loaded.evals, asserts, strict=True):
        text += _comment(_provenance(record), "    ")
        block = yaml.safe_dump([item], sort_keys=False, allow_unicode=True, width=100)
        text += "".join(f"    {line}\n" for line in block.splitlines())
    if not asserts:
        text = text.replace("defaultTest:\n  assert:\n", "defaultTest:\n  assert: []\n")
    config = {**head, "defaultTest": {"assert": asserts}}
    if yaml.safe_load(text) != config:
        raise ValueError("the promptfoo config text does not parse back to the config")
    validate(config, PROMPTFOO_SCHEMA, "promptfoo config")
    return text


def promptfoo_tests(traces: pd.DataFrame) -> str:
    """The promptfoo tests file for traces: one JSON test case per line, validated."""
    lines = []
    for record in records(traces):
        test = {
            "description": str(record["trace_id"]),
            "vars": {
                "trace_id": str(record["trace_id"]),
                "output": str(record.get("output") or ""),
                "trace": json.dumps(record, ensure_ascii=False),
            },
        }
        lines.append(json.dumps(test, ensure_ascii=False))
    if lines:
        validate(json.loads(lines[0]), PROMPTFOO_TEST_SCHEMA, "promptfoo test")
    return "".join(f"{line}\n" for line in lines)


def validate(document: Any, schema: Mapping[str, Any], what: str) -> None:
    """Check a document against a JSON schema with ``jsonschema`` when it is installed.

    Raises:
        ValueError: Naming the failing path and the problem.
    """
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:  # the dev extra installs it; without it the export is not checked
        return
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise ValueError(f"{what}: {where}: {errors[0].message}")
