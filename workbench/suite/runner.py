"""Run the evals of a suite on traces: one row per trace x eval (x repeat).

Assertions are compiled by :func:`workbench.evalgen.runtime.compile_check`, the one place
that does, and run on the plain trace records of :func:`workbench.evalgen.fields.records`:
typed checks in this process, python checks in one sandboxed worker process per eval. Judges
run through :mod:`workbench.suite.judging`. Results of finished judge calls are looked up in
the suite's result cache first, so only what is missing is asked for.

Examples:
    >>> results = pd.DataFrame({
    ...     "trace_id": ["a", "a", "a", "b", "b", "b"], "eval": ["j"] * 6,
    ...     "repeat": [0, 1, 2] * 2, "passed": [True, False, True, True, True, True]})
    >>> flakiness(results)[["trace_id", "graded", "passes", "flakiness"]].round(2)
      trace_id  graded  passes  flakiness
    0        a       3       2       0.33
    1        b       3       3       0.00
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from workbench import llm
from workbench.evalgen.fields import records
from workbench.evalgen.runtime import PythonCheck, compile_check, describe
from workbench.suite.cache import ResultCache, trace_hash
from workbench.suite.judging import JudgeCall, Outcome, from_cache, outcome_of, run_calls
from workbench.suite.loading import SuiteEval
from workbench.suite.parallel import default_workers, run_typed

COLUMNS = (
    "trace_id", "eval", "failure_mode", "kind", "version", "model", "passed", "status",
    "reason", "latency_s", "tokens", "cost_usd", "cached",
)  # fmt: skip
"""Columns of a results table (``repeat`` follows ``eval`` when there are repeats)."""


def run_evals(
    evals: Sequence[SuiteEval],
    traces: pd.DataFrame,
    *,
    repeats: int = 1,
    max_cost: float | None = None,
    cache: ResultCache,
    read_cache: bool = True,
    model: str | None = None,
    progress: bool = True,
    workers: int | None = None,
    first_repeat: int = 0,
) -> pd.DataFrame:
    """Run evals on traces; see :meth:`workbench.suite.Suite.run` for the arguments and columns.

    ``first_repeat`` numbers the repeats from there in the result cache, for runs made one
    repeat at a time (fresh app answers per repeat).

    Raises:
        ValueError: Bad arguments, no ``trace_id`` column, or duplicate trace ids.
        ModelNotConfigured: A judge has no model and none is configured.
    """
    _check_arguments(traces, repeats, max_cost)
    judges = [e for e in evals if e.kind == "judge"]
    models = {e.id: model_of(e, model) for e in judges}  # fail before any work
    outcomes = _typed_in_pool(evals, traces, workers)
    items = records(traces) if len(outcomes) < len(evals) else []
    for record in evals:
        if record.kind == "assertion" and record.id not in outcomes:
            outcomes[record.id] = _assertion(record, items)
    outcomes = {k: _repeated(v, repeats) for k, v in outcomes.items()}
    outcomes |= _judges(
        judges, models, items, range(first_repeat, first_repeat + repeats), max_cost, cache,
        read_cache, progress,
    )  # fmt: skip
    return _frame(evals, traces["trace_id"].astype(str).tolist(), outcomes, models, repeats)


def _typed_in_pool(
    evals: Sequence[SuiteEval], traces: pd.DataFrame, workers: int | None
) -> dict[str, list[Outcome]]:
    """Typed assertions run by a process pool when the run is large; {} when not."""
    count = default_workers(len(traces)) if workers is None else workers
    typed = [e for e in evals if e.kind == "assertion" and e.candidate.spec.get("type") != "python"]
    if count < 2 or not typed:
        return {}
    done = run_typed([e.candidate.spec for e in typed], traces, workers=count)
    return {} if done is None else {e.id: out for e, out in zip(typed, done, strict=True)}


def _check_arguments(traces: pd.DataFrame, repeats: int, max_cost: float | None) -> None:
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if max_cost is not None and not max_cost >= 0:
        raise ValueError(f"max_cost must be >= 0 (USD) or None, got {max_cost!r}")
    if "trace_id" not in traces.columns:
        raise ValueError(f"traces have no trace_id column (columns: {list(traces.columns)})")
    duplicated = traces["trace_id"][traces["trace_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"duplicate trace ids: {duplicated[:5]} ({len(duplicated)} in all)")


def model_of(record: SuiteEval, override: str | None) -> str:
    """The model a judge runs on: the override, else its file's, else the configured one."""
    named = override or record.candidate.spec.get("model")
    return str(named) if named else llm.require_model(f"the judge {record.id!r}")


def _repeated(outcomes: list[Outcome], repeats: int) -> list[Outcome]:
    """A deterministic check gives the same verdict on every repeat: copy it."""
    return outcomes if repeats == 1 else [o for o in outcomes for _ in range(repeats)]


def _assertion(record: SuiteEval, items: list[dict[str, Any]]) -> list[Outcome]:
    spec = record.candidate.spec
    check = compile_check(spec)
    if isinstance(check, PythonCheck):
        started = time.perf_counter()
        graded = check.many(items)
        each = (time.perf_counter() - started) / max(1, len(items))
        return [outcome_of(p, r, each, 0.0, False) for p, r in graded]
    return typed_outcomes(check, items, f"fails the rule: {describe(spec)}")


def typed_outcomes(
    check: Callable[[dict[str, Any]], bool], items: list[dict[str, Any]], failing: str
) -> list[Outcome]:
    """Run an in-process check on every record; an exception leaves that trace ungraded."""
    out = []
    clock = time.perf_counter
    for item in items:
        started = clock()
        try:
            passed: bool | None = bool(check(item))
            reason = "" if passed else failing
        except Exception as exc:  # one trace that breaks a check is ungraded, not the run
            passed, reason = None, f"the check raised {type(exc).__name__}: {exc}"
        out.append(outcome_of(passed, reason, clock() - started, 0.0, False))
    return out


def _judges(
    judges: Sequence[SuiteEval],
    models: dict[str, str],
    items: list[dict[str, Any]],
    repeats: range,
    max_cost: float | None,
    cache: ResultCache,
    read_cache: bool,
    progress: bool,
) -> dict[str, list[Outcome]]:
    if not judges:
        return {}
    hashes = [trace_hash(item) for item in items]
    known: dict[int, Outcome] = {}
    calls, slot, estimate = [], 0, None
    for record in judges:
        model = models[record.id]
        stored = cache.lookup(record.version, model) if read_cache else {}
        dearest = cache.max_cost(record.version, model)
        estimate = dearest if estimate is None else max(estimate, dearest or 0.0)
        for item, digest in zip(items, hashes, strict=True):
            for repeat in repeats:
                found = stored.get((digest, repeat))
                if found is not None:
                    known[slot] = from_cache(found)
                else:
                    calls.append(
                        JudgeCall(
                            slot=slot,
                            eval_id=record.id,
                            version=record.version,
                            spec=record.candidate.spec,
                            model=model,
                            record=item,
                            trace_hash=digest,
                            repeat=repeat,
                        )
                    )
                slot += 1
    known |= run_calls(
        calls, cache, max_cost=max_cost, estimate=estimate, read_llm_cache=read_cache,
        progress=progress,
    )  # fmt: skip
    size = len(items) * len(repeats)
    return {r.id: [known[i * size + j] for j in range(size)] for i, r in enumerate(judges)}


def _frame(
    evals: Sequence[SuiteEval],
    ids: list[str],
    outcomes: dict[str, list[Outcome]],
    models: dict[str, str],
    repeats: int,
) -> pd.DataFrame:
    parts = []
    for record in evals:
        rows = outcomes[record.id]
        part = pd.DataFrame(
            {
                "trace_id": [t for t in ids for _ in range(repeats)],
                "eval": record.id,
                "repeat": list(range(repeats)) * len(ids),
                "failure_mode": record.failure_mode,
                "kind": record.kind,
                "version": record.version,
                "model": models.get(record.id),
                "passed": pd.array([o.passed for o in rows], dtype="boolean"),
                "status": [o.status for o in rows],
                "reason": [o.reason for o in rows],
                "latency_s": [o.latency_s for o in rows],
                "tokens": [o.tokens for o in rows],
                "cost_usd": [o.cost_usd for o in rows],
                "cached": [o.cached for o in rows],
            }
        )
        parts.append(part)
    columns = list(COLUMNS[:2]) + (["repeat"] if repeats > 1 else []) + list(COLUMNS[2:])
    if not parts:
        return empty_results(repeats)
    frame = pd.concat(parts, ignore_index=True)
    return frame[columns]


def empty_results(repeats: int = 1) -> pd.DataFrame:
    """A results table with no rows and the right columns and dtypes."""
    columns = list(COLUMNS[:2]) + (["repeat"] if repeats > 1 else []) + list(COLUMNS[2:])
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    frame["passed"] = pd.array([], dtype="boolean")
    return frame


def verdict_mask(passed: pd.Series, verdict: bool) -> pd.Series:
    """True where ``passed`` equals ``verdict``; NA (ungraded) is False.

    Examples:
        >>> verdict_mask(pd.Series([True, False, None], dtype="boolean"), False).tolist()
        [False, True, False]
    """
    return passed.astype("boolean").eq(verdict).fillna(False).astype(bool)


def flakiness(results: pd.DataFrame) -> pd.DataFrame:
    """Per trace and eval: how often the repeats disagree.

    ``flakiness`` is the share of graded repeats that disagree with the majority verdict
    (0: all agree; 0.5: an even split), NaN when no repeat was graded.

    Args:
        results: A results table from :meth:`Suite.run` with ``repeats`` > 1.

    Returns:
        Columns ``eval``, ``trace_id``, ``repeats``, ``graded``, ``passes``, ``fails``,
        ``flakiness``, one row per eval and trace.
    """
    graded = results["passed"].astype("boolean")
    frame = pd.DataFrame(
        {
            "eval": results["eval"],
            "trace_id": results["trace_id"],
            "graded": graded.notna().astype(int),
            "passes": graded.fillna(False).astype(int),
            "fails": (~graded).fillna(False).astype(int),
        }
    )
    out = frame.groupby(["eval", "trace_id"], sort=False).agg(
        repeats=("graded", "size"), graded=("graded", "sum"),
        passes=("passes", "sum"), fails=("fails", "sum"),
    )  # fmt: skip
    minority = out[["passes", "fails"]].min(axis=1)
    out["flakiness"] = (minority / out["graded"].where(out["graded"] > 0)).astype(float)
    return out.reset_index()[
        ["trace_id", "eval", "repeats", "graded", "passes", "fails", "flakiness"]
    ]


def collapse_repeats(results: pd.DataFrame) -> pd.DataFrame:
    """One row per trace and eval: the majority verdict of its repeats (a tie is ungraded).

    A table without a ``repeat`` column is returned unchanged.
    """
    if "repeat" not in results.columns:
        return results
    votes = flakiness(results)
    first = results.drop_duplicates(["eval", "trace_id"]).drop(columns=["repeat"])
    merged = first.merge(votes[["eval", "trace_id", "passes", "fails"]], on=["eval", "trace_id"])
    passed = pd.array(
        [p > f if p != f else None for p, f in zip(merged["passes"], merged["fails"], strict=True)],
        dtype="boolean",
    )
    merged["passed"] = passed
    merged["status"] = [
        "ungraded" if pd.isna(p) else ("pass" if p else "fail") for p in merged["passed"]
    ]
    return merged.drop(columns=["passes", "fails"])
