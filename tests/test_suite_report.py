"""Reports: summary figures, corrected failure rates, week-over-week changes, HTML, commands."""

from __future__ import annotations

import argparse
import html.parser
from pathlib import Path

import llm_fixtures
import pandas as pd
import pytest
import suite_fixtures
from suite_fixtures import SAMPLE, FakeJudge, candidate, judge_spec

from workbench.evalgen.candidate import Metrics
from workbench.evalgen.prevalence import estimate
from workbench.suite import Suite, compare_runs, report
from workbench.suite.cli import EXIT_GATE, EXIT_INCOMPLETE, EXIT_INVALID, add_commands
from workbench.suite.report import wilson

isolated_llm = llm_fixtures.isolated_llm
fake_judge = suite_fixtures.fake_judge
sample_traces = suite_fixtures.sample_traces

SCRIPT = '<script>alert("owned")</script>'


def table(passed: list[bool | None], eval_id: str = "e", start: int = 0) -> pd.DataFrame:
    n = len(passed)
    return pd.DataFrame(
        {
            "trace_id": [f"t{i}" for i in range(start, start + n)],
            "eval": eval_id,
            "failure_mode": f"mode_{eval_id}",
            "kind": "assertion",
            "version": "v1",
            "passed": pd.array(passed, dtype="boolean"),
            "status": ["ungraded" if p is None else ("pass" if p else "fail") for p in passed],
            "reason": ["" if p else f"bad {SCRIPT}" for p in passed],
            "cost_usd": 0.0,
        }
    )


def test_summary_counts_rates_and_intervals() -> None:
    results = table([True] * 90 + [False] * 8 + [None] * 2)
    row = report(results).summary.iloc[0]
    assert (row["n"], row["passed"], row["failed"], row["ungraded"]) == (100, 90, 8, 2)
    assert row["pass_rate"] == pytest.approx(90 / 98)
    assert (row["fail_low"], row["fail_high"]) == pytest.approx(wilson(8, 98))
    assert row["gate"] == "" and pd.isna(row["corrected_fail_rate"])


def test_the_failure_rate_is_corrected_with_the_alignment_figures(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    metrics = {"dev": Metrics("dev", 5, 5, 5, 5), "test": Metrics("test", 18, 4, 76, 2)}
    suite.add(
        candidate("e", {"type": "max_length", "value": 5}, "mode_e", metrics=metrics), threshold=0.8
    )
    results = table([False] * 12 + [True] * 88)
    row = report(results, suite=suite).summary.iloc[0]
    human = [True] * 20 + [False] * 80
    flagged = [True] * 18 + [False] * 2 + [True] * 4 + [False] * 76
    expected = estimate([True] * 12 + [False] * 88, human, flagged, rounds=1000, seed=0)
    assert row["alignment"] == "test", "the test split is preferred to dev"
    assert row["corrected_fail_rate"] == pytest.approx(expected.corrected)
    assert row["corrected_fail_rate"] == pytest.approx((0.12 + 0.95 - 1) / (0.9 + 0.95 - 1))
    assert row["corrected_low"] <= row["corrected_fail_rate"] <= row["corrected_high"]
    assert row["gate"] == "ok" and row["threshold"] == 0.8


def test_the_gate_names_the_failing_traces(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("e", {"type": "max_length", "value": 5}, "mode_e"), threshold=0.95)
    rep = report(table([True] * 8 + [False] * 2), suite=suite)
    assert [g.failing_trace_ids for g in rep.gates] == [("t8", "t9")]
    text = str(rep)
    assert "Gate FAILED for 1 eval(s)" in text and "failing: t8, t9" in text


def test_week_over_week_on_the_sample_finds_the_regression_and_the_improvement(
    tmp_path: Path, sample_traces: pd.DataFrame
) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(
        candidate(
            "short", {"type": "max_length", "field": "replies", "value": 700}, "overlong_reply"
        )
    )
    suite.add(
        candidate("args", {"type": "json_valid", "field": "tool_args"}, "malformed_tool_args")
    )
    version = sample_traces["metadata"].map(lambda m: m["prompt_version"])
    week1, week2 = sample_traces[version == "v12"], sample_traces[version == "v13"]
    before = suite.run(week1, progress=False)
    after = suite.run(week2, progress=False)
    rep = report(after, previous=before, suite=suite, traces=week2)
    changes = rep.compare.set_index("eval")
    assert changes.loc["short", "change"] == "regression"
    assert changes.loc["args", "change"] == "improvement"
    failing = set(after.loc[(after["eval"] == "short") & (after["status"] == "fail"), "trace_id"])
    assert set(changes.loc["short", "examples"].split(", ")) <= failing
    assert not changes["version_changed"].any()
    assert "regression: short" in str(rep)
    shown = rep.examples[rep.examples["eval"] == "short"]
    assert len(shown) == 5 and shown["output"].notna().all()


def test_compare_marks_new_removed_and_newly_failing_traces() -> None:
    before = pd.concat([table([True] * 50, "kept"), table([True] * 10, "gone")])
    after = pd.concat([table([True] * 40 + [False] * 10, "kept"), table([True] * 5, "new")])
    changes = compare_runs(after, before).set_index("eval")
    assert changes["change"].to_dict() == {"kept": "regression", "new": "new", "gone": "removed"}
    assert changes.loc["kept", "new_failures"] == 10
    assert changes.loc["kept", "examples"] == "t40, t41, t42, t43, t44"


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_is_self_contained_and_escapes_trace_text(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("e", {"type": "max_length", "value": 5}, "mode_e"))
    doc = (
        (suite.path / "suite.yaml").read_text().replace("definition: ''", f"definition: '{SCRIPT}'")
    )
    (suite.path / "suite.yaml").write_text(doc)
    results = table([True, False, False])
    outputs = ["ok", f"x {SCRIPT}", '<img src="https://evil.example/x">']
    traces = pd.DataFrame({"trace_id": ["t0", "t1", "t2"], "input": ["hi"] * 3, "output": outputs})
    previous = table([True, True, True])
    path = report(results, previous=previous, suite=suite, traces=traces).to_html(
        tmp_path / "out" / "report.html"
    )
    page = path.read_text()
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "img" not in names and "svg" in names
    assert not [a for _, attrs in parser.tags for a in attrs if a in ("src", "href")]
    assert "http://" not in page and "https://" not in page.replace("https://evil", "")
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=&quot;https://evil.example/x&quot;&gt;" in page
    assert "Compared with the previous run" in page and "Gate" in page


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="workbench")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


@pytest.fixture
def week_files(tmp_path: Path) -> tuple[Path, Path]:
    lines = SAMPLE.read_text().splitlines()
    first, second = tmp_path / "week1.jsonl", tmp_path / "week2.jsonl"
    first.write_text("\n".join(lines[:300]) + "\n")
    second.write_text("\n".join(lines[-300:]) + "\n")
    return first, second


def test_eval_run_and_report_commands(
    tmp_path: Path, week_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    evals = tmp_path / "evals"
    suite = Suite(evals)
    suite.add(
        candidate(
            "short", {"type": "max_length", "field": "replies", "value": 700}, "overlong_reply"
        ),
        threshold=0.5,
    )
    one, two = tmp_path / "w1.parquet", tmp_path / "w2.parquet"
    assert _cli(["eval", "run", str(evals), "--traces", str(week_files[0]), "--out", str(one)]) == 0
    suite.set_threshold("short", 0.95)
    code = _cli(["eval", "run", str(evals), "--traces", str(week_files[1]), "--out", str(two)])
    assert code == EXIT_GATE
    err = capsys.readouterr().err
    failing = pd.read_parquet(two).query("status == 'fail'")["trace_id"].tolist()
    assert "gate failed: short (overlong_reply): pass rate" in err and failing[0] in err
    page = tmp_path / "report.html"
    argv = ["report", str(two), "--previous", str(one), "--suite", str(evals), "--out", str(page)]
    assert _cli([*argv, "--traces", str(week_files[1])]) == 0
    assert "regression: short" in capsys.readouterr().out
    assert "<h2>Compared with the previous run</h2>" in page.read_text()


def test_eval_run_reports_an_invalid_suite_and_an_incomplete_run(
    tmp_path: Path,
    week_files: tuple[Path, Path],
    isolated_llm: Path,
    fake_judge: FakeJudge,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evals = tmp_path / "evals"
    suite = Suite(evals)
    suite.add(candidate("judge", judge_spec(), "m"), threshold=0.0)
    out = tmp_path / "r.parquet"
    argv = ["eval", "run", str(evals), "--traces", str(week_files[0]), "--out", str(out)]
    assert _cli([*argv, "--max-cost", "0"]) == EXIT_INCOMPLETE
    assert "stopped early: 300 judge call(s) not made" in capsys.readouterr().err
    (evals / "suite.yaml").write_text(
        (evals / "suite.yaml").read_text().replace("threshold: 0.0", "threshold: 2")
    )
    assert _cli(argv) == EXIT_INVALID
    assert (
        "evals/suite.yaml: evals[0].threshold: must be between 0 and 1" in capsys.readouterr().err
    )


def test_an_empty_run_reports_nothing(tmp_path: Path) -> None:
    rep = report(table([]))
    assert rep.summary.empty and str(rep) == "Eval suite report: no results."
    assert "<h1>Eval suite report</h1>" in rep.to_html(tmp_path / "empty.html").read_text()


def test_examples_are_redacted_unless_told_otherwise() -> None:
    # Regression: the suite report showed e-mail addresses that the team report masked.
    results = table([False, False])
    results["reason"] = ["wrote to ana@example.com", "no"]
    traces = pd.DataFrame(
        {
            "trace_id": ["t0", "t1"],
            "input": ["I am ana@example.com, call +1 415-555-0132", "hi"],
            "output": ["sure", "key sk-proj-Xy12ab34cd56ef78gh90ij12"],
        }
    )
    shown = report(results, traces=traces).examples
    text = " ".join(shown[["reason", "input", "output"]].astype(str).agg(" ".join, axis=1))
    assert "ana@example.com" not in text and "555-0132" not in text and "sk-proj" not in text
    assert "[EMAIL]" in text and "[API_KEY]" in text
    raw = report(results, traces=traces, redact=None).examples
    assert raw["input"].iloc[0] == "I am ana@example.com, call +1 415-555-0132"
