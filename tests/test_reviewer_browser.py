"""The reviewer in a real JupyterLab, driven by Chromium: it renders, keys work, HTML is inert."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser_fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOSTILE_SCRIPT,
    KERNEL_IDLE,
    RUN_ALL,
    Lab,
    jupyter_lab,
    require_chromium,
)
from browser_fixtures import write_notebook as _write_notebook

from workbench.workspace import open_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TESTS = Path(__file__).resolve().parent
SCREENSHOT = TESTS.parent / "docs" / "img" / "reviewer.png"
WAIT_MS = 30_000
NOTE = "promised a free return on worn items; not the policy"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    require_chromium()
    with jupyter_lab(tmp_path) as server:
        yield server


def _notebook(lab: Lab, workspace: Path) -> str:
    setup = (
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from browser_fixtures import trace_frame\n"
        "from workbench.workspace import open_workspace\n"
        "from workbench.widgets.reviewer import Reviewer\n"
        f"ws = open_workspace({str(workspace)!r})\n"
        "ws.add_traces(trace_frame(6, hostile_at=1))"
    )
    _write_notebook(lab.root / "review.ipynb", [setup, 'Reviewer(ws, annotator="ana")'])
    return "review.ipynb"


def _timed(action: Callable[[], object], wait: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    wait()
    return (time.perf_counter() - start) * 1000


def test_reviewer_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    workspace = tmp_path / "analysis"
    notebook = _notebook(lab, workspace)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(WAIT_MS)
            page.goto(lab.page_url(notebook))
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function(KERNEL_IDLE)  # running earlier opens a kernel dialog
            page.evaluate(RUN_ALL)
            root = page.locator(".wbr-reviewer")
            root.wait_for()
            trace_id = page.locator(".wbr-trace-id")
            page.wait_for_function(
                "document.querySelector('.wbr-trace-id')?.textContent.includes('t-0000')"
            )
            cells = page.locator(".jp-Notebook .jp-Cell").count()

            assert "click here" in page.locator(".wbr-hint").inner_text()
            trace_id.click()
            assert "keys active" in page.locator(".wbr-hint").inner_text()

            fail = page.locator(".wbr-verdicts button").nth(1)
            mark_ms = _timed(
                lambda: page.keyboard.press("f"),
                lambda: page.wait_for_function(
                    "document.querySelectorAll('.wbr-verdicts button')[1]"
                    ".classList.contains('wbr-on')"
                ),
            )
            assert fail.get_attribute("aria-pressed") == "true"

            page.keyboard.press("e")
            assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
            page.keyboard.type(NOTE)  # letters type, they do not trigger actions
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.classList.contains('wbr-reviewer')")

            page.keyboard.press("t")
            assert page.evaluate("document.activeElement.tagName") == "INPUT"
            page.keyboard.type("invented_policy")
            page.keyboard.press("Enter")
            page.locator(".wbr-chip.wbr-on", has_text="invented_policy").wait_for()
            page.locator(".wbr-call summary").first.click()  # tool calls open on click
            assert page.locator(".wbr-call[open] pre").first.inner_text().startswith("{")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            root.screenshot(path=str(SCREENSHOT))

            next_ms = _timed(
                lambda: page.keyboard.press("n"),
                lambda: page.wait_for_function(
                    "document.querySelector('.wbr-trace-id')?.textContent.includes('t-hostile')"
                ),
            )
            main = page.locator(".wbr-main")
            assert HOSTILE_SCRIPT in main.inner_text()
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert root.locator("script, img, a, iframe").count() == 0

            page.keyboard.press("b")  # in Lab's command mode, b would insert a cell
            page.wait_for_function(
                "document.querySelector('.wbr-trace-id')?.textContent.includes('t-0000')"
            )
            page.keyboard.press("?")
            page.locator(".wbr-help.wbr-shown").wait_for()
            page.keyboard.press("Escape")
            page.locator(".wbr-help.wbr-shown").wait_for(state="detached")
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            assert page.evaluate("typeof window.__pwned") == "undefined"
        finally:
            browser.close()

    history = open_workspace(workspace).history()
    assert list(history["kind"]) == ["label", "label", "tag"]
    assert set(history["trace_id"]) == {"t-0000"} and set(history["annotator"]) == {"ana"}
    assert history.iloc[1]["payload"] == {"verdict": "fail", "note": NOTE}
    assert history.iloc[2]["payload"] == {"failure_mode": "invented_policy"}
    print(f"\nkey f -> verdict shown {mark_ms:.0f} ms; key n -> next trace {next_ms:.0f} ms")
