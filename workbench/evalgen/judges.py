"""LLM judges: a pass/fail prompt for one failure mode, its few-shot examples, its verdicts.

The prompt is ``workbench/prompts/judge.md``: YAML front matter that states the output
(reasoning, then a final ``VERDICT: PASS`` or ``VERDICT: FAIL`` line) and a
:class:`string.Template` body. Building a judge fills in the failure mode, its definition
and examples from the *train* split, with every ``$`` in them doubled, so the stored prompt
has exactly one placeholder left, ``$trace``. Grading fills that in one pass: text from a
trace is inserted once and never read as a template again, so ``{{ }}``, ``$name`` or
``${x}`` in a trace stay literal. All trace text is fenced between ``[BEGIN DATA]`` and
``[END DATA]``; fence markers inside it are defused first.

Only the *last* line of the model's answer is read, and it must be a verdict line;
anything else (no verdict, a verdict outside PASS/FAIL, a failed call) is "could not grade":
``passed`` is None and ``reason`` says why. A verdict that a trace carries inside the fence
is never the last line of the answer, so it can not decide the grade; an answer that only
repeats the trace (whose last line may be a verdict) is "could not grade" too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import yaml

from workbench.data_fence import VERDICTS as VERDICTS
from workbench.data_fence import defuse as defuse
from workbench.data_fence import fence, read_verdict
from workbench.evalgen.alignment import LabelSet
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.fields import records, tool_calls

TEMPLATE: Final = Path(__file__).resolve().parents[1] / "prompts" / "judge.md"
"""The judge prompt template."""

DEFAULT_PARAMS: Final[dict[str, Any]] = {"temperature": 0, "max_tokens": 1024}
"""LLM parameters of a new judge."""


@dataclass(frozen=True)
class Grade:
    """One judge verdict."""

    passed: bool | None
    """True: PASS (failure absent); False: FAIL; None: could not grade."""
    reason: str
    """The model's reasoning, or why the answer could not be graded."""
    raw: str = ""
    """The model's whole answer."""


def load_template(text: str | None = None) -> tuple[dict[str, Any], str]:
    """The front matter (as a dict) and body of the judge template.

    Raises:
        ValueError: when the front matter is missing or does not state the PASS/FAIL verdicts.

    Examples:
        >>> front, body = load_template()
        >>> sorted(front["output"]["verdicts"]), "$trace" in body
        (['FAIL', 'PASS'], True)
    """
    source = TEMPLATE.read_text(encoding="utf-8") if text is None else text
    parts = re.split(r"^---[ \t]*$", source, maxsplit=2, flags=re.M)
    if len(parts) != 3 or parts[0].strip():
        raise ValueError(f"{TEMPLATE.name}: expected YAML front matter between '---' lines")
    front = yaml.safe_load(parts[1]) or {}
    verdicts = (front.get("output") or {}).get("verdicts") or {}
    if sorted(verdicts) != sorted(VERDICTS):
        raise ValueError(f"{TEMPLATE.name}: output.verdicts must be {list(VERDICTS)}")
    return front, parts[2].strip() + "\n"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = int(limit * 0.6)
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def render_record(record: Mapping[str, Any], max_chars: int = 6000) -> str:
    """A trace as a plain transcript: user and assistant turns, tool calls and results.

    The system prompt is left out. Long transcripts keep their start and end.

    Examples:
        >>> print(render_record({"input": "hi", "output": "hello", "messages": None}))
        USER: hi
        ASSISTANT: hello
    """
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        lines = [f"USER: {record.get('input') or ''}", f"ASSISTANT: {record.get('output') or ''}"]
        return _cut("\n".join(lines), max_chars)
    names = {c.get("id"): c.get("name") for c in tool_calls(record)}
    lines = []
    for message in messages:
        if not isinstance(message, Mapping) or message.get("role") == "system":
            continue
        role, content = str(message.get("role", "")).upper(), message.get("content")
        if content:
            label = f"TOOL RESULT ({names.get(message.get('tool_call_id'), 'tool')})"
            lines.append(f"{label if role == 'TOOL' else role}: {content}")
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                lines.append(f"TOOL CALL: {function.get('name')}({function.get('arguments')})")
    return _cut("\n".join(lines), max_chars)


def pick_examples(
    items: Sequence[Mapping[str, Any]], failing: pd.Series, shots: int, seed: int = 0
) -> list[tuple[Mapping[str, Any], str]]:
    """Pick ``shots`` failing and ``shots`` clean train examples, FAIL and PASS alternating.

    Prefers shorter transcripts (the shorter half of each class), in a seeded hash order.
    """
    chosen: dict[str, list[Mapping[str, Any]]] = {}
    for verdict, label in (("FAIL", True), ("PASS", False)):
        pool = [r for r in items if bool(failing.get(r["trace_id"], False)) == label]
        pool.sort(key=lambda r: len(render_record(r)))
        pool = pool[: max(shots, (len(pool) + 1) // 2)]
        pool.sort(key=lambda r: hashlib.sha256(f"{seed}:{r['trace_id']}".encode()).hexdigest())
        chosen[verdict] = pool[:shots]
    pairs = []
    for i in range(shots):
        pairs += [(chosen[v][i], v) for v in ("FAIL", "PASS") if i < len(chosen[v])]
    return pairs


def example_block(number: int, verdict: str, transcript: str, note: str | None = None) -> str:
    """One few-shot example: the fenced transcript, the reviewer's note, the verdict line."""
    parts = [f"Example {number}:", fence(transcript)]
    if note:
        parts += ["Reviewer's note:", fence(note)]
    return "\n".join([*parts, f"VERDICT: {verdict}"])


def _escape(text: str) -> str:
    return text.replace("$", "$$")


def build_judge(
    labels: LabelSet,
    definition: str,
    *,
    model: str,
    provenance: Provenance,
    shots: int = 2,
    max_trace_chars: int = 6000,
    params: Mapping[str, Any] | None = None,
) -> Candidate:
    """A judge candidate for a failure mode, with few-shot examples from the train split only.

    Returns it unmeasured; ``spec["examples"]`` lists the example ids, which must be left out
    when measuring on train.

    Examples:
        >>> labels = label_set(ws, "invented_policy")  # doctest: +SKIP
        >>> prov = Provenance("invented_policy", "", "2026-11-20T00:00:00+00:00")  # doctest: +SKIP
        >>> judge = build_judge(labels, "States a rule the policy lacks.",
        ...                     model="openai/gpt-4o-mini", provenance=prov)  # doctest: +SKIP
        >>> judge.spec["examples"][0]  # doctest: +SKIP
        {'trace_id': 'tr_000211', 'verdict': 'FAIL'}
    """
    _, body = load_template()
    traces, failing = labels.part("train")
    picked = pick_examples(records(traces), failing, shots, labels.split.seed)
    notes = labels.notes
    blocks = [
        example_block(
            i + 1, verdict, render_record(item, max_trace_chars), notes.get(item["trace_id"])
        )
        for i, (item, verdict) in enumerate(picked)
    ]
    prompt = string.Template(body).substitute(
        failure_mode=_escape(labels.failure_mode),
        definition=_escape(definition.strip() or "(no definition written yet)"),
        examples=_escape("\n\n".join(blocks) or "(none yet)"),
        trace="$trace",
    )
    spec = {
        "type": "judge",
        "prompt": prompt,
        "model": model,
        "verdicts": list(VERDICTS),
        "params": {**DEFAULT_PARAMS, **(params or {})},
        "max_trace_chars": max_trace_chars,
        "examples": [{"trace_id": item["trace_id"], "verdict": v} for item, v in picked],
    }
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]
    return Candidate(
        id=f"{labels.failure_mode}-judge-{digest}",
        kind="judge",
        spec=spec,
        rationale=f"{model} judges the definition of {labels.failure_mode!r}, shown "
        f"{len(picked)} labelled train examples.",
        provenance=dataclasses.replace(provenance, generator=f"llm:{model}"),
    )


def shown_trace(spec: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """The transcript of one trace as a judge is shown it (before it is fenced)."""
    return render_record(record, int(spec.get("max_trace_chars", 6000)))


def judge_prompt(spec: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """The full prompt for one trace: the stored template with the fenced transcript.

    Raises:
        ValueError: when the stored prompt has a placeholder other than ``$trace``.
    """
    transcript = shown_trace(spec, record)
    try:
        return string.Template(str(spec["prompt"])).substitute(trace=fence(transcript))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"judge prompt: only $$trace may be a placeholder ({exc})") from exc


def parse_verdict(text: str, trace: str = "") -> Grade:
    r"""Read the verdict from the last line of a model's answer; anything else is ungraded.

    Args:
        text: the model's answer.
        trace: the transcript the model judged (:func:`shown_trace`). An answer that only
            repeats text of it is ungraded: its last line is the trace's, not the model's.

    Examples:
        >>> parse_verdict("The reply invents a 90-day window.\nVERDICT: FAIL").passed
        False
        >>> parse_verdict("VERDICT: PASS\nthough I am not sure").reason
        "no final verdict line (expected 'VERDICT: PASS' or 'VERDICT: FAIL'); ..."
    """
    verdict, reason = read_verdict(text, trace)
    return Grade(None if verdict is None else verdict == "PASS", reason, text)


def _requests(spec: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> list[Any]:
    if spec.get("type") != "judge":
        raise ValueError(f"not a judge spec: type {spec.get('type')!r}")
    return [[{"role": "user", "content": judge_prompt(spec, item)}] for item in items]


def _grades(results: Sequence[Any], shown: Sequence[str]) -> list[Grade]:
    from workbench import llm

    return [
        parse_verdict(r.text, trace)
        if isinstance(r, llm.Completion)
        else Grade(None, f"the LLM call failed: {type(r).__name__}: {r}")
        for r, trace in zip(results, shown, strict=True)
    ]


def grade(
    spec: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    progress: bool = False,
    **llm_kw: Any,
) -> list[Grade]:
    r"""Judge trace records, concurrently up to the LLM door's ``max_concurrency``.

    ``llm_kw`` override the spec's ``params`` (``mock_response`` in tests).

    Examples:
        >>> from workbench.llm import configured
        >>> spec = {"type": "judge", "prompt": "Judge: $trace", "model": "openai/gpt-4o-mini"}
        >>> trace = {"trace_id": "t", "input": "hi", "output": "hello", "messages": None}
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     grade(spec, [trace], mock_response="Polite.\nVERDICT: PASS")
        [Grade(passed=True, reason='Polite.', raw='Polite.\nVERDICT: PASS')]
    """
    from workbench import llm

    if not items:
        return []
    kw = {**spec.get("params", {}), **llm_kw}
    results = llm.complete_many(
        _requests(spec, items), model=spec.get("model"), progress=progress, **kw
    )
    return _grades(results, [shown_trace(spec, item) for item in items])


async def agrade(
    spec: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    progress: bool = False,
    **llm_kw: Any,
) -> list[Grade]:
    """The async twin of :func:`grade`, for code already inside an event loop."""
    from workbench import llm

    if not items:
        return []
    kw = {**spec.get("params", {}), **llm_kw}
    results = await llm.acomplete_many(
        _requests(spec, items), model=spec.get("model"), progress=progress, **kw
    )
    return _grades(results, [shown_trace(spec, item) for item in items])


def to_markdown(candidate: Candidate) -> str:
    """The judge as a file: YAML front matter (model, params, output, provenance) + prompt."""
    spec = candidate.spec
    front = {
        "id": candidate.id,
        "failure_mode": candidate.failure_mode,
        "model": spec.get("model"),
        "params": dict(spec.get("params", {})),
        "max_trace_chars": spec.get("max_trace_chars"),
        "output": load_template()[0]["output"],
        "examples": list(spec.get("examples", [])),
        "generator": candidate.provenance.generator,
        "created_at": candidate.provenance.created_at,
    }
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{head}---\n{spec['prompt']}"


def from_markdown(text: str) -> dict[str, Any]:
    """The judge spec back from :func:`to_markdown`'s text."""
    front, body = load_template(text)
    return {
        "type": "judge",
        "prompt": body,
        "model": front.get("model"),
        "verdicts": list(VERDICTS),
        "params": dict(front.get("params") or {}),
        "max_trace_chars": int(front.get("max_trace_chars") or 6000),
        "examples": list(front.get("examples") or []),
    }
