"""Running a suite on fresh answers from the user's app: repeats, flakiness, failing apps."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import llm_fixtures
import pandas as pd
import pytest
import suite_fixtures
from suite_fixtures import SAMPLE, FakeJudge, candidate, judge_spec, synthetic_traces

import workbench as wb
from workbench import llm
from workbench.suite import Suite, flakiness
from workbench.suite.replay import replay

isolated_llm = llm_fixtures.isolated_llm
fake_judge = suite_fixtures.fake_judge

pytestmark = pytest.mark.usefixtures("isolated_llm")


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    made = Suite(tmp_path / "evals")
    made.add(candidate("ignored-judge", judge_spec(), "ignored_question"), threshold=0.5)
    made.add(candidate("short", {"type": "max_length", "value": 12}, "overlong_reply"))
    return made


class FlakyApp:
    """Answers ``answer <n>``, except trace 1 rambles on its second call."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, question: str) -> str:
        with self.lock:
            self.calls[question] += 1
            nth = self.calls[question]
        number = int(question.split()[-1])
        return (
            f"answer {number} " + "and more " * 10 if number == 1 and nth == 2 else f"ok {number}"
        )


def test_each_repeat_grades_a_fresh_answer(suite: Suite, fake_judge: FakeJudge) -> None:
    app = FlakyApp()
    results = suite.run(synthetic_traces(4), app=app, repeats=2, progress=False)
    assert list(results.columns[:3]) == ["trace_id", "eval", "repeat"]
    assert results.columns[-1] == "app_output"
    assert len(results) == 2 * 4 * 2
    assert sum(app.calls.values()) == 8 and set(app.calls.values()) == {2}
    assert len(fake_judge.calls) == 8, "a judge call per trace and repeat, on the new answer"
    short = results[results["eval"] == "short"].set_index(["trace_id", "repeat"])
    assert short.loc[("t001", 1), "app_output"].startswith("answer 1 and more")
    assert short.loc[("t001", 1), "status"] == "fail"
    assert short["status"].drop(("t001", 1)).eq("pass").all(), "the logged answers are unused"
    flaky = flakiness(results).set_index(["eval", "trace_id"])["flakiness"]
    assert flaky.loc[("short", "t001")] == 0.5
    assert flaky.drop(("short", "t001")).eq(0).all()


def test_a_steady_app_is_judged_from_the_cache_the_second_time(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    traces = synthetic_traces(3)
    suite.run(traces, app=lambda q: f"ok {q}", repeats=2, progress=False)
    assert len(fake_judge.calls) == 6
    again = suite.run(traces, app=lambda q: f"ok {q}", repeats=2, progress=False)
    assert len(fake_judge.calls) == 6, "same answers, same repeats: nothing asked again"
    assert again.loc[again["kind"] == "judge", "cached"].all()


def test_an_app_that_raises_leaves_those_traces_ungraded(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    def app(question: str) -> str:
        if question.endswith(" 2"):
            raise ConnectionError("app is down")
        return "fine"

    results = suite.run(synthetic_traces(3), app=app, repeats=2, progress=False)
    failed = results[results["trace_id"] == "t002"]
    assert len(failed) == 4 and failed["status"].eq("ungraded").all()
    assert failed["passed"].isna().all()
    assert set(failed["reason"]) == {"the app raised ConnectionError: app is down"}
    assert results[results["trace_id"] != "t002"]["status"].isin({"pass", "fail"}).all()
    assert results["trace_id"].tolist()[:4] == ["t000", "t000", "t001", "t001"], "trace order"
    assert len(fake_judge.calls) == 4


def test_every_trace_failing_still_gives_a_full_table(suite: Suite, fake_judge: FakeJudge) -> None:
    results = suite.run(synthetic_traces(2), app=lambda q: 42, repeats=2, progress=False)
    assert len(results) == 2 * 2 * 2 and results["status"].eq("ungraded").all()
    assert results["reason"].str.contains("returned int; return the reply as a str").all()
    assert fake_judge.calls == []


def test_an_async_app_is_awaited_with_bounded_concurrency(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    import asyncio

    state = {"now": 0, "peak": 0}

    async def app(question: str) -> str:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return "ok"

    results = suite.run(synthetic_traces(6), app=app, repeats=2, app_concurrency=3, progress=False)
    assert results["app_output"].eq("ok").all()
    assert state["peak"] == 3


def test_a_chat_app_gets_the_conversation_and_its_reply_replaces_the_old_one() -> None:
    traces = wb.load_traces(str(SAMPLE)).head(5)
    seen: list[list[dict[str, Any]]] = []

    def app(messages: list[dict[str, Any]]) -> str:
        seen.append(messages)
        return "NEW REPLY"

    (fresh,) = replay(traces, app, app_input="messages", concurrency=1, progress=False)
    for asked, original, row in zip(
        seen, traces["messages"], fresh.traces.itertuples(), strict=True
    ):
        assert asked[-1]["role"] == "user"
        assert asked == [dict(m) for m in original[: len(asked)]]
        assert row.messages[-1] == {"role": "assistant", "content": "NEW REPLY"}
        assert row.messages[:-1] == asked
        assert row.output == "NEW REPLY"


def test_an_app_may_return_trace_fields_but_not_invent_columns() -> None:
    traces = synthetic_traces(2)
    (fresh,) = replay(traces, lambda row: {"output": row["input"] * 2}, app_input="trace")
    assert fresh.traces["output"].tolist() == ["question 0question 0", "question 1question 1"]
    (bad,) = replay(traces, lambda q: {"answer": q}, progress=False)
    assert len(bad.traces) == 0
    assert bad.errors["t000"].startswith("the app returned fields that are not trace columns")


def test_one_cost_cap_covers_every_repeat(suite: Suite, fake_judge: FakeJudge) -> None:
    one_call = 1.35e-05
    results = suite.run(
        synthetic_traces(4), app=lambda q: "ok", repeats=3, max_cost=5.5 * one_call,
        progress=False,
    )  # fmt: skip
    judged = results[results["kind"] == "judge"]
    assert judged["cost_usd"].sum() <= 5.5 * one_call
    assert len(fake_judge.calls) == 5
    assert (judged["status"] == "skipped").sum() == 12 - 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"app_input": "question"}, "app_input must be one of"),
        ({"app_concurrency": 0}, "concurrency must be an int >= 1"),
        ({"app": "not callable"}, "app must be a function"),
    ],
)
def test_bad_app_arguments_are_refused(suite: Suite, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"app": lambda q: q, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        suite.run(synthetic_traces(2), progress=False, **arguments)


@pytest.mark.llm
def test_the_app_can_be_a_real_model(tmp_path: Path) -> None:
    llm_fixtures.require_local_server()
    llm.configure(model=llm_fixtures.LOCAL_MODEL, api_base=llm_fixtures.LOCAL_API_BASE)
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("short", {"type": "max_length", "value": 400}, "overlong_reply"))

    def app(question: str) -> str:
        answer = llm.complete(question, temperature=1.0, max_tokens=40, cache=False)
        return answer.text

    traces = wb.load_traces(str(SAMPLE)).head(3)
    results = suite.run(traces, app=app, repeats=2, progress=False)
    assert len(results) == 3 * 2 and set(flakiness(results)["repeats"]) == {2}
    answered = results["app_output"].map(lambda s: isinstance(s, str))
    assert answered.any(), results["reason"].tolist()
    assert results.loc[answered, "status"].isin({"pass", "fail"}).all()
    failed = results.loc[~answered]  # a call the server could not answer in time, say
    assert failed["status"].eq("ungraded").all()
    assert failed["reason"].str.startswith("the app raised").all()


def test_the_command_line_grades_an_app_named_by_module_and_function(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_judge: FakeJudge
) -> None:
    import argparse

    from workbench.suite.cli import add_commands

    (tmp_path / "mybot.py").write_text("def answer(question):\n    return 'hi ' + question\n")
    traces = tmp_path / "traces.jsonl"
    synthetic_traces(3).drop(columns=["timestamp"]).to_json(traces, orient="records", lines=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    parser = argparse.ArgumentParser(prog="workbench")
    add_commands(parser.add_subparsers())
    out = tmp_path / "fresh.parquet"
    argv = ["eval", "run", str(suite.path), "--traces", str(traces), "--out", str(out)]
    args = parser.parse_args([*argv, "--app", "mybot:answer", "--repeats", "2"])
    assert args.run(args) in (0, 1)
    results = pd.read_parquet(out)
    assert set(results["app_output"]) == {"hi question 0", "hi question 1", "hi question 2"}
    assert len(results) == 3 * 2 * 2
    bad = parser.parse_args([*argv, "--app", "mybot:missing"])
    assert args.run(bad) == 2
