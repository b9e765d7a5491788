"""The one door to LLMs: model choice, redaction, cache, budget, retries, cost, concurrency.

Every LLM call of the workbench goes through here, and this is the only module that imports
litellm (lazily: ``import workbench`` stays fast and makes no network connection). A call

1. resolves the model (argument, ``configure()``, ``$WORKBENCH_MODEL``) or says how to set one;
2. redacts the outgoing text with the configured redactor (before the cache key is made);
3. answers from the on-disk cache when the same request was answered before;
4. checks the budget against the run's spending plus this call's worst case;
5. sends the request, retrying 429, 5xx, timeouts and connection errors with backoff and
   honouring ``Retry-After`` (litellm's own retries are off, so these are the only ones);
6. records tokens and cost (litellm's price map) and caches the answer.

Examples:
    >>> import workbench.llm as llm
    >>> with llm.configured(model="openai/gpt-4o-mini"):
    ...     llm.complete("Say hi", mock_response="hi").text
    'hi'
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from workbench.llm_batch import LOOP, acomplete_many, complete_many, slot
from workbench.llm_cache import CachedResponse
from workbench.llm_config import (
    LOCAL_API_BASE,
    METER,
    BudgetExceeded,
    LLMCallError,
    LLMOutputError,
    LLMSettings,
    LLMTimeout,
    ModelNotConfigured,
    Usage,
    WorkbenchLLMError,
    configure,
    configured,
    require_model,
    reset_usage,
    resolve_api_base,
    resolve_api_key,
    resolve_embedding_model,
    settings,
    usage,
)
from workbench.llm_request import (
    Completion,
    Messages,
    Request,
    adrive,
    drive,
    fresh,
    from_cache,
    json_plan,
    plain_steps,
    prepare,
)
from workbench.llm_retry import backoff_s, is_retryable_status, retry_after_from
from workbench.redact import redact_pii

# litellm reads this when first imported; unset, it fetches its price map from the network.
# Nothing above imports litellm, so setting it here is early enough.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = [
    "LOCAL_API_BASE", "BudgetExceeded", "Completion", "LLMCallError", "LLMOutputError",
    "LLMSettings", "LLMTimeout", "Messages", "ModelNotConfigured", "Usage", "WorkbenchLLMError",
    "acomplete", "acomplete_json", "acomplete_many", "complete", "complete_json",
    "complete_many", "configure", "configured", "embed", "redact_pii", "require_model",
    "reset_usage", "settings", "usage",
]  # fmt: skip

_DEFAULT_OUTPUT_TOKENS = 1024  # worst case assumed by the budget when max_tokens is not given


def _litellm() -> Any:
    """Import litellm on first use, quietly and without telemetry or network lookups."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.disable_hf_tokenizer_download = True  # token counting must not download
    # Embeddings ignore num_retries and turn max_retries=0 into this default, which the
    # OpenAI client then uses for retries of its own, outside the retry policy and max_wait_s.
    litellm.DEFAULT_MAX_RETRIES = 0  # type: ignore[attr-defined]
    return litellm


async def _close_http_clients() -> None:
    """Close litellm's async HTTP clients before the batch loop stops, leaking no sockets."""
    if "litellm" in sys.modules:  # nothing to close if it was never used
        await _litellm().close_litellm_async_clients()


LOOP.add_close_hook(_close_http_clients)


# ---------------------------------------------------------------- one request


def _estimate_usd(req: Request) -> float:
    """Worst-case cost of ``req``: counted prompt tokens plus max_tokens at list price."""
    if settings().budget_usd is None:
        return 0.0
    lt = _litellm()
    prompt = lt.token_counter(model=req.model, messages=req.messages)
    limit = req.params.get("max_tokens") or req.params.get("max_completion_tokens")
    try:
        cost_in, cost_out = lt.cost_per_token(
            model=req.model,
            prompt_tokens=prompt,
            completion_tokens=int(limit or _DEFAULT_OUTPUT_TOKENS),
        )
    except Exception:  # litellm raises several types for a model missing from its price map
        return 0.0
    return float(cost_in) + float(cost_out)


def _cost_usd(response: Any) -> float:
    hidden = getattr(response, "_hidden_params", None) or {}
    if hidden.get("response_cost") is not None:
        return float(hidden["response_cost"])
    try:
        return float(_litellm().completion_cost(completion_response=response))
    except Exception:  # unknown models have no price; tokens are still counted
        return 0.0


def _checked(response: Any, model: str) -> Any:
    """The response, or a retryable server error when it holds no choice to read.

    Some gateways answer HTTP 200 with ``choices: []``; that is a server fault like a broken
    body, so it is retried and, if it persists, ends as an :class:`LLMCallError`.
    """
    if not getattr(response, "choices", None):
        raise _litellm().InternalServerError(
            message="the server answered HTTP 200 without any choices",
            llm_provider=model.split("/", 1)[0],
            model=model,
        )
    return response


def _finish(req: Request, response: Any, latency_s: float) -> Completion:
    choice = response.choices[0]
    tokens = getattr(response, "usage", None)
    entry = CachedResponse(
        text=choice.message.content or "",
        model=req.model,
        prompt_tokens=int(getattr(tokens, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(tokens, "completion_tokens", 0) or 0),
        cost_usd=_cost_usd(response),
        latency_s=latency_s,
        finish_reason=getattr(choice, "finish_reason", None),
    )
    return fresh(req, entry)


def _litellm_kwargs(req: Request) -> dict[str, Any]:
    return {
        "model": req.model,
        "messages": req.messages,
        "api_base": req.api_base,
        "api_key": req.api_key,
        "timeout": req.timeout,
        "num_retries": 0,  # ours are the only retries
        **req.params,
    }


def _give_up_or_wait(exc: Exception, attempt: int, model: str) -> float:
    """Seconds to wait before the next attempt, or raise the error to the caller."""
    lt = _litellm()
    transient = (
        lt.RateLimitError, lt.InternalServerError, lt.ServiceUnavailableError,
        lt.BadGatewayError, lt.APIConnectionError, lt.Timeout,
    )  # fmt: skip
    import openai  # litellm's errors derive from the openai client's

    if not isinstance(exc, openai.OpenAIError):
        raise exc  # not an API error: a bug or bad argument, raise it unchanged
    status = getattr(exc, "status_code", None)
    retryable = isinstance(exc, transient) or is_retryable_status(status)
    policy = settings().retry
    if retryable and attempt < policy.max_attempts:
        return backoff_s(attempt, policy, retry_after_from(exc))
    kind = LLMTimeout if isinstance(exc, lt.Timeout) else LLMCallError
    why = f"after {attempt} attempts" if retryable else f"with HTTP {status} (not retried)"
    raise kind(f"{model} call failed {why}: {exc}", status, attempt) from exc


def _with_retries(model: str, send: Callable[[], Any]) -> Any:
    """Call ``send`` until it succeeds, a non-retryable error occurs or attempts run out."""
    for attempt in range(1, settings().retry.max_attempts + 1):
        try:
            return send()
        except Exception as exc:
            wait = _give_up_or_wait(exc, attempt, model)
        time.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _send(req: Request) -> Completion:
    hit = from_cache(req)
    if hit is not None:
        return hit
    estimate = _estimate_usd(req)
    METER.reserve(estimate, settings().budget_usd, req.model)
    start = time.perf_counter()
    try:  # the actual cost is recorded before the reservation is dropped
        response = _with_retries(
            req.model, lambda: _checked(_litellm().completion(**_litellm_kwargs(req)), req.model)
        )
        return _finish(req, response, time.perf_counter() - start)
    finally:
        METER.release(estimate)


async def _asend(req: Request) -> Completion:
    hit = from_cache(req)
    if hit is not None:
        return hit
    started: float | None = None  # latency counts retries, not the wait for a first slot
    for attempt in range(1, settings().retry.max_attempts + 1):
        async with slot():  # the budget is booked only once a slot is free
            started = time.perf_counter() if started is None else started
            estimate = _estimate_usd(req)
            METER.reserve(estimate, settings().budget_usd, req.model)
            try:
                response = _checked(await _litellm().acompletion(**_litellm_kwargs(req)), req.model)
            except Exception as exc:
                wait = _give_up_or_wait(exc, attempt, req.model)
            else:
                return _finish(req, response, time.perf_counter() - started)
            finally:
                METER.release(estimate)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


# ---------------------------------------------------------------- public calls


def complete(
    messages: Messages,
    *,
    model: str | None = None,
    response_format: dict[str, Any] | None = None,
    cache: bool = True,
    **kw: Any,
) -> Completion:
    """Ask a chat model once and get its answer with tokens, cost and latency.

    Args:
        messages: Chat messages, or a str for a single user message.
        model: litellm model name; default: the configured model, then ``$WORKBENCH_MODEL``.
        response_format: Passed to the server; for ``json_object``/``json_schema`` the answer
            is parsed into ``Completion.parsed`` (use :func:`complete_json` for repair).
        cache: False skips reading the cache (the fresh answer is still stored). Calls with
            litellm's ``mock_response`` never touch the cache.
        **kw: Other litellm parameters (``temperature``, ``max_tokens``, ``seed``, ``stop``,
            ``tools``, ``api_base``, ``api_key``, ``timeout``, ``mock_response`` ...).

    Returns:
        The :class:`Completion`.

    Raises:
        ModelNotConfigured: No model anywhere. BudgetExceeded: the call would pass the budget.
        LLMCallError: The request failed (LLMTimeout when every attempt timed out).
        LLMOutputError: JSON was asked for and the answer is not JSON.

    Examples:
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     c = complete([{"role": "user", "content": "2+2?"}], mock_response="4")
        >>> c.text, c.prompt_tokens > 0
        ('4', True)
    """
    steps = plain_steps(messages, response_format)
    return drive(steps, lambda ask: _send(prepare(ask, model, kw, read_cache=cache)))


async def acomplete(
    messages: Messages,
    *,
    model: str | None = None,
    response_format: dict[str, Any] | None = None,
    cache: bool = True,
    **kw: Any,
) -> Completion:
    """The async twin of :func:`complete`, limited to ``max_concurrency`` requests in flight.

    Examples:
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     asyncio.run(acomplete("hi", mock_response="hello")).text
        'hello'
    """
    steps = plain_steps(messages, response_format)
    return await adrive(steps, lambda ask: _asend(prepare(ask, model, kw, read_cache=cache)))


def complete_json(
    messages: Messages,
    schema: Mapping[str, Any],
    *,
    model: str | None = None,
    name: str = "output",
    cache: bool = True,
    **kw: Any,
) -> Completion:
    """Ask for JSON that conforms to ``schema``; the result is in ``Completion.parsed``.

    The schema is sent as a strict ``json_schema`` response format; a server that refuses it
    (HTTP 400) gets JSON mode with the schema in a system message. The answer is parsed
    strictly and checked against the schema; if that fails, the model gets its answer and the
    problem back once and is asked for valid JSON only.

    Args:
        messages: Chat messages, or a str for a single user message.
        schema: A JSON Schema (type, enum, required, properties, items are checked).
        model: As for :func:`complete`.
        name: Schema name sent to the server.
        cache: As for :func:`complete`.
        **kw: As for :func:`complete`.

    Returns:
        The :class:`Completion`; tokens and cost include the repair request if one was made.

    Raises:
        LLMOutputError: Still invalid after the repair; ``.raw_text`` holds the last answer.

    Examples:
        >>> verdict = {"type": "object", "required": ["verdict"],
        ...            "properties": {"verdict": {"type": "string", "enum": ["PASS", "FAIL"]}}}
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     complete_json("Judge: ...", verdict, mock_response='{"verdict": "PASS"}').parsed
        {'verdict': 'PASS'}
    """
    steps = json_plan(messages, schema, name, model, kw)
    return drive(steps, lambda ask: _send(prepare(ask, model, kw, read_cache=cache)))


async def acomplete_json(
    messages: Messages,
    schema: Mapping[str, Any],
    *,
    model: str | None = None,
    name: str = "output",
    cache: bool = True,
    **kw: Any,
) -> Completion:
    """The async twin of :func:`complete_json`.

    Examples:
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     asyncio.run(acomplete_json("?", {"type": "object"}, mock_response="{}")).parsed
        {}
    """
    steps = json_plan(messages, schema, name, model, kw)
    return await adrive(steps, lambda ask: _asend(prepare(ask, model, kw, read_cache=cache)))


def _embed_batch(model: str, texts: list[str], options: Mapping[str, Any]) -> list[list[float]]:
    lt = _litellm()
    estimate = 0.0
    if settings().budget_usd is not None:
        tokens = sum(lt.token_counter(model=model, text=t) for t in texts)
        with contextlib.suppress(Exception):  # unknown model: no price, no estimate
            estimate = float(lt.cost_per_token(model=model, prompt_tokens=tokens)[0])
    METER.reserve(estimate, settings().budget_usd, model)
    try:
        response = _with_retries(model, lambda: lt.embedding(model=model, input=texts, **options))
    finally:
        METER.release(estimate)
    data = sorted(response.data or [], key=lambda d: d["index"])  # None: no "data" sent
    vectors = [d["embedding"] for d in data]
    usable = [v for v in vectors if isinstance(v, list) and v]  # not null, not []
    if len(vectors) != len(texts) or len(usable) != len(vectors):
        raise LLMOutputError(
            f"{model} returned {len(usable)} usable embeddings for {len(texts)} texts", raw_text=""
        )
    prompt = int(getattr(response.usage, "prompt_tokens", 0) or 0)
    METER.record(prompt, 0, _cost_usd(response), cached=False)
    return [list(v) for v in usable]


def embed(
    texts: Sequence[str], *, model: str | None = None, batch_size: int = 64, **kw: Any
) -> np.ndarray:
    """Embed texts with an embedding model behind an API (OpenAI, a local server, ...).

    Texts are redacted like chat messages and sent in batches; 429/5xx/timeouts are retried;
    tokens and cost go into :func:`usage` and count against the budget. Not cached here: the
    caller (``workbench.embed``) caches vectors by content.

    Args:
        texts: The texts.
        model: litellm embedding model, e.g. ``openai/text-embedding-3-small``; default: the
            configured ``embedding_model``, then ``$WORKBENCH_EMBEDDING_MODEL``.
        batch_size: Texts per request.
        **kw: Other litellm parameters (``api_base``, ``api_key``, ``timeout``, ``dimensions``).

    Returns:
        A float32 array of shape ``(len(texts), dimensions)``; ``(0, 0)`` for no texts.

    Examples:
        >>> vectors = embed(["refund policy", "shipping"], model="openai/text-embedding-3-small")
        ... # doctest: +SKIP
        >>> vectors.shape  # doctest: +SKIP
        (2, 1536)
    """
    name = resolve_embedding_model(model)
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str (wrap a single text in a list)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items = list(texts)
    if not items:
        return np.zeros((0, 0), dtype=np.float32)
    redact = settings().redact
    items = [redact(t) for t in items] if redact is not None else items
    api_base = resolve_api_base(kw.pop("api_base", None))
    options = {
        **kw,
        "api_base": api_base,
        "api_key": resolve_api_key(kw.pop("api_key", None), api_base),
        "timeout": kw.pop("timeout", None) or settings().timeout,
        "num_retries": 0,
    }
    rows: list[list[float]] = []
    for start in range(0, len(items), batch_size):
        rows.extend(_embed_batch(name, items[start : start + batch_size], options))
    return np.asarray(rows, dtype=np.float32)
