"""The LLM door against the real local server (llama-server + Gemma 3 270M, fully offline).

Start it with `bash scripts/local-llm.sh`. The 270M base model judges no better than chance,
so these tests check structure only (text, token counts, valid JSON in the enum, caching,
concurrency, timeouts), never which verdict it gives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import llm_fixtures
import pytest

from workbench import llm

pytestmark = pytest.mark.llm
isolated_llm = llm_fixtures.isolated_llm  # bound here so pytest finds it (no conftest for it)

API_BASE = llm_fixtures.LOCAL_API_BASE
MODEL = llm_fixtures.LOCAL_MODEL
VERDICT = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "maxLength": 200},
        "verdict": {"type": "string", "enum": ["PASS", "FAIL"]},
    },
    "required": ["reasoning", "verdict"],
    "additionalProperties": False,
}
JUDGE = [
    {
        "role": "system",
        "content": 'You grade answers. Reply as JSON: {"reasoning": ..., "verdict": "PASS"|"FAIL"}',
    },
    {"role": "user", "content": "Question: what is 2 + 2?\nAnswer: 4"},
]


@pytest.fixture
def local(isolated_llm: Path) -> Iterator[Path]:
    llm_fixtures.require_local_server()
    llm.configure(model=MODEL, api_base=API_BASE, timeout=60.0, backoff_base_s=0.2)
    yield isolated_llm


def test_a_real_completion_has_text_and_tokens(local: Path) -> None:
    done = llm.complete("Say hello.", temperature=0, max_tokens=16)
    assert isinstance(done.text, str) and done.text.strip()
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.finish_reason in {"stop", "length"}
    assert done.cost_usd == 0.0, "a local model is not in the price map"
    assert llm.usage().completion_tokens == done.completion_tokens


def test_json_schema_output_is_a_verdict(local: Path) -> None:
    done = llm.complete_json(JUDGE, VERDICT, name="verdict", temperature=0, max_tokens=128)
    assert isinstance(done.parsed, dict)
    assert set(done.parsed) == {"reasoning", "verdict"}
    assert done.parsed["verdict"] in {"PASS", "FAIL"}


def test_parallel_calls(local: Path) -> None:
    llm.configure(max_concurrency=3)
    questions = [f"Question: what is {i} + {i}?\nAnswer: {2 * i}" for i in range(1, 4)]
    batch = [[JUDGE[0], {"role": "user", "content": q}] for q in questions]
    results = llm.complete_many(
        batch, schema=VERDICT, temperature=0, max_tokens=128, progress=False
    )
    assert len(results) == 3
    for result in results:
        assert isinstance(result, llm.Completion), result
        assert result.parsed["verdict"] in {"PASS", "FAIL"}


def test_second_identical_call_is_served_from_the_cache(local: Path) -> None:
    first = llm.complete("Name a colour.", temperature=0, max_tokens=8)
    second = llm.complete("Name a colour.", temperature=0, max_tokens=8)
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text
    spent = llm.usage()
    assert (spent.calls, spent.cached_calls) == (2, 1)
    assert spent.completion_tokens == first.completion_tokens, "no second request was made"


def test_a_tiny_timeout_raises_after_the_retries(local: Path) -> None:
    llm.configure(max_attempts=2, timeout=0.01)
    start = time.monotonic()
    with pytest.raises(llm.LLMTimeout, match="after 2 attempts"):
        llm.complete("Write a long story about a lighthouse.", temperature=0, max_tokens=128)
    assert time.monotonic() - start < 10
