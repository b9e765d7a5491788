"""The meeting report: content, snapshots and comparison, escaping, and a real browser."""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    hostile_trace,
    require_chromium,
)
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    ws_fixture,
)

import workbench
from workbench.review import adjudicate, review_session
from workbench.review.meeting import SNAPSHOT_PREFIX, session_report
from workbench.review.suite_file import pass_rates, read_suite
from workbench.workspace import Workspace, open_workspace

MakeWs = Callable[..., Workspace]
REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "img" / "session_report.png"
SUITE_YAML = """\
evals:
  - id: no-invented-refund-rules
    kind: judge
    provenance: {failure_mode: invented_policy, date: 2026-11-16}
  - id: tool-args-are-json
    kind: assertion
    provenance: {failure_mode: malformed_tool_args, created_at: "2026-11-16T10:00:00Z"}
  - kind: judge
"""


def _three_reviewers(ws: Workspace) -> None:
    """ana, bob and carl on t0..t4: agreeing, differing on the verdict, on a tag."""
    for who in ("ana", "bob", "carl"):
        ws.label("t0", "fail", note=f"{who}: refund rule invented", annotator=who)
        ws.tag("t0", "invented_policy", annotator=who)
        ws.label("t1", "pass", annotator=who)
    ws.label("t2", "fail", note="mail me at ana@example.com", annotator="ana")
    ws.tag("t2", "wrong_tool", annotator="ana")
    ws.label("t2", "pass", annotator="bob")
    ws.label("t3", "fail", annotator="ana")
    ws.tag("t3", "invented_policy", annotator="ana")
    ws.label("t3", "fail", annotator="carl")
    ws.tag("t3", "wrong_tool", annotator="carl")


def _sections(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


def test_report_shows_modes_agreement_disagreements_and_activity(ws: Workspace) -> None:
    _three_reviewers(ws)
    path = session_report(ws, ws.path / "out" / "report.html", as_of=dt.date(2026, 11, 16))
    page = path.read_text(encoding="utf-8")
    assert _sections(page) == [
        "Failure modes",
        "What changed",
        "Agreement between people",
        "Open disagreements",
        "Evals",
    ]
    assert "<svg" in page and "invented_policy" in page
    assert "first report" in page
    assert "2 trace(s) where people differ" in page
    assert "t2 · differ on verdict, wrong_tool" in page
    assert "ana@example.com" not in page and "[EMAIL]" in page  # notes are redacted
    assert "almost perfect" in page or "substantial" in page or "undefined" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)  # nothing external


def test_report_stores_a_snapshot_and_compares_with_the_previous_one(ws: Workspace) -> None:
    _three_reviewers(ws)
    session_report(ws, ws.path / "first.html", as_of=dt.date(2026, 11, 9))
    snapshot = ws.settings[SNAPSHOT_PREFIX + "2026-11-09"]
    assert snapshot["counts"] == {"invented_policy": 1, "wrong_tool": 1}  # latest label wins
    assert snapshot["annotators"] == ["ana", "bob", "carl"]
    ws.tag("t4", "tone", annotator="bob")
    ws.label("t4", "fail", annotator="bob")
    adjudicate(ws, "t2", "fail", ["wrong_tool"], note="wrong refund tool", lead="ana")
    (ws.evals_dir / "suite.yaml").write_text(SUITE_YAML, encoding="utf-8")
    page = session_report(ws, ws.path / "second.html", as_of=dt.date(2026, 11, 16)).read_text()
    assert "compared with 2026-11-09" in page
    assert "What changed since 2026-11-09" in page
    assert "New failure modes: tone." in page
    assert "Evals added: no-invented-refund-rules, tool-args-are-json." in page
    assert "skipped 1 entry(ies) of suite.yaml without an id" in page
    assert "<span class='up'>new</span>" in page  # the tone row
    assert "1 trace(s) where people differ" in page  # t2 is settled now
    assert ">Adjudications<" in page  # the activity table has a column for it
    assert sorted(k for k in ws.settings if k.startswith(SNAPSHOT_PREFIX)) == [
        SNAPSHOT_PREFIX + "2026-11-09",
        SNAPSHOT_PREFIX + "2026-11-16",
    ]
    again = session_report(ws, ws.path / "third.html", previous="2026-11-09")
    assert "compared with 2026-11-09" in again.read_text()
    with pytest.raises(KeyError, match=r"2026-01-01.*2026-11-09"):
        session_report(ws, ws.path / "x.html", previous="2026-01-01")


def test_an_empty_workspace_gives_a_plain_report(make_ws: MakeWs) -> None:
    ws = make_ws()
    page = session_report(ws, ws.path / "r.html").read_text()
    assert "No failure mode yet" in page
    assert "Needs two or more reviewers (so far: nobody)" in page
    assert "No eval in the suite yet." in page


def test_trace_text_is_escaped_and_nothing_in_it_becomes_markup(ws: Workspace) -> None:
    ws.add_traces(pd.DataFrame([hostile_trace("t-hostile")]))
    ws.label("t-hostile", "fail", note=HOSTILE_IMG, annotator="ana")
    ws.tag("t-hostile", "<b>bold</b>_mode", annotator="ana")
    ws.label("t-hostile", "pass", annotator="bob")
    page = session_report(ws, ws.path / "r.html").read_text()
    assert HOSTILE_SCRIPT not in page and HOSTILE_IMG not in page and "<b>bold" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;_mode" in page


def test_redaction_can_be_turned_off_or_replaced(ws: Workspace) -> None:
    ws.label("t0", "fail", note="call +1 415-555-0132", annotator="ana")
    ws.label("t0", "pass", annotator="bob")
    assert "[PHONE]" in session_report(ws, ws.path / "a.html").read_text()
    assert "+1 415-555-0132" in session_report(ws, ws.path / "b.html", redact=None).read_text()
    upper = session_report(ws, ws.path / "c.html", redact=str.upper).read_text()
    assert "CALL +1 415-555-0132" in upper


def test_review_session_progress_is_in_the_report(ws: Workspace) -> None:
    review_session(ws, [f"t{i}" for i in range(5)], ["ana", "bob"], overlap=0.4, name="week-46")
    ws.label("t0", "pass", annotator="ana")
    page = session_report(ws, ws.path / "r.html").read_text()
    assert "Review session week-46" in page
    assert "2 of its traces are reviewed by everyone." in page


def test_suite_files_are_read_defensively(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    assert read_suite(suite) == ([], "")
    suite.write_text("evals: [unclosed", encoding="utf-8")
    assert read_suite(suite)[1].startswith("could not read suite.yaml")
    suite.write_text("- just a list\n", encoding="utf-8")
    assert read_suite(suite) == ([], "suite.yaml has no 'evals:' list")
    suite.write_text(SUITE_YAML, encoding="utf-8")
    evals, problem = read_suite(suite)
    assert [(e.id, e.kind, e.failure_mode, e.date) for e in evals] == [
        ("no-invented-refund-rules", "judge", "invented_policy", "2026-11-16"),
        ("tool-args-are-json", "assertion", "malformed_tool_args", "2026-11-16T10:00:00Z"),
    ]
    assert "without an id" in problem


def test_suite_results_show_pass_rates(ws: Workspace) -> None:
    (ws.evals_dir / "suite.yaml").write_text(SUITE_YAML, encoding="utf-8")
    results = pd.DataFrame(
        {"trace_id": ["t0", "t1", "t2"], "eval_id": ["tool-args-are-json"] * 3,
         "passed": [True, True, False]}
    )  # fmt: skip
    page = session_report(ws, ws.path / "r.html", suite_results=results).read_text()
    assert "67% of 3" in page
    assert pass_rates(None) == {} and pass_rates(pd.DataFrame({"x": [1]})) == {}

    class Results:
        frame = results.rename(columns={"eval_id": "eval"})

    assert pass_rates(Results()) == {"tool-args-are-json": "67% of 3"}
    ungraded = pd.DataFrame(
        {"eval": ["a"] * 3, "passed": pd.array([True, pd.NA, False], dtype="boolean")}
    )
    assert pass_rates(ungraded) == {"a": "50% of 2"}  # a trace the judge could not grade


# A realistic meeting, on the sample data, in a real browser -----------------------------------


DEFINITIONS = {
    "dismissive_tone": "The reply brushes the customer off or sounds annoyed.",
    "ignored_constraint": "The reply ignores a limit the customer stated (size, budget, date).",
    "invented_policy": "The reply states a store rule that get_policy did not return.",
    "leaked_internal_id": "The reply shows an internal id (customer id, warehouse bin).",
    "malformed_tool_args": "A tool call's arguments are not valid JSON for its schema.",
    "missing_tool_call": "The reply answers an order or policy question without a lookup.",
    "overlong_reply": "The reply runs far past the few sentences the prompt asks for.",
    "premature_handoff": "The agent hands over to a person when the rules do not call for it.",
    "wrong_language": "The reply is not in the customer's language.",
}


def demo_workspace(folder: Path) -> Workspace:
    """Three reviewers go through the sample traces in two sittings; the lead settles some."""
    ws = open_workspace(folder)
    ws.add_traces(workbench.load_traces(REPO / "sample_data" / "traces.jsonl"))
    with (REPO / "sample_data" / "ground_truth.csv").open(encoding="utf-8") as file:
        truth = {
            r["trace_id"]: [m for m in r["failure_modes"].split(";") if m]
            for r in csv.DictReader(file)
        }
    failing = [t for t, modes in truth.items() if modes]
    sample = random.Random(7).sample(failing, 40) + random.Random(8).sample(sorted(truth), 40)
    session = review_session(ws, sample, ["ana", "bob", "carl"], overlap=0.3, name="week-46")
    accuracy = {"ana": 0.95, "bob": 0.9, "carl": 0.8}
    for sitting, (start, stop) in enumerate(((0.0, 0.5), (0.5, 1.0))):
        for who in session.annotators:
            queue = session.queue(who)
            part = queue[int(len(queue) * start) : int(len(queue) * stop) - (who == "carl")]
            rng = random.Random(f"{who}-{sitting}")
            for trace_id in part:
                _review(ws, who, trace_id, truth[trace_id], rng, accuracy[who])
        if sitting == 0:
            for name, definition in DEFINITIONS.items():
                ws.define(name, definition, annotator="ana")
            session_report(ws, folder / "first.html", as_of=dt.date(2026, 11, 9))
    for trace_id in workbench.review.disagreements(ws, "verdict")["trace_id"][:4]:
        real = truth[trace_id]
        adjudicate(ws, trace_id, "fail" if real else "pass", real, note="as per policy", lead="ana")
    (ws.evals_dir / "suite.yaml").write_text(SUITE_YAML, encoding="utf-8")
    return ws


def _review(
    ws: Workspace, who: str, trace_id: str, real: list[str], rng: random.Random, accuracy: float
) -> None:
    """Label a trace as a reviewer who is right with the given probability."""
    mistaken = [] if real else [rng.choice(sorted(DEFINITIONS))]
    modes = real if rng.random() < accuracy else mistaken
    note = f"{modes[0].replace('_', ' ')}; see the last reply" if modes else None
    ws.label(trace_id, "fail" if modes else "pass", note=note, annotator=who)
    for mode in modes:
        ws.tag(trace_id, mode, annotator=who)


def _open(page: Any, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


@pytest.mark.browser
@pytest.mark.slow
def test_report_opens_in_chromium_without_errors_or_requests(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    ws = demo_workspace(tmp_path / "analysis")
    ws.add_traces(pd.DataFrame([hostile_trace("t-hostile")]))
    ws.label("t-hostile", "fail", annotator="ana")
    ws.label("t-hostile", "pass", annotator="bob")
    day = dt.date(2026, 11, 16)
    path = session_report(ws, tmp_path / "report.html", as_of=day, max_disagreements=100)
    short = session_report(ws, tmp_path / "short.html", as_of=day, max_disagreements=2)
    ws.close()
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        _open(page, path)
        headings = page.locator("h2").all_inner_texts()
        assert headings[:2] == ["Failure modes", "What changed since 2026-11-09"]
        assert "Agreement between people" in headings and "Open disagreements" in headings
        assert headings[-1] == "Review session week-46"
        assert page.locator("svg.chart rect").count() == 9  # one bar per failure mode
        assert page.locator(".band").count() == 10  # the verdict and nine failure modes
        assert HOSTILE_SCRIPT in page.locator("main").inner_text()  # shown as text
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("script, img, iframe, a, object, embed").count() == 0
        _open(page, short)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert problems == []
    assert requests == [path.as_uri(), short.as_uri()]
