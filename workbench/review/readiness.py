"""The gate before a judge: do people agree on a failure mode, and are there labels enough?

An LLM judge for a failure mode is checked against human labels; when the humans do not
agree with each other, that check means little. :func:`judge_readiness` says whether a
mode is ready, and why not; eval generation calls :func:`ensure_judge_ready`, which warns
(:class:`AgreementWarning`) or, with ``strict=True``, refuses (:class:`NotReadyError`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.review.adjudication import disagreements
from workbench.review.agreement import agreement_from_labels, band
from workbench.review.labels import reviewed, snapshot

if TYPE_CHECKING:
    from workbench.workspace import Workspace


@dataclass(frozen=True)
class Readiness:
    """Whether a failure mode is ready for a judge, with the figures behind the answer.

    Examples:
        >>> readiness = wb.judge_readiness(ws, "invented_policy")  # doctest: +SKIP
        >>> readiness.ok, readiness.reasons  # doctest: +SKIP
        (False, ('only 12 traces have a verdict; at least 20 are needed ...',))
    """

    failure_mode: str
    """The failure mode judged."""

    ok: bool
    """True when there is no reason left against a judge."""

    reasons: tuple[str, ...]
    """Why not, one sentence each, with what to do (empty when ``ok``)."""

    kappa: float
    """Mean Cohen's kappa over pairs of people on the mode (NaN when not measurable)."""

    n_labels: int
    """Traces with a verdict (settled or latest), on which a judge can be checked."""

    n_tagged: int
    """Of those, the traces that have the failure mode."""

    n_overlap: int
    """Traces two or more people reviewed (where ``kappa`` comes from)."""

    open_disagreements: int
    """Traces where people differ on the mode and no lead has settled it."""

    def __str__(self) -> str:
        head = f"{self.failure_mode!r} is {'ready' if self.ok else 'not ready'} for a judge"
        return head + "".join(f"\n- {reason}" for reason in self.reasons)


class AgreementWarning(UserWarning):
    """A judge is being built for a failure mode people do not (yet) agree on."""

    def __init__(self, readiness: Readiness) -> None:
        super().__init__(str(readiness))
        self.readiness = readiness
        """The figures and reasons."""


class NotReadyError(RuntimeError):
    """A judge was refused for a failure mode that is not ready (``strict=True``)."""

    def __init__(self, readiness: Readiness) -> None:
        super().__init__(str(readiness))
        self.readiness = readiness
        """The figures and reasons."""


def judge_readiness(
    ws: Workspace, failure_mode: str, min_kappa: float = 0.6, min_labels: int = 20
) -> Readiness:
    """Say whether people's labels of a failure mode are good enough to build a judge on.

    Ready means: at least ``min_labels`` traces have a verdict, some with the mode and
    some without; two or more people reviewed shared traces and their mean Cohen's kappa
    on the mode is at least ``min_kappa``; and no disagreement on it is left unsettled.

    Raises:
        KeyError: naming the failure mode when it does not exist.

    Examples:
        >>> print(wb.judge_readiness(ws, "invented_policy"))  # doctest: +SKIP
        'invented_policy' is not ready for a judge
        - 3 disagreement(s) on 'invented_policy' are not settled ...
    """
    state = snapshot(ws)
    if failure_mode not in state.modes:
        raise KeyError(f"no failure mode named {failure_mode!r}; known: {sorted(state.modes)}")
    row = agreement_from_labels(state.labels, list(state.modes), items=[failure_mode]).iloc[0]
    judged = reviewed(state.view())
    n_labels = len(judged)
    n_tagged = sum(1 for modes in judged["failure_modes"] if failure_mode in modes)
    open_ids = list(disagreements(ws, failure_mode)["trace_id"])
    reasons = _reasons(failure_mode, float(row["kappa_mean"]), str(row["note"]), min_kappa)
    reasons += _label_reasons(failure_mode, n_labels, n_tagged, min_labels)
    if open_ids:
        reasons.append(
            f"{len(open_ids)} disagreement(s) on {failure_mode!r} are not settled, e.g. "
            f"{open_ids[:3]}: see wb.disagreements(ws, {failure_mode!r}) and wb.adjudicate"
        )
    return Readiness(
        failure_mode=failure_mode,
        ok=not reasons,
        reasons=tuple(reasons),
        kappa=float(row["kappa_mean"]),
        n_labels=n_labels,
        n_tagged=n_tagged,
        n_overlap=int(row["n_overlap"]),
        open_disagreements=len(open_ids),
    )


def _reasons(mode: str, kappa: float, note: str, min_kappa: float) -> list[str]:
    if np.isnan(kappa):
        return [
            f"people's agreement on {mode!r} is not known ({note}): have two or more people "
            "review a shared sample (wb.review_session)"
        ]
    if kappa < min_kappa:
        return [
            f"people's agreement on {mode!r} is {band(kappa)} (mean Cohen's kappa {kappa:.2f} "
            f"< {min_kappa}): sharpen its definition and settle disagreements first"
        ]
    return []


def _label_reasons(mode: str, n_labels: int, n_tagged: int, min_labels: int) -> list[str]:
    reasons = []
    if n_labels < min_labels:
        reasons.append(
            f"only {n_labels} traces have a verdict; at least {min_labels} are needed to "
            "check a judge against people"
        )
    if n_tagged == 0:
        reasons.append(f"no labelled trace has {mode!r}: a judge needs examples of it")
    elif n_tagged == n_labels:
        reasons.append(f"every labelled trace has {mode!r}: a judge needs examples without it")
    return reasons


def ensure_judge_ready(
    ws: Workspace,
    failure_mode: str,
    strict: bool = False,
    *,
    min_kappa: float = 0.6,
    min_labels: int = 20,
) -> Readiness:
    """Check :func:`judge_readiness`; warn when not ready, or raise with ``strict=True``.

    Raises:
        NotReadyError: with ``strict=True``, when the mode is not ready (it names the
            mode and every reason).

    Warns:
        AgreementWarning: without ``strict``, when the mode is not ready.

    Examples:
        >>> wb.ensure_judge_ready(ws, "invented_policy", strict=True)  # doctest: +SKIP
        Traceback (most recent call last):
        NotReadyError: 'invented_policy' is not ready for a judge ...
    """
    readiness = judge_readiness(ws, failure_mode, min_kappa=min_kappa, min_labels=min_labels)
    if not readiness.ok:
        if strict:
            raise NotReadyError(readiness)
        warnings.warn(AgreementWarning(readiness), stacklevel=2)
    return readiness
