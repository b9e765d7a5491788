"""Two panels, last period against this: failure-mode rates with intervals, cluster shares.

Each row is a dumbbell: a grey dot for last period, a coloured one for this period, joined
by a line; failure-mode dots carry their 95% interval. Labels come from trace text (cluster
keywords) and from people (mode names); plotly renders some HTML tags in labels, so every
label is HTML-escaped first.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.compare.rates import ANY_FAILURE
from workbench.traces.show import reveal_bidi

if TYPE_CHECKING:
    from workbench.compare.result import PeriodComparison

__all__ = ["comparison_figure"]

MAX_ROWS: Final = 15
"""Rows per panel: the largest changes."""

_LAST, _THIS = "#9e9e9e", "#1f77b4"


def comparison_figure(comparison: PeriodComparison) -> Any:
    """Build the two-panel figure of a comparison (a plotly ``Figure``).

    Examples:
        >>> comparison_figure(comparison).show()  # doctest: +SKIP
    """
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Failure-mode rates (95% interval)", "Cluster shares"),
        horizontal_spacing=0.3,
    )
    periods = tuple(_e(p) for p in comparison.periods)
    rates = _rate_rows(comparison.failure_modes)
    _panel(figure, 1, rates, periods, legend=True, empty="no labels or eval results")
    _panel(figure, 2, _cluster_rows(comparison.clusters), periods, legend=False,
           empty="no clustering")  # fmt: skip
    figure.update_xaxes(tickformat=".0%", rangemode="tozero")
    figure.update_layout(
        template="plotly_white",
        height=max(360, 28 * max(len(rates), min(MAX_ROWS, len(comparison.clusters))) + 160),
        title=f"{periods[0]} → {periods[1]}",
        legend={"orientation": "h", "y": -0.12},
    )
    return figure


def _rate_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the rates panel; the any-failure rate is left out (it would set the scale)."""
    table = table[table["failure_mode"] != ANY_FAILURE]
    if table.empty:
        return pd.DataFrame(columns=["label", "last", "this", "low", "high", "mark"])
    labels = [
        m if s == "labels" else f"{m} ({s})"
        for m, s in zip(table["failure_mode"], table["source"], strict=True)
    ]
    rows = pd.DataFrame(
        {
            "label": labels,
            "last": table["last"], "this": table["this"],
            "low": table[["last_low", "this_low"]].values.tolist(),
            "high": table[["last_high", "this_high"]].values.tolist(),
            "mark": table["significant"].astype(bool), "size": table["change"].abs(),
        }
    )  # fmt: skip
    return rows.sort_values("size", ascending=False).head(MAX_ROWS).iloc[::-1]


def _cluster_rows(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return pd.DataFrame(columns=["label", "last", "this", "mark"])
    labels = [
        f"{c}: {str(k)[:40]}" for c, k in zip(table["cluster"], table["keywords"], strict=True)
    ]
    rows = pd.DataFrame(
        {
            "label": labels,
            "last": table["share_last"], "this": table["share_this"],
            "mark": table["status"] != "stable", "size": table["change"].abs(),
        }
    )  # fmt: skip
    return rows.sort_values("size", ascending=False).head(MAX_ROWS).iloc[::-1]


def _panel(
    figure: Any,
    col: int,
    rows: pd.DataFrame,
    periods: tuple[str, ...],
    *,
    legend: bool,
    empty: str,
) -> None:
    """Dumbbells of one panel (rows marked * changed significantly)."""
    import plotly.graph_objects as go

    if rows.empty:
        figure.add_annotation(text=empty, showarrow=False, row=1, col=col,
                              xref="x domain", yref="y domain", x=0.5, y=0.5)  # fmt: skip
        return
    y = [
        _e(f"{label} *" if mark else label)
        for label, mark in zip(rows["label"], rows["mark"], strict=True)
    ]
    xs: list[float | None] = []
    ys: list[str | None] = []
    for label, a, b in zip(y, rows["last"], rows["this"], strict=True):
        xs += [a, b, None]
        ys += [label, label, None]
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#cccccc"},
                                showlegend=False, hoverinfo="skip"), row=1, col=col)  # fmt: skip
    for index, (period, colour) in enumerate(zip(periods, (_LAST, _THIS), strict=True)):
        column = "last" if index == 0 else "this"
        errors = _errors(rows, index, column)
        figure.add_trace(
            go.Scatter(x=rows[column], y=y, mode="markers", name=period, error_x=errors,
                       marker={"color": colour, "size": 9}, showlegend=legend),
            row=1, col=col,
        )  # fmt: skip


def _errors(rows: pd.DataFrame, index: int, column: str) -> dict[str, Any] | None:
    if "low" not in rows.columns:
        return None
    low = [pair[index] for pair in rows["low"]]
    high = [pair[index] for pair in rows["high"]]
    values = rows[column].astype(float).tolist()
    return {
        "type": "data", "symmetric": False, "color": _LAST if index == 0 else _THIS,
        "array": [h - v for h, v in zip(high, values, strict=True)],
        "arrayminus": [v - lo for lo, v in zip(low, values, strict=True)],
    }  # fmt: skip


def _e(text: Any) -> str:
    return html.escape(reveal_bidi(str(text)), quote=True)
