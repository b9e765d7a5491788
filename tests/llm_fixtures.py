"""Fixtures for the LLM door's tests; test modules import the ones they use by name."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer

from workbench import llm
from workbench.llm_config import restoring

LOCAL_API_BASE = os.environ.get("LLM_API_BASE", "http://127.0.0.1:8091/v1")
"""The local OpenAI-compatible server of the llm-marked tests (scripts/local-llm.sh)."""
LOCAL_MODEL = "openai/gemma3-270m"
"""The model alias that server answers to."""


def require_local_server() -> str:
    """The local server's API base; fails under CI, else skips, when it does not answer."""
    url = LOCAL_API_BASE.removesuffix("/v1") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return LOCAL_API_BASE
    except (urllib.error.URLError, OSError):
        pass
    reason = (
        f"local LLM server not answering at {LOCAL_API_BASE}; start it: bash scripts/local-llm.sh"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


_ENV = (
    "WORKBENCH_MODEL",
    "WORKBENCH_API_BASE",
    "WORKBENCH_API_KEY",
    "WORKBENCH_EMBEDDING_MODEL",
    "WORKBENCH_CACHE_DIR",
)


@pytest.fixture
def isolated_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fresh LLM settings for one test: no model, a private cache, fast retries, zero usage.

    Yields the cache directory. Settings and usage are put back afterwards.
    """
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    cache_dir = tmp_path / "llm-cache"
    with restoring():
        llm.configure(
            model=None,
            api_base=None,
            api_key=None,
            embedding_model=None,
            budget_usd=None,
            redact=None,
            max_concurrency=4,
            cache_dir=cache_dir,
            timeout=10.0,
            max_attempts=5,
            backoff_base_s=0.01,
            max_wait_s=2.0,
        )
        llm.reset_usage()
        yield cache_dir
    llm.reset_usage()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fault-injecting OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    with FaultServer() as server:
        yield server
    stray = [t.name for t in threading.enumerate() if t.name.startswith("fault-server")]
    assert not stray, f"fault server threads left running: {stray}"


class ScriptedLiteLLM:
    """Wraps litellm.completion/acompletion: replies come from a script via ``mock_response``.

    A reply is a str (the model's text) or an exception instance (raised instead of calling
    litellm). Every call's keyword arguments are recorded, so tests see what would have left
    the machine. ``delays`` maps a message text to seconds the async call waits first, to
    make calls finish out of order; ``max_in_flight`` records the observed concurrency.
    """

    def __init__(self, litellm: Any) -> None:
        self._completion = litellm.completion
        self._acompletion = litellm.acompletion
        self.replies: deque[str | BaseException] = deque()
        self.calls: list[dict[str, Any]] = []
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.default = "ok"

    def script(self, *replies: str | BaseException) -> None:
        self.replies.extend(replies)

    def _next(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(kwargs)
        reply = self.replies.popleft() if self.replies else self.default
        if isinstance(reply, BaseException):
            raise reply
        return {**kwargs, "mock_response": reply}

    def completion(self, **kwargs: Any) -> Any:
        return self._completion(**self._next(kwargs))

    async def acompletion(self, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(str(kwargs["messages"][-1]["content"]), 0.0))
            return await self._acompletion(**self._next(kwargs))
        finally:
            self.in_flight -= 1


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedLiteLLM:
    """litellm with scripted replies and a record of every call (see ScriptedLiteLLM)."""
    import litellm

    fake = ScriptedLiteLLM(litellm)
    monkeypatch.setattr(litellm, "completion", fake.completion)
    monkeypatch.setattr(litellm, "acompletion", fake.acompletion)
    return fake
