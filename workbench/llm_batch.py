"""Many LLM calls as one batch: concurrent, in order, with progress, errors kept per item.

:func:`complete_many` and :func:`acomplete_many` are re-exported by :mod:`workbench.llm`; use
them from there. The machinery below them is generic over the call and free of litellm.
Concurrency is bounded where requests are sent, by :func:`slot`; here every item simply gets
a task.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from workbench.llm_config import BudgetExceeded, resolve_model, settings
from workbench.llm_request import Completion, Messages

T = TypeVar("T")
Item = TypeVar("Item")

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]]
_semaphores = weakref.WeakKeyDictionary()


def slot() -> asyncio.Semaphore:
    """The running loop's semaphore of ``max_concurrency`` request slots.

    One per event loop (a semaphore is bound to its loop, and notebooks and tests create
    several); rebuilt when ``max_concurrency`` changes.
    """
    loop, size = asyncio.get_running_loop(), settings().max_concurrency
    held = _semaphores.get(loop)
    if held is None or held[0] != size:
        held = (size, asyncio.Semaphore(size))
        _semaphores[loop] = held
    return held[1]


async def gather_in_order(
    items: Sequence[Item],
    call: Callable[[Item], Awaitable[T]],
    *,
    progress: bool = True,
    desc: str = "LLM calls",
) -> list[T | Exception]:
    """Await ``call(item)`` for every item concurrently; results come back in input order.

    An exception is returned in its item's place and the batch goes on, except
    :class:`~workbench.llm_config.BudgetExceeded`: it cancels the remaining items and is
    raised, because every later call would be refused too.

    Args:
        items: The inputs.
        call: The coroutine function to run on each.
        progress: Show a tqdm progress bar (a widget in notebooks).
        desc: The bar's label.

    Returns:
        One result or exception per item.

    Examples:
        >>> async def double(x: int) -> int:
        ...     return 2 * x
        >>> asyncio.run(gather_in_order([1, 2, 3], double, progress=False))
        [2, 4, 6]
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc=desc, disable=not progress, leave=False)

    async def one(item: Item) -> T | Exception:
        try:
            return await call(item)
        except BudgetExceeded:
            raise
        except Exception as exc:  # kept in the item's place, by design
            return exc
        finally:
            bar.update(1)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        bar.close()


class BackgroundLoop:
    """One event loop in a daemon thread, for the life of the process, that runs sync batches.

    Sync code (a notebook cell, a script) hands coroutines to it and waits. One long-lived loop
    instead of ``asyncio.run`` per batch because litellm keeps its HTTP clients per event loop:
    a loop per batch would leave their connections open when it closes (and litellm keys them
    by ``id(loop)``, which a new loop can reuse), and the concurrency bound would not carry
    over from one batch to the next. It also sidesteps Jupyter's own running loop, where
    ``asyncio.run`` is refused. At exit, close hooks (closing the HTTP clients) run on the
    loop, then it stops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._shut = False

    def add_close_hook(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``hook()`` on the loop just before it stops at exit."""
        self._hooks.append(hook)

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._shut:
                raise RuntimeError("the workbench LLM batch loop has shut down (at exit)")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="workbench-llm-loop", daemon=True
                )
                self._thread.start()
                atexit.register(self._shutdown)
            return self._loop

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``make()`` on the loop and wait for its result; Ctrl-C cancels it.

        Examples:
            >>> async def answer() -> int:
            ...     return 42
            >>> LOOP.run(answer)
            42
        """
        loop = self._running()
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:  # waiting here would block the loop that must do the work
            raise RuntimeError("complete_many called on the batch loop; await acomplete_many")
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def _shutdown(self) -> None:
        with self._lock:
            loop, thread, self._shut = self._loop, self._thread, True
        if loop is None or thread is None:
            return
        for hook in self._hooks:
            asyncio.run_coroutine_threadsafe(hook(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


LOOP = BackgroundLoop()
"""The loop behind :func:`complete_many` (and any sync call that needs async)."""


async def acomplete_many(
    batch: Sequence[Messages],
    *,
    model: str | None = None,
    schema: Mapping[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
    **kw: Any,
) -> list[Completion | Exception]:
    """The async twin of :func:`complete_many`.

    Examples:
        >>> from workbench.llm import configured
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     done = asyncio.run(acomplete_many(["a", "b"], mock_response="x", progress=False))
        >>> [c.text for c in done]
        ['x', 'x']
    """
    from workbench.llm import acomplete, acomplete_json  # here: workbench.llm imports this module

    resolved = resolve_model(model)  # fail once, not once per item

    async def one(messages: Messages) -> Completion:
        if schema is not None:
            return await acomplete_json(messages, schema, model=resolved, cache=cache, **kw)
        return await acomplete(
            messages, model=resolved, response_format=response_format, cache=cache, **kw
        )

    return await gather_in_order(batch, one, progress=progress, desc=f"LLM calls ({resolved})")


def complete_many(
    batch: Sequence[Messages],
    *,
    model: str | None = None,
    schema: Mapping[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
    **kw: Any,
) -> list[Completion | Exception]:
    """Run many calls concurrently (up to ``max_concurrency``), results in input order.

    A failed item gets its exception in its place and the batch goes on, except for
    :class:`BudgetExceeded`, which stops the batch and is raised. Finished answers are
    cached, so running the batch again after an interruption only pays for the rest.
    Works in Jupyter too (where an event loop is already running).

    Args:
        batch: One message list (or str) per call.
        model: As for :func:`complete`.
        schema: When given, each call is :func:`complete_json` with this schema.
        response_format: As for :func:`complete` (ignored when ``schema`` is given).
        cache: As for :func:`complete`.
        progress: Show a progress bar.
        **kw: As for :func:`complete`.

    Returns:
        One :class:`Completion` or exception per input, in order.

    Raises:
        BudgetExceeded: The budget ran out; the remaining calls were not made.

    Examples:
        >>> from workbench.llm import configured
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     done = complete_many(["2+2?", "3+3?"], mock_response="ok", progress=False)
        >>> [c.text for c in done]
        ['ok', 'ok']
    """
    return LOOP.run(
        lambda: acomplete_many(
            batch,
            model=model,
            schema=schema,
            response_format=response_format,
            cache=cache,
            progress=progress,
            **kw,
        )
    )
