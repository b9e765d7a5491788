"""When and how long to wait before retrying an LLM request.

Pure functions, no litellm: which HTTP statuses are worth retrying, exponential backoff with
full jitter, and the ``Retry-After`` header (seconds or an HTTP date) dug out of whatever
exception the client raised. :mod:`workbench.llm` runs the loop.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RETRYABLE_4XX = frozenset({408, 409, 429})
"""Client errors that are about timing, not about the request: timeout, conflict, rate limit."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request."""

    max_attempts: int = 5
    """Attempts in all, the first one included; 1 means no retry."""
    base_s: float = 1.0
    """Upper bound of the first backoff; it doubles per attempt (before jitter)."""
    max_wait_s: float = 60.0
    """Cap on any single wait, a server's Retry-After included."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_s < 0 or self.max_wait_s < 0:
            raise ValueError(
                f"backoff times must be >= 0, got base_s={self.base_s}, "
                f"max_wait_s={self.max_wait_s}"
            )


def is_retryable_status(status: int | None) -> bool:
    """Say whether an HTTP status is worth retrying: 5xx, 408, 409 and 429.

    Examples:
        >>> [is_retryable_status(s) for s in (429, 500, 503, 400, 401, 404)]
        [True, True, True, False, False, False]
    """
    return status is not None and (status >= 500 or status in RETRYABLE_4XX)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Turn a ``Retry-After`` header value into seconds to wait.

    Args:
        value: The header value: delay seconds (``"2"``, ``"1.5"``) or an HTTP date.
        now: The current Unix time, for tests; defaults to ``time.time()``.

    Returns:
        Seconds (never negative), or None when the value is missing or unreadable.

    Examples:
        >>> parse_retry_after("2")
        2.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
        10.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)  # httpx.Headers and dicts
    if getter is not None:
        value = getter(name) or getter(name.title())
        if value is not None:
            return str(value)
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name:
                return str(value)
    return None


def retry_after_from(exc: BaseException) -> float | None:
    """Find a server's requested wait in an exception raised by the LLM client.

    litellm keeps the provider's response headers on ``exc.litellm_response_headers``;
    ``exc.response.headers`` is often a rebuilt, empty response. Both are looked at, as is
    ``exc.headers``. ``retry-after-ms`` (sent by some OpenAI-compatible servers) wins over
    ``retry-after`` because it is more precise.

    Args:
        exc: The exception.

    Returns:
        Seconds to wait, or None when the server did not say.
    """
    response = getattr(exc, "response", None)
    sources = (
        getattr(exc, "litellm_response_headers", None),
        getattr(response, "headers", None),
        getattr(exc, "headers", None),
    )
    for headers in sources:
        millis = _header(headers, "retry-after-ms")
        if millis is not None:
            try:
                return max(0.0, float(millis) / 1000.0)
            except ValueError:
                pass
        seconds = parse_retry_after(_header(headers, "retry-after"))
        if seconds is not None:
            return seconds
    return None


def backoff_s(
    attempt: int,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Without a server hint this is "full jitter": a uniform draw from
    ``[0, min(max_wait_s, base_s * 2 ** (attempt - 1))]``, which spreads many clients apart
    better than a fixed exponential. A server's ``Retry-After`` is obeyed as given, capped
    at ``max_wait_s``.

    Examples:
        >>> policy = RetryPolicy(base_s=1.0, max_wait_s=10.0)
        >>> backoff_s(1, policy, retry_after=3.0)
        3.0
        >>> 0.0 <= backoff_s(3, policy) <= 4.0
        True
    """
    if retry_after is not None:
        return min(retry_after, policy.max_wait_s)
    ceiling = min(policy.max_wait_s, policy.base_s * 2.0 ** max(0, attempt - 1))
    return (rng or random).uniform(0.0, ceiling)
