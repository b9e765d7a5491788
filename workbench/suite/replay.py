"""Re-run the user's app on the inputs of traces, to see how much its answers vary.

A judge that flips between repeats is one source of noise; the app itself is the other.
Given a callable for the app, a suite run asks it again for every trace and repeat and
grades the fresh answers, so per-trace flakiness covers both (:func:`replay` feeds
:meth:`workbench.suite.Suite.run`).

What the app is given (``app_input``):

- ``"input"`` (default): the trace's ``input`` text, the user's opening request.
- ``"messages"``: the conversation up to and including the last user turn, as a list of
  ``{"role", "content", ...}`` dicts (what a chat app would be called with).
- ``"trace"``: the whole trace as a plain dict.

What it may return: a string, the new reply; or a dict of canonical fields to replace
(``output``, ``messages``, ``metadata``...). A string reply on a chat trace also replaces
the conversation after the last user turn with that one assistant turn, so checks that read
``messages`` see the new answer, not the old one. An exception leaves that trace and repeat
ungraded with the exception as its reason; the run goes on.

Examples:
    >>> traces = pd.DataFrame({"trace_id": ["a"], "input": ["hi"], "output": ["old"]})
    >>> fresh = replay(traces, lambda text: text.upper(), repeats=2, progress=False)
    >>> [f.traces["output"].tolist() for f in fresh]
    [['HI'], ['HI']]
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from tqdm.auto import tqdm

from workbench.evalgen.fields import plain
from workbench.llm_batch import LOOP
from workbench.suite.loading import SuiteEval
from workbench.suite.runner import empty_results, model_of
from workbench.traces.chat import USER_ROLES

AppInput = Literal["input", "messages", "trace"]
APP_INPUTS: tuple[str, ...] = ("input", "messages", "trace")


@dataclass
class Replayed:
    """The traces of one repeat, with the app's fresh answers in them."""

    repeat: int
    traces: pd.DataFrame
    """The traces the app answered, outputs replaced (failed ones left out)."""
    errors: dict[str, str] = field(default_factory=dict)
    """``{trace_id: reason}`` for the traces where the app raised or returned nonsense."""


def replay(
    traces: pd.DataFrame,
    app: Callable[[Any], Any],
    *,
    repeats: int = 1,
    app_input: AppInput = "input",
    concurrency: int = 4,
    progress: bool = True,
) -> list[Replayed]:
    """Ask the app again for every trace, ``repeats`` times; one :class:`Replayed` per repeat.

    Args:
        traces: Canonical traces.
        app: The app: a function or ``async`` function of what ``app_input`` names.
        repeats: How many fresh answers per trace.
        app_input: ``"input"``, ``"messages"`` or ``"trace"`` (see the module docs).
        concurrency: Calls in flight at once (threads for a plain function, tasks for an
            async one).
        progress: Show a progress bar.

    Raises:
        ValueError: Bad ``app_input``, ``repeats`` or ``concurrency``.
        TypeError: ``app`` is not callable.
    """
    if app_input not in APP_INPUTS:
        raise ValueError(f"app_input must be one of {APP_INPUTS}, got {app_input!r}")
    if not callable(app):
        raise TypeError(f"app must be a function of the trace's {app_input}, got {app!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    rows = [{str(k): plain(v) for k, v in row.items()} for row in traces.to_dict("records")]
    jobs = [(r, i) for r in range(repeats) for i in range(len(rows))]
    arguments = [_argument(rows[i], app_input) for _, i in jobs]
    with tqdm(total=len(jobs), desc="app", unit="call", disable=not progress) as bar:
        answers = _call_all(app, arguments, concurrency, bar.update)
    out = []
    for repeat in range(repeats):
        kept, errors = [], {}
        for (r, i), answer in zip(jobs, answers, strict=True):
            if r != repeat:
                continue
            row = rows[i]
            try:
                kept.append(_with_answer(row, answer))
            except _AppFailed as failed:
                errors[str(row["trace_id"])] = str(failed)
        frame = pd.DataFrame(kept, columns=list(traces.columns)) if kept else traces.iloc[:0]
        out.append(Replayed(repeat=repeat, traces=frame.reset_index(drop=True), errors=errors))
    return out


class _AppFailed(Exception):
    """The app raised, or returned something that is not an answer."""


@dataclass(frozen=True)
class _Raised:
    error: BaseException


def _argument(row: dict[str, Any], app_input: str) -> Any:
    if app_input == "input":
        return row.get("input") or ""
    if app_input == "messages":
        return _before_reply(row.get("messages") or [])
    return dict(row)


def _before_reply(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to and including the last user turn (all of it if there is none)."""
    last = max(
        (i for i, m in enumerate(messages) if str(m.get("role", "")).lower() in USER_ROLES),
        default=len(messages) - 1,
    )
    return [dict(m) for m in messages[: last + 1]]


def _call_all(
    app: Callable[[Any], Any], arguments: list[Any], concurrency: int, done: Callable[[int], Any]
) -> list[Any]:
    if inspect.iscoroutinefunction(app):
        return LOOP.run(lambda: _call_async(app, arguments, concurrency, done))

    def call(argument: Any) -> Any:
        try:
            return app(argument)
        except Exception as exc:  # the user's app failing on one trace must not stop the run
            return _Raised(exc)
        finally:
            done(1)

    if concurrency == 1:
        return [call(a) for a in arguments]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="app") as pool:
        return list(pool.map(call, arguments))


async def _call_async(
    app: Callable[[Any], Any], arguments: list[Any], concurrency: int, done: Callable[[int], Any]
) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def call(argument: Any) -> Any:
        async with gate:
            try:
                return await app(argument)
            except Exception as exc:
                return _Raised(exc)
            finally:
                done(1)

    return list(await asyncio.gather(*(call(a) for a in arguments)))


def _with_answer(row: dict[str, Any], answer: Any) -> dict[str, Any]:
    """The trace as the app's new answer makes it."""
    if isinstance(answer, _Raised):
        error = answer.error
        raise _AppFailed(f"the app raised {type(error).__name__}: {error}")
    fresh = dict(row)
    if isinstance(answer, str):
        fresh["output"] = answer
        messages = row.get("messages")
        if isinstance(messages, list) and messages:
            fresh["messages"] = [*_before_reply(messages), {"role": "assistant", "content": answer}]
        return fresh
    if isinstance(answer, dict):
        unknown = sorted(str(k) for k in answer if k not in row or k == "trace_id")
        if unknown:
            raise _AppFailed(
                f"the app returned fields that are not trace columns (or trace_id): {unknown}"
            )
        fresh.update(answer)
        return fresh
    raise _AppFailed(
        f"the app returned {type(answer).__name__}; return the reply as a str, "
        "or a dict of trace fields such as {'output': ..., 'messages': [...]}"
    )


def run_with_app(
    run: Callable[[pd.DataFrame, int], pd.DataFrame],
    evals: Sequence[SuiteEval],
    traces: pd.DataFrame,
    app: Callable[[Any], Any],
    *,
    repeats: int,
    app_input: AppInput,
    concurrency: int,
    model: str | None,
    progress: bool,
) -> pd.DataFrame:
    """Grade fresh app answers: ``run(traces_of_repeat, repeat)`` once per repeat.

    Returns the results of every repeat in one table with a ``repeat`` column and an
    ``app_output`` column (the answer graded), in the order of a plain repeated run (eval,
    trace, repeat). Traces the app failed on are ``ungraded`` with the failure as the reason.
    """
    models = {e.id: model_of(e, model) for e in evals if e.kind == "judge"}  # fail early
    order = {str(t): i for i, t in enumerate(traces["trace_id"].astype(str))}
    parts = []
    for fresh in replay(
        traces, app, repeats=repeats, app_input=app_input, concurrency=concurrency,
        progress=progress,
    ):  # fmt: skip
        graded = run(fresh.traces, fresh.repeat) if len(fresh.traces) else empty_results()
        ids = fresh.traces["trace_id"].astype(str)
        answers = dict(zip(ids, fresh.traces["output"], strict=True))
        graded.insert(2, "repeat", fresh.repeat)
        graded["app_output"] = graded["trace_id"].astype(str).map(answers)
        parts.append(graded)
        if fresh.errors:
            parts.append(_failed_rows(evals, models, fresh, list(graded.columns)))
    frame = pd.concat(parts, ignore_index=True)
    frame["passed"] = frame["passed"].astype("boolean")
    frame["_order"] = frame["trace_id"].astype(str).map(order)
    frame["_eval"] = pd.Categorical(frame["eval"], categories=[e.id for e in evals])
    frame = frame.sort_values(["_eval", "_order", "repeat"], kind="stable")
    return frame.drop(columns=["_order", "_eval"]).reset_index(drop=True)


def _failed_rows(
    evals: Sequence[SuiteEval], models: dict[str, str], fresh: Replayed, columns: list[str]
) -> pd.DataFrame:
    """``ungraded`` rows for every eval on the traces the app failed on."""
    rows = []
    for each in evals:
        for trace_id, reason in fresh.errors.items():
            rows.append(
                {
                    "trace_id": trace_id, "eval": each.id, "repeat": fresh.repeat,
                    "failure_mode": each.failure_mode, "kind": each.kind,
                    "version": each.version, "model": models.get(each.id), "passed": None,
                    "status": "ungraded", "reason": reason, "latency_s": 0.0, "tokens": 0,
                    "cost_usd": 0.0, "cached": False, "app_output": None,
                }
            )  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    out["passed"] = out["passed"].astype("boolean")
    return out
