"""Ask an LLM to draft a ``python`` check for a failure mode; keep its answer as data.

The prompt (``workbench/prompts/draft_check.md``) holds the failure mode's definition and a
few labelled *train* examples, each fenced between ``[BEGIN DATA]`` and ``[END DATA]``, so
trace text reaches the model only as data. The model's answer is never run here: its code
block is extracted and passed through the sandbox's static check; a refused draft raises
:class:`~workbench.evalgen.sandbox.UnsafeCheckError`. An accepted draft is a candidate whose
source a person reads before it joins the suite, and it only ever runs inside the sandbox.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from workbench.evalgen.alignment import LabelSet
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.runtime import spec_hash
from workbench.evalgen.sandbox import UnsafeCheckError, check_source


def extract_code(text: str) -> str:
    r"""The Python source in a model's answer: its first fenced code block, else all of it.

    Examples:
        >>> extract_code("Here:\n```python\ndef check(trace):\n    return True\n```")
        'def check(trace):\n    return True\n'
    """
    found = re.search(r"```(?:python|py)?[ \t]*\n(.*?)```", text, re.S)
    return found.group(1) if found else text.strip() + "\n"


def draft_check(
    labels: LabelSet,
    definition: str,
    *,
    model: str,
    provenance: Provenance,
    shots: int = 2,
    max_example_chars: int = 3000,
    **llm_kw: Any,
) -> Candidate:
    """Ask a model to draft ``def check(trace)`` for a failure mode; return it unmeasured.

    The prompt (``workbench/prompts/draft_check.md``) holds the definition and a few train
    examples, each fenced as data. The answer's code is only data here: it is parsed and
    passed through the sandbox's static check, and runs later only inside the sandbox.

    Raises:
        UnsafeCheckError: the drafted source was refused (naming the failure mode).
    """
    from workbench import llm
    from workbench.evalgen.judges import example_block, pick_examples, render_record
    from workbench.llm_json import prompt

    picked = pick_examples(labels.records("train"), labels.failing, shots, labels.split.seed)
    blocks = [
        example_block(i + 1, verdict, render_record(item, max_example_chars))
        for i, (item, verdict) in enumerate(picked)
    ]
    text = prompt("draft_check.md").substitute(
        failure_mode=labels.failure_mode,
        definition=definition or "(no definition written yet)",
        examples="\n\n".join(blocks),
    )
    answer = llm.complete([{"role": "user", "content": text}], model=model, **llm_kw)
    source = extract_code(answer.text)
    try:
        check_source(source)
    except UnsafeCheckError as exc:
        where = f"in the check {model} drafted for {labels.failure_mode!r}"
        raise UnsafeCheckError(f"{exc.reason} {where}", exc.line) from exc
    spec = {"type": "python", "value": source}
    return Candidate(
        id=f"{labels.failure_mode}-python-{spec_hash(spec)}",
        kind="assertion",
        spec=spec,
        rationale=f"Drafted by {model} from the definition and {len(blocks)} train examples; "
        "read the source before adding it to the suite.",
        provenance=dataclasses.replace(provenance, generator=f"llm:{model}"),
    )
