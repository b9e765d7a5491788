"""How often a failure really happens, estimated from an imperfect check.

A check that misses failures (TPR < 1) or raises false alarms (TNR < 1) gives a biased
failure rate on unlabelled traces. The Rogan-Gladen estimator corrects it with the check's
TPR and TNR measured against human labels:

    corrected = (observed + TNR - 1) / (TPR + TNR - 1),  clipped to [0, 1]

The confidence interval is a percentile bootstrap, in the manner of the ``judgy`` library:
each round resamples the labelled test set (so TPR and TNR vary) and, unlike ``judgy``, also
the unlabelled predictions (so the observed rate varies too); rounds where the resampled
check is no better than chance (TPR + TNR <= 1) are skipped.

Examples:
    >>> round(corrected_rate(0.10, tpr=0.9, tnr=0.95), 4)
    0.0588
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Prevalence:
    """The failure rate of a check on unlabelled traces, raw and corrected."""

    raw: float
    """Share of graded unlabelled traces the check flags as failing."""
    corrected: float
    """The Rogan-Gladen estimate of the true failure rate; NaN if the check is no better than
    chance on the test labels."""
    low: float
    """Lower end of the bootstrap confidence interval of ``corrected``."""
    high: float
    """Upper end of the interval."""
    tpr: float
    """TPR of the check on the labelled test traces."""
    tnr: float
    """TNR of the check on the labelled test traces."""
    n_unlabelled: int
    """Graded unlabelled traces."""
    n_test: int
    """Graded labelled test traces."""
    confidence: float = 0.95
    """Coverage of the interval."""
    rounds: int = 0
    """Bootstrap rounds that were usable (better than chance)."""


def corrected_rate(observed: float, tpr: float, tnr: float) -> float:
    """The Rogan-Gladen corrected failure rate, clipped to [0, 1]; NaN when TPR + TNR <= 1.

    Examples:
        >>> corrected_rate(0.5, tpr=0.5, tnr=0.5)
        nan
    """
    denominator = tpr + tnr - 1
    if not denominator > 0:
        return float("nan")
    return float(np.clip((observed + tnr - 1) / denominator, 0.0, 1.0))


def _rates(human: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TPR and TNR per row of (rounds x n) label and prediction arrays."""
    positives = human.sum(axis=1)
    negatives = human.shape[1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = (human & flagged).sum(axis=1) / positives
        tnr = (~human & ~flagged).sum(axis=1) / negatives
    return tpr, tnr


def _bootstrap(
    flagged_u: np.ndarray,
    human: np.ndarray,
    flagged: np.ndarray,
    rounds: int,
    seed: int,
    resample_unlabelled: bool,
) -> np.ndarray:
    """Corrected rates of the usable bootstrap rounds (those better than chance)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(human), size=(rounds, len(human)))
    boot_tpr, boot_tnr = _rates(human[picks], flagged[picks])
    observed = float(flagged_u.mean())
    boot_obs = (  # resampling 0/1 verdicts with replacement: a binomial count
        rng.binomial(len(flagged_u), observed, size=rounds) / len(flagged_u)
        if resample_unlabelled
        else np.full(rounds, observed)
    )
    denominator = boot_tpr + boot_tnr - 1
    usable = np.isfinite(denominator) & (denominator > 0)
    corrected = (boot_obs[usable] + boot_tnr[usable] - 1) / denominator[usable]
    return np.asarray(np.clip(corrected, 0, 1))


def estimate(
    unlabelled_flagged: np.ndarray | list[bool],
    test_failing: np.ndarray | list[bool],
    test_flagged: np.ndarray | list[bool],
    *,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    resample_unlabelled: bool = True,
) -> Prevalence:
    """Corrected failure rate from arrays: True where the check flags (or humans say) failure.

    Args:
        unlabelled_flagged: the check's verdicts on unlabelled traces (True: failing).
        test_failing: the human labels of the test traces (True: failing).
        test_flagged: the check's verdicts on the same test traces.
        rounds: bootstrap rounds.
        confidence: coverage of the interval.
        seed: seed of the resampling.
        resample_unlabelled: also resample the unlabelled verdicts (False: as judgy does).

    Raises:
        ValueError: on empty input, mismatched test arrays, or a test set of one class.

    Examples:
        >>> p = estimate([True] * 12 + [False] * 88, [True] * 20 + [False] * 80,
        ...              [True] * 18 + [False] * 2 + [True] * 4 + [False] * 76)
        >>> round(p.raw, 2), round(p.corrected, 3), p.low <= p.corrected <= p.high
        (0.12, 0.082, True)
    """
    flagged_u = np.asarray(unlabelled_flagged, dtype=bool)
    human, flagged = np.asarray(test_failing, dtype=bool), np.asarray(test_flagged, dtype=bool)
    if len(human) != len(flagged):
        raise ValueError(f"{len(human)} test labels but {len(flagged)} test verdicts")
    if not len(flagged_u) or not len(human):
        raise ValueError("need unlabelled verdicts and labelled test traces")
    if human.all() or not human.any():
        raise ValueError("the test labels must hold both failing and clean traces")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    tpr, tnr = _rates(human[None, :], flagged[None, :])
    observed = float(flagged_u.mean())
    boot = _bootstrap(flagged_u, human, flagged, rounds, seed, resample_unlabelled)
    alpha = (1 - confidence) / 2
    low, high = (
        (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha)))
        if len(boot)
        else (float("nan"), float("nan"))
    )
    return Prevalence(
        raw=observed,
        corrected=corrected_rate(observed, float(tpr[0]), float(tnr[0])),
        low=low,
        high=high,
        tpr=float(tpr[0]),
        tnr=float(tnr[0]),
        n_unlabelled=len(flagged_u),
        n_test=len(human),
        confidence=confidence,
        rounds=len(boot),
    )


def estimate_prevalence(
    unlabelled: pd.Series,
    test: pd.Series,
    test_labels: pd.Series,
    *,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Prevalence:
    """Corrected failure rate from check results as :meth:`Candidate.run` returns them.

    Args:
        unlabelled: the check on unlabelled traces (True: failure absent; NA: ungraded).
        test: the check on the labelled test traces, by trace_id.
        test_labels: the human labels of the test traces by trace_id (True: failing).
        rounds: bootstrap rounds.
        confidence: coverage of the interval.
        seed: seed of the resampling.

    Ungraded traces are left out of both the rates and the counts.

    Examples:
        >>> labels = pd.Series([True] * 10 + [False] * 30, index=[f"t{i}" for i in range(40)])
        >>> test = pd.Series([False] * 9 + [True] * 31, index=labels.index)  # misses one
        >>> new = pd.Series([False] * 20 + [True] * 180)  # the check on unlabelled traces
        >>> p = estimate_prevalence(new, test, labels)
        >>> round(p.raw, 3), round(p.corrected, 3), p.tpr
        (0.1, 0.111, 0.9)
    """
    graded_u = unlabelled.astype("boolean").dropna()
    verdicts = test.astype("boolean").reindex(test_labels.index)
    keep = verdicts.notna().to_numpy()
    return estimate(
        ~graded_u.to_numpy(dtype=bool),
        test_labels.to_numpy(dtype=bool)[keep],
        ~verdicts[keep].to_numpy(dtype=bool),
        rounds=rounds,
        confidence=confidence,
        seed=seed,
    )
