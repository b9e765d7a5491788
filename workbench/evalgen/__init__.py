"""From a failure mode and human labels to validated evals.

``propose_evals`` mines assertion candidates from the labelled traces (and, with a model,
drafts a python check and builds an LLM judge), measures each against the labels on train
and dev, and ranks them; ``validate`` measures a chosen one on test. Checks are data
(:class:`Candidate` ``.spec``), compiled and run only by :mod:`workbench.evalgen.runtime`.

Examples:
    >>> import workbench as wb
    >>> from workbench.evalgen import propose_evals, validate, alignment_table
    >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
    >>> candidates = propose_evals(ws, "leaked_internal_id")  # doctest: +SKIP
    >>> alignment_table(candidates, split="dev")  # doctest: +SKIP
    >>> best = validate(candidates[0], ws, split="test")  # doctest: +SKIP
"""

from __future__ import annotations

from workbench.evalgen.alignment import (
    LabelSet,
    LowLabelCountWarning,
    Split,
    SplitPlan,
    alignment_table,
    confusion_matrix,
    disagreements,
    kappa,
    measure,
    split_labels,
)
from workbench.evalgen.candidate import Candidate, Metrics, Provenance
from workbench.evalgen.judges import Grade, parse_verdict
from workbench.evalgen.prevalence import Prevalence, corrected_rate, estimate_prevalence
from workbench.evalgen.propose import (
    DraftRefusedWarning,
    ModelNeededWarning,
    ReusedTestSplitWarning,
    label_set,
    propose_evals,
    validate,
)
from workbench.evalgen.runtime import CheckError, compile_check, run_candidate, source_of
from workbench.evalgen.sandbox import UnsafeCheckError

__all__ = [
    "Candidate",
    "CheckError",
    "DraftRefusedWarning",
    "Grade",
    "LabelSet",
    "LowLabelCountWarning",
    "Metrics",
    "ModelNeededWarning",
    "Prevalence",
    "Provenance",
    "ReusedTestSplitWarning",
    "Split",
    "SplitPlan",
    "UnsafeCheckError",
    "alignment_table",
    "compile_check",
    "confusion_matrix",
    "corrected_rate",
    "disagreements",
    "estimate_prevalence",
    "kappa",
    "label_set",
    "measure",
    "parse_verdict",
    "propose_evals",
    "run_candidate",
    "source_of",
    "split_labels",
    "validate",
]
