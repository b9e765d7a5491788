"""The CI gate: every eval must pass on at least its threshold share of the graded traces.

:func:`check_gates` lists the evals below their threshold, each with its failing traces;
:func:`assert_gates` raises an ``AssertionError`` saying so, for use inside a pytest test::

    def test_eval_suite():
        suite = Suite("evals")
        assert_gates(suite.run(load_traces("this_week.jsonl")), suite)

Traces that could not be graded are left out of the pass rate; an eval with no graded trace
at all fails the gate, since it checked nothing (unless none of its calls was made, e.g. at
a cost cap: that run is incomplete, and ``workbench eval run`` says so with its exit code).
With repeats, each trace counts once, with the majority verdict of its repeats.

Examples:
    >>> import pandas as pd
    >>> results = pd.DataFrame({"trace_id": ["a", "b", "c"], "eval": ["e"] * 3,
    ...                         "failure_mode": ["m"] * 3,
    ...                         "passed": pd.array([True, False, None], dtype="boolean")})
    >>> [str(f) for f in check_gates(results, {"e": 0.9})]
    ['e (m): pass rate 50.0% is below the threshold 90.0% (2 graded traces); failing: b']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from workbench.suite.runner import collapse_repeats, verdict_mask

if TYPE_CHECKING:
    from workbench.suite.suite import Suite

SHOWN_IDS = 20
"""Failing trace ids named in a gate message (all are kept on the record)."""


@dataclass(frozen=True)
class GateFailure:
    """An eval below its threshold."""

    eval: str
    """The eval id."""
    failure_mode: str
    """The failure mode it checks for."""
    pass_rate: float
    """Share of graded traces that passed (NaN when none was graded)."""
    threshold: float
    """The least pass rate the gate accepts."""
    graded: int
    """Traces graded."""
    failing_trace_ids: tuple[str, ...]
    """Every trace that failed, in the order of the results."""

    def __str__(self) -> str:
        if self.graded == 0:
            return f"{self.eval} ({self.failure_mode}): no trace could be graded"
        shown = ", ".join(self.failing_trace_ids[:SHOWN_IDS])
        more = len(self.failing_trace_ids) - SHOWN_IDS
        shown += f" (+{more} more)" if more > 0 else ""
        return (
            f"{self.eval} ({self.failure_mode}): pass rate {self.pass_rate:.1%} is below the "
            f"threshold {self.threshold:.1%} ({self.graded} graded traces); failing: {shown}"
        )


def thresholds_of(suite: Suite | Mapping[str, float]) -> dict[str, float]:
    """Thresholds by eval id, from a suite or a mapping."""
    if isinstance(suite, Mapping):
        return {str(k): float(v) for k, v in suite.items()}
    return {e.id: e.threshold for e in suite.load().evals}


def check_gates(results: pd.DataFrame, suite: Suite | Mapping[str, float]) -> list[GateFailure]:
    """The evals of ``results`` whose pass rate is below their threshold in ``suite``.

    Args:
        results: A results table (:meth:`Suite.run`).
        suite: The suite (or a mapping of eval id to threshold); evals of ``results`` that
            it does not list are not gated.

    Returns:
        One :class:`GateFailure` per eval below its threshold, in the order of ``results``;
        empty when the gate passes.
    """
    limits = thresholds_of(suite)
    table = collapse_repeats(results)
    failures = []
    for eval_id, rows in table.groupby("eval", sort=False):
        if eval_id not in limits:
            continue
        passed = rows["passed"].astype("boolean")
        graded = int(passed.notna().sum())
        rate = float(passed.sum()) / graded if graded else float("nan")
        if graded and rate >= limits[str(eval_id)]:
            continue
        if not graded and "status" in rows and rows["status"].eq("skipped").all():
            continue  # not run at all (a cost cap): the run is incomplete, not failing
        failing = rows.loc[verdict_mask(passed, False), "trace_id"]
        mode = str(rows["failure_mode"].iloc[0]) if "failure_mode" in rows else ""
        failures.append(
            GateFailure(
                eval=str(eval_id),
                failure_mode=mode,
                pass_rate=rate,
                threshold=limits[str(eval_id)],
                graded=graded,
                failing_trace_ids=tuple(str(t) for t in failing),
            )
        )
    return failures


def assert_gates(results: pd.DataFrame, suite: Suite | Mapping[str, float]) -> None:
    """Raise ``AssertionError`` listing every eval below its threshold, for pytest.

    Raises:
        AssertionError: One line per failing eval, with its failing trace ids.
    """
    failures = check_gates(results, suite)
    if failures:
        lines = "\n".join(f"  {f}" for f in failures)
        raise AssertionError(f"{len(failures)} eval(s) below their threshold:\n{lines}")
