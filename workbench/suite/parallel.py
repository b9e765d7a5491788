"""Typed assertions over many traces in a pool of forked processes.

Turning trace rows into records and running typed checks is pure Python, so one process uses
one core. For large runs the trace table is split into chunks and each forked worker turns
its chunk into records and runs every typed check on it; the table reaches the workers by
fork (copy on write), not by pickling, and only verdicts come back. Where ``fork`` does not
exist (Windows) the caller runs the checks in its own process. The workers only read the
inherited table and run the checks, so they need none of the locks that other threads of
the parent (the LLM door's loop, a notebook kernel's) may hold when it forks.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> spec = {"type": "max_length", "field": "output", "value": 800}
    >>> out = run_typed([spec], traces, workers=2)
    >>> out is None or len(out[0]) == len(traces)
    True
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from workbench.evalgen.fields import records
from workbench.evalgen.runtime import compile_check, describe
from workbench.suite.judging import Outcome

PARALLEL_FROM = 20_000
"""Traces from which typed assertions run in a process pool by default."""

_JOB: tuple[pd.DataFrame, list[Mapping[str, Any]]] | None = None
"""The table and specs of the running pool, inherited by the forked workers."""


def default_workers(n_traces: int) -> int:
    """Workers for a run over ``n_traces``: 1 below :data:`PARALLEL_FROM`, else up to 4 cores.

    Examples:
        >>> default_workers(100)
        1
    """
    if n_traces < PARALLEL_FROM:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _chunk(bounds: tuple[int, int]) -> list[list[tuple[bool | None, str, float]]]:
    """In a worker: records for rows [lo, hi), then every check on them."""
    from workbench.suite.runner import typed_outcomes  # the parent has imported it already

    assert _JOB is not None, "the pool job is set before forking"
    frame, specs = _JOB
    items = records(frame.iloc[bounds[0] : bounds[1]])
    out = []
    for spec in specs:
        graded = typed_outcomes(compile_check(spec), items, f"fails the rule: {describe(spec)}")
        out.append([(o.passed, o.reason, o.latency_s) for o in graded])
    return out


def run_typed(
    specs: Sequence[Mapping[str, Any]], traces: pd.DataFrame, *, workers: int
) -> list[list[Outcome]] | None:
    """Run typed specs on every trace in ``workers`` forked processes.

    Returns:
        Outcomes per spec, in trace order; None when forking is not available here.
    """
    global _JOB
    if "fork" not in multiprocessing.get_all_start_methods() or not specs:
        return None
    from workbench.suite.judging import outcome_of

    step = -(-len(traces) // (workers * 4)) or 1
    bounds = [(lo, min(lo + step, len(traces))) for lo in range(0, len(traces), step)]
    _JOB = (traces, list(specs))
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_chunk, bounds)
    finally:
        _JOB = None
    return [
        [outcome_of(p, r, t, 0.0, False) for part in parts for p, r, t in part[i]]
        for i in range(len(specs))
    ]
