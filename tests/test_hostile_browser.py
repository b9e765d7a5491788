"""The reviewer in a real JupyterLab, stepping through every hostile trace: all of it inert.

Chromium (the system's own, never downloaded) opens a notebook that loads the hostile set
with ``load_traces`` and shows ``Reviewer``; the test presses ``n`` through the whole queue.
At every trace nothing may run (``window.__pwned``, dialogs, requests to the attack host),
the hostile text must read as text, CSS in it must hide nothing, bidi overrides must show as
marks and reorder nothing, and ANSI escapes must stay characters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_fixtures import (  # noqa: F401 (fixtures are found by name)
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE,
    RUN_ALL,
    Lab,
    lab_fixture,
    write_notebook,
)
from hostile import (  # noqa: F401 (fixtures are found by name)
    ATTACKS,
    HostileSet,
    assert_inert,
    assert_shown_as_text,
    hostile_fixture,
    watch,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000
SHOWING = "(id) => document.querySelector('.wbr-trace-id')?.textContent.includes(id)"
OPEN_ALL = "() => document.querySelectorAll('.wbr-reviewer details').forEach((d) => d.open = true)"
LIVE = "script, img, a, iframe, svg, style, link, form, object, embed, video, audio, math, base"


def _notebook(lab: Lab, hostile: HostileSet, workspace: Path) -> str:
    setup = (
        "import workbench as wb\n"
        "from workbench.widgets.reviewer import Reviewer\n"
        f"ws = wb.open_workspace({str(workspace)!r})\n"
        f"ws.add_traces(wb.load_traces({str(hostile.jsonl)!r}))"
    )
    queue = [f"hostile-{attack}" for attack in ATTACKS]  # the order the test steps through
    show = f"Reviewer(ws, {queue!r}, annotator='ana')"
    write_notebook(lab.root / "hostile.ipynb", [setup, show])
    return "hostile.ipynb"


def test_reviewer_shows_every_hostile_trace_as_inert_text(
    lab: Lab, hostile: HostileSet, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    notebook = _notebook(lab, hostile, tmp_path / "analysis")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(WAIT_MS)
            seen = watch(page, offline=False)
            page.goto(lab.page_url(notebook))
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function(KERNEL_IDLE)  # running earlier opens a kernel dialog
            page.evaluate(RUN_ALL)
            root = page.locator(".wbr-reviewer")
            root.wait_for()
            shown = []
            for position, attack in enumerate(ATTACKS):
                if position:
                    page.keyboard.press("n")
                else:
                    page.locator(".wbr-trace-id").click()  # keys go to the widget from here
                page.wait_for_function(SHOWING, arg=f"hostile-{attack}")
                page.evaluate(OPEN_ALL)  # collapsed parts (system turn, tool calls) too
                assert_shown_as_text(page, hostile, [attack], root=".wbr-reviewer")
                assert root.locator(LIVE).count() == 0, f"markup from {attack} is live"
                assert_inert(page, seen)
                if attack == "huge-field":  # the 10 MiB reply is cut, saying how much
                    assert "more characters)" in page.locator(".wbr-main").inner_text()
                shown.append(attack)
        finally:
            browser.close()
    assert shown == list(ATTACKS)
    assert not hostile.marker.exists()
