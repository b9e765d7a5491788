"""A suite run against a misbehaving OpenAI-compatible server on 127.0.0.1.

The server (tests/fault_server.py) answers 20% of requests with 429 (Retry-After: 0), lets
10% run past the client's 1 s timeout, gives 10% answers without a verdict, and a valid
``VERDICT: PASS/FAIL`` answer to the rest. The run must finish with every trace graded or
reported as could-not-grade, and a run killed half-way must resume without asking again for
any verdict it had already stored.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import llm_fixtures
import pytest
from fault_server import Fault, FaultServer, ok, slow, status
from suite_fixtures import candidate, judge_spec, stored_traces, synthetic_traces, trace_number

from workbench import llm
from workbench.suite import Suite

isolated_llm = llm_fixtures.isolated_llm
fault_server = llm_fixtures.fault_server

pytestmark = pytest.mark.usefixtures("isolated_llm")

MODEL = "openai/fault-model"
TRACES = 40


def faulty(count: int, seed: int = 0) -> list[Fault]:
    """The fault mix, in a seeded random order."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        draw = rng.random()
        verdict = f"The reply answers it.\nVERDICT: {rng.choice(['PASS', 'FAIL'])}"
        if draw < 0.2:
            out.append(status(429, retry_after="0"))
        elif draw < 0.3:
            out.append(slow(1.6, verdict))  # past the 1 s client timeout
        elif draw < 0.4:
            out.append(ok("Hard to say; it depends on the policy."))  # no verdict line
        else:
            out.append(ok(verdict))
    return out


@pytest.fixture
def server(fault_server: FaultServer) -> FaultServer:
    llm.configure(
        model=MODEL,
        api_base=fault_server.api_base,
        timeout=1.0,
        max_attempts=4,
        backoff_base_s=0.01,
        max_wait_s=0.2,
        max_concurrency=8,
    )
    return fault_server


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    made = Suite(tmp_path / "evals")
    made.add(candidate("judge", judge_spec(MODEL), "ignored_question"))
    return made


def test_every_trace_is_graded_or_reported_ungraded(server: FaultServer, suite: Suite) -> None:
    server.script(*faulty(4 * TRACES))
    started = time.monotonic()
    results = suite.run(synthetic_traces(TRACES), progress=False)
    assert time.monotonic() - started < 20
    assert len(results) == TRACES
    assert set(results["status"]) <= {"pass", "fail", "ungraded"}
    graded = results["passed"].notna()
    assert graded.sum() >= TRACES // 2
    assert (results.loc[~graded, "reason"].str.len() > 0).all(), "every ungraded row says why"
    reasons = results.loc[~graded, "reason"]
    assert reasons.str.startswith("no final verdict line").any()
    asked = [trace_number(r.body["messages"][-1]["content"]) for r in server.requests]
    assert len(asked) > TRACES, "429s and timeouts were retried"
    assert set(asked) == set(range(TRACES))
    again = len(server.requests)
    suite.run(synthetic_traces(TRACES), progress=False)
    retried = {trace_number(r.body["messages"][-1]["content"]) for r in server.requests[again:]}
    failed_calls = results.loc[results["reason"].str.startswith("the LLM call failed"), "trace_id"]
    assert retried == {int(t[1:]) for t in failed_calls}, "only failed calls are asked again"


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[4])
    from suite_fixtures import synthetic_traces
    from workbench import llm
    from workbench.suite import Suite

    llm.configure(model="openai/fault-model", api_base=sys.argv[2], cache_dir=sys.argv[3],
                  timeout=1.0, max_attempts=4, backoff_base_s=0.01, max_wait_s=0.2,
                  max_concurrency=2)
    Suite(sys.argv[1]).run(synthetic_traces(int(sys.argv[5])), progress=False)
    """
)


def test_a_killed_run_resumes_without_repeating_finished_calls(
    server: FaultServer, suite: Suite, isolated_llm: Path, tmp_path: Path
) -> None:
    mix = [slow(0.15, f.content) if f.kind == "ok" else f for f in faulty(4 * TRACES, seed=1)]
    server.script(*mix)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(suite.path), server.api_base, str(isolated_llm),
         str(tests), str(TRACES)],
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(server.requests) < 12 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, "the run ended before it could be killed"
        child.send_signal(signal.SIGKILL)  # a crash: no clean-up runs
    finally:
        child.wait(timeout=30)
    finished = stored_traces(suite)
    assert 0 < len(finished) < TRACES
    server.reset()
    server.script(*faulty(4 * TRACES, seed=2))
    results = suite.run(synthetic_traces(TRACES), progress=False)
    asked = {trace_number(r.body["messages"][-1]["content"]) for r in server.requests}
    assert asked.isdisjoint(finished), "a verdict stored before the crash was asked for again"
    assert results["cached"].sum() >= len(finished)
    assert set(results["status"]) <= {"pass", "fail", "ungraded"}
