from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.callbacks import Points

from workbench.widgets import ClusterMap
from workbench.widgets.cluster_map import NOISE_NAME, cluster_map

HOSTILE = '<script>alert("x")</script> & <b>bold</b> <a href="javascript:alert(1)">x</a>'


def clusters(n: int = 30) -> pd.DataFrame:
    labels = [i % 3 - 1 for i in range(n)]  # -1, 0, 1, -1, 0, 1, ...
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "trace_id": [f"t{i:02d}" for i in range(n)],
            "cluster": labels,
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "is_noise": [c == -1 for c in labels],
            "keywords": ["noise, words" if c == -1 else f"word{c}, other" for c in labels],
        }
    )


def traces(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trace_id": [f"t{i:02d}" for i in range(n)],
            "input": [HOSTILE] * n,
            "output": [f"reply {i} {HOSTILE}" for i in range(n)],
            "verdict": (["fail", "pass", None] * n)[:n],
            "failure_modes": ([["invented_policy"], [], ["a", "b"]] * n)[:n],
            "latency_ms": np.linspace(100, 9_000, n),
            "model": (["gpt-a", "gpt-b"] * n)[:n],
            "feedback": ([[{"name": "thumb", "value": "down"}], None, []] * n)[:n],
        }
    )


def lasso(widget: go.FigureWidget, picks: list[tuple[int, int]]) -> None:
    """Send what the browser sends after a lasso: (trace index, point index) pairs."""
    message = {
        "event_type": "plotly_selected",
        "points": {
            "xs": [0.0] * len(picks),
            "ys": [0.0] * len(picks),
            "trace_indexes": [t for t, _ in picks],
            "point_indexes": [p for _, p in picks],
        },
        "selector": {"type": "lasso", "selector_state": {"xs": [0, 1, 1], "ys": [0, 0, 1]}},
    }
    widget._handler_js2py_pointsCallback({"new": message})


def test_one_plotly_trace_per_cluster_with_noise_first_and_grey() -> None:
    trace_map = cluster_map(clusters(), traces())
    names = [t.name for t in trace_map.widget.data]
    assert names == [NOISE_NAME, "0: word0, other", "1: word1, other"]
    assert trace_map.widget.data[0].marker.color == "#b0b0b0"
    assert all(t.type == "scattergl" for t in trace_map.widget.data)
    assert isinstance(trace_map.widget, go.FigureWidget)


def test_init_builds_nothing_until_shown() -> None:
    trace_map = ClusterMap(clusters())
    assert "widget" not in vars(trace_map) and trace_map.selected == []


def test_lasso_across_clusters_selects_ids_and_calls_back_once() -> None:
    trace_map = cluster_map(clusters(), traces())
    calls: list[list[str]] = []
    trace_map.on_select(calls.append)
    group_ids = [list(ids) for ids in trace_map._group_ids]
    lasso(trace_map.widget, [(1, 0), (1, 2), (2, 1)])
    expected = sorted([group_ids[1][0], group_ids[1][2], group_ids[2][1]])
    assert trace_map.selected == expected
    assert calls == [expected]


def test_handlers_called_directly_with_points_objects() -> None:
    trace_map = cluster_map(clusters())
    data = trace_map.widget.data
    for index, trace in enumerate(data):
        inds = [0] if index == 0 else []
        trace._dispatch_on_selection(
            Points(point_inds=inds, xs=[], ys=[], trace_name=trace.name, trace_index=index), None
        )
    assert trace_map.selected == [trace_map._group_ids[0][0]]


def test_double_click_clears_and_click_selects_a_whole_cluster() -> None:
    trace_map = cluster_map(clusters())
    calls: list[list[str]] = []
    trace_map.on_select(calls.append)
    click = {"xs": [0.0], "ys": [0.0], "trace_indexes": [2], "point_indexes": [0]}
    trace_map.widget._handler_js2py_pointsCallback(
        {"new": {"event_type": "plotly_click", "points": click}}
    )
    members = clusters().query("cluster == 1")["trace_id"].tolist()
    assert trace_map.selected == members
    assert list(trace_map.widget.data[2].selectedpoints) == list(range(len(members)))
    empty = {"xs": [], "ys": [], "trace_indexes": [], "point_indexes": []}
    trace_map.widget._handler_js2py_pointsCallback(
        {"new": {"event_type": "plotly_deselect", "points": empty}}
    )
    assert trace_map.selected == [] and calls[-1] == []


def test_select_by_id_highlights_and_refuses_unknown_ids() -> None:
    trace_map = cluster_map(clusters())
    _ = trace_map.widget
    trace_map.select(["t01", "t04"])
    assert trace_map.selected == ["t01", "t04"]
    assert list(trace_map.widget.data[1].selectedpoints) == [0, 1]
    assert list(trace_map.widget.data[0].selectedpoints) == []
    with pytest.raises(KeyError, match="not on the map"):
        trace_map.select(["nope"])


def test_trace_text_is_escaped_in_hover_and_legend() -> None:
    hostile_clusters = clusters().assign(keywords=HOSTILE)
    trace_map = cluster_map(hostile_clusters, traces())
    for trace in trace_map.widget.data:
        assert "<script" not in trace.name and "<b>bold" not in trace.name
        for text in trace.hovertext:
            assert "<script" not in text and "<a " not in text and "<b>bold" not in text
            assert "&lt;script&gt;" in text and "&amp;" in text
    assert "<br>" in trace_map.widget.data[1].hovertext[0]  # our own line breaks survive


def test_hover_without_traces_shows_the_embedded_text() -> None:
    from workbench.keywords import ClusterRun

    found = clusters(3)
    run = ClusterRun(
        trace_ids=("t00", "t01", "t02"),
        texts=("a <i>", "b", "c"),
        view="output",
        model_id="m",
        embeddings=np.zeros((3, 2), dtype=np.float32),
        reduced=np.zeros((3, 2)),
        raw_noise_share=0.0,
        min_cluster_size=None,
    )
    found.attrs["cluster_run"] = run
    hover = cluster_map(found).frame.set_index("trace_id").loc["t00", "hover"]
    assert "a &lt;i&gt;" in hover


@pytest.mark.parametrize(
    ("color", "groups"),
    [
        ("verdict", {"fail", "pass", "unlabelled"}),
        ("failure_mode", {"invented_policy", "none", "several"}),
        ("model", {"gpt-a", "gpt-b"}),
        ("feedback", {"negative", "none"}),
        ("is_noise", {"True", "False"}),
    ],
)
def test_colour_by_a_column(color: str, groups: set[str]) -> None:
    trace_map = cluster_map(clusters(), traces(), color=color)
    assert {t.name for t in trace_map.figure().data} == groups


def test_verdict_colours_are_fixed() -> None:
    data = cluster_map(clusters(), traces(), color="verdict").figure().data
    colours = {t.name: t.marker.color for t in data}
    assert colours["fail"] == "#d62728" and colours["pass"] == "#2ca02c"


def test_numbers_with_many_values_get_a_colour_scale() -> None:
    found, frame = clusters(90), traces(90)
    data = cluster_map(found, frame, color="latency_ms").figure().data
    assert len(data) == 1 and data[0].marker.showscale


def test_unknown_colour_column_and_missing_coordinates_are_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        _ = cluster_map(clusters(), color="nope").frame
    with pytest.raises(ValueError, match="'x'"):
        _ = cluster_map(clusters().drop(columns="x")).frame


def test_notebook_display_shows_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    trace_map = cluster_map(clusters())
    trace_map._ipython_display_()
    assert shown == [trace_map.widget]


def test_a_selection_made_before_the_widget_shows_when_it_is_built() -> None:
    trace_map = cluster_map(clusters())
    trace_map.select(["t02"])
    assert "widget" not in vars(trace_map)
    assert list(trace_map.widget.data[2].selectedpoints) == [0]


def test_merging_traces_whose_attrs_hold_a_frame() -> None:
    """Regression: pandas compares attrs on merge; a frame in traces.attrs made that fail."""
    frame = traces()
    frame.attrs["skipped"] = pd.DataFrame({"line": [1]})
    assert len(cluster_map(clusters(), frame).frame) == 30
