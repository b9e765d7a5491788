"""Simulated reviewers stand in for people on the sample data, through the public API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from workbench.demo import ground_truth, simulate_reviews


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    return wb.load_traces(
        Path(__file__).parents[1] / "sample_data" / "traces.jsonl"
    ), ground_truth()


def test_a_perfect_reviewer_reproduces_the_ground_truth(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    traces, truth = sample
    ws = wb.open_workspace(tmp_path / "ws")
    ws.add_traces(traces)
    ids = truth["trace_id"].head(150).tolist()
    assert simulate_reviews(ws, ids, "ana", truth=truth, error_rate=0.0) == 150
    labelled = ws.traces().set_index("trace_id").loc[ids]
    expected = truth.set_index("trace_id").loc[ids]
    assert (labelled["verdict"] == expected["failed"].map({True: "fail", False: "pass"})).all()
    assert [sorted(m) for m in labelled["failure_modes"]] == [
        sorted(m) for m in expected["failure_modes"]
    ]
    assert labelled.loc[expected["failed"], "note"].map(bool).all()


def test_mistakes_follow_the_error_rate_and_the_seed(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    traces, truth = sample
    ids = truth["trace_id"].tolist()
    views = []
    for name in ("a", "b"):
        ws = wb.open_workspace(tmp_path / name)
        ws.add_traces(traces)
        simulate_reviews(ws, ids, "bob", truth=truth, error_rate=0.1, seed=3)
        views.append(ws.traces().set_index("trace_id").loc[ids, "verdict"])
    assert views[0].equals(views[1])
    wrong = (views[0] == "fail") != truth.set_index("trace_id").loc[ids, "failed"]
    assert 0.06 < wrong.mean() < 0.14


def test_unknown_trace_and_bad_rate(
    sample: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    _, truth = sample
    ws = wb.open_workspace(tmp_path / "ws")
    with pytest.raises(KeyError, match="nope"):
        simulate_reviews(ws, ["nope"], "ana", truth=truth)
    with pytest.raises(ValueError, match="error_rate"):
        simulate_reviews(ws, [], "ana", truth=truth, error_rate=2)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from workbench.demo import run_demo

    lines: list[str] = []
    paths = run_demo(tmp_path_factory.mktemp("demo"), log=lines.append)
    paths["log"] = tmp_path_factory.getbasetemp() / "demo.log"
    paths["log"].write_text("\n".join(lines))
    return paths


@pytest.mark.slow
def test_the_demo_runs_the_whole_loop(demo_run: dict[str, Path]) -> None:
    log = demo_run["log"].read_text()
    assert "Loaded 1200 traces: 594 last week, 606 this week." in log
    suite = wb.Suite(demo_run["suite"])
    kept = set(suite.evals["failure_mode"])
    assert {"malformed_tool_args", "overlong_reply", "wrong_language"} <= kept
    assert "overlong_reply" in log.split("What changed this week:")[1]
    for name in ("suite report", "team report", "results"):
        assert demo_run[name].stat().st_size > 0


@pytest.mark.slow
@pytest.mark.browser
def test_the_demo_reports_open_in_chromium_without_errors(demo_run: dict[str, Path]) -> None:
    import os

    from browser_fixtures import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI installs it with scripts/system-deps.sh")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        errors: list[str] = []
        for name in ("suite report", "team report"):
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(demo_run[name].resolve().as_uri())
            assert page.locator("h1").count() >= 1, name
            page.close()
        assert not errors
        browser.close()
