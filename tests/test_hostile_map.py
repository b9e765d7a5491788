"""Hostile traces on the cluster map: hover labels and legend names are text, never markup.

Plotly renders a subset of HTML in hover labels and legend names (``<b>``, ``<a href>``,
``<span style>``), so trace text there must be escaped. The figure data is checked for every
hostile trace, then the figure is written as plotly's HTML page and a point is hovered in
headless Chromium: the label shows the markup as text and makes no link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from browser_fixtures import browser_fixture  # noqa: F401 (fixtures are found by name)
from hostile import (  # noqa: F401 (fixtures are found by name)
    ATTACK_HOST,
    BIDI_CONTROLS,
    HOSTILE_SCRIPT,
    HostileSet,
    assert_inert,
    hostile_fixture,
    watch,
)

import workbench as wb
from workbench.cluster import HDBSCANClusterer, NoReduction
from workbench.embed import PrecomputedEmbedder

OWN_TAGS = re.compile(r"</?b>|<br>")
"""The only markup the map itself puts in a label."""
TO_PAGE = """([x, y]) => {
  const gd = document.querySelector('.js-plotly-plot');
  const box = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
}"""


@pytest.fixture(name="clustered", scope="module")
def clustered_fixture(hostile: HostileSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hostile traces in three clusters of 2-D points, keywords drawn from their replies."""
    traces = hostile.traces
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rng = np.random.default_rng(0)
    vectors = centres[np.arange(len(traces)) % 3] + rng.normal(0, 0.3, (len(traces), 2))
    clusters = wb.cluster(
        traces,
        text="output",
        embedder=PrecomputedEmbedder(vectors),
        reducer=NoReduction(),
        map_reducer=NoReduction(),
        clusterer=HDBSCANClusterer(min_cluster_size=3),
        show_progress=False,
    )
    return clusters, traces


def _labels(figure: Any) -> list[str]:
    names = [str(trace.name) for trace in figure.data]
    hovers = [str(text) for trace in figure.data for text in trace.hovertext]
    return names + hovers


@pytest.mark.parametrize("colour", ["cluster", "model", "verdict"])
def test_hover_and_legend_hold_no_markup_from_traces(
    clustered: tuple[pd.DataFrame, pd.DataFrame], colour: str
) -> None:
    clusters, traces = clustered
    figure = wb.cluster_map(clusters, traces, color=colour).figure()
    labels = _labels(figure)
    assert len(labels) >= len(traces)
    for label in labels:
        left = OWN_TAGS.sub("", label)
        assert "<" not in left and ">" not in left, label[:200]
        assert not BIDI_CONTROLS.search(label), label[:200]
    hovers = " ".join(labels)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in hovers
    assert "[U+202E]" in hovers  # a bidi override is shown as a mark
    assert max(len(label) for label in labels) < 2_000  # the 10 MiB reply is cut


@pytest.mark.browser
def test_hovering_a_hostile_point_shows_text_and_runs_nothing(
    clustered: tuple[pd.DataFrame, pd.DataFrame], browser: Any, tmp_path: Path
) -> None:
    clusters, traces = clustered
    page_file = tmp_path / "map.html"
    wb.cluster_map(clusters, traces).figure().write_html(page_file, include_plotlyjs=True)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        seen = watch(page)
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelector('.js-plotly-plot')?._fullLayout")
        frame = clusters.merge(traces[["trace_id"]], on="trace_id")
        hovered = 0
        for row in frame.itertuples():
            if not str(row.trace_id).endswith(("script-tag", "javascript-link-html")):
                continue
            x, y = page.evaluate(TO_PAGE, [float(row.x), float(row.y)])
            page.mouse.move(x, y)
            label = page.locator(".hoverlayer .hovertext")
            label.first.wait_for()
            text = label.first.text_content() or ""
            assert str(row.trace_id) in text
            assert HOSTILE_SCRIPT in text or "javascript:window.__pwned=7" in text
            assert page.locator(".hoverlayer a").count() == 0  # no link was made
            hovered += 1
            page.mouse.move(5, 5)
        assert hovered == 2
        assert_inert(page, seen)
        assert not any(ATTACK_HOST in url for url in seen.requests)
    finally:
        page.close()
