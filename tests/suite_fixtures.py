"""Builders shared by the eval suite tests; test modules import what they use by name."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workbench.evalgen.candidate import Candidate, Metrics, Provenance
from workbench.suite import Suite

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "traces.jsonl"
MODEL = "openai/gpt-4o-mini"
JUDGE_PROMPT = (
    "Decide whether the assistant ignored the question.\n\n$trace\n\n"
    "Reason first, then end with one line: VERDICT: PASS or VERDICT: FAIL.\n"
)
_NUMBER = re.compile(r"question (\d+)\b")


def candidate(
    eval_id: str,
    spec: Mapping[str, Any],
    mode: str = "some_failure",
    *,
    kind: str | None = None,
    rationale: str = "",
    ids: Iterable[str] = (),
    metrics: dict[str, Metrics] | None = None,
) -> Candidate:
    """A candidate as evalgen would hand it over."""
    kind = kind or ("judge" if spec.get("type") == "judge" else "assertion")
    provenance = Provenance(
        failure_mode=mode,
        generator="mined:test" if kind == "assertion" else f"llm:{MODEL}",
        created_at="2026-11-20T10:00:00Z",
        labelled_trace_ids=tuple(ids),
        annotators=("ana", "ben"),
        split_seed=7,
    )
    return Candidate(eval_id, kind, dict(spec), rationale, provenance, metrics or {})  # type: ignore[arg-type]


def judge_spec(model: str = MODEL, **params: Any) -> dict[str, Any]:
    """A judge spec whose prompt shows the trace once."""
    return {
        "type": "judge",
        "prompt": JUDGE_PROMPT,
        "model": model,
        "params": {"temperature": 0, **params},
    }


def synthetic_traces(n: int, start: int = 0) -> pd.DataFrame:
    """Traces t000... whose input says ``question <i>``, so a request names its trace."""
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in ids],
            "input": [f"question {i}" for i in ids],
            "output": [f"answer {i}" if i % 5 else f"answer {i} <script>x()</script>" for i in ids],
            "messages": [None] * n,
            "metadata": [{} for _ in ids],
            "timestamp": pd.Timestamp("2026-11-20", tz="UTC"),
        }
    )


def trace_number(text: str) -> int:
    """The trace a judge request is about (from its ``question <i>``)."""
    found = _NUMBER.search(text)
    assert found, f"no trace marker in request: {text[:200]!r}"
    return int(found.group(1))


def requested(calls: Iterable[Mapping[str, Any]]) -> list[int]:
    """The traces of recorded litellm calls, in call order."""
    return [trace_number(str(c["messages"][-1]["content"])) for c in calls]


def stored_traces(suite: Suite) -> set[int]:
    """The traces whose judge results are in the suite's result cache."""
    import sqlite3

    path = suite.path / ".cache" / "results.sqlite3"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT trace_id FROM results").fetchall()
    return {int(r[0][1:]) for r in rows}


@pytest.fixture(scope="session")
def sample_traces() -> pd.DataFrame:
    """The 1,200 sample traces, loaded once."""
    import workbench as wb

    return wb.load_traces(str(SAMPLE))


class FakeJudge:
    """litellm.acompletion answering each judge request by its trace, via ``mock_response``.

    ``decide(trace_number, nth_call_for_that_trace)`` gives the reply: a str, or an exception
    to raise instead of answering. Every call is recorded, and the peak concurrency.
    """

    def __init__(self, litellm: Any, decide: Any = None) -> None:
        self._real = litellm.acompletion
        self.decide = decide or (
            lambda n, k: f"Reason {n}.\nVERDICT: {'FAIL' if n % 3 == 0 else 'PASS'}"
        )
        self.calls: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.after_call: Any = None

    async def acompletion(self, **kwargs: Any) -> Any:
        import asyncio

        number = trace_number(str(kwargs["messages"][-1]["content"]))
        self.calls.append(number)
        nth = self.calls.count(number)
        if self.after_call is not None:
            self.after_call(len(self.calls))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            reply = self.decide(number, nth)
            if isinstance(reply, BaseException):
                raise reply
            return await self._real(**{**kwargs, "mock_response": reply})
        finally:
            self.in_flight -= 1


@pytest.fixture
def fake_judge(monkeypatch: pytest.MonkeyPatch) -> FakeJudge:
    """A :class:`FakeJudge` in place of litellm.acompletion for one test."""
    import litellm

    fake = FakeJudge(litellm)
    monkeypatch.setattr(litellm, "acompletion", fake.acompletion)
    return fake
