"""From a failure mode in a workspace to ranked, measured eval candidates.

The humans' labels come from the workspace: a trace is *failing* for a mode when it is
tagged with it, and *clean* when someone gave it a verdict without tagging the mode.
Unreviewed traces are not used. The labelled traces are split (see
:mod:`workbench.evalgen.alignment`); candidates are built from train, compared on dev, and
measured on test only when :func:`validate` is asked to.

Examples:
    >>> import workbench as wb  # doctest: +SKIP
    >>> candidates = propose_evals(ws, "overlong_reply", kinds=("assertion",))  # doctest: +SKIP
    >>> candidates[0].spec  # doctest: +SKIP
    {'type': 'max_length', 'field': 'replies', 'value': 1063}
    >>> validate(candidates[0], ws).metrics["test"].tpr  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.evalgen.alignment import (
    SPLITS,
    LabelSet,
    SplitPlan,
    beyond_sample,
    confusion,
    split_labels,
    warn_low_counts,
)
from workbench.evalgen.assertions import draft_check, mine_assertions, rank, with_metrics
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.judges import build_judge
from workbench.evalgen.runtime import run_candidate
from workbench.evalgen.sandbox import UnsafeCheckError

if TYPE_CHECKING:
    from workbench.workspace import Workspace

KINDS: Final = ("assertion", "judge")
"""The kinds of candidates :func:`propose_evals` can build."""

_LABEL_COLUMNS: Final = ("verdict", "note", "failure_modes", "annotator", "labelled_at")


class ModelNeededWarning(UserWarning):
    """Judge candidates (and drafted python checks) were skipped: no LLM is configured."""


class DraftRefusedWarning(UserWarning):
    """The python check an LLM drafted was refused or could not be obtained; it was dropped."""


class ReusedTestSplitWarning(UserWarning):
    """A candidate was measured on the test split again: the test numbers are now optimistic."""


def label_set(ws: Workspace, failure_mode: str, plan: SplitPlan | None = None) -> LabelSet:
    """The workspace's labels of one failure mode, split by ``plan``.

    Raises:
        KeyError: when the workspace has no such failure mode (the known ones are named).

    Examples:
        >>> labels = label_set(ws, "overlong_reply")  # doctest: +SKIP
        >>> labels.counts("dev")  # doctest: +SKIP
        (15, 345)
        >>> disagreements(candidate, labels.traces, labels, "dev")  # doctest: +SKIP
    """
    known = ws.failure_modes()["name"].tolist()
    if failure_mode not in known:
        raise KeyError(f"no failure mode {failure_mode!r} in {ws.path}; known: {sorted(known)}")
    view = ws.traces()
    tagged = view["failure_modes"].map(lambda modes: failure_mode in modes).astype(bool)
    used = view[tagged | view["verdict"].notna()]
    failing = pd.Series(tagged[used.index].to_numpy(), index=pd.Index(used["trace_id"]))
    notes = used.set_index("trace_id")["note"].dropna()
    labels = ws.labels()
    annotators = labels.loc[labels["trace_id"].isin(failing.index), "annotator"]
    return LabelSet(
        failure_mode=failure_mode,
        failing=failing.rename("failing"),
        split=split_labels(failing, plan),
        traces=used.drop(columns=list(_LABEL_COLUMNS)).reset_index(drop=True),
        annotators=tuple(sorted(set(annotators))),
        notes=notes[notes != ""],
    )


def _configured_model(model: str | None) -> str | None:
    from workbench import llm

    try:
        return llm.require_model("judge candidates") if model is None else model
    except llm.ModelNotConfigured:
        return None


def _check_labels(labels: LabelSet) -> None:
    n_fail, n_clean = int(labels.failing.sum()), int((~labels.failing).sum())
    if n_fail == 0:
        raise ValueError(f"no trace is tagged {labels.failure_mode!r}; tag failing traces first")
    if n_clean == 0:
        raise ValueError(
            f"every reviewed trace is tagged {labels.failure_mode!r}; give clean traces a "
            "verdict too, so a check can be told apart from one that always fails"
        )


def propose_evals(
    ws: Workspace,
    failure_mode: str,
    kinds: Sequence[str] = KINDS,
    model: str | None = None,
    split: SplitPlan | None = None,
    top: int = 5,
    *,
    shots: int = 2,
    max_trace_chars: int = 6000,
    draft: bool = True,
    max_judge_traces: int | None = None,
    **llm_kw: Any,
) -> list[Candidate]:
    """Propose evals for a failure mode, measured on train and dev, best first.

    Args:
        ws: the workspace holding the traces and labels.
        failure_mode: the mode to build evals for.
        kinds: ``"assertion"`` (mined without an LLM, plus a drafted python check when a
            model is configured) and/or ``"judge"`` (needs a model).
        model: the LLM for judges and drafts; default: the configured one.
        split: fractions and seed of the train/dev/test split (default 40/30/30, seed 0).
        top: how many candidates to return; the best of each kind asked for is always kept.
        shots: failing and clean train examples shown to the judge (each).
        max_trace_chars: transcripts longer than this are cut for the judge.
        draft: with a model, also ask it to draft a python check (one call).
        max_judge_traces: measure the judge on at most this many labelled traces per split
            (a balanced, seeded sample; a call each); default: all of them.
        **llm_kw: passed to the LLM calls (e.g. ``temperature``; ``mock_response`` in tests).

    Returns:
        Candidates with ``metrics["train"]`` and ``metrics["dev"]``, ranked by agreement.

    Raises:
        KeyError: unknown failure mode. ValueError: no failing or no clean labels.

    Warns:
        ModelNeededWarning: judges were asked for but no model is configured.
        DraftRefusedWarning: the drafted python check was refused by the sandbox.
        LowLabelCountWarning: a class has fewer than 10 labels in train or dev.

    Examples:
        >>> wb.llm.configure(model="openai/gpt-4o-mini")  # doctest: +SKIP
        >>> candidates = propose_evals(ws, "invented_policy")  # doctest: +SKIP
        >>> [(c.kind, round(c.metrics["dev"].tpr, 2)) for c in candidates]  # doctest: +SKIP
        [('judge', 0.91), ('assertion', 0.45), ...]
        >>> print(candidates[0].source)  # doctest: +SKIP
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; use {KINDS}")
    plan = split or SplitPlan()
    labels = label_set(ws, failure_mode, plan)
    _check_labels(labels)
    for name in ("train", "dev"):
        warn_low_counts(labels, name)
    modes = ws.failure_modes().set_index("name")["definition"]
    definition = str(modes.get(failure_mode) or "")
    provenance = Provenance(
        failure_mode=failure_mode,
        generator="",
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        labelled_trace_ids=tuple(sorted(str(i) for i in labels.failing.index)),
        annotators=labels.annotators,
        split_seed=plan.seed,
    )
    chosen = _model_or_warn(model, kinds, failure_mode)
    out: list[Candidate] = []
    if "assertion" in kinds:
        out += mine_assertions(labels, provenance, top=top)
        if chosen is not None and draft:
            out += _draft(labels, definition, chosen, provenance, llm_kw)
    if "judge" in kinds and chosen is not None:
        judge = build_judge(
            labels, definition, model=chosen, provenance=provenance, shots=shots,
            max_trace_chars=max_trace_chars,
        )  # fmt: skip
        left_out = {e["trace_id"] for e in judge.spec["examples"]}
        for name in ("train", "dev"):
            left_out |= beyond_sample(labels, name, max_judge_traces, plan.seed)
        out.append(with_metrics(judge, labels, ("train", "dev"), exclude=left_out, **llm_kw))
    return _top(rank(out), top)


def _model_or_warn(model: str | None, kinds: Sequence[str], failure_mode: str) -> str | None:
    chosen = _configured_model(model)
    if chosen is None and "judge" in kinds:
        warnings.warn(
            ModelNeededWarning(
                f"no judge candidates for {failure_mode!r}: judges need an LLM. Configure one "
                'with wb.llm.configure(model="openai/gpt-4o-mini") (any litellm model name) '
                "or pass propose_evals(..., model=...)"
            ),
            stacklevel=3,
        )
    return chosen


def _draft(
    labels: LabelSet,
    definition: str,
    model: str,
    provenance: Provenance,
    llm_kw: dict[str, Any],
) -> list[Candidate]:
    from workbench import llm

    try:
        drafted = draft_check(labels, definition, model=model, provenance=provenance, **llm_kw)
    except (UnsafeCheckError, llm.WorkbenchLLMError) as exc:
        warnings.warn(DraftRefusedWarning(f"drafted check dropped: {exc}"), stacklevel=4)
        return []
    return [with_metrics(drafted, labels, ("train", "dev"))]


def _top(ranked: list[Candidate], top: int) -> list[Candidate]:
    keep = ranked[:top]
    for kind in {c.kind for c in ranked} - {c.kind for c in keep}:
        keep.append(next(c for c in ranked if c.kind == kind))
    return keep


def validate(
    candidate: Candidate,
    ws: Workspace,
    split: str = "test",
    *,
    plan: SplitPlan | None = None,
    max_judge_traces: int | None = None,
    **llm_kw: Any,
) -> Candidate:
    """Measure a candidate on one split of the workspace's current labels; return a copy.

    The split is rebuilt with the candidate's seed (pass ``plan`` if it was proposed with
    other fractions). Judge examples are left out on train. ``max_judge_traces`` measures a
    judge on a balanced, seeded sample of at most that many labelled traces (a call each).

    Warns:
        ReusedTestSplitWarning: the candidate already has test metrics.
        LowLabelCountWarning: a class has fewer than 10 labels in the split.

    Examples:
        >>> best = validate(candidates[0], ws, split="test")  # doctest: +SKIP
        >>> best.metrics["test"].tpr, best.metrics["test"].tnr  # doctest: +SKIP
        (1.0, 1.0)
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    if split == "test" and "test" in candidate.metrics:
        warnings.warn(
            ReusedTestSplitWarning(
                f"{candidate.id} was already measured on test; test numbers reused to choose "
                "or tune a check are optimistic"
            ),
            stacklevel=2,
        )
    plan = plan or SplitPlan(seed=candidate.provenance.split_seed)
    labels = label_set(ws, candidate.failure_mode, plan)
    warn_low_counts(labels, split)
    shown = (
        {e["trace_id"] for e in candidate.spec.get("examples", [])} if split == "train" else set()
    )
    if candidate.kind == "judge":
        shown |= beyond_sample(labels, split, max_judge_traces, plan.seed)
    traces, failing = labels.part(split)
    traces = traces[~traces["trace_id"].isin(shown)]
    failing = failing[~failing.index.isin(shown)]
    metrics = confusion(run_candidate(candidate, traces, **llm_kw), failing, split)
    return dataclasses.replace(candidate, metrics={**candidate.metrics, split: metrics})
