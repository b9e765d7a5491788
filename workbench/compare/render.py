"""The comparison as HTML for a notebook: the summary first, then every table.

Every piece of text (mode names, cluster keywords drawn from trace text, metadata values,
period names, notes) passes through :func:`html.escape` before it is placed in the page.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.traces.show import reveal_bidi

if TYPE_CHECKING:
    from workbench.compare.result import PeriodComparison

__all__ = ["comparison_html", "fmt_share", "fmt_value"]

_STYLE: Final = (
    "<style>.wb-cmp table{border-collapse:collapse;font-size:.85rem}"
    ".wb-cmp th,.wb-cmp td{border-bottom:1px solid #ddd;padding:.2rem .5rem;text-align:left}"
    ".wb-cmp td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".wb-cmp .note{color:#666}.wb-cmp summary{cursor:pointer;font-weight:600}</style>"
)
_SHARES: Final = frozenset({"share_last", "share_this", "last_low", "last_high", "this_low",
                            "this_high"})  # fmt: skip
_HIDDEN: Final = {
    "failure modes": ("last_low", "last_high", "this_low", "this_high", "effect"),
    "structure": ("group", "effect", "mix"),
}


def fmt_share(value: Any) -> str:
    """A share as a percentage with one decimal; a dash for a missing value.

    Examples:
        >>> fmt_share(0.0642), fmt_share(float("nan"))
        ('6.4%', '—')
    """
    if _missing(value):
        return "—"
    return f"{float(value):.1%}"


def fmt_value(value: Any, share: bool = False) -> str:
    """A number for a table: a share as a percentage, else 4 significant digits.

    Examples:
        >>> fmt_value(3909.0), fmt_value(0.001119), fmt_value(0.5, share=True)
        ('3,909', '0.001119', '50.0%')
    """
    if share:
        return fmt_share(value)
    if _missing(value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def comparison_html(comparison: PeriodComparison, summary: pd.DataFrame) -> str:
    """The comparison as an HTML fragment (summary, notes, then each table folded)."""
    (last, this), (n_last, n_this) = comparison.periods, comparison.sizes
    parts = [
        _STYLE,
        '<div class="wb-cmp">',
        f"<h3>{_e(last)} ({n_last:,} traces) &rarr; {_e(this)} ({n_this:,} traces)</h3>",
    ]
    parts += [f'<p class="note">{_e(note)}</p>' for note in comparison.notes]
    parts += ["<h4>What changed</h4>", _table(summary[["section", "what"]], "summary")]
    sections = (
        ("failure modes", comparison.failure_modes),
        ("structure", comparison.structure),
        ("clusters", comparison.clusters),
        ("taxonomy", comparison.taxonomy),
    )
    for name, table in sections:
        parts.append(
            f"<details><summary>{_e(name)} ({len(table)} rows)</summary>"
            f"{_table(_with_intervals(table, name), name)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


def _with_intervals(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Failure-mode rates with their interval in one column per period."""
    if name != "failure modes" or table.empty:
        return table.drop(columns=[c for c in _HIDDEN.get(name, ()) if c in table.columns])
    shown = table.copy()
    for period in ("last", "this"):
        shown[f"{period} 95% CI"] = [
            f"{fmt_share(lo)} to {fmt_share(hi)}"
            for lo, hi in zip(shown[f"{period}_low"], shown[f"{period}_high"], strict=True)
        ]
    ordered = ["failure_mode", "source", "last", "last 95% CI", "this", "this 95% CI"]
    rest = [c for c in shown.columns if c not in ordered and c not in _HIDDEN[name]]
    return shown[ordered + rest]


def _table(frame: pd.DataFrame, name: str) -> str:
    if frame.empty:
        return '<p class="note">Nothing to show.</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(_cell(name, c, v, row) for c, v in row.items()) + "</tr>"
        for row in frame.to_dict("records")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(name: str, column: Any, value: Any, row: dict[Any, Any]) -> str:
    share = column in _SHARES or (
        column in ("last", "this", "change")
        and (name in ("failure modes", "clusters") or row.get("statistic") == "share")
    )
    if column == "p_value" and not _missing(value):
        text = f"{float(value):.2g}"
    elif column == "effect" and not _missing(value):
        text = f"{float(value):+.2f}"
    else:
        text = fmt_value(value, share)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{_e(text)}</td>"


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _e(value: Any) -> str:
    return html.escape(reveal_bidi(str(value)), quote=True)
