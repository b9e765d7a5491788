"""Process-wide LLM settings, the errors of the LLM door, and the running usage total.

Kept apart from :mod:`workbench.llm` so that reading the settings or the bill never imports
litellm. Everything here is re-exported by :mod:`workbench.llm`; import it from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.llm_retry import RetryPolicy

LOCAL_API_BASE = "http://127.0.0.1:8091/v1"
"""Where ``bash scripts/local-llm.sh`` serves its model (alias ``gemma3-270m``)."""


class WorkbenchLLMError(Exception):
    """Base of every error raised by the LLM door."""


class ModelNotConfigured(WorkbenchLLMError):
    """No model was given, configured or set in the environment."""


class BudgetExceeded(WorkbenchLLMError):
    """The call would take the run's spending over ``budget_usd``; it was not made."""


class LLMOutputError(WorkbenchLLMError):
    """The model's answer could not be used (e.g. invalid JSON after one repair attempt).

    Attributes:
        raw_text: The model's last answer, verbatim.
    """

    def __init__(self, message: str, raw_text: str) -> None:
        super().__init__(message)
        self.raw_text = raw_text


class LLMCallError(WorkbenchLLMError):
    """The request failed: a non-retryable error, or retries ran out.

    The client's exception is chained as ``__cause__``.

    Attributes:
        status_code: HTTP status when there was one.
        attempts: How many attempts were made.
    """

    def __init__(self, message: str, status_code: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class LLMTimeout(LLMCallError):
    """Every attempt timed out."""


def _how_to_configure() -> str:
    return (
        "No LLM model is configured. Set one, either in Python:\n"
        '    wb.llm.configure(model="openai/gpt-4o-mini")   # any litellm model name; the key '
        "comes from the provider's usual variable, e.g. OPENAI_API_KEY\n"
        "or in the environment:\n"
        "    export WORKBENCH_MODEL=openai/gpt-4o-mini\n"
        "For the offline local server (start it with `bash scripts/local-llm.sh`):\n"
        f'    wb.llm.configure(model="openai/gemma3-270m", api_base="{LOCAL_API_BASE}")\n'
        f"    or: export WORKBENCH_MODEL=openai/gemma3-270m WORKBENCH_API_BASE={LOCAL_API_BASE}"
    )


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Marks a :func:`configure` argument that was not given (None is a real value there)."""


@dataclass(frozen=True)
class LLMSettings:
    """The process defaults used by every call that does not override them."""

    model: str | None = None
    """litellm model name, e.g. ``openai/gpt-4o-mini``; falls back to ``$WORKBENCH_MODEL``."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server; falls back to ``$WORKBENCH_API_BASE``."""
    api_key: str | None = dataclasses.field(default=None, repr=False)
    """API key; falls back to ``$WORKBENCH_API_KEY``, then the provider's own variable. Left
    out of the repr, so showing the settings (a notebook cell's output) never shows the key."""
    embedding_model: str | None = None
    """Model for :func:`workbench.llm.embed`; falls back to ``$WORKBENCH_EMBEDDING_MODEL``."""
    max_concurrency: int = 4
    """Requests in flight at once in the async and batch functions."""
    budget_usd: float | None = None
    """Stop before the run's spending (see ``usage()``) would pass this; None: no limit."""
    cache_dir: Path | None = None
    """Response cache directory; None: ``$WORKBENCH_CACHE_DIR`` or ``~/.cache/workbench/llm``."""
    redact: Callable[[str], str] | None = None
    """Applied to all outgoing text before sending and before caching, e.g. ``redact_pii``."""
    timeout: float = 120.0
    """Seconds before one attempt is abandoned (and retried)."""
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    """Attempts and backoff for 429, 5xx, timeouts and connection errors."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise ValueError(f"budget_usd must be >= 0 or None, got {self.budget_usd}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.redact is not None and not callable(self.redact):
            raise TypeError(f"redact must be a callable str -> str, got {self.redact!r}")


_lock = threading.Lock()
_settings = LLMSettings()


def settings() -> LLMSettings:
    """The current process defaults.

    Examples:
        >>> settings().max_concurrency >= 1
        True
    """
    return _settings


def replace_settings(new: LLMSettings) -> LLMSettings:
    """Install ``new`` as the process defaults and return the previous ones."""
    global _settings
    with _lock:
        old, _settings = _settings, new
    return old


def updated(current: LLMSettings, changes: dict[str, Any]) -> LLMSettings:
    """``current`` with the given fields changed; UNSET values are ignored."""
    given = {k: v for k, v in changes.items() if v is not UNSET}
    retry = {
        k: given.pop(k) for k in ("max_attempts", "backoff_base_s", "max_wait_s") if k in given
    }
    if retry:
        given["retry"] = RetryPolicy(
            max_attempts=retry.get("max_attempts", current.retry.max_attempts),
            base_s=retry.get("backoff_base_s", current.retry.base_s),
            max_wait_s=retry.get("max_wait_s", current.retry.max_wait_s),
        )
    if isinstance(given.get("cache_dir"), str | os.PathLike):
        given["cache_dir"] = Path(given["cache_dir"]).expanduser()
    return dataclasses.replace(current, **given)


@contextlib.contextmanager
def restoring() -> Iterator[None]:
    """Put the settings back as they were when the block ends."""
    old = settings()
    try:
        yield
    finally:
        replace_settings(old)


def resolve_model(explicit: str | None = None, *, feature: str | None = None) -> str:
    """The model to use: the argument, else the configured one, else ``$WORKBENCH_MODEL``.

    Raises:
        ModelNotConfigured: None of the three is set; the message says how to set one.
    """
    model = explicit or _settings.model or os.environ.get("WORKBENCH_MODEL")
    if model:
        return model
    prefix = f"{feature} needs an LLM. " if feature else ""
    raise ModelNotConfigured(prefix + _how_to_configure())


def resolve_embedding_model(explicit: str | None = None) -> str:
    """The embedding model: argument, configured, then ``$WORKBENCH_EMBEDDING_MODEL``."""
    model = explicit or _settings.embedding_model or os.environ.get("WORKBENCH_EMBEDDING_MODEL")
    if model:
        return model
    raise ModelNotConfigured(
        "No embedding model is configured. Pass embed(texts, model=...), call "
        'wb.llm.configure(embedding_model="openai/text-embedding-3-small") or '
        "export WORKBENCH_EMBEDDING_MODEL=openai/text-embedding-3-small."
    )


def resolve_api_base(explicit: str | None = None) -> str | None:
    """The API base: argument, configured, then ``$WORKBENCH_API_BASE``; None: provider's."""
    return explicit or _settings.api_base or os.environ.get("WORKBENCH_API_BASE") or None


def resolve_api_key(explicit: str | None, api_base: str | None) -> str | None:
    """The API key: argument, configured, ``$WORKBENCH_API_KEY``, a placeholder for loopback.

    A server on 127.0.0.1 or localhost needs no key, but the OpenAI client insists on one.
    None leaves the choice to litellm (the provider's own variable, e.g. OPENAI_API_KEY).
    """
    key = explicit or _settings.api_key or os.environ.get("WORKBENCH_API_KEY")
    if key:
        return key
    if api_base and any(h in api_base for h in ("//127.0.0.1", "//localhost", "//[::1]")):
        return "no-key-needed"
    return None


@dataclass(frozen=True)
class Usage:
    """What the LLM calls of this run have used so far (since start or ``reset_usage()``)."""

    calls: int = 0
    """Answers returned, from the model or the cache."""
    cached_calls: int = 0
    """Answers served from the cache (free, not in tokens or cost)."""
    prompt_tokens: int = 0
    """Prompt tokens sent to models."""
    completion_tokens: int = 0
    """Completion tokens received from models."""
    cost_usd: float = 0.0
    """Spent in this run, from litellm's price map (unknown models count as 0)."""


class UsageMeter:
    """The running total plus in-flight reservations, so concurrent calls respect a budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()
        self._reserved = 0.0

    def snapshot(self) -> Usage:
        """The totals now."""
        with self._lock:
            return self._usage

    def reset(self) -> None:
        """Start a new run: zero totals (in-flight reservations stay)."""
        with self._lock:
            self._usage = Usage()

    def reserve(self, estimate_usd: float, budget_usd: float | None, model: str) -> None:
        """Book ``estimate_usd`` for a call about to be made, or refuse it.

        Raises:
            BudgetExceeded: spent + booked + estimate would pass the budget.
        """
        with self._lock:
            spent = self._usage.cost_usd
            if budget_usd is not None and spent + self._reserved + estimate_usd > budget_usd:
                raise BudgetExceeded(
                    f"LLM budget of ${budget_usd:.4f} reached: ${spent:.4f} spent, "
                    f"${self._reserved:.4f} in flight, and this {model} call may cost up to "
                    f"${estimate_usd:.4f}. Raise it with wb.llm.configure(budget_usd=...) or "
                    "start a new run with wb.llm.reset_usage(); finished calls are cached."
                )
            self._reserved += estimate_usd

    def release(self, estimate_usd: float) -> None:
        """Drop a reservation made by :meth:`reserve`."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - estimate_usd)

    def record(self, prompt: int, completion: int, cost: float, *, cached: bool) -> None:
        """Add one answer to the totals; cached answers add a call and nothing else."""
        with self._lock:
            u = self._usage
            if cached:
                self._usage = dataclasses.replace(
                    u, calls=u.calls + 1, cached_calls=u.cached_calls + 1
                )
                return
            self._usage = dataclasses.replace(
                u,
                calls=u.calls + 1,
                prompt_tokens=u.prompt_tokens + prompt,
                completion_tokens=u.completion_tokens + completion,
                cost_usd=u.cost_usd + cost,
            )


METER = UsageMeter()
"""The process-wide meter behind ``usage()`` and the budget."""


def configure(
    *,
    model: str | _Unset | None = UNSET,
    api_base: str | _Unset | None = UNSET,
    api_key: str | _Unset | None = UNSET,
    embedding_model: str | _Unset | None = UNSET,
    max_concurrency: int | _Unset = UNSET,
    budget_usd: float | _Unset | None = UNSET,
    cache_dir: str | os.PathLike[str] | _Unset | None = UNSET,
    redact: Callable[[str], str] | _Unset | None = UNSET,
    timeout: float | _Unset = UNSET,
    max_attempts: int | _Unset = UNSET,
    backoff_base_s: float | _Unset = UNSET,
    max_wait_s: float | _Unset = UNSET,
) -> LLMSettings:
    """Set process defaults for LLM calls; arguments not given keep their value.

    The workspace calls this with its settings; a notebook can too. Pass None to clear an
    optional setting (e.g. ``budget_usd=None`` for no limit). Field meanings are documented
    on :class:`LLMSettings`; ``max_attempts``, ``backoff_base_s`` and ``max_wait_s`` shape
    the retry policy.

    Returns:
        The settings now in force.

    Examples:
        >>> s = configure(model="openai/gemma3-270m", api_base=LOCAL_API_BASE, budget_usd=1.0)
        >>> s.model, s.max_concurrency
        ('openai/gemma3-270m', 4)
    """
    new = updated(settings(), {k: v for k, v in locals().items()})
    replace_settings(new)
    return new


@contextlib.contextmanager
def configured(**changes: Any) -> Iterator[LLMSettings]:
    """Apply :func:`configure` changes for the duration of a ``with`` block only.

    Examples:
        >>> with configured(model="openai/gpt-4o-mini", budget_usd=0.5) as s:
        ...     s.budget_usd
        0.5
    """
    with restoring():
        yield configure(**changes)


def require_model(feature: str) -> str:
    """The model a feature will use, or an error naming the feature and how to set one.

    Raises:
        ModelNotConfigured: No model argument, setting or ``$WORKBENCH_MODEL``.

    Examples:
        >>> with configured(model="openai/gpt-4o-mini"):
        ...     require_model("suggest_failure_modes")
        'openai/gpt-4o-mini'
    """
    return resolve_model(None, feature=feature)


def usage() -> Usage:
    """The run's totals: calls, cached calls, tokens and cost (cached answers cost 0).

    Examples:
        >>> usage().cost_usd >= 0
        True
    """
    return METER.snapshot()


def reset_usage() -> None:
    """Zero the run's totals, which also gives the budget a fresh start.

    Examples:
        >>> reset_usage(); usage().calls
        0
    """
    METER.reset()
