"""Unit tests of the LLM door (workbench.llm) with litellm's mock_response: no server, fast."""

from __future__ import annotations

import asyncio
import dataclasses
import doctest
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import litellm
import llm_fixtures
import pytest
from llm_fixtures import ScriptedLiteLLM

from workbench import llm
from workbench.llm_batch import LOOP
from workbench.llm_cache import CachedResponse, ResponseCache, cache_key
from workbench.llm_json import JSONOutputProblem, parse_json, schema_problems
from workbench.llm_retry import RetryPolicy, backoff_s, parse_retry_after, retry_after_from
from workbench.redact import redact_messages, redact_pii

# Shared fixtures, bound here so pytest finds them (there is no conftest for them).
isolated_llm = llm_fixtures.isolated_llm
scripted = llm_fixtures.scripted

pytestmark = pytest.mark.usefixtures("isolated_llm")

MODEL = "openai/gpt-4o-mini"  # in litellm's price map, so mocked calls have a cost
VERDICT = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "verdict": {"type": "string", "enum": ["PASS", "FAIL"]},
    },
    "required": ["reasoning", "verdict"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------- model resolution


def test_model_resolution_order_argument_then_setting_then_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKBENCH_MODEL", "openai/from-env")
    assert llm.require_model("x") == "openai/from-env"
    llm.configure(model="openai/from-settings")
    assert llm.require_model("x") == "openai/from-settings"
    done = llm.complete("hi", model="openai/from-argument", mock_response="ok")
    assert done.model == "openai/from-argument"


def test_no_model_anywhere_says_how_to_set_one() -> None:
    with pytest.raises(llm.ModelNotConfigured) as caught:
        llm.complete("hi", mock_response="never sent")
    message = str(caught.value)
    assert 'wb.llm.configure(model="openai/gpt-4o-mini")' in message
    assert "export WORKBENCH_MODEL=" in message
    assert 'model="openai/gemma3-270m", api_base="http://127.0.0.1:8091/v1"' in message
    assert isinstance(caught.value, llm.WorkbenchLLMError)


def test_require_model_names_the_feature() -> None:
    with pytest.raises(llm.ModelNotConfigured, match=r"^suggest_failure_modes needs an LLM"):
        llm.require_model("suggest_failure_modes")


def test_configure_rejects_bad_values_and_keeps_unset_fields() -> None:
    llm.configure(model=MODEL, budget_usd=2.0)
    llm.configure(max_concurrency=3)
    assert (llm.settings().model, llm.settings().budget_usd) == (MODEL, 2.0)
    with pytest.raises(ValueError, match="max_concurrency"):
        llm.configure(max_concurrency=0)
    with pytest.raises(ValueError, match="max_attempts"):
        llm.configure(max_attempts=0)
    with llm.configured(model="openai/other") as inside:
        assert inside.model == "openai/other"
    assert llm.settings().model == MODEL


# ---------------------------------------------------------------- one call


def test_mock_completion_returns_a_completion_with_tokens_and_cost() -> None:
    llm.configure(model=MODEL)
    done = llm.complete([{"role": "user", "content": "2+2?"}], mock_response="4")
    assert (done.text, done.model, done.cached, done.parsed) == ("4", MODEL, False, None)
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.cost_usd > 0 and done.latency_s >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.text = "5"  # type: ignore[misc]
    assert llm.usage() == llm.Usage(1, 0, done.prompt_tokens, done.completion_tokens, done.cost_usd)


def test_unknown_model_costs_nothing_but_counts_tokens() -> None:
    done = llm.complete("hi", model="openai/no-such-model-in-price-map", mock_response="yo")
    assert done.cost_usd == 0.0 and done.prompt_tokens > 0


def test_litellm_retries_are_off_and_our_parameters_pass_through(
    scripted: ScriptedLiteLLM,
) -> None:
    llm.configure(model=MODEL, api_base="http://127.0.0.1:9/v1", timeout=7.0)
    llm.complete("hi", temperature=0, max_tokens=5)
    sent = scripted.calls[0]
    assert sent["num_retries"] == 0
    assert (sent["api_base"], sent["timeout"], sent["temperature"]) == (
        "http://127.0.0.1:9/v1",
        7.0,
        0,
    )
    assert sent["api_key"], "a loopback server gets a placeholder key"


@pytest.mark.parametrize("name", ["num_retries", "max_retries", "stream"])
def test_parameters_the_door_manages_are_refused(name: str) -> None:
    with pytest.raises(TypeError, match=name):
        llm.complete("hi", model=MODEL, **{name: 1})


@pytest.mark.parametrize("bad", [[], [{"content": "no role"}], ["not a dict"]])
def test_malformed_messages_fail_loudly(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="messages"):
        llm.complete(bad, model=MODEL, mock_response="x")  # type: ignore[arg-type]


def test_async_twin_works() -> None:
    llm.configure(model=MODEL)
    done = asyncio.run(llm.acomplete("hi", mock_response="hello"))
    assert done.text == "hello" and not done.cached


# ---------------------------------------------------------------- cache


def test_cache_prevents_a_second_identical_call(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    first = llm.complete("same question", temperature=0)
    second = llm.complete("same question", temperature=0)
    assert len(scripted.calls) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.cost_usd == 0.0
    assert second.prompt_tokens == first.prompt_tokens  # the record keeps the original tokens
    spent = llm.usage()
    assert (spent.calls, spent.cached_calls, spent.cost_usd) == (2, 1, first.cost_usd)
    assert spent.prompt_tokens == first.prompt_tokens  # cached calls add no tokens


def test_cache_false_bypasses_the_read_but_still_writes(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script("first", "second")
    llm.complete("q")
    fresh = llm.complete("q", cache=False)
    again = llm.complete("q")
    assert len(scripted.calls) == 2
    assert (fresh.text, fresh.cached) == ("second", False)
    assert (again.text, again.cached) == ("second", True)


def test_an_empty_answer_is_not_cached(scripted: ScriptedLiteLLM) -> None:
    # Regression: one empty reply was served from the cache for every later identical call.
    llm.configure(model=MODEL)
    scripted.script("  \n", "a real answer")  # (litellm takes mock_response="" for no mock)
    answers = [llm.complete("q").text for _ in range(3)]
    assert answers == ["  \n", "a real answer", "a real answer"]
    assert len(scripted.calls) == 2


def test_mocked_calls_never_touch_the_cache(isolated_llm: Path) -> None:
    llm.configure(model=MODEL)
    first = llm.complete("q", mock_response="fake")
    second = llm.complete("q", mock_response="fake")
    assert (first.cached, second.cached) == (False, False)
    assert len(ResponseCache(isolated_llm)) == 0
    llm.configure(max_attempts=2)  # a mocked failure needs no JSON cache key either
    with pytest.raises(llm.LLMCallError, match="after 2 attempts"):
        llm.complete("q", mock_response=Exception("boom"))
    with pytest.raises(llm.LLMCallError, match="RateLimitError"):
        llm.complete("q", mock_response="litellm.RateLimitError")


def test_cache_key_covers_what_shapes_the_answer(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    llm.complete("q", temperature=0)
    llm.complete("q", temperature=1)
    llm.complete("q", temperature=0, model="openai/gpt-4o")
    llm.complete("q", temperature=0, api_base="http://127.0.0.1:9/v1")
    llm.complete("q", temperature=0, timeout=3.0, metadata={"run": 2})  # same answer: hit
    assert len(scripted.calls) == 4


def test_cache_key_is_canonical_and_survives_processes(tmp_path: Path) -> None:
    assert cache_key({"a": 1, "b": [1, "é"]}) == cache_key({"b": [1, "é"], "a": 1})
    with pytest.raises(TypeError, match="cache key"):
        cache_key({"a": object()})
    writer = textwrap.dedent(
        f"""
        import sys
        from workbench.llm_cache import CachedResponse, ResponseCache
        cache = ResponseCache({str(tmp_path)!r})
        for i in range(40):
            cache.put(f"{{sys.argv[1]}}-{{i}}", CachedResponse("t", "m", 1, 1, 0.0, 0.1))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    cache = ResponseCache(tmp_path)
    assert len(cache) == 80
    assert cache.get("b-39") == CachedResponse("t", "m", 1, 1, 0.0, 0.1)


# ---------------------------------------------------------------- budget


def test_budget_stops_a_run_before_the_call_is_made(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL, budget_usd=0.0001)
    made = 0
    with pytest.raises(llm.BudgetExceeded, match=r"budget of \$0\.0001"):
        for i in range(100):
            llm.complete(f"question {i}", max_tokens=100)
            made += 1
    assert 1 <= made < 10
    assert len(scripted.calls) == made, "the refused call never reached litellm"
    assert llm.usage().cost_usd <= 0.0001
    llm.reset_usage()  # a new run gets the budget back
    llm.complete("one more", max_tokens=100)


def test_budget_aborts_a_batch(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL, budget_usd=0.0001, max_concurrency=2)
    with pytest.raises(llm.BudgetExceeded):
        llm.complete_many([f"q{i}" for i in range(50)], max_tokens=100, progress=False)
    assert 1 <= len(scripted.calls) < 10


def test_cached_answers_are_free_under_a_budget(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    llm.complete("q", max_tokens=100)
    llm.reset_usage()
    llm.configure(budget_usd=0.0)
    assert llm.complete("q", max_tokens=100).cached
    with pytest.raises(llm.BudgetExceeded):
        llm.complete("new q", max_tokens=100)


# ---------------------------------------------------------------- redaction


def test_redaction_removes_planted_emails_before_the_request_leaves(
    scripted: ScriptedLiteLLM,
) -> None:
    llm.configure(model=MODEL, redact=redact_pii)
    messages = [
        {"role": "system", "content": "Support bot for ops@shop.example"},
        {"role": "user", "content": [{"type": "text", "text": "I am ana.k@mail.example"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"email": "ana.k@mail.example"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "call +1 415-555-0132"},
    ]
    llm.complete(messages)
    sent = json.dumps(scripted.calls[0]["messages"])
    assert "@" not in sent and "415" not in sent
    assert sent.count("[EMAIL]") == 3 and "[PHONE]" in sent
    assert messages[0]["content"] == "Support bot for ops@shop.example", "input left untouched"
    # The key is made after redaction: the same text with another address is a cache hit.
    llm.complete([*messages[:3], {**messages[3], "content": "call +1 212-555-0199"}])
    assert len(scripted.calls) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ana@example.com today", "write to [EMAIL] today"),
        ("a.b-c+tag@sub.example.co.uk", "[EMAIL]"),
        ("call (415) 555-0132 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
        ("order 2024-01-31, total 10 000 000, id 12345678901234567890", None),
        ("version 1.2.3 and 192.168.1.1", None),
        ("unicode stays: café ☕", None),
    ],
)
def test_redact_pii(text: str, expected: str | None) -> None:
    assert redact_pii(text) == (text if expected is None else expected)


def test_redact_messages_copies() -> None:
    original = [{"role": "user", "content": "x@y.org"}]
    assert redact_messages(original, str.upper) == [{"role": "user", "content": "X@Y.ORG"}]
    assert original == [{"role": "user", "content": "x@y.org"}]


# ---------------------------------------------------------------- structured output


def test_complete_json_asks_with_the_strict_schema(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script('{"reasoning": "fine", "verdict": "PASS"}')
    done = llm.complete_json("judge this", VERDICT, name="verdict")
    assert done.parsed == {"reasoning": "fine", "verdict": "PASS"}
    sent = scripted.calls[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"] == {"name": "verdict", "schema": VERDICT, "strict": True}


def test_invalid_json_gets_one_repair_retry(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script("Sure! The verdict is PASS", '{"reasoning": "ok", "verdict": "FAIL"}')
    done = llm.complete_json("judge this", VERDICT)
    assert done.parsed == {"reasoning": "ok", "verdict": "FAIL"}
    assert len(scripted.calls) == 2
    repair = scripted.calls[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! The verdict is PASS"}
    assert "not valid JSON" in repair[-1]["content"]
    spent = llm.usage()
    assert spent.calls == 2
    assert (done.prompt_tokens, done.cost_usd) == (spent.prompt_tokens, spent.cost_usd)


def test_schema_violation_is_repaired(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script(
        '{"reasoning": "hm", "verdict": "MAYBE"}', '{"reasoning": "hm", "verdict": "FAIL"}'
    )
    assert llm.complete_json("judge", VERDICT).parsed["verdict"] == "FAIL"
    assert "'MAYBE' is not one of ['PASS', 'FAIL']" in scripted.calls[1]["messages"][-1]["content"]


def test_still_invalid_after_repair_raises_with_the_raw_text(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script("not json", '{"verdict": "PASS"')
    with pytest.raises(llm.LLMOutputError, match="after one repair attempt") as caught:
        llm.complete_json("judge", VERDICT)
    assert caught.value.raw_text == '{"verdict": "PASS"'
    assert len(scripted.calls) == 2


def test_server_refusing_json_schema_falls_back_to_json_mode(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model="openai/no-schema-server")
    refusal = litellm.BadRequestError("response_format json_schema unsupported", MODEL, "openai")
    scripted.default = '{"reasoning": "r", "verdict": "PASS"}'
    scripted.script(refusal)
    assert llm.complete_json("judge", VERDICT).parsed["verdict"] == "PASS"
    fallback = scripted.calls[1]
    assert fallback["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in fallback["messages"][0]["content"]
    llm.complete_json("judge again", VERDICT)  # remembered: no second refusal
    assert scripted.calls[2]["response_format"] == {"type": "json_object"}


def test_complete_with_a_json_response_format_parses(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL)
    scripted.script('{"a": 1}', "nope")
    assert llm.complete("q", response_format={"type": "json_object"}).parsed == {"a": 1}
    with pytest.raises(llm.LLMOutputError, match="did not return valid JSON"):
        llm.complete("q2", response_format={"type": "json_object"})


def test_parse_json_is_strict() -> None:
    assert parse_json('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    for bad in ['{"a": 1} trailing', "", "{'a': 1}"]:
        with pytest.raises(JSONOutputProblem):
            parse_json(bad)
    assert schema_problems({"verdict": "PASS", "x": 1}, VERDICT) == [
        "$: missing key 'reasoning'",
        "$: unexpected key 'x'",
    ]
    assert schema_problems(True, {"type": "integer"}) == ["$: expected integer, got bool"]


# ---------------------------------------------------------------- batches


def test_complete_many_keeps_order_bounds_concurrency_and_captures_errors(
    scripted: ScriptedLiteLLM,
) -> None:
    llm.configure(model=MODEL, max_concurrency=2)
    prompts = [f"item {i}" for i in range(8)]
    scripted.delays = {p: 0.05 * (8 - i) for i, p in enumerate(prompts)}  # first ends last
    bad = litellm.AuthenticationError("bad key", "openai", MODEL)

    async def reply(**kwargs: object) -> object:
        text = kwargs["messages"][-1]["content"]  # type: ignore[index]
        if text == "item 3":
            raise bad
        return await original(**{**kwargs, "mock_response": f"answer to {text}"})

    original = scripted._acompletion
    scripted._acompletion = reply  # type: ignore[method-assign]
    results = llm.complete_many(prompts, progress=False)
    assert isinstance(results[3], llm.LLMCallError) and results[3].status_code == 401
    texts = [r.text for r in results if isinstance(r, llm.Completion)]
    assert texts == [f"answer to item {i}" for i in range(8) if i != 3]
    assert scripted.max_in_flight == 2


def test_complete_many_with_a_schema_and_inside_a_running_loop() -> None:
    llm.configure(model=MODEL)

    async def from_a_notebook_cell() -> list[llm.Completion | Exception]:
        return llm.complete_many(
            ["a", "b"], schema={"type": "object"}, mock_response='{"ok": true}', progress=False
        )

    results = asyncio.run(from_a_notebook_cell())
    assert [r.parsed for r in results if isinstance(r, llm.Completion)] == [{"ok": True}] * 2


def test_a_sync_batch_on_the_batch_loop_is_refused_not_deadlocked() -> None:
    llm.configure(model=MODEL)

    async def nested() -> list[llm.Completion | Exception]:
        return llm.complete_many(["a"], mock_response="x", progress=False)

    with pytest.raises(RuntimeError, match="await acomplete_many"):
        LOOP.run(nested)


def test_complete_many_without_a_model_fails_once() -> None:
    with pytest.raises(llm.ModelNotConfigured):
        llm.complete_many(["a", "b"], progress=False)


# ---------------------------------------------------------------- retry helpers


def test_retry_after_parsing_and_backoff_bounds() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None
    policy = RetryPolicy(base_s=1.0, max_wait_s=5.0)
    assert backoff_s(1, policy, retry_after=30.0) == 5.0, "capped"
    assert all(0.0 <= backoff_s(10, policy) <= 5.0 for _ in range(200))


def test_retry_after_is_found_where_litellm_keeps_it() -> None:
    import httpx

    exc = litellm.RateLimitError("slow down", "openai", MODEL)
    exc.litellm_response_headers = httpx.Headers({"retry-after": "3"})
    assert retry_after_from(exc) == 3.0
    exc.litellm_response_headers = httpx.Headers({"retry-after-ms": "250"})
    assert retry_after_from(exc) == 0.25
    assert retry_after_from(ValueError("no headers")) is None


# ---------------------------------------------------------------- import hygiene and docs


@pytest.mark.slow
def test_import_and_a_mocked_call_make_no_network_connection(tmp_path: Path) -> None:
    probe = textwrap.dedent(
        f"""
        import sys
        attempts = []
        LOOPBACK = ("127.", "::1", "localhost", "/")

        def hook(event, args):
            if event == "socket.connect":
                address = args[1]
                host = address[0] if isinstance(address, tuple) else str(address)
            elif event == "socket.getaddrinfo":
                host = str(args[0])
            else:
                return
            if not host.startswith(LOOPBACK):
                attempts.append((event, host))

        sys.addaudithook(hook)
        import workbench
        import workbench.llm
        assert "litellm" not in sys.modules, "litellm must be imported lazily"
        workbench.llm.configure(model="openai/gpt-4o-mini", cache_dir={str(tmp_path)!r})
        done = workbench.llm.complete("hi", mock_response="hello")
        assert done.text == "hello"
        print("ATTEMPTS", attempts)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "ATTEMPTS []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize(
    "module",
    [
        "workbench.llm",
        "workbench.llm_batch",
        "workbench.llm_cache",
        "workbench.llm_config",
        "workbench.llm_json",
        "workbench.llm_retry",
        "workbench.redact",
    ],
)
def test_docstring_examples_run(
    module: str, isolated_llm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(isolated_llm))
    llm.configure(cache_dir=None)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
