"""The cluster map in a real JupyterLab, driven by Chromium: 100,000 dots, a box gives ids."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from browser_fixtures import (  # noqa: F401 (fixtures are found by name)
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE,
    RUN_ALL,
    Lab,
    lab_fixture,
)
from browser_fixtures import write_notebook as _write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
POINTS = 100_000
SEED = 11
BLOBS = ((-10.0, -10.0), (10.0, -10.0), (-10.0, 10.0), (10.0, 10.0))
TARGET = 3  # the blob the box is drawn around
COLOURED = """async (png) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let coloured = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured += 1;
  }
  return coloured / (pixels.length / 4);
}"""
RENDERED = """(traces) => {
  const gd = document.querySelector('.js-plotly-plot');
  return Boolean(gd && gd._fullLayout && gd._fullData?.length === traces
    && gd.querySelector('.main-svg') && gd.querySelector('canvas'));
}"""
TO_PAGE = """([x, y]) => {
  const gd = document.querySelector('.js-plotly-plot');
  const box = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
}"""


def _data_cell(path: Path) -> str:
    return (
        "import json\n"
        "import numpy as np\n"
        "import pandas as pd\n"
        "import workbench as wb\n"
        f"rng = np.random.default_rng({SEED})\n"
        f"centres = np.array({[list(c) for c in BLOBS]!r})\n"
        f"n = {POINTS}\n"
        "noise = n // 20\n"
        "blobs = rng.integers(0, len(centres), n - noise)\n"
        "labels = np.concatenate([blobs, -np.ones(noise, int)])\n"
        "xy = centres[labels.clip(0)] + rng.normal(scale=1.0, size=(n, 2))\n"
        "angle = rng.uniform(0, 2 * np.pi, noise)\n"
        "xy[labels == -1] = 25 * np.column_stack([np.cos(angle), np.sin(angle)])\n"
        "words = {-1: '', 0: 'refund, return, label', 1: 'tent, pole, zip',\n"
        "         2: 'size, fit, shoe', 3: 'jacket, down, warm'}\n"
        "clusters = pd.DataFrame({\n"
        "    'trace_id': [f't{i:06d}' for i in range(n)],\n"
        "    'cluster': labels,\n"
        "    'x': xy[:, 0],\n"
        "    'y': xy[:, 1],\n"
        "    'is_noise': labels == -1,\n"
        "    'keywords': [words[c] for c in labels],\n"
        "})\n"
        f"clusters.to_pickle({str(path)!r})"
    )


def _map_cell(path: Path) -> str:
    return (
        "m = wb.cluster_map(clusters)\n"
        f"m.on_select(lambda ids: open({str(path)!r}, 'w').write(json.dumps(ids)))\n"
        "m"
    )


def _read_ids(path: Path) -> list[str] | None:
    """The ids in the file once it holds a whole JSON list (the write may be under way)."""
    try:
        ids = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return ids if isinstance(ids, list) else None


def _wait_for_ids(path: Path, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = _read_ids(path)
        if ids:
            return ids
        time.sleep(0.02)
    raise TimeoutError(f"no selection in {path} within {seconds} s: {_read_ids(path)!r}")


def _share_coloured(page: Any, centre: tuple[float, float]) -> float:
    """The share of coloured pixels in a 40 px square of the screen around a point of the map."""
    import base64

    x, y = page.evaluate(TO_PAGE, list(centre))
    png = page.screenshot(clip={"x": x - 20, "y": y - 20, "width": 40, "height": 40})
    return float(page.evaluate(COLOURED, base64.b64encode(png).decode()))


def test_cluster_map_box_select_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    import pandas as pd
    from playwright.sync_api import sync_playwright

    selected, table = tmp_path / "selected.json", tmp_path / "clusters.pkl"
    _write_notebook(lab.root / "map.ipynb", [_data_cell(table), _map_cell(selected)])
    traces = len(BLOBS) + 1  # noise is a group of its own
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(WAIT_MS)
            page.goto(lab.page_url("map.ipynb"))
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function(KERNEL_IDLE)  # running earlier opens a kernel dialog
            start = time.perf_counter()
            page.evaluate(RUN_ALL)
            page.wait_for_function(RENDERED, arg=traces, timeout=60_000)
            render_ms = (time.perf_counter() - start) * 1000
            plot = page.locator(".js-plotly-plot")
            plot.scroll_into_view_if_needed()
            assert "WebGL is not supported" not in plot.inner_text()
            blob, gap = _share_coloured(page, BLOBS[TARGET]), _share_coloured(page, (0.0, 0.0))
            assert blob > 0.2 and gap < 0.01, f"dots drawn: {blob:.2f} on a blob, {gap:.2f} off"
            names = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot .legend .traces'))"
                ".map(e => e.textContent)"
            )
            assert len(names) == traces and names[1 + TARGET].startswith(f"{TARGET}: jacket")

            # The page still answers: a legend click hides a group, a second shows it again.
            toggle = page.locator(".js-plotly-plot .legend .traces").nth(1)
            legend_start = time.perf_counter()
            toggle.click()
            page.wait_for_function(
                "document.querySelector('.js-plotly-plot')._fullData[1].visible === 'legendonly'",
                timeout=5_000,
            )
            legend_ms = (time.perf_counter() - legend_start) * 1000
            toggle.click()
            page.wait_for_function(
                "document.querySelector('.js-plotly-plot')._fullData[1].visible === true",
                timeout=5_000,
            )

            page.locator('.js-plotly-plot [data-title="Box Select"]').click()
            page.wait_for_function(
                "document.querySelector('.js-plotly-plot')._fullLayout.dragmode === 'select'",
                timeout=5_000,
            )
            cx, cy = BLOBS[TARGET]
            x0, y0 = page.evaluate(TO_PAGE, [cx - 2.0, cy + 2.0])
            x1, y1 = page.evaluate(TO_PAGE, [cx + 2.0, cy - 2.0])
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
            page.mouse.move(x1, y1, steps=5)
            page.mouse.up()
            up = time.perf_counter()
            ids = _wait_for_ids(selected, 20)
            select_ms = (time.perf_counter() - up) * 1000
        finally:
            browser.close()

    clusters: Any = pd.read_pickle(table)
    labels = dict(zip(clusters["trace_id"], clusters["cluster"], strict=True))
    assert len(clusters) == POINTS
    assert set(ids) <= set(labels), "ids that are not on the map"
    assert len(ids) == len(set(ids))
    assert {labels[t] for t in ids} == {TARGET}
    inside = clusters[
        clusters["x"].between(BLOBS[TARGET][0] - 2.0, BLOBS[TARGET][0] + 2.0)
        & clusters["y"].between(BLOBS[TARGET][1] - 2.0, BLOBS[TARGET][1] + 2.0)
    ]
    # pixel rounding at the box's edges may add or drop a few dots
    assert abs(len(ids) - len(inside)) <= max(50, len(inside) // 100)
    print(
        f"\n{POINTS} dots: run-all -> rendered {render_ms:.0f} ms; legend click -> hidden "
        f"{legend_ms:.0f} ms; coloured pixels {blob:.0%} on a blob, {gap:.0%} between; "
        f"mouse-up -> {len(ids)} ids in file {select_ms:.0f} ms"
    )
