"""How well a check agrees with the humans: splits, metrics, tables and disagreements.

Labels are a boolean Series by trace_id, True where the humans tagged the failure mode
(the positive class); predictions are what checks return, True where the failure is absent.
The labelled traces are split once, stratified by label, into train (to build checks from),
dev (to compare and iterate on) and test (to report once). The split is fixed by a seed and
ordered by a hash of each trace id, so labelling more traces moves few of the old ones.

Examples:
    >>> import pandas as pd
    >>> failing = pd.Series([True] * 10 + [False] * 30, index=[f"t{i}" for i in range(40)])
    >>> split = split_labels(failing)
    >>> len(split.train), len(split.dev), len(split.test)
    (16, 12, 12)
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.evalgen.candidate import Candidate, Metrics

if TYPE_CHECKING:
    from collections.abc import Callable

SPLITS: Final = ("train", "dev", "test")
"""Split names, in order."""

MIN_LABELS: Final = 10
"""Below this many labels of a class in a split, its rate is flagged as unreliable."""


class LowLabelCountWarning(UserWarning):
    """A class has fewer than :data:`MIN_LABELS` labels in a split: its rate is noise."""


@dataclass(frozen=True)
class SplitPlan:
    """How to split labelled traces: the fractions of train, dev and test, and the seed."""

    fractions: tuple[float, float, float] = (0.4, 0.3, 0.3)
    """Shares of each class that go to train, dev and test."""
    seed: int = 0
    """Seed of the hash that orders the traces; the same seed gives the same split."""

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions):
            raise ValueError(f"fractions must be three shares >= 0, got {self.fractions}")
        if not math.isclose(sum(self.fractions), 1.0) or self.fractions[0] <= 0:
            raise ValueError(f"fractions must sum to 1 with train > 0, got {self.fractions}")


@dataclass(frozen=True)
class Split:
    """A fixed train/dev/test split of labelled trace ids."""

    seed: int
    """The seed that made it."""
    fractions: tuple[float, float, float]
    """The planned shares of train, dev and test."""
    train: tuple[str, ...]
    """Ids to build checks from (and pick judge examples from)."""
    dev: tuple[str, ...]
    """Ids to compare candidates on while iterating."""
    test: tuple[str, ...]
    """Ids to report on, once."""

    def ids(self, name: str) -> tuple[str, ...]:
        """The ids of one split by name (``train``, ``dev`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        ids: tuple[str, ...] = getattr(self, name)
        return ids


def _order(ids: Iterable[str], seed: int) -> list[str]:
    def key(trace_id: str) -> str:
        return hashlib.sha256(f"{seed}:{trace_id}".encode()).hexdigest()

    return sorted(ids, key=key)


def split_labels(failing: pd.Series, plan: SplitPlan | None = None) -> Split:
    """Split labelled trace ids into train/dev/test, stratified by label.

    Args:
        failing: True where the failure is present, by trace_id (the index).
        plan: fractions and seed; default 40/30/30 with seed 0.

    Raises:
        ValueError: for duplicate trace ids, naming some.
    """
    plan = plan or SplitPlan()
    duplicated = failing.index[failing.index.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"duplicate trace ids in the labels: {duplicated[:10]}")
    parts: dict[str, list[str]] = {name: [] for name in SPLITS}
    for label in (True, False):
        ids = _order((str(i) for i in failing.index[failing == label]), plan.seed)
        n_train = max(1, round(len(ids) * plan.fractions[0])) if ids else 0
        n_dev = min(len(ids) - n_train, round(len(ids) * plan.fractions[1]))
        parts["train"] += ids[:n_train]
        parts["dev"] += ids[n_train : n_train + n_dev]
        parts["test"] += ids[n_train + n_dev :]
    return Split(plan.seed, plan.fractions, *(tuple(sorted(parts[name])) for name in SPLITS))


@dataclass(frozen=True, eq=False)
class LabelSet:
    """The human labels of one failure mode, their split, and the labelled traces."""

    failure_mode: str
    """The failure mode the labels are about."""
    failing: pd.Series
    """True where humans tagged the mode, False where they reviewed and did not; by trace_id."""
    split: Split
    """The train/dev/test split of those ids."""
    traces: pd.DataFrame
    """The labelled traces (canonical columns), one row per id in ``failing``."""
    annotators: tuple[str, ...] = ()
    """Who labelled them."""
    notes: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    """The reviewers' notes by trace_id, where they wrote one (shown with judge examples)."""
    _records: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def records(self, name: str) -> list[dict[str, Any]]:
        """The plain trace records of one split (computed once), in the split's id order."""
        if name not in self._records:
            from workbench.evalgen.fields import records

            traces = self.traces.set_index("trace_id", drop=False).loc[list(self.split.ids(name))]
            self._records[name] = records(traces.reset_index(drop=True))
        return self._records[name]

    def part(self, name: str) -> tuple[pd.DataFrame, pd.Series]:
        """The traces and labels of one split."""
        ids = list(self.split.ids(name))
        traces = self.traces[self.traces["trace_id"].isin(ids)]
        return traces, self.failing.loc[ids]

    def counts(self, name: str) -> tuple[int, int]:
        """(failing, clean) labels in one split."""
        labels = self.failing.loc[list(self.split.ids(name))]
        return int(labels.sum()), int((~labels).sum())


def beyond_sample(labels: LabelSet, split: str, limit: int | None, seed: int) -> set[str]:
    """The ids of a split left out when a judge is measured on at most ``limit`` of them.

    Measuring an LLM judge costs a call per labelled trace. The sample kept is balanced
    (half failing, half clean, topped up from the other class when one runs short) and
    seeded, so TPR and TNR, which are per class, stay unbiased while each rests on as many
    examples as the budget allows. Precision and F1 on a sample describe the sample, not
    the week. ``None`` keeps every id.
    """
    ids = list(labels.split.ids(split))
    if limit is None or len(ids) <= limit:
        return set()
    if limit < 2:
        raise ValueError(f"a judge needs at least 2 labelled traces per split, got {limit!r}")
    failing = labels.failing.loc[ids]
    bad = _order([i for i in ids if failing[i]], seed)
    good = _order([i for i in ids if not failing[i]], seed)
    take_bad = min(len(bad), max(limit // 2, limit - len(good)))
    kept = set(bad[:take_bad]) | set(good[: limit - take_bad])
    return set(ids) - kept


def confusion(passed: pd.Series, failing: pd.Series, split: str) -> Metrics:
    """Count agreement of predictions with labels over the labels' ids.

    Args:
        passed: predictions by trace_id, True where the check says the failure is absent;
            NA (or a missing id) counts as ungraded.
        failing: labels by trace_id, True where humans say the failure is present.
        split: the name recorded in the result.

    Examples:
        >>> labels = pd.Series([True, False, False], index=["a", "b", "c"])
        >>> confusion(pd.Series([False, True, False], index=["a", "b", "c"]), labels, "dev")
        Metrics(split='dev', tp=1, fp=1, tn=1, fn=0, ungraded=0)
    """
    predicted = passed.astype("boolean").reindex(failing.index)
    graded = predicted.notna().to_numpy()
    says_fail = ~predicted.fillna(True).to_numpy(dtype=bool)
    human = failing.to_numpy(dtype=bool)
    return Metrics(
        split=split,
        tp=int((graded & human & says_fail).sum()),
        fp=int((graded & ~human & says_fail).sum()),
        tn=int((graded & ~human & ~says_fail).sum()),
        fn=int((graded & human & ~says_fail).sum()),
        ungraded=int((~graded).sum()),
    )


def measure(
    candidate_or_predictions: Candidate | pd.Series,
    labels: LabelSet,
    split: str = "dev",
    *,
    warn: bool = True,
    **llm_kw: Any,
) -> Metrics:
    """Agreement of a candidate (run on the split's traces) or of predictions with the labels.

    Warns :class:`LowLabelCountWarning` when a class has fewer than 10 labels in the split
    (pass ``warn=False`` to leave that to the caller).

    Examples:
        >>> failing = pd.Series([True, False, False, True], index=list("abcd"))
        >>> split = Split(0, (0.4, 0.3, 0.3), (), ("a", "b", "c", "d"), ())
        >>> labels = LabelSet("m", failing, split, pd.DataFrame({"trace_id": list("abcd")}))
        >>> passed = pd.Series([False, True, False, True], index=list("abcd"))
        >>> m = measure(passed, labels, "dev", warn=False)
        >>> (m.tp, m.fp, m.tn, m.fn), m.tpr, m.tnr
        ((1, 1, 1, 1), 0.5, 0.5)
    """
    traces, failing = labels.part(split)
    if warn:
        warn_low_counts(labels, split)
    passed = candidate_or_predictions
    if isinstance(passed, Candidate):
        from workbench.evalgen.runtime import run_candidate

        passed = run_candidate(passed, traces, **llm_kw)
    return confusion(passed, failing, split)


def low_count_note(labels: LabelSet, split: str) -> str:
    """A plain note when a class has too few labels in a split to trust its rate, else ''."""
    n_fail, n_clean = labels.counts(split)
    thin = [
        f"{n} {what}" for n, what in ((n_fail, "failing"), (n_clean, "clean")) if n < MIN_LABELS
    ]
    if not thin:
        return ""
    return (
        f"only {' and '.join(thin)} label(s) of {labels.failure_mode!r} in {split} "
        f"(fewer than {MIN_LABELS}): TPR/TNR there are unreliable; label more traces"
    )


def warn_low_counts(labels: LabelSet, split: str) -> None:
    """Warn :class:`LowLabelCountWarning` when :func:`low_count_note` has something to say."""
    note = low_count_note(labels, split)
    if note:
        warnings.warn(LowLabelCountWarning(note), stacklevel=3)


def mcc(metrics: Metrics) -> float:
    """Matthews correlation of a confusion count; 0 when undefined (a constant check)."""
    tp, fp, tn, fn = metrics.tp, metrics.fp, metrics.tn, metrics.fn
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def pooled(parts: Sequence[Metrics], split: str) -> Metrics:
    """Add confusion counts of several splits."""
    return Metrics(
        split,
        *(sum(getattr(m, name) for m in parts) for name in ("tp", "fp", "tn", "fn", "ungraded")),
    )


def kappa(metrics: Metrics) -> float:
    """Cohen's kappa of check and humans over the graded traces (NaN when undefined)."""
    from sklearn.metrics import cohen_kappa_score

    human = [1] * metrics.tp + [0] * metrics.fp + [0] * metrics.tn + [1] * metrics.fn
    check = [1] * metrics.tp + [1] * metrics.fp + [0] * metrics.tn + [0] * metrics.fn
    if len(set(human)) <= 1 and len(set(check)) <= 1:
        return float("nan")  # one class on both sides: chance agreement is total
    return float(cohen_kappa_score(human, check))


def confusion_matrix(metrics: Metrics) -> pd.DataFrame:
    """The 2x2 confusion matrix: rows are the humans, columns the check."""
    return pd.DataFrame(
        [[metrics.tp, metrics.fn], [metrics.fp, metrics.tn]],
        index=pd.Index(["humans: fail", "humans: pass"]),
        columns=pd.Index(["check: fail", "check: pass"]),
    )


def alignment_table(
    candidates: Sequence[Candidate],
    labels: LabelSet | None = None,
    split: str = "dev",
    **llm_kw: Any,
) -> pd.DataFrame:
    """One row per candidate: n, confusion counts, TPR, TNR, precision, recall, F1 and kappa.

    Uses each candidate's stored metrics for the split; candidates without them are
    measured on ``labels``. The ``warning`` column notes classes with too few labels.

    Examples:
        >>> alignment_table([]).columns.tolist()[:6]
        ['candidate', 'kind', 'split', 'n', 'tp', 'fp']
    """
    rows = []
    for candidate in candidates:
        metrics = candidate.metrics.get(split)
        if metrics is None:
            if labels is None:
                raise ValueError(f"{candidate.id} has no {split} metrics; pass labels to measure")
            metrics = measure(candidate, labels, split, warn=False, **llm_kw)
        row = {"candidate": candidate.id, "kind": candidate.kind, **metrics.as_dict()}
        row.update(recall=metrics.tpr, kappa=kappa(metrics), warning=_note(metrics, labels))
        rows.append(row)
    if labels is not None and rows:
        warn_low_counts(labels, split)
    columns = [
        "candidate", "kind", "split", "n", "tp", "fp", "tn", "fn", "ungraded",
        "tpr", "tnr", "precision", "recall", "f1", "kappa", "warning",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _note(metrics: Metrics, labels: LabelSet | None) -> str:
    if labels is not None:
        return low_count_note(labels, metrics.split)
    n_fail, n_clean = metrics.tp + metrics.fn, metrics.tn + metrics.fp
    thin = n_fail < MIN_LABELS or n_clean < MIN_LABELS
    return f"only {n_fail} failing / {n_clean} clean labels: unreliable" if thin else ""


def disagreements(
    candidate_or_predictions: Candidate | pd.Series,
    traces: pd.DataFrame,
    labels: LabelSet | pd.Series,
    split: str | None = None,
    **llm_kw: Any,
) -> pd.DataFrame:
    """The labelled traces where the check and the humans differ, or the check could not grade.

    Columns: ``trace_id``, ``human`` and ``check`` (``fail``/``pass``/``ungraded``),
    ``disagreement`` (``missed failure``, ``false alarm`` or ``ungraded``), ``reason``
    (the check's, when it gives one), ``input`` and ``output``.

    Examples:
        >>> traces = pd.DataFrame({"trace_id": ["a", "b"], "input": "q", "output": ["x", "y"]})
        >>> failing = pd.Series([True, False], index=["a", "b"])
        >>> passed = pd.Series([True, True], index=["a", "b"])
        >>> disagreements(passed, traces, failing)[["trace_id", "disagreement"]].values.tolist()
        [['a', 'missed failure']]
    """
    failing = labels.failing if isinstance(labels, LabelSet) else labels
    if split is not None:
        if not isinstance(labels, LabelSet):
            raise TypeError("a split name needs a LabelSet (which holds the split)")
        failing = failing.loc[list(labels.split.ids(split))]
    rows = traces[traces["trace_id"].isin(failing.index)]
    passed, reasons = _predictions(candidate_or_predictions, rows, llm_kw)
    frame = rows.set_index("trace_id")[["input", "output"]].reindex(failing.index)
    frame.insert(0, "human", failing.map({True: "fail", False: "pass"}))
    said = passed.reindex(failing.index).map({True: "pass", False: "fail"})
    frame.insert(1, "check", said.fillna("ungraded").astype(object))
    kinds: Callable[[pd.Series], str] = _kind
    frame.insert(2, "disagreement", frame.apply(kinds, axis=1))
    frame.insert(3, "reason", reasons.reindex(failing.index).fillna(""))
    frame.index.name = "trace_id"
    return frame[frame["disagreement"] != ""].reset_index()


def _kind(row: pd.Series) -> str:
    if row["check"] == "ungraded":
        return "ungraded"
    if row["check"] == row["human"]:
        return ""
    return "missed failure" if row["human"] == "fail" else "false alarm"


def _predictions(
    given: Candidate | pd.Series, rows: pd.DataFrame, llm_kw: dict[str, Any]
) -> tuple[pd.Series, pd.Series]:
    if isinstance(given, Candidate):
        from workbench.evalgen.runtime import run_with_reasons

        result = run_with_reasons(given, rows, **llm_kw)
        return result["passed"], result["reason"]
    return given.astype("boolean"), pd.Series("", index=given.index, dtype=object)
