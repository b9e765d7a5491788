"""The map of traces: one dot per trace, coloured by cluster, verdict or any column.

A :class:`ClusterMap` wraps a plotly ``FigureWidget`` of ``Scattergl`` dots, one plotly trace
per colour group, so clicking a legend entry hides or shows that group. Lasso or box
selection sets :attr:`ClusterMap.selected` (trace ids) and calls the ``on_select``
callbacks; clicking a dot selects its whole group; double-clicking clears the selection.

Hover text is trace text, which is untrusted: it is passed through :func:`html.escape`
(plotly renders ``<b>``, ``<a>`` and friends in hover labels and legend names), and only
then are line breaks added.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> clusters = wb.cluster(traces)
    >>> trace_map = wb.cluster_map(clusters, traces, color="cluster")
    >>> trace_map.on_select(lambda ids: print(len(ids), "traces selected"))  # doctest: +SKIP
    >>> trace_map  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench.traces.show import reveal_bidi

NOISE_NAME = "unclustered / novel"
NOISE_COLOUR = "#b0b0b0"
VERDICT_COLOURS = {"fail": "#d62728", "pass": "#2ca02c", "unlabelled": "#c7c7c7"}
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363",
)  # fmt: skip
MAX_GROUPS = 60
"""Colour columns with more distinct values than this are drawn as numbers (one colour scale)."""

Callback = Callable[[list[str]], None]


def _escape(text: Any, limit: int) -> str:
    """Trace text for a hover label: cut, HTML-escaped, then wrapped with ``<br>``."""
    value = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    value = value if len(value) <= limit else value[:limit] + "…"
    lines = textwrap.wrap(value, 80, replace_whitespace=True) or [""]
    return "<br>".join(html.escape(reveal_bidi(line), quote=True) for line in lines)


class ClusterMap:
    """A map of clustered traces in a notebook; built as a widget when first shown.

    Args:
        clusters: the table of :func:`workbench.cluster` (``trace_id``, ``cluster``, ``x``, ``y``).
        traces: the trace table, for hover text and colour columns (optional).
        color: ``"cluster"``, ``"verdict"``, ``"failure_mode"`` or any column of
            ``clusters`` or ``traces``.
        hover_chars: characters of trace text in a hover label (default 300, 120 above
            20,000 traces).

    Attributes:
        selected: the ids of the selected traces, in map order.

    Examples:
        >>> import pandas as pd
        >>> clusters = pd.DataFrame({"trace_id": ["a", "b"], "cluster": [0, -1],
        ...                          "x": [0.0, 1.0], "y": [0.0, 1.0]})
        >>> trace_map = ClusterMap(clusters)
        >>> trace_map.select(["b"])
        >>> trace_map.selected
        ['b']
    """

    def __init__(
        self,
        clusters: pd.DataFrame,
        traces: pd.DataFrame | None = None,
        color: str = "cluster",
        hover_chars: int | None = None,
    ) -> None:
        self.clusters = clusters
        self.traces = traces
        self.color = color
        self.hover_chars = hover_chars
        self.selected: list[str] = []
        self._callbacks: list[Callback] = []
        self._parts: dict[int, list[str]] = {}

    def __repr__(self) -> str:
        return f"ClusterMap({len(self.clusters)} traces, color={self.color!r})"

    def on_select(self, callback: Callback) -> Callback:
        """Call ``callback(trace_ids)`` whenever the selection changes; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    def select(self, trace_ids: list[str]) -> None:
        """Select these traces (as a lasso would), highlight them, and tell the callbacks."""
        wanted = {str(t) for t in trace_ids}
        unknown = wanted - set(self.clusters["trace_id"].astype(str))
        if unknown:
            raise KeyError(f"{len(unknown)} trace ids are not on the map, e.g. {min(unknown)!r}")
        if "widget" in self.__dict__:
            with self.widget.batch_update():
                for trace, ids in zip(self.widget.data, self._group_ids, strict=True):
                    points = [i for i, t in enumerate(ids) if t in wanted]
                    trace.selectedpoints = points if wanted else None
        order = self.clusters["trace_id"].astype(str)
        self._changed([t for t in order if t in wanted])

    def _changed(self, ids: list[str]) -> None:
        self.selected = ids
        for callback in self._callbacks:
            callback(list(ids))

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The plotted table: clusters plus the colour group, hover text and traces' columns."""
        return _plot_frame(self.clusters, self.traces, self.color, self.hover_chars)

    @functools.cached_property
    def _group_ids(self) -> list[list[str]]:
        return [list(ids) for _, ids in _groups(self.frame, self.color == "cluster")]

    def figure(self) -> Any:
        """The map as a static ``plotly.graph_objects.Figure`` (for export, or no widgets)."""
        import plotly.graph_objects as go

        return go.Figure(self._figure_dict())

    @functools.cached_property
    def widget(self) -> Any:
        """The ``plotly.graph_objects.FigureWidget``, built on first use."""
        import plotly.graph_objects as go

        widget = go.FigureWidget(self._figure_dict())
        last = len(widget.data) - 1
        chosen = set(self.selected)
        for index, trace in enumerate(widget.data):
            trace.on_selection(functools.partial(self._on_selection, index, last))
            trace.on_click(functools.partial(self._on_click, index))
            trace.on_deselect(self._on_deselect)
            if chosen:  # selected before the widget existed
                ids = self._group_ids[index]
                trace.selectedpoints = [i for i, t in enumerate(ids) if t in chosen]
        return widget

    def _figure_dict(self) -> dict[str, Any]:
        frame = self.frame
        numeric = frame["group"].dtype.kind in "if"
        by_cluster = self.color == "cluster"
        data = [_scatter(frame, self.color)] if numeric else _group_traces(frame, by_cluster)
        layout = {
            "dragmode": "lasso",
            "height": 600,
            "hovermode": "closest",
            "legend": {"itemsizing": "constant", "title": {"text": html.escape(self.color)}},
            "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "template": "plotly_white",
        }
        return {"data": data, "layout": layout}

    def _on_selection(self, index: int, last: int, trace: Any, points: Any, selector: Any) -> None:
        """One plotly trace's share of a lasso/box selection; the last trace completes it."""
        ids = self._group_ids[index] if index < len(self._group_ids) else []
        self._parts[index] = [ids[i] for i in points.point_inds]
        if index == last:
            chosen = {t for part in self._parts.values() for t in part}
            self._parts = {}
            order = self.frame["trace_id"]
            self._changed([t for t in order if t in chosen])

    def _on_click(self, index: int, trace: Any, points: Any, state: Any) -> None:
        """A click on a dot selects every trace of its group."""
        if points.point_inds:
            self.select(self._group_ids[index])

    def _on_deselect(self, trace: Any, points: Any) -> None:
        if self.selected:
            self._changed([])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]


def cluster_map(
    clusters: pd.DataFrame,
    traces: pd.DataFrame | None = None,
    color: str = "cluster",
    hover_chars: int | None = None,
) -> ClusterMap:
    """Map clustered traces: one dot per trace, lasso selection gives trace ids.

    See :class:`ClusterMap` for the arguments.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> trace_map = wb.cluster_map(wb.cluster(traces), traces, color="feedback")
        >>> trace_map.selected
        []
    """
    return ClusterMap(clusters, traces, color=color, hover_chars=hover_chars)


def _plot_frame(
    clusters: pd.DataFrame, traces: pd.DataFrame | None, color: str, hover_chars: int | None
) -> pd.DataFrame:
    missing = [c for c in ("trace_id", "x", "y") if c not in clusters.columns]
    if missing:
        raise ValueError(f"clusters need the columns {missing} (from workbench.cluster)")
    frame = clusters.copy()
    frame.attrs = {}  # pandas compares attrs when merging; they may hold frames
    frame["trace_id"] = frame["trace_id"].astype(str)
    if traces is not None:
        extra = traces.drop_duplicates("trace_id").assign(trace_id=lambda t: t.trace_id.astype(str))
        extra = extra[[c for c in extra.columns if c == "trace_id" or c not in frame.columns]]
        extra.attrs = {}
        frame = frame.merge(extra, on="trace_id", how="left", validate="one_to_one")
    frame["group"] = _colour_values(frame, color)
    limit = hover_chars or (300 if len(frame) <= 20_000 else 120)
    frame["hover"] = _hover(frame, clusters, limit)
    return frame


def _colour_values(frame: pd.DataFrame, color: str) -> pd.Series:
    if color == "cluster":
        if "cluster" not in frame.columns:
            raise ValueError("color='cluster' needs a 'cluster' column")
        words = frame["keywords"] if "keywords" in frame.columns else pd.Series("", frame.index)
        return pd.Series(
            [_cluster_name(int(c), str(w)) for c, w in zip(frame["cluster"], words, strict=True)],
            index=frame.index,
        )
    if color == "verdict":
        values = frame["verdict"] if "verdict" in frame.columns else pd.Series(None, frame.index)
        return values.map(lambda v: str(v).lower() if isinstance(v, str) else "unlabelled")
    if color == "failure_mode" and "failure_mode" not in frame.columns:
        if "failure_modes" not in frame.columns:
            raise ValueError("color='failure_mode' needs a 'failure_mode(s)' column in traces")
        return frame["failure_modes"].map(_one_mode)
    if color not in frame.columns:
        raise ValueError(f"no column {color!r} in clusters or traces to colour by")
    if color == "feedback":
        return frame[color].map(_feedback)
    values = frame[color]
    if values.dtype.kind in "if" and values.nunique() > MAX_GROUPS:
        return values.astype(float)
    return values.map(lambda v: "none" if _missing(v) else str(v))


def _cluster_name(cluster: int, words: str) -> str:
    if cluster == -1:
        return NOISE_NAME
    shown = ", ".join(w.strip() for w in words.split(",")[:3] if w.strip())
    return f"{cluster}: {shown}" if shown else f"cluster {cluster}"


def _feedback(value: Any) -> str:
    from workbench.sample import is_negative_feedback

    if _missing(value):
        return "none"
    return "negative" if is_negative_feedback(value) else "other"


def _one_mode(modes: Any) -> str:
    if isinstance(modes, list | tuple | np.ndarray) and len(modes):
        return str(modes[0]) if len(modes) == 1 else "several"
    return "none"


def _missing(value: Any) -> bool:
    if isinstance(value, list | dict | tuple | np.ndarray):
        return len(value) == 0
    return bool(pd.isna(value))


def _hover(frame: pd.DataFrame, clusters: pd.DataFrame, limit: int) -> list[str]:
    """Escaped hover labels: trace id, group, and the input and output (or embedded text)."""
    run = clusters.attrs.get("cluster_run")
    if "output" in frame.columns:
        said = frame["input"] if "input" in frame.columns else pd.Series("", frame.index)
        bodies = [
            f"<b>user</b>: {_escape(i, limit // 2)}<br><b>reply</b>: {_escape(o, limit)}"
            for i, o in zip(said, frame["output"], strict=True)
        ]
    elif run is not None and hasattr(run, "rows"):
        texts = [run.texts[i] for i in run.rows(frame["trace_id"])]
        bodies = [_escape(t, limit) for t in texts]
    else:
        bodies = [""] * len(frame)
    heads = [
        f"<b>{_escape(t, 80)}</b> · {_escape(g, 80)}"
        for t, g in zip(frame["trace_id"], frame["group"], strict=True)
    ]
    return [f"{h}<br>{b}" for h, b in zip(heads, bodies, strict=True)]


def _groups(frame: pd.DataFrame, by_cluster: bool) -> list[tuple[str, pd.Series]]:
    """(group name, trace ids) per colour group: by cluster number (noise first), or by name."""
    if frame["group"].dtype.kind in "if":
        return [("all", frame["trace_id"])]
    names = list(dict.fromkeys(frame["group"]))
    if by_cluster:
        first = frame.groupby("group", sort=False)["cluster"].first()
        names.sort(key=lambda n: int(first[n]))
    else:
        names.sort()
    return [(name, frame.loc[frame["group"] == name, "trace_id"]) for name in names]


def _group_traces(frame: pd.DataFrame, by_cluster: bool) -> list[dict[str, Any]]:
    traces = []
    for number, (name, ids) in enumerate(_groups(frame, by_cluster)):
        rows = frame.loc[ids.index]
        colour = VERDICT_COLOURS.get(name) or PALETTE[number % len(PALETTE)]
        noise = name == NOISE_NAME
        traces.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "name": html.escape(reveal_bidi(name)),
                "x": rows["x"].to_numpy(),
                "y": rows["y"].to_numpy(),
                "customdata": rows["trace_id"].to_numpy(),
                "hovertext": rows["hover"].to_list(),
                "hovertemplate": "%{hovertext}<extra></extra>",
                "marker": {
                    "size": 5 if noise else 6,
                    "color": NOISE_COLOUR if noise else colour,
                    "opacity": 0.5 if noise else 0.8,
                },
                "unselected": {"marker": {"opacity": 0.15}},
            }
        )
    return traces


def _scatter(frame: pd.DataFrame, color: str) -> dict[str, Any]:
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": html.escape(color),
        "x": frame["x"].to_numpy(),
        "y": frame["y"].to_numpy(),
        "customdata": frame["trace_id"].to_numpy(),
        "hovertext": frame["hover"].to_list(),
        "hovertemplate": "%{hovertext}<extra></extra>",
        "marker": {
            "size": 6,
            "color": frame["group"].to_numpy(),
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": {"text": html.escape(color)}},
        },
    }
