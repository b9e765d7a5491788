"""The LLM door against a real HTTP server that misbehaves: retries, waits, timeouts, errors.

The server (tests/fault_server.py) runs on 127.0.0.1 in a thread and speaks the OpenAI chat
API, so these go through litellm's real HTTP path. Backoff is configured tiny; the only long
waits are the Retry-After ones these tests exist to check.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import time
from pathlib import Path

import llm_fixtures
import pytest
from fault_server import FaultServer, invalid_json, ok, slow, status, truncated

from workbench import llm
from workbench.redact import redact_pii

# Shared fixtures, bound here so pytest finds them (there is no conftest for them).
isolated_llm = llm_fixtures.isolated_llm
fault_server = llm_fixtures.fault_server

pytestmark = pytest.mark.usefixtures("isolated_llm")

MODEL = "openai/fault-model"


@pytest.fixture
def server(fault_server: FaultServer) -> FaultServer:
    llm.configure(model=MODEL, api_base=fault_server.api_base)
    return fault_server


def gaps(server: FaultServer) -> list[float]:
    times = [r.at for r in server.requests]
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_normal_answer(server: FaultServer) -> None:
    done = llm.complete("hello there")
    assert done.text == "echo: hello there"
    assert (done.prompt_tokens, done.completion_tokens, done.cost_usd) == (2, 3, 0.0)
    assert server.requests[0].path == "/v1/chat/completions"


def test_429_with_retry_after_seconds_is_honoured(server: FaultServer) -> None:
    server.script(status(429, retry_after="1"), ok("finally"))
    assert llm.complete("q").text == "finally"
    assert len(server.requests) == 2
    assert gaps(server)[0] >= 1.0


def test_429_with_retry_after_http_date_is_honoured_async(server: FaultServer) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # 1-2 s away (whole seconds)
    server.script(status(429, retry_after=when), ok("later"))
    assert asyncio.run(llm.acomplete("q")).text == "later"
    assert 0.9 <= gaps(server)[0] <= 2.5


def test_retry_after_is_capped_by_max_wait(server: FaultServer) -> None:
    llm.configure(max_wait_s=0.2)
    server.script(status(429, retry_after="30"), ok())
    start = time.monotonic()
    llm.complete("q")
    assert time.monotonic() - start < 5


def test_5xx_then_success_is_retried(server: FaultServer) -> None:
    server.script(status(500), status(503), status(502), ok("up again"))
    assert llm.complete("q").text == "up again"
    assert len(server.requests) == 4


@pytest.mark.parametrize("code", [408, 409])
def test_retryable_4xx_are_retried(server: FaultServer, code: int) -> None:
    server.script(status(code), ok("fine"))
    assert llm.complete("q").text == "fine"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_other_4xx_fail_at_once(server: FaultServer, code: int) -> None:
    server.script(status(code))
    with pytest.raises(llm.LLMCallError, match=f"HTTP {code} \\(not retried\\)") as caught:
        llm.complete("q")
    assert (caught.value.status_code, caught.value.attempts) == (code, 1)
    assert len(server.requests) == 1


def test_retries_run_out_with_a_clear_error(server: FaultServer) -> None:
    llm.configure(max_attempts=3)
    server.script(status(500), status(500), status(500), ok("too late"))
    with pytest.raises(llm.LLMCallError, match="after 3 attempts") as caught:
        llm.complete("q")
    assert caught.value.status_code == 500 and len(server.requests) == 3
    assert caught.value.__cause__ is not None


def test_litellm_does_not_retry_on_its_own(server: FaultServer) -> None:
    llm.configure(max_attempts=1)
    server.script(status(500), status(500))
    with pytest.raises(llm.LLMCallError):
        llm.complete("q")
    assert len(server.requests) == 1


def test_a_slow_answer_times_out_and_is_retried(server: FaultServer) -> None:
    server.script(slow(3.0), ok("quick"))
    start = time.monotonic()
    assert llm.complete("q", timeout=0.3).text == "quick"
    assert time.monotonic() - start < 2.5


def test_every_attempt_timing_out_raises_timeout(server: FaultServer) -> None:
    llm.configure(max_attempts=2, timeout=0.3)
    server.script(slow(3.0), slow(3.0))
    start = time.monotonic()
    with pytest.raises(llm.LLMTimeout, match="after 2 attempts"):
        llm.complete("q")
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("fault", [truncated, invalid_json], ids=["truncated", "invalid-json"])
def test_broken_bodies_are_retried_then_reported(server: FaultServer, fault: object) -> None:
    llm.configure(max_attempts=2)
    server.script(fault(), ok("whole"))  # type: ignore[operator]
    assert llm.complete("q").text == "whole"
    server.script(fault(), fault())  # type: ignore[operator]
    start = time.monotonic()
    with pytest.raises(llm.LLMCallError, match="after 2 attempts"):
        llm.complete("q2")
    assert time.monotonic() - start < 5, "never a hang"


def test_the_request_that_leaves_is_redacted(server: FaultServer) -> None:
    llm.configure(redact=redact_pii)
    llm.complete(
        [
            {"role": "system", "content": "You help ana@shop.example."},
            {"role": "user", "content": "I'm bob.smith@mail.example, call +1 (415) 555-0132"},
        ]
    )
    body = server.requests[0].body
    sent = " ".join(m["content"] for m in body["messages"])
    assert "@" not in sent and "555" not in sent
    assert sent.count("[EMAIL]") == 2 and "[PHONE]" in sent


def test_api_base_from_the_environment(
    fault_server: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKBENCH_MODEL", MODEL)
    monkeypatch.setenv("WORKBENCH_API_BASE", fault_server.api_base)
    assert llm.complete("via env").text == "echo: via env"
    assert fault_server.requests[0].body["model"] == "fault-model"


def test_batches_are_bounded_ordered_and_run_twice(server: FaultServer) -> None:
    llm.configure(max_concurrency=2)
    prompts = [f"p{i}" for i in range(6)]
    server.script(*[slow(0.15) for _ in prompts])
    first = llm.complete_many(prompts, progress=False)
    assert [r.text for r in first if isinstance(r, llm.Completion)] == [
        f"echo: {p}" for p in prompts
    ]
    assert server.max_in_flight == 2
    # A second batch reuses the batch loop and its HTTP clients.
    second = llm.complete_many([*prompts, "p6"], cache=False, progress=False)
    assert all(isinstance(r, llm.Completion) for r in second)


def test_a_failing_item_does_not_stop_the_batch(server: FaultServer) -> None:
    llm.configure(max_concurrency=1, max_attempts=1)
    server.script(ok(), status(400), ok())
    results = llm.complete_many(["a", "b", "c"], progress=False)
    assert isinstance(results[1], llm.LLMCallError)
    assert [type(r).__name__ for r in results] == ["Completion", "LLMCallError", "Completion"]


def test_embed_batches_and_orders(server: FaultServer, tmp_path: Path) -> None:
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    vectors = llm.embed(texts, model="openai/fault-embedder", batch_size=2)
    assert vectors.shape == (5, 3) and str(vectors.dtype) == "float32"
    assert vectors[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [r.path for r in server.requests] == ["/v1/embeddings"] * 3
    assert llm.embed([], model="openai/fault-embedder").shape == (0, 0)
    with pytest.raises(TypeError, match="sequence of str"):
        llm.embed("one string", model="openai/fault-embedder")


def test_embed_retries_and_needs_a_model(server: FaultServer) -> None:
    server.script(status(503))
    assert llm.embed(["x"], model="openai/fault-embedder").shape == (1, 3)
    assert len(server.requests) == 2
    with pytest.raises(llm.ModelNotConfigured, match="embedding_model"):
        llm.embed(["x"])
