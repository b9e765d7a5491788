"""The judge calls of a suite run: concurrent, each result stored as it lands, within a cost cap.

Calls go through :func:`workbench.llm.acomplete` (its retries, response cache, concurrency
slots and usage meter); nothing here retries. A pool of workers, as many as the LLM door's
``max_concurrency``, takes calls from one queue. Each finished call is written to the
:class:`~workbench.suite.cache.ResultCache` before the next is taken, so an interrupted run
loses at most the calls in flight.

The cost cap (``max_cost``) books an estimate for each call before it is sent and stops
sending once this run's spending plus the calls in flight could pass the cap. The estimate is
the dearest call seen so far (from earlier runs in the cache, else from this run); until one
price is known only one call is in flight, so the first answer sets it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench import llm
from workbench.evalgen.judges import judge_prompt, parse_verdict, shown_trace
from workbench.llm_batch import LOOP
from workbench.suite.cache import CachedResult, ResultCache


@dataclass(frozen=True)
class JudgeCall:
    """One judge call to make: an eval on a trace, one repeat."""

    slot: int
    """Where the outcome goes in the caller's list."""
    eval_id: str
    """The eval."""
    version: str
    """Content hash of the judge file (part of the cache key)."""
    spec: Mapping[str, Any]
    """The judge spec (prompt, params)."""
    model: str
    """The model to ask (part of the cache key)."""
    record: Mapping[str, Any]
    """The trace record."""
    trace_hash: str
    """Content hash of the trace (part of the cache key)."""
    repeat: int
    """Repeat index (part of the cache key)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one eval on one trace."""

    passed: bool | None
    """True: failure absent; False: present; None: could not grade, or not run."""
    status: str
    """``pass``, ``fail``, ``ungraded`` (could not grade) or ``skipped`` (not run)."""
    reason: str
    """The judge's reasoning, or why there is no verdict."""
    latency_s: float
    """Seconds the call took (the original call's, when cached)."""
    cost_usd: float
    """Spent on it in this run (0 when cached)."""
    cached: bool
    """True when the verdict came from a cache and no request was sent."""
    tokens: int = 0
    """Prompt and completion tokens spent on it in this run (0 when cached)."""


def outcome_of(
    passed: bool | None,
    reason: str,
    latency_s: float,
    cost_usd: float,
    cached: bool,
    tokens: int = 0,
) -> Outcome:
    """An outcome with the status that ``passed`` implies."""
    status = "ungraded" if passed is None else ("pass" if passed else "fail")
    return Outcome(passed, status, reason, latency_s, cost_usd, cached, tokens)


def from_cache(row: CachedResult) -> Outcome:
    """The outcome of a stored result (nothing spent now)."""
    return outcome_of(row.passed, row.reason, row.latency_s, 0.0, cached=True)


class CostGuard:
    """Books an estimated cost per call and refuses calls that could pass ``max_cost``."""

    def __init__(self, max_cost: float | None, estimate: float | None) -> None:
        self.max_cost = max_cost
        self.estimate = estimate
        self.spent = 0.0
        self.reserved = 0.0
        self.in_flight = 0
        self.stopped: str | None = None
        self._settled = asyncio.Event()

    async def admit(self) -> float | None:
        """The amount booked for the next call, or None: stop, no more calls."""
        while self.stopped is None and self.max_cost is not None and self.estimate is None:
            if self.in_flight == 0:
                break
            self._settled.clear()
            await self._settled.wait()
        if self.stopped is not None:
            return None
        booked = (self.estimate or 0.0) if self.max_cost is not None else 0.0
        if self.max_cost is not None and (
            self.spent + self.reserved + booked > self.max_cost
            or (self.estimate is None and self.spent >= self.max_cost)
        ):
            self.stop(
                f"not run: max_cost ${self.max_cost:g} reached "
                f"(${self.spent:.4f} spent, ${self.reserved:.4f} in flight)"
            )
            return None
        self.reserved += booked
        self.in_flight += 1
        return booked

    def settle(self, booked: float, cost: float, *, fresh: bool) -> None:
        """Release a booking and record what the call cost; a fresh price updates the estimate."""
        self.reserved = max(0.0, self.reserved - booked)
        self.in_flight -= 1
        self.spent += cost
        if fresh:
            self.estimate = max(self.estimate or 0.0, cost)
        self._settled.set()

    def stop(self, reason: str) -> None:
        """Refuse every further call, with the reason given to their rows."""
        if self.stopped is None:
            self.stopped = reason
        self._settled.set()

    def skipped(self) -> Outcome:
        """The outcome of a call not made."""
        return Outcome(None, "skipped", self.stopped or "not run", 0.0, 0.0, False)


async def _ask(call: JudgeCall, read_llm_cache: bool) -> tuple[Outcome, bool]:
    """Make one call: its outcome, and whether it finished (an answer came back)."""
    messages = [{"role": "user", "content": judge_prompt(call.spec, call.record)}]
    params = dict(call.spec.get("params") or {})
    started = time.perf_counter()
    try:
        done = await llm.acomplete(
            messages, model=call.model, cache=read_llm_cache and call.repeat == 0, **params
        )
    except (llm.LLMCallError, llm.LLMOutputError) as exc:  # the latter: JSON params, no JSON
        reason = f"the LLM call failed: {exc}"
        return outcome_of(None, reason, time.perf_counter() - started, 0.0, False), False
    grade = parse_verdict(done.text, shown_trace(call.spec, call.record))
    tokens = 0 if done.cached else done.prompt_tokens + done.completion_tokens
    outcome = outcome_of(
        grade.passed, grade.reason, done.latency_s, done.cost_usd, done.cached, tokens
    )
    return outcome, True


async def _work(
    queue: Iterator[JudgeCall],
    done: dict[int, Outcome],
    guard: CostGuard,
    store: ResultCache,
    read_llm_cache: bool,
    bar: Any,
) -> None:
    for call in queue:  # one iterator shared by the workers of one event loop
        booked = await guard.admit()
        if booked is None:
            done[call.slot] = guard.skipped()
            bar.update(1)
            continue
        outcome, finished, cost = guard.skipped(), False, 0.0
        try:
            outcome, finished = await _ask(call, read_llm_cache)
            cost = outcome.cost_usd
        except llm.BudgetExceeded as exc:  # the process-wide LLM budget ran out
            guard.stop(f"not run: {exc}")
            outcome = guard.skipped()
        finally:
            guard.settle(booked, cost, fresh=finished and not outcome.cached)
        if finished:
            store.put(_stored(call, outcome))
        done[call.slot] = outcome
        bar.update(1)


def _stored(call: JudgeCall, outcome: Outcome) -> CachedResult:
    return CachedResult(
        version=call.version,
        trace_hash=call.trace_hash,
        model=call.model,
        repeat=call.repeat,
        eval=call.eval_id,
        trace_id=str(call.record.get("trace_id")),
        passed=outcome.passed,
        reason=outcome.reason,
        latency_s=outcome.latency_s,
        cost_usd=outcome.cost_usd,
    )


async def _run(
    calls: Sequence[JudgeCall],
    store: ResultCache,
    guard_args: tuple[float | None, float | None],
    read_llm_cache: bool,
    progress: bool,
) -> dict[int, Outcome]:
    from tqdm.auto import tqdm

    guard = CostGuard(*guard_args)
    done: dict[int, Outcome] = {}
    queue = iter(calls)
    workers = min(llm.settings().max_concurrency, len(calls))
    with tqdm(total=len(calls), desc="judge calls", disable=not progress, leave=False) as bar:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(_work(queue, done, guard, store, read_llm_cache, bar))
    return done


def run_calls(
    calls: Sequence[JudgeCall],
    store: ResultCache,
    *,
    max_cost: float | None,
    estimate: float | None,
    read_llm_cache: bool,
    progress: bool,
) -> dict[int, Outcome]:
    """Make the calls on the LLM door's event loop; outcomes by ``JudgeCall.slot``.

    Raises:
        KeyboardInterrupt: Interrupted (Ctrl-C); the finished calls are already stored.
    """
    if not calls:
        return {}
    started, finished = threading.Event(), threading.Event()

    async def main() -> dict[int, Outcome]:
        started.set()
        try:
            return await _run(calls, store, (max_cost, estimate), read_llm_cache, progress)
        finally:
            finished.set()

    try:
        return LOOP.run(main)
    except BaseException:
        # LOOP.run only asks the loop to cancel; wait until the workers have stopped, so no
        # call of this run is still under way when the caller goes on (e.g. to run again).
        if started.is_set():
            finished.wait(timeout=60)
        raise
