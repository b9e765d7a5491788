"""Running a suite: the result cache, resuming, the cost cap, ungraded traces, repeats."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import litellm
import llm_fixtures
import pandas as pd
import pytest
import suite_fixtures
from suite_fixtures import FakeJudge, candidate, judge_spec, stored_traces, synthetic_traces

from workbench import llm
from workbench.suite import Suite, check_gates, collapse_repeats, flakiness, report

isolated_llm = llm_fixtures.isolated_llm
fake_judge = suite_fixtures.fake_judge
sample_traces = suite_fixtures.sample_traces

pytestmark = pytest.mark.usefixtures("isolated_llm")

COST = 1.35e-05  # what litellm's price map charges for one mocked gpt-4o-mini answer


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    made = Suite(tmp_path / "evals")
    made.add(candidate("ignored-judge", judge_spec(), "ignored_question"), threshold=0.5)
    made.add(candidate("short", {"type": "max_length", "value": 12}, "overlong_reply"))
    return made


def judged(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["eval"] == "ignored-judge"]


def test_results_have_one_row_per_trace_and_eval(suite: Suite, fake_judge: FakeJudge) -> None:
    traces = synthetic_traces(12)
    results = suite.run(traces, progress=False)
    assert list(results.columns) == [
        "trace_id", "eval", "failure_mode", "kind", "version", "model", "passed", "status",
        "reason", "latency_s", "tokens", "cost_usd", "cached",
    ]  # fmt: skip
    assert len(results) == 24 and results["passed"].dtype == "boolean"
    verdicts = judged(results).set_index("trace_id")["passed"]
    assert verdicts.to_dict() == {f"t{i:03d}": i % 3 != 0 for i in range(12)}
    assert judged(results)["reason"].iloc[1] == "Reason 1."
    assert judged(results)["cost_usd"].sum() == pytest.approx(12 * COST)
    assert judged(results)["tokens"].tolist() == [30] * 12, "mocked answers count 10 + 20"
    assert set(results.loc[results["kind"] == "assertion", "model"].isna()) == {True}


def test_a_second_run_makes_no_llm_call(suite: Suite, fake_judge: FakeJudge) -> None:
    traces = synthetic_traces(20)
    first = suite.run(traces, progress=False)
    assert len(fake_judge.calls) == 20
    second = suite.run(traces, progress=False)
    assert len(fake_judge.calls) == 20, "every verdict came from the result cache"
    assert judged(second)["cached"].all() and judged(second)["cost_usd"].sum() == 0
    pd.testing.assert_series_equal(first["passed"], second["passed"])
    suite.run(traces, progress=False, cache=False)
    assert len(fake_judge.calls) == 40, "cache=False asks again"


def test_an_edited_judge_or_a_changed_trace_is_asked_again(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    traces = synthetic_traces(6)
    suite.run(traces, progress=False)
    path = suite.path / "judges" / "ignored-judge.md"
    path.write_text(path.read_text().replace("Decide whether", "Decide strictly whether"))
    suite.run(traces, progress=False)
    assert len(fake_judge.calls) == 12
    traces.loc[2, "output"] = "a new answer"
    suite.run(traces, progress=False)
    assert fake_judge.calls[12:] == [2]
    suite.run(traces, progress=False, model="openai/gpt-4.1-mini")
    assert len(fake_judge.calls) == 19, "another model is another cache key"


def test_resume_after_ctrl_c_repeats_no_finished_call(suite: Suite, fake_judge: FakeJudge) -> None:
    traces = synthetic_traces(30)
    fake_judge.after_call = lambda n: os.kill(os.getpid(), signal.SIGINT) if n == 10 else None
    with pytest.raises(KeyboardInterrupt):
        suite.run(traces, progress=False)
    fake_judge.after_call = None
    finished = stored_traces(suite)
    assert 5 <= len(finished) < 30, "some calls finished and were stored before the interrupt"
    before = len(fake_judge.calls)
    results = suite.run(traces, progress=False)
    again = fake_judge.calls[before:]
    assert set(again).isdisjoint(finished), "no finished call was made twice"
    assert sorted(again) == sorted(set(range(30)) - finished)
    assert judged(results)["passed"].notna().all()


def test_max_cost_stops_before_overspending_and_keeps_what_finished(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    traces = synthetic_traces(20)
    results = suite.run(traces, progress=False, max_cost=5.5 * COST)
    rows = judged(results)
    assert rows["cost_usd"].sum() <= 5.5 * COST
    assert (rows["status"] != "skipped").sum() == 5 == len(fake_judge.calls)
    skipped = rows[rows["status"] == "skipped"]
    assert skipped["passed"].isna().all()
    assert skipped["reason"].str.startswith("not run: max_cost $7.425e-05 reached").all()
    assert (results.loc[results["eval"] == "short", "status"] != "skipped").all()
    rest = suite.run(traces, progress=False)
    assert len(fake_judge.calls) == 20, "the rerun asks only for the skipped traces"
    assert (judged(rest)["status"] != "skipped").all()


def test_max_cost_zero_makes_no_call(suite: Suite, fake_judge: FakeJudge) -> None:
    results = suite.run(synthetic_traces(5), progress=False, max_cost=0.0)
    assert fake_judge.calls == [] and (judged(results)["status"] == "skipped").all()


def test_the_process_budget_also_stops_the_run(suite: Suite, fake_judge: FakeJudge) -> None:
    llm.configure(budget_usd=0.0)
    results = suite.run(synthetic_traces(5), progress=False)
    assert fake_judge.calls == []
    assert judged(results)["reason"].str.contains("LLM budget of \\$0.0000 reached").all()


def test_could_not_grade_is_counted_apart_and_only_failed_calls_are_retried(
    suite: Suite, fake_judge: FakeJudge
) -> None:
    broken = litellm.BadRequestError(message="no", model="gpt-4o-mini", llm_provider="openai")

    def decide(n: int, k: int) -> object:
        if n in (1, 2):
            return "I think it is fine."  # no verdict line
        if n == 3:
            return "VERDICT: MAYBE"
        if n == 4 and k == 1:
            return broken
        return "ok\nVERDICT: PASS"

    fake_judge.decide = decide
    traces = synthetic_traces(8)
    results = judged(suite.run(traces, progress=False)).set_index("trace_id")
    assert results["status"].value_counts().to_dict() == {"pass": 4, "ungraded": 4}
    assert results.loc["t001", "reason"].startswith("no final verdict line")
    assert results.loc["t003", "reason"] == "verdict 'MAYBE' is not one of PASS, FAIL"
    assert results.loc["t004", "reason"].startswith("the LLM call failed")
    summary = report(suite.run(traces, progress=False), suite=suite).summary.set_index("eval")
    assert summary.loc["ignored-judge", ["passed", "failed", "ungraded"]].tolist() == [5, 0, 3]
    assert fake_judge.calls.count(4) == 2 and fake_judge.calls.count(1) == 1
    assert summary.loc["ignored-judge", "pass_rate"] == 1.0, "ungraded traces are not failures"


def test_an_eval_with_nothing_graded_fails_the_gate(suite: Suite, fake_judge: FakeJudge) -> None:
    fake_judge.decide = lambda n, k: "no idea"
    results = suite.run(synthetic_traces(4), progress=False)
    failures = {f.eval: f for f in check_gates(results, suite)}
    assert (
        str(failures["ignored-judge"])
        == "ignored-judge (ignored_question): no trace could be graded"
    )


def test_repeats_measure_flakiness(suite: Suite, fake_judge: FakeJudge) -> None:
    fake_judge.decide = lambda n, k: "x\nVERDICT: " + ("FAIL" if n < 2 and k == 2 else "PASS")
    traces = synthetic_traces(4)
    results = suite.run(traces, progress=False, repeats=3)
    assert list(results.columns[:3]) == ["trace_id", "eval", "repeat"]
    assert len(results) == 2 * 4 * 3 and len(fake_judge.calls) == 12
    flaky = flakiness(results).set_index(["eval", "trace_id"])["flakiness"]
    assert flaky.loc["ignored-judge"].round(3).tolist() == [0.333, 0.333, 0.0, 0.0]
    assert flaky.loc["short"].eq(0).all(), "an assertion gives the same verdict every time"
    assert judged(collapse_repeats(results))["passed"].all(), "the majority passes"
    summary = report(results).summary.set_index("eval")
    assert summary.loc["ignored-judge", "flakiness"] == pytest.approx(1 / 6)
    suite.run(traces, progress=False, repeats=3)
    assert len(fake_judge.calls) == 12, "repeats are cached too"


def test_a_python_check_runs_sandboxed_and_its_errors_leave_traces_ungraded(
    tmp_path: Path,
) -> None:
    source = (
        "def check(trace):\n"
        "    number = int(trace['input'].split()[-1])\n"
        "    if number == 3:\n"
        "        raise ValueError('three')\n"
        "    return number % 2 == 0\n"
    )
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("even", {"type": "python", "value": source}))
    results = suite.run(synthetic_traces(5), progress=False).set_index("trace_id")
    assert results["status"].tolist() == ["pass", "fail", "pass", "ungraded", "pass"]
    assert results.loc["t003", "reason"] == "check raised ValueError: three"


def test_the_process_pool_gives_the_same_verdicts(
    tmp_path: Path, sample_traces: pd.DataFrame
) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("args", {"type": "json_valid", "field": "tool_args"}))
    suite.add(candidate("lang", {"type": "language", "match": "user"}))
    pooled = suite.run(sample_traces, progress=False, workers=2)
    alone = suite.run(sample_traces, progress=False, workers=1)
    pd.testing.assert_frame_equal(pooled.drop(columns="latency_s"), alone.drop(columns="latency_s"))
    assert (pooled["status"] == "fail").sum() > 0


def test_concurrency_stays_within_the_llm_setting(suite: Suite, fake_judge: FakeJudge) -> None:
    llm.configure(max_concurrency=3)
    suite.run(synthetic_traces(15), progress=False)
    assert fake_judge.max_in_flight == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeats": 0}, "repeats must be an int >= 1"),
        ({"max_cost": -1.0}, "max_cost must be >= 0"),
        ({"evals": ["nope"]}, "no eval 'nope' in evals/suite.yaml"),
    ],
)
def test_bad_arguments_are_refused(suite: Suite, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, KeyError), match=message):
        suite.run(synthetic_traces(2), progress=False, **kwargs)  # type: ignore[arg-type]


def test_duplicate_or_missing_trace_ids_are_refused(suite: Suite) -> None:
    traces = synthetic_traces(3)
    traces.loc[2, "trace_id"] = "t000"
    with pytest.raises(ValueError, match=r"duplicate trace ids: \['t000'\]"):
        suite.run(traces, progress=False)
    with pytest.raises(ValueError, match="no trace_id column"):
        suite.run(traces.drop(columns="trace_id"), progress=False)


def test_a_judge_without_a_model_says_how_to_set_one(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("j", {**judge_spec(), "model": None}))
    with pytest.raises(llm.ModelNotConfigured, match="the judge 'j' needs an LLM"):
        suite.run(synthetic_traces(2), progress=False)


def test_an_empty_run(suite: Suite, fake_judge: FakeJudge) -> None:
    results = suite.run(synthetic_traces(0), progress=False)
    assert results.empty and "passed" in results.columns
