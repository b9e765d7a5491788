"""Hostile traces in every HTML page the workbench writes: parsed, then opened in Chromium.

Each page is checked twice: its HTML is parsed and must hold no markup that came from a
trace (tags, event handlers, URLs, style rules), and it is opened from a ``file:`` URL in
headless Chromium, offline, where nothing may run, load or open a dialog and every trace's
hostile text must read as text, unhidden and without reordering what follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_fixtures import browser_fixture  # noqa: F401 (fixtures are found by name)
from hostile import (  # noqa: F401 (fixtures are found by name)
    ATTACKS,
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    HostileSet,
    assert_inert,
    assert_shown_as_text,
    hostile_fixture,
    markup_findings,
    watch,
)

import workbench as wb
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.suite import Suite, report
from workbench.workspace import Workspace

MODE = f"{HOSTILE_IMG} promised a refund"
"""A failure mode named from trace text, as a reviewer might paste it."""
NOTE = f"copied from the reply: {HOSTILE_SCRIPT}"
SMALL = [a for a in ATTACKS if a != "huge-field"]


@pytest.fixture(name="labelled", scope="module")
def labelled_fixture(
    hostile: HostileSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """The hostile traces reviewed by two people who disagree, with notes and a hostile tag."""
    ws = wb.open_workspace(tmp_path_factory.mktemp("reviewed"))
    ws.add_traces(hostile.traces)
    ws.define(MODE, f"The reply shows {HOSTILE_SCRIPT} to the customer.", annotator="ana")
    for i, trace_id in enumerate(hostile.traces["trace_id"]):
        ws.label(trace_id, "fail", note=NOTE, annotator="ana")
        ws.tag(trace_id, MODE, annotator="ana")
        ws.label(trace_id, "pass" if i % 3 else "fail", note=NOTE, annotator="ben")
    yield ws
    ws.close()


def _page(html: str) -> str:
    head = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>page</title></head>'
    return f"{head}<body>{html}</body></html>"


def _open(browser: Any, path: Path) -> tuple[Any, Any]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = watch(page)
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def _check_page(
    browser: Any,
    path: Path,
    hostile: HostileSet,
    shown: list[str],
    own_tags: frozenset[str] = frozenset(),
) -> str:
    """Parse the page, open it, and check it; returns its visible text."""
    html = path.read_text(encoding="utf-8")
    assert markup_findings(html, own_tags) == []
    page, seen = _open(browser, path)
    try:
        page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        assert_shown_as_text(page, hostile, shown)
        assert_inert(page, seen)
        return str(page.evaluate("document.body.innerText"))
    finally:
        page.close()


@pytest.mark.browser
def test_show_trace_shows_every_hostile_trace_as_text(
    hostile: HostileSet, browser: Any, tmp_path: Path
) -> None:
    views = [wb.show_trace(hostile.trace(attack))._repr_html_() for attack in ATTACKS]
    page = tmp_path / "traces.html"
    page.write_text(_page("".join(views)), encoding="utf-8")
    assert page.stat().st_size < 2_000_000  # the 10 MiB field is cut to max_chars
    text = _check_page(browser, page, hostile, list(ATTACKS))
    assert "more characters)" in text
    assert "before" in text and "erased line" in text  # an ANSI clear-screen clears nothing


def _suite(folder: Path) -> Suite:
    suite = Suite(folder)
    provenance = Provenance(MODE, "mined:test", "2026-11-20T10:00:00Z")
    spec = {"type": "max_length", "field": "output", "value": 10}
    suite.add(Candidate("short-output", "assertion", spec, NOTE, provenance), threshold=0.9)
    return suite


@pytest.mark.browser
def test_suite_report_shows_failing_hostile_traces_as_text(
    hostile: HostileSet, browser: Any, tmp_path: Path
) -> None:
    suite = _suite(tmp_path / "evals")
    everything = suite.run(hostile.traces, progress=False)
    for start in range(0, len(ATTACKS), 5):  # a report shows five failing examples per eval
        chunk = hostile.traces.iloc[start : start + 5]
        results = everything[everything["trace_id"].isin(chunk["trace_id"])]
        rep = report(results, previous=everything, suite=suite, traces=hostile.traces)
        page = rep.to_html(tmp_path / f"report-{start}.html")
        assert page.stat().st_size < 2_000_000, "a huge field is copied whole into the report"
        shown = list(chunk["trace_id"].str.removeprefix("hostile-"))
        _check_page(browser, page, hostile, shown, frozenset({"svg"}))


@pytest.mark.browser
def test_report_command_writes_an_inert_page(
    hostile: HostileSet, browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.cli import main

    suite = _suite(tmp_path / "evals")
    results = tmp_path / "results.parquet"
    suite.run(hostile.small().head(5), progress=False).to_parquet(results)
    out = tmp_path / "report.html"
    args = ["report", str(results), "--suite", str(suite.path), "--out", str(out)]
    assert main([*args, "--traces", str(hostile.jsonl)]) == 0
    assert "Report written" in capsys.readouterr().out
    shown = list(hostile.small().head(5)["trace_id"].str.removeprefix("hostile-"))
    _check_page(browser, out, hostile, shown, frozenset({"svg"}))


@pytest.mark.browser
def test_session_report_shows_disagreements_on_hostile_traces_as_text(
    hostile: HostileSet, labelled: Workspace, browser: Any, tmp_path: Path
) -> None:
    page = wb.session_report(labelled, tmp_path / "team.html", max_disagreements=len(ATTACKS))
    text = _check_page(browser, page, hostile, SMALL, frozenset({"svg"}))
    assert MODE in text and NOTE in text


def test_review_page_pieces_escape_what_they_are_given() -> None:
    from workbench.review.page import bar_chart, paragraph, section, table

    html = (
        bar_chart([(MODE, 3, 1)], HOSTILE_SCRIPT)
        + section(HOSTILE_SCRIPT, paragraph(HOSTILE_IMG, css="muted"))
        + table([HOSTILE_IMG], [])
    )
    assert markup_findings(html, frozenset({"svg"})) == []
    assert html.count("&lt;script&gt;") == 2 and html.count("&lt;img") == 4


def _weeks(traces: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    half = len(traces) // 2
    return traces.iloc[:half].reset_index(drop=True), traces.iloc[half:].reset_index(drop=True)


@pytest.mark.browser
def test_compare_report_shows_hostile_metadata_and_modes_as_text(
    hostile: HostileSet, labelled: Workspace, browser: Any, tmp_path: Path
) -> None:
    from workbench.compare import compare_periods

    last, this = _weeks(hostile.small())
    comparison = compare_periods(last, this, workspace=labelled, semantic=False)
    html = comparison._repr_html_()
    assert "&lt;script&gt;" in html  # metadata, tool names and models from the traces are in it
    page = tmp_path / "compare.html"
    page.write_text(_page(html), encoding="utf-8")
    text = _check_page(browser, page, hostile, SMALL)  # tool names and models, per trace
    assert "traces calling lookup_order" in text

    figure = comparison.plot()
    labels = [str(v) for trace in figure.data for v in (trace.y if trace.y is not None else [])]
    labels += [str(figure.layout.title.text)]
    assert all("<img" not in label and "<script" not in label for label in labels)


# Terminals ------------------------------------------------------------------------------------

RAW_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What a terminal would act on (or reorder by) rather than show."""


def test_text_for_terminals_shows_escapes_instead_of_acting_on_them(
    hostile: HostileSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.cli import main

    for attack in ATTACKS:
        shown = repr(wb.show_trace(hostile.trace(attack)))
        assert not RAW_CONTROLS.search(shown), (attack, shown[:200])
    assert "\\x1b[2J" in repr(wb.show_trace(hostile.trace("ansi-clear-screen")))

    lines = hostile.jsonl.read_text(encoding="utf-8").splitlines(keepends=True)
    ansi = tmp_path / "ansi.jsonl"  # the summary names the first few models: make them these
    ansi.write_text("".join(line for line in lines if '"hostile-ansi-' in line), encoding="utf-8")
    assert main(["summary", str(ansi)]) == 0
    printed = capsys.readouterr().out
    assert "\\x1b[31mRED ALERT" in printed and not RAW_CONTROLS.search(printed)

    suite = Suite(tmp_path / "evals")
    provenance = Provenance("\x1b]0;pwned\x07\x1b[2Jmode", "mined:test", "2026-11-20T10:00:00Z")
    spec = {"type": "max_length", "field": "output", "value": 10}
    suite.add(Candidate("short-output", "assertion", spec, "", provenance), threshold=0.9)
    rep = report(suite.run(hostile.small(), progress=False), suite=suite)
    assert rep.gates and "\\x1b[2Jmode" in str(rep) and not RAW_CONTROLS.search(str(rep))
