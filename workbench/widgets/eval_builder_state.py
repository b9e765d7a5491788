"""The eval builder's plain parts: table rows, notes, and checked edits of candidates.

Kept apart from :mod:`workbench.widgets.eval_builder` (the widget and its actions) so the
logic that decides what an edit becomes, and how a candidate is summarised, reads on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import string
from collections.abc import Mapping
from typing import Any, Final

from workbench.evalgen import Candidate, Metrics, compile_check, kappa
from workbench.evalgen.alignment import MIN_LABELS
from workbench.evalgen.judges import judge_prompt
from workbench.evalgen.runtime import describe
from workbench.widgets.render import snippet

MODEL_NOTE: Final = (
    "Judge candidates need an LLM, and none is configured. Configure one with "
    'wb.llm.configure(model="openai/gpt-4o-mini") (any litellm model name), or pass '
    "EvalBuilder(ws, failure_mode, model=...), then propose again."
)
TEST_NOTE: Final = (
    "Use the test split once, for the candidate you chose: numbers used to choose or tune "
    "a check are optimistic."
)
STARTER: Final = (
    "def check(trace):\n"
    '    """True when the failure is absent. trace: input, output, messages, metadata."""\n'
    '    return len(trace["output"]) <= 1000\n'
)
"""The source offered when a typed assertion is rewritten as Python."""

COLUMNS: Final = (
    "id", "kind", "summary", "rationale", "generator", "edited_from", "n", "tp", "fp", "tn",
    "fn", "ungraded", "tpr", "tnr", "precision", "kappa", "warning", "test_n", "test_tpr",
    "test_tnr", "in_suite",
)  # fmt: skip
"""Columns of :attr:`EvalBuilder.candidates`; figures without a prefix are on dev."""


def candidate_row(c: Candidate, edited_from: str | None, in_suite: bool) -> dict[str, Any]:
    """One row of the candidates table (:data:`COLUMNS`); figures are on dev."""
    dev, test, nan = c.metrics.get("dev"), c.metrics.get("test"), float("nan")
    figures: dict[str, Any] = dict.fromkeys(COLUMNS[6:16], nan)
    if dev is not None:
        figures.update({k: v for k, v in dev.as_dict().items() if k in figures}, kappa=kappa(dev))
    return {
        "id": c.id, "kind": c.kind, "summary": summary(c), "rationale": c.rationale,
        "generator": c.provenance.generator, "edited_from": edited_from, **figures,
        "warning": warning(dev), "test_n": test.n if test else 0,
        "test_tpr": test.tpr if test else nan, "test_tnr": test.tnr if test else nan,
        "in_suite": in_suite,
    }  # fmt: skip


def plain(value: Any) -> Any:
    """A JSON-able copy for the widget: NaN becomes None (JSON has no NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list | tuple) else value


def warning(m: Metrics | None) -> str:
    """A plain note when dev figures are missing, rest on few labels, or left traces ungraded."""
    if m is None:
        return "not measured yet: measure it on dev"
    counts = ((m.tp + m.fn, "failing"), (m.tn + m.fp, "clean"))
    few = [f"{n} {what}" for n, what in counts if n < MIN_LABELS]
    notes = [f"only {' and '.join(few)} labels in dev: TPR/TNR are unreliable"] if few else []
    return "; ".join(notes + ([f"{m.ungraded} traces not graded"] if m.ungraded else []))


def reason(error: Exception) -> str:
    """The message of an error (without the quotes ``str`` puts around a KeyError's)."""
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def summary(c: Candidate) -> str:
    """What a candidate checks, in a few words."""
    kind = c.spec.get("type")
    if kind == "judge":
        shots = len(c.spec.get("examples", []))
        return f"LLM judge ({c.spec.get('model')}) shown {shots} labelled examples"
    if kind == "python":
        lines = [line for line in str(c.spec.get("value", "")).splitlines() if line.strip()]
        return f"Python check(trace), {len(lines)} lines"
    return describe(c.spec)


def edited_spec(
    old: Candidate, spec: Mapping[str, Any] | None, prompt: str | None, source: str | None
) -> dict[str, Any]:
    """The spec of an edit, checked (compiled, never run); raises saying why it is refused."""
    if spec is not None and not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a dict, got {type(spec).__name__}")
    if old.kind == "judge":
        if source is not None:
            raise ValueError(f"{old.id} is a judge: edit its prompt= (or spec=), not source=")
        new = dict(spec) if spec is not None else {**old.spec, "prompt": prompt}
        if new.get("type") != "judge":
            raise ValueError(f"{old.id} is a judge: its spec must keep type 'judge'")
        if "trace" not in string.Template(str(new.get("prompt"))).get_identifiers():
            raise ValueError("the judge prompt must contain $trace, where the trace goes")
        judge_prompt(new, {"trace_id": "", "input": "", "output": ""})  # refuses other $names
        return new
    if prompt is not None:
        raise ValueError(f"{old.id} is an assertion: edit its spec= or source=, not prompt=")
    new = dict(spec) if spec is not None else {"type": "python", "value": source}
    if new.get("type") == "judge":
        raise ValueError(f"{old.id} is an assertion; a judge spec would make it a judge")
    compile_check(new)
    return new


def edited(old: Candidate, spec: dict[str, Any], new_id: str) -> Candidate:
    """A new, unmeasured candidate from an edit, saying in its rationale what changed."""
    keys = sorted(k for k in {*old.spec, *spec} if old.spec.get(k) != spec.get(k))
    change = ", ".join(
        f"{k}: {snippet(repr(old.spec.get(k)), 40)} -> {snippet(repr(spec.get(k)), 40)}"
        for k in keys
    )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    provenance = dataclasses.replace(
        old.provenance, generator=f"{old.provenance.generator}+edited", created_at=now
    )
    rationale = f"Edited by hand from {old.id} ({change})."
    rationale += f" The original was proposed because: {old.rationale}" if old.rationale else ""
    return Candidate(new_id, old.kind, spec, rationale, provenance, metrics={})
