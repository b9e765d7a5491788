"""What the LLM door asks, apart from how it is sent: requests, answers and their steps.

No litellm here. :func:`prepare` turns a call's arguments into a :class:`Request` (model
resolved, messages normalised and redacted, cache key ready). The *steps* functions are
generators that yield :class:`Ask` objects and receive :class:`Completion` objects (or have a
:class:`~workbench.llm_config.LLMCallError` thrown in), so the same logic, e.g. "parse the JSON,
else ask once for a repair", drives both the sync and the async call in :mod:`workbench.llm`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.llm_cache import CachedResponse, ResponseCache, cache_key, default_cache_dir
from workbench.llm_config import (
    METER,
    LLMCallError,
    LLMOutputError,
    resolve_api_base,
    resolve_api_key,
    resolve_model,
    settings,
)
from workbench.llm_json import (
    JSON_MODE,
    JSONOutputProblem,
    parse_json,
    repair_messages,
    schema_format,
    schema_instruction,
)
from workbench.redact import redact_messages

Messages = str | Sequence[Mapping[str, Any]]
"""Chat messages (``[{"role": "user", "content": "..."}]``); a plain str is one user message."""

# Keyword arguments the door manages itself; passing them would defeat its retries/streaming.
_REFUSED = {
    "num_retries": "retries are handled by the workbench; use configure(max_attempts=...)",
    "max_retries": "retries are handled by the workbench; use configure(max_attempts=...)",
    "stream": "streaming is not supported; the whole answer is needed for caching",
}
# Parameters that do not change the answer, so they stay out of the cache key.
_NOT_IN_KEY = frozenset({"metadata", "user"})
# litellm's test doubles: mocked answers are never read from or written to the cache, so a
# test sees the same thing on every run and a real cache never holds fake answers.
_MOCKS = frozenset({"mock_response", "mock_tool_calls"})

_caches: dict[Path, ResponseCache] = {}
_caches_lock = threading.Lock()
_schema_refused: set[tuple[str, str | None]] = set()  # (model, api_base) without json_schema


@dataclass(frozen=True)
class Completion:
    """One answer from a model, with what it cost."""

    text: str
    """The assistant's text ("" when the model only called tools)."""
    model: str
    """The model as requested, e.g. ``openai/gpt-4o-mini``."""
    prompt_tokens: int
    """Prompt tokens, as reported by the server."""
    completion_tokens: int
    """Completion tokens, as reported by the server."""
    cost_usd: float
    """What this call cost; 0 when served from the cache or the model is not in the price map."""
    cached: bool
    """True when the answer came from the on-disk cache and no request was sent."""
    parsed: Any = None
    """The parsed JSON when a JSON response format or schema was asked for, else None."""
    latency_s: float = 0.0
    """Seconds the call took, retries included."""
    finish_reason: str | None = None
    """Why generation stopped (``stop``, ``length`` = cut at max_tokens, ...), if reported."""


@dataclass(frozen=True)
class Ask:
    """One request a steps generator wants made."""

    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None


@dataclass(frozen=True)
class Request:
    """A call ready to send: resolved, normalised, redacted."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    """Output-shaping parameters passed through to litellm (response_format included)."""
    api_base: str | None
    api_key: str | None
    timeout: float
    read_cache: bool
    """Look in the cache first (False for ``cache=False`` and for mocked calls)."""
    write_cache: bool
    """Store the answer (False for mocked calls only)."""

    def key(self) -> str:
        """The cache key: model, messages, parameters and server, not key or timeout."""
        params = {k: v for k, v in self.params.items() if k not in _NOT_IN_KEY}
        return cache_key(
            {
                "model": self.model,
                "messages": self.messages,
                "params": params,
                "api_base": self.api_base,
            }
        )


def normalise_messages(messages: Messages) -> list[dict[str, Any]]:
    """Turn a str or a message list into a list of message dicts, checking the shape."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence) or not messages:
        raise ValueError(f"messages must be a str or a non-empty list of dicts, got {messages!r}")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise ValueError(f"messages[{i}] must be a dict with a 'role' str, got {message!r}")
        out.append(dict(message))
    return out


def prepare(
    ask: Ask, model: str | None, options: Mapping[str, Any], *, read_cache: bool
) -> Request:
    """Build the :class:`Request` for ``ask`` from the call's model and keyword options."""
    for name, why in _REFUSED.items():
        if name in options:
            raise TypeError(f"{name}= is not accepted: {why}")
    params = dict(options)
    api_base = resolve_api_base(params.pop("api_base", None))
    api_key = resolve_api_key(params.pop("api_key", None), api_base)
    timeout = float(params.pop("timeout", None) or settings().timeout)
    if ask.response_format is not None:
        params["response_format"] = ask.response_format
    mocked = not _MOCKS.isdisjoint(params)
    messages = normalise_messages(ask.messages)
    redact = settings().redact
    if redact is not None:
        messages = redact_messages(messages, redact)
    return Request(
        model=resolve_model(model),
        messages=messages,
        params=params,
        api_base=api_base,
        api_key=api_key,
        timeout=timeout,
        read_cache=read_cache and not mocked,
        write_cache=not mocked,
    )


def to_completion(entry: CachedResponse, *, cached: bool, latency_s: float) -> Completion:
    """The :class:`Completion` for a fresh or cached entry (a cached one cost nothing now)."""
    return Completion(
        text=entry.text,
        model=entry.model,
        prompt_tokens=entry.prompt_tokens,
        completion_tokens=entry.completion_tokens,
        cost_usd=0.0 if cached else entry.cost_usd,
        cached=cached,
        latency_s=latency_s,
        finish_reason=entry.finish_reason,
    )


def _schema_of(response_format: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if response_format and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        return schema if isinstance(schema, Mapping) else None
    return None


def _wants_json(response_format: Mapping[str, Any] | None) -> bool:
    return response_format is not None and response_format.get("type") in {
        "json_object",
        "json_schema",
    }


def _output_error(done: Completion, problem: JSONOutputProblem, repaired: bool) -> LLMOutputError:
    after = " after one repair attempt" if repaired else ""
    cut = " (cut off at max_tokens)" if done.finish_reason == "length" else ""
    return LLMOutputError(
        f"{done.model} did not return valid JSON{after}{cut}: {problem}. "
        f"Raw text (first 300 chars): {done.text[:300]!r}",
        raw_text=done.text,
    )


def plain_steps(
    messages: Messages, response_format: dict[str, Any] | None
) -> Generator[Ask, Completion, Completion]:
    """One request; with a JSON response format, its text is parsed (no repair)."""
    done = yield Ask(normalise_messages(messages), response_format)
    if not _wants_json(response_format):
        return done
    try:
        return dataclasses.replace(done, parsed=parse_json(done.text, _schema_of(response_format)))
    except JSONOutputProblem as problem:
        raise _output_error(done, problem, repaired=False) from problem


def _merge(first: Completion, second: Completion) -> Completion:
    return dataclasses.replace(
        second,
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
        cost_usd=first.cost_usd + second.cost_usd,
        cached=first.cached and second.cached,
        latency_s=first.latency_s + second.latency_s,
    )


def json_steps(
    messages: Messages,
    schema: Mapping[str, Any],
    name: str,
    *,
    schema_supported: bool,
    on_schema_refused: Callable[[], None],
) -> Generator[Ask, Completion, Completion]:
    """Structured output: ask with the schema, parse strictly, repair once, else fail.

    The schema goes in ``response_format`` (``json_schema``, strict) where the server takes it;
    a server that answers that with HTTP 400 gets JSON mode with the schema stated in a system
    message instead, and ``on_schema_refused`` is called so later calls skip the attempt.
    Tokens and cost of a repaired answer include both requests.
    """
    base = normalise_messages(messages)
    json_mode = [{"role": "system", "content": schema_instruction(schema)}, *base]
    fmt, msgs = (schema_format(schema, name), base) if schema_supported else (JSON_MODE, json_mode)
    try:
        first = yield Ask(msgs, fmt)
    except LLMCallError as exc:
        if fmt is JSON_MODE or exc.status_code != 400:
            raise
        on_schema_refused()
        fmt, msgs = JSON_MODE, json_mode
        first = yield Ask(msgs, fmt)
    try:
        return dataclasses.replace(first, parsed=parse_json(first.text, schema))
    except JSONOutputProblem as problem:
        second = yield Ask(repair_messages(msgs, first.text, str(problem)), fmt)
    try:
        parsed = parse_json(second.text, schema)
    except JSONOutputProblem as problem:
        raise _output_error(second, problem, repaired=True) from problem
    return dataclasses.replace(_merge(first, second), parsed=parsed)


Steps = Generator[Ask, Completion, Completion]
"""A steps generator: yields requests, receives answers, returns the final answer."""


def drive(steps: Steps, send: Callable[[Ask], Completion]) -> Completion:
    """Run a steps generator, making each request it asks for."""
    ask = next(steps)
    while True:
        try:
            outcome: Completion | LLMCallError = send(ask)
        except LLMCallError as exc:
            outcome = exc
        try:
            ask = steps.throw(outcome) if isinstance(outcome, LLMCallError) else steps.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def adrive(
    steps: Steps, send: Callable[[Ask], Coroutine[Any, Any, Completion]]
) -> Completion:
    """The async twin of :func:`drive`."""
    ask = next(steps)
    while True:
        try:
            outcome: Completion | LLMCallError = await send(ask)
        except LLMCallError as exc:
            outcome = exc
        try:
            ask = steps.throw(outcome) if isinstance(outcome, LLMCallError) else steps.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _cache() -> ResponseCache:
    directory = (settings().cache_dir or default_cache_dir()).expanduser().resolve()
    with _caches_lock:
        if directory not in _caches:
            _caches[directory] = ResponseCache(directory)
        return _caches[directory]


def from_cache(req: Request) -> Completion | None:
    """The cached answer to ``req`` (counted in usage), or None: not cached or not read."""
    if not req.read_cache:
        return None
    start = time.perf_counter()
    entry = _cache().get(req.key())
    if entry is None:
        return None
    METER.record(entry.prompt_tokens, entry.completion_tokens, entry.cost_usd, cached=True)
    return to_completion(entry, cached=True, latency_s=time.perf_counter() - start)


def fresh(req: Request, entry: CachedResponse) -> Completion:
    """Count and cache a fresh answer.

    Not cached: an empty answer (a server hiccup more often than a reply; the next call asks
    again instead of being told "empty" until ``cache=False``), or a call with a parameter
    that is not JSON data.
    """
    METER.record(entry.prompt_tokens, entry.completion_tokens, entry.cost_usd, cached=False)
    if req.write_cache and entry.text.strip():
        with contextlib.suppress(TypeError):
            _cache().put(req.key(), entry)
    return to_completion(entry, cached=False, latency_s=entry.latency_s)


def json_plan(
    messages: Messages,
    schema: Mapping[str, Any],
    name: str,
    model: str | None,
    kw: Mapping[str, Any],
) -> Steps:
    """The steps of :func:`json_steps`, remembering servers that refused ``json_schema``."""
    server = (resolve_model(model), resolve_api_base(kw.get("api_base")))
    return json_steps(
        messages,
        schema,
        name,
        schema_supported=server not in _schema_refused,
        on_schema_refused=lambda: _schema_refused.add(server),
    )
