"""The records that carry an eval from its proposal to the suite on disk.

A :class:`Candidate` is what ``propose_evals`` returns and what ``ws.suite.add``
accepts: the check itself as data (an assertion spec or a judge prompt), why it
was proposed, how well it agrees with the human labels, and where it came from.
Nothing here runs code or calls a model; running is delegated to
:mod:`workbench.evalgen.runtime`, so these records stay plain and serialisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["assertion", "judge"]
"""``assertion``: code decides. ``judge``: an LLM decides from a prompt."""


@dataclass(frozen=True)
class Metrics:
    """Agreement of a check with the human labels on one split.

    The positive class is "the failure is present" (the humans tagged the mode), so
    TPR is the share of tagged failures the check catches and TNR the share of
    clean traces it lets pass.
    """

    split: str
    """``"train"``, ``"dev"`` or ``"test"``."""
    tp: int
    """Humans say failing, the check says failing."""
    fp: int
    """Humans say clean, the check says failing."""
    tn: int
    """Humans say clean, the check says clean."""
    fn: int
    """Humans say failing, the check says clean."""
    ungraded: int = 0
    """Traces the check could not grade (judge answered outside pass/fail, errors)."""

    @property
    def n(self) -> int:
        """Graded traces."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def tpr(self) -> float:
        """True positive rate (recall on failures); NaN without failing examples."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def tnr(self) -> float:
        """True negative rate; NaN without clean examples."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def precision(self) -> float:
        """Share of flagged traces that humans also flagged."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and TPR."""
        p, r = self.precision, self.tpr
        return _ratio(2 * p * r, p + r) if p == p and r == r else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Counts and rates, for tables and for ``suite.yaml``."""
        return {
            "split": self.split,
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "ungraded": self.ungraded,
            "tpr": self.tpr,
            "tnr": self.tnr,
            "precision": self.precision,
            "f1": self.f1,
        }


@dataclass(frozen=True)
class Provenance:
    """Where an eval came from, so a reviewer can trust or question it later."""

    failure_mode: str
    """The failure mode the eval checks for."""
    generator: str
    """What proposed it, e.g. ``"mined:regex"`` or ``"llm:openai/gpt-4o-mini"``."""
    created_at: str
    """ISO 8601 UTC time of the proposal."""
    labelled_trace_ids: tuple[str, ...] = ()
    """The human-labelled traces it was built and measured on."""
    annotators: tuple[str, ...] = ()
    """Who labelled those traces."""
    split_seed: int = 0
    """Seed of the train/dev/test split the metrics refer to."""


@dataclass(frozen=True)
class Candidate:
    """A proposed eval: the check as data, its rationale, metrics and provenance.

    ``spec`` holds the check. For assertions it is typed data in the manner of
    promptfoo (``{"type": "regex", "field": "output", "value": "...", "negate":
    False}``; ``{"type": "python", "value": "<source of check(trace)>"}``); for
    judges ``{"type": "judge", "prompt": "<template>", "model": "..."}``. True from
    a check always means *the failure is absent*.
    """

    id: str
    """Stable slug, unique in a suite, e.g. ``"overlong_reply-max-length"``."""
    kind: Kind
    """``"assertion"`` or ``"judge"``."""
    spec: dict[str, Any]
    """The check as data (see the class docstring)."""
    rationale: str
    """Why this check should catch the failure, in one or two sentences."""
    provenance: Provenance
    """Where it came from."""
    metrics: dict[str, Metrics] = field(default_factory=dict)
    """Agreement with the human labels, by split name."""

    @property
    def failure_mode(self) -> str:
        """The failure mode this eval checks for."""
        return self.provenance.failure_mode

    @property
    def source(self) -> str:
        """The reviewable text of the check: Python source, a rule, or the judge prompt."""
        from workbench.evalgen.runtime import source_of

        return source_of(self)

    def run(self, traces: pd.DataFrame) -> pd.Series:
        """Run the check on traces: a boolean Series by trace_id, True where the failure is absent.

        Traces the check cannot grade are ``pd.NA`` (the Series has the nullable
        ``boolean`` dtype).
        """
        from workbench.evalgen.runtime import run_candidate

        return run_candidate(self, traces)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")
