"""The eval builder in a real JupyterLab, driven by Chromium: select, edit, accept, inert HTML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from browser_fixtures import (  # noqa: F401 (fixtures are found by name)
    CHROMIUM,
    CHROMIUM_ARGS,
    HOSTILE_SCRIPT,
    KERNEL_IDLE,
    RUN_ALL,
    Lab,
    lab_fixture,
)
from browser_fixtures import write_notebook as _write_notebook
from test_eval_builder import MODE, add_hostile_in_dev, build_week1

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "eval_builder.png"
WAIT_MS = 30_000
SELECTED = "document.querySelector('.wbe-card.wbe-selected')?.dataset.id"


def test_eval_builder_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    workspace = tmp_path / "analysis"
    ws = build_week1(workspace)
    hostile = add_hostile_in_dev(ws)
    ws.close()
    setup = (
        "from workbench.workspace import open_workspace\n"
        "from workbench.widgets.eval_builder import EvalBuilder\n"
        f"ws = open_workspace({str(workspace)!r})\n"
        f"b = EvalBuilder(ws, {MODE!r})"
    )
    _write_notebook(lab.root / "evals.ipynb", [setup, "b"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            page.set_default_timeout(WAIT_MS)
            page.goto(lab.page_url("evals.ipynb"))
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function(KERNEL_IDLE)  # running earlier opens a kernel dialog
            page.evaluate(RUN_ALL)
            root = page.locator(".wbe-builder")
            cards = page.locator(".wbe-card")
            cards.nth(2).wait_for()
            best, second = (cards.nth(i).get_attribute("data-id") for i in (0, 1))
            assert best and second and page.evaluate(SELECTED) == best
            notebook_cells = page.locator(".jp-Notebook .jp-Cell").count()

            cards.nth(1).click()  # a click selects
            page.wait_for_function(f"{SELECTED} === {second!r}")
            cards.nth(0).focus()  # and so does Enter on a focused card
            page.keyboard.press("Enter")
            page.wait_for_function(f"{SELECTED} === {best!r}")

            value = page.locator(".wbe-form input[aria-label='value']")
            value.fill("300")
            value.press("Control+Enter")  # saves the edit and measures it (not: run the cell)
            page.wait_for_function(f"{SELECTED} === {best + '-edited'!r}")
            page.locator(".wbe-card.wbe-selected .wbe-figs").first.wait_for()
            rows = page.locator(".wbe-item")
            rows.first.wait_for()
            plain = rows.filter(has_not_text=hostile).first
            plain.locator(".wbe-row-button").click()
            plain.locator(".wbe-trace .wbr-trace").wait_for()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            root.screenshot(path=str(SCREENSHOT))

            cards.nth(0).click()
            page.wait_for_function(f"{SELECTED} === {best!r}")
            evil = page.locator(".wbe-item", has_text=hostile)
            evil.locator(".wbe-row-button").click()
            evil.locator(".wbe-trace .wbr-trace").wait_for()
            assert HOSTILE_SCRIPT in evil.inner_text()
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert root.locator("script, img, a, iframe").count() == 0

            page.locator(".wbe-actions input[aria-label='threshold']").fill("0.95")
            page.locator(".wbe-actions button.wbe-accept").click()
            page.locator(".wbe-card.wbe-selected .wbe-badge").wait_for()
            assert "accepted" in page.locator(".wbe-message").inner_text()
            assert page.locator(".jp-Notebook .jp-Cell").count() == notebook_cells
            assert page.evaluate("typeof window.__pwned") == "undefined"
        finally:
            browser.close()

    document = yaml.safe_load((workspace / "evals" / "suite.yaml").read_text(encoding="utf-8"))
    (entry,) = document["evals"]
    assert entry["id"] == best and entry["threshold"] == 0.95
    assert entry["provenance"]["failure_mode"] == MODE
    assert entry["provenance"]["generator"] == "mined:length"
    assert entry["alignment"]["dev"]["fn"] == 1  # the hostile trace: tagged, but short
    seconds = time.perf_counter() - start
    assert seconds < 60, f"the browser test took {seconds:.0f} s"
