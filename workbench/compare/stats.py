"""The tests and effect sizes behind every flag of a period comparison.

Two kinds of change are tested:

- a share (a failure rate, a language's share, a cluster's share): the pooled two-proportion
  z-test, or Fisher's exact test when an expected count is below 5 (the z-test's normal
  approximation is poor there). The effect size is Cohen's h, the difference of the
  arcsine-transformed shares: 0.2 is "small" on Cohen's scale, and a rare share that
  doubles (2% to 4%) is about 0.12.
- a distribution of numbers (reply length, latency, cost): the two-sided Mann-Whitney U test
  of the whole distribution, with the rank-biserial correlation as effect size (the chance
  that a trace of this period is larger than one of last period, minus the reverse; 0 is no
  change, 1 is every trace larger). Its upper tail (p95) is tested as a share: the share of
  this period's traces above last period's 95th percentile, against last period's own.

With hundreds of traces a period, tiny moves reach significance; a structural metric is
flagged only when the move is significant *and* its effect size reaches :data:`MIN_EFFECT`.

Examples:
    >>> round(cohen_h(0.02, 0.064), 3)
    0.228
    >>> round(share_p(12, 594, 39, 606), 5)
    0.00015
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

from workbench.suite.report import two_proportion_p, wilson

__all__ = ["MIN_EFFECT", "Moved", "cohen_h", "numbers_moved", "share_moved", "share_p", "wilson"]

MIN_EFFECT: Final = 0.1
"""Smallest effect size (|Cohen's h| or |rank-biserial r|) a structural flag needs."""

TAIL_TEST: Final = "share above last p95"
"""The name of the test of a p95 row."""

FISHER_BELOW: Final = 5.0
"""Below this expected count in any cell, shares are compared with Fisher's exact test."""


@dataclass(frozen=True)
class Moved:
    """How much a measurement moved between the periods, and how sure that is."""

    last: float
    """The value last period."""
    this: float
    """The value this period."""
    p_value: float
    """Two-sided p-value of no change (NaN when untestable, e.g. an empty period)."""
    effect: float
    """Signed effect size: Cohen's h for shares, rank-biserial r for distributions."""
    test: str
    """The test that gave ``p_value``."""

    @property
    def change(self) -> float:
        """``this - last``."""
        return self.this - self.last


def cohen_h(p1: float, p2: float) -> float:
    """Cohen's h from share ``p1`` to share ``p2`` (positive when ``p2`` is larger).

    Examples:
        >>> cohen_h(0.5, 0.5), round(cohen_h(0.0, 1.0), 4)
        (0.0, 3.1416)
    """
    if math.isnan(p1) or math.isnan(p2):
        return float("nan")
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def share_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that shares ``k1/n1`` and ``k2/n2`` are equal (NaN if an n is 0).

    The pooled z-test, or Fisher's exact test when an expected count is below
    :data:`FISHER_BELOW`.

    Examples:
        >>> round(share_p(0, 300, 4, 300), 3)  # expected counts of 2: Fisher
        0.124
    """
    if n1 == 0 or n2 == 0:
        return float("nan")
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1, n2) * min(pooled, 1 - pooled)
    if expected < FISHER_BELOW:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        return float(stats.fisher_exact(table).pvalue)
    return two_proportion_p(k1, n1, k2, n2)


def share_moved(k1: int, n1: int, k2: int, n2: int) -> Moved:
    """Shares ``k1/n1`` and ``k2/n2`` with the p-value and Cohen's h of the change.

    Examples:
        >>> moved = share_moved(39, 594, 11, 606)
        >>> round(moved.change, 3), moved.p_value < 0.001, moved.test
        (-0.048, True, 'two-proportion z')
    """
    last = k1 / n1 if n1 else float("nan")
    this = k2 / n2 if n2 else float("nan")
    pooled = (k1 + k2) / (n1 + n2) if n1 + n2 else 0.0
    exact = min(n1, n2) * min(pooled, 1 - pooled) < FISHER_BELOW
    test = "Fisher exact" if exact else "two-proportion z"
    return Moved(last, this, share_p(k1, n1, k2, n2), cohen_h(last, this), test)


def numbers_moved(
    last: Sequence[float] | npt.NDArray[np.float64],
    this: Sequence[float] | npt.NDArray[np.float64],
    statistic: str = "median",
) -> Moved:
    """Compare two samples of numbers (NaN left out) on their median, mean or p95.

    ``"median"`` and ``"mean"`` are tested with Mann-Whitney U (effect: rank-biserial r);
    ``"p95"`` as the share of this period above last period's 95th percentile (Cohen's h).

    Examples:
        >>> moved = numbers_moved(range(100), range(50, 150))
        >>> moved.last, moved.this, round(moved.effect, 2)
        (49.5, 99.5, 0.75)
    """
    if statistic not in ("median", "mean", "p95"):
        raise ValueError(f"statistic must be 'median', 'mean' or 'p95', got {statistic!r}")
    a, b = _finite(last), _finite(this)
    if statistic == "p95":
        return _tail_moved(a, b)
    pick = np.median if statistic == "median" else np.mean
    last_c, this_c = (float(pick(x)) if len(x) else float("nan") for x in (a, b))
    if not len(a) or not len(b):
        return Moved(last_c, this_c, float("nan"), float("nan"), "Mann-Whitney U")
    if np.all(a == a[0]) and np.all(b == a[0]):  # nothing varies: no change to test
        return Moved(last_c, this_c, 1.0, 0.0, "Mann-Whitney U")
    found = stats.mannwhitneyu(b, a, alternative="two-sided")
    effect = 2 * float(found.statistic) / (len(a) * len(b)) - 1
    return Moved(last_c, this_c, float(found.pvalue), effect, "Mann-Whitney U")


def _tail_moved(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> Moved:
    """p95 of each period, tested as the share of each above last period's p95."""
    cut, tail = (float(np.quantile(x, 0.95)) if len(x) else float("nan") for x in (a, b))
    if not len(a) or not len(b):
        return Moved(cut, tail, float("nan"), float("nan"), TAIL_TEST)
    above = share_moved(int((a > cut).sum()), len(a), int((b > cut).sum()), len(b))
    return Moved(cut, tail, above.p_value, above.effect, TAIL_TEST)


def _finite(values: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]
