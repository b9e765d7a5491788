"""HTML pieces of the meeting report: escaping, tables, band badges, a bar chart in SVG.

Everything here returns HTML text. Values are escaped where they enter (:func:`esc`); the
cells given to :func:`table` are HTML already. No piece links outside the page or runs a
script, so a report stays readable offline and inert whatever the traces hold.
"""

from __future__ import annotations

import html
import importlib.resources
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from workbench.traces.show import reveal_bidi

CHART_WIDTH: Final = 720
"""Width of the bar chart, in pixels (it shrinks with the page)."""


def esc(value: Any) -> str:
    """Return text escaped for HTML (None becomes empty).

    Examples:
        >>> esc("<b>")
        '&lt;b&gt;'
    """
    return html.escape(reveal_bidi("" if value is None else str(value)), quote=True)


def fmt(value: Any, pattern: str = "{:.2f}") -> str:
    """Format a number, or a dash for NaN.

    Examples:
        >>> fmt(0.4567), fmt(float("nan")), fmt(0.5, "{:.0%}")
        ('0.46', '-', '50%')
    """
    number = float(value)
    return "-" if np.isnan(number) else pattern.format(number)


def band_badge(name: str) -> str:
    """Return an agreement band as a coloured badge."""
    return f"<span class='band band-{esc(name.replace(' ', '-'))}'>{esc(name)}</span>"


def section(heading: str, inner: str) -> str:
    """Return a section with an escaped heading around HTML."""
    return f"<section><h2>{esc(heading)}</h2>{inner}</section>"


def paragraph(text: str, css: str = "") -> str:
    """Return a paragraph of escaped text."""
    return f"<p class='{css}'>{esc(text)}</p>" if css else f"<p>{esc(text)}</p>"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """Return a table; headers are escaped here, cells must be HTML already.

    Args:
        headers: column titles.
        rows: cells as HTML.
        numeric: positions of the columns to right-align.

    Examples:
        >>> table(["a"], [["1"]])
        '<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>'
    """

    def cell(tag: str, i: int, content: str) -> str:
        return (
            f"<{tag} class='num'>{content}</{tag}>" if i in numeric else f"<{tag}>{content}</{tag}>"
        )

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(bars: Sequence[tuple[str, int, int | None]], title: str) -> str:
    """Return a horizontal bar chart as inline SVG.

    Args:
        bars: (label, value, previous value or None); a dark tick marks the previous value.
        title: what the chart shows, for screen readers.
    """
    label_w, row_h, pad = 230, 26, 8
    largest = max([1, *(v for _, v, _ in bars), *(p or 0 for _, _, p in bars)])
    scale = (CHART_WIDTH - label_w - 60) / largest
    rows = [_bar(i, bar, scale, label_w, row_h, pad) for i, bar in enumerate(bars)]
    height = pad * 2 + row_h * len(bars)
    return (
        f"<svg class='chart' role='img' aria-label='{esc(title)}' "
        f"xmlns='http://www.w3.org/2000/svg' width='{CHART_WIDTH}' height='{height}' "
        f"viewBox='0 0 {CHART_WIDTH} {height}'>{''.join(rows)}</svg>"
    )


def _bar(
    i: int, bar: tuple[str, int, int | None], scale: float, label_w: int, row_h: int, pad: int
) -> str:
    name, value, previous = bar
    y, end = pad + i * row_h, label_w + value * scale
    shown = name if len(name) <= 30 else name[:29] + "…"
    parts = [
        f"<g><title>{esc(name)}: {value}</title>",
        f"<text x='{label_w - 8}' y='{y + 17}' text-anchor='end' font-size='13'>"
        f"{esc(shown)}</text>",
        f"<rect x='{label_w}' y='{y + 4}' width='{value * scale:.1f}' height='{row_h - 8}' "
        "fill='#2f6fb3' rx='2'/>",
        f"<text x='{end + 6:.1f}' y='{y + 17}' font-size='12'>{value}</text>",
    ]
    if previous is not None:
        x = label_w + previous * scale
        parts.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y + 1}' y2='{y + row_h - 1}' "
            "stroke='#1d2430' stroke-width='2'/>"
        )
    return "".join(parts) + "</g>"


def template(name: str) -> str:
    """Return the text of a page template shipped in ``workbench/templates/``."""
    return importlib.resources.files("workbench").joinpath(f"templates/{name}").read_text("utf-8")
