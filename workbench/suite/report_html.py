"""The report as one self-contained HTML page: inline CSS and SVG, no script, no outside link.

Every piece of text that comes from a trace, a reason, an id or a definition passes through
:func:`html.escape` before it is placed in the page, so a trace that holds ``<script>``
shows it as text. The page loads nothing from anywhere: it can be mailed, attached to a CI
run or opened offline.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.traces.show import reveal_bidi

if TYPE_CHECKING:
    from workbench.suite.report import Report

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.regression{color:#b00020}.improvement{color:#1b5e20}
pre{white-space:pre-wrap;max-width:60rem;max-height:12rem;overflow:auto;margin:0;
background:#fafafa;padding:.3rem}
.note{color:#666;font-size:.85rem}
"""

_SUMMARY_COLUMNS = {
    "eval": "eval", "failure_mode": "failure mode", "kind": "kind", "n": "traces",
    "passed": "pass", "failed": "fail", "ungraded": "could not grade", "skipped": "not run",
    "pass_rate": "pass rate", "fail_rate": "fail rate", "fail_ci": "fail rate 95% CI",
    "corrected_fail_rate": "corrected fail rate", "corrected_ci": "corrected 95% CI",
    "threshold": "threshold", "gate": "gate", "tokens": "tokens", "cost_usd": "cost (USD)",
    "flakiness": "flakiness",
}  # fmt: skip
_CELL_CHARS = 4000
"""Characters of a trace's input, output or a reason shown in one cell."""
_RATES = {"pass_rate", "fail_rate", "corrected_fail_rate", "threshold", "flakiness",
          "previous_pass_rate", "delta"}  # fmt: skip


def _e(value: Any) -> str:
    return html.escape(reveal_bidi("" if value is None else str(value)), quote=True)


def _cell(column: str, value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return '<td class="num">—</td>'
    if column in _RATES and isinstance(value, int | float):
        return f'<td class="num">{value:.1%}</td>'
    if column == "cost_usd" and isinstance(value, int | float):
        return f'<td class="num">{value:.4f}</td>'
    if column == "p_value" and isinstance(value, int | float):
        return f'<td class="num">{value:.3g}</td>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if column in ("gate", "change"):
        css = {"FAIL": "fail", "ok": "ok"}.get(str(value), str(value))
        return f'<td class="{_e(css)}">{_e(value)}</td>'
    if column in ("input", "output", "reason"):
        text = "" if value is None else str(value)
        if len(text) > _CELL_CHARS:  # a trace's whole field would make the page any size
            text = f"{text[:_CELL_CHARS]}… ({len(text) - _CELL_CHARS} more characters)"
        return f"<td><pre>{_e(text)}</pre></td>"
    return f"<td>{_e(value)}</td>"


def _table(frame: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    if frame is None or not len(frame):
        return '<p class="note">Nothing to show.</p>'
    names = names or {}
    head = "".join(f"<th>{_e(names.get(c, c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, row[c]) for c in frame.columns) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _interval(low: Any, high: Any) -> str:
    if not isinstance(low, float) or math.isnan(low) or math.isnan(high):
        return "—"
    return f"{low:.1%} to {high:.1%}"


def _summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    view = summary.copy()
    view["fail_ci"] = [
        _interval(a, b) for a, b in zip(view["fail_low"], view["fail_high"], strict=True)
    ]
    view["corrected_ci"] = [
        _interval(a, b) for a, b in zip(view["corrected_low"], view["corrected_high"], strict=True)
    ]
    return view[[c for c in _SUMMARY_COLUMNS if c in view.columns]]


def _rate(value: Any) -> float | None:
    """A finite rate, or None for missing and NaN values."""
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def _chart(summary: pd.DataFrame, compare: pd.DataFrame | None) -> str:
    """Pass rate per eval as horizontal bars, the threshold as a tick, last run as a dot."""
    if not len(summary):
        return ""
    bar_w, row_h, label_w = 360, 22, 260
    before = dict(zip(compare["eval"], compare["previous_pass_rate"], strict=True)) if (
        compare is not None and len(compare)) else {}  # fmt: skip
    parts = []
    for i, r in enumerate(summary.to_dict("records")):
        y = i * row_h
        rate = _rate(r["pass_rate"]) or 0.0
        colour = "#b00020" if r["gate"] == "FAIL" else "#4a78b5"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{_e(str(r['eval'])[:40])}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="14" fill="#eee"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{rate * bar_w:.1f}" height="14" '
            f'fill="{colour}"><title>{_e(r["eval"])}: {rate:.1%}</title></rect>'
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="12">{rate:.1%}</text>'
        )
        threshold = _rate(r["threshold"])
        if threshold is not None:
            x = label_w + threshold * bar_w
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + 21}" '
                         'stroke="#222" stroke-width="2"/>')  # fmt: skip
        prior = _rate(before.get(r["eval"]))
        if prior is not None:
            x = label_w + prior * bar_w
            parts.append(f'<circle cx="{x:.1f}" cy="{y + 11}" r="4" fill="#f2a900" '
                         'stroke="#222"/>')  # fmt: skip
    height = len(summary) * row_h + 4
    width = label_w + bar_w + 60
    return (
        f'<svg width="{width}" height="{height}" '
        f'role="img" aria-label="pass rate per eval">{"".join(parts)}</svg>'
        '<p class="note">Bars: pass rate. Black tick: gate threshold. '
        "Yellow dot: previous run.</p>"
    )


def render_html(rep: Report) -> str:
    """The whole page for a report."""
    summary = rep.summary
    sections = [
        "<h1>Eval suite report</h1>",
        f'<p class="note">{int(summary["n"].max()) if len(summary) else 0} traces, '
        f"{len(summary)} evals.</p>",
        _chart(summary, rep.compare),
        "<h2>Gate</h2>",
        "<ul>" + "".join(f'<li class="fail">{_e(g)}</li>' for g in rep.gates) + "</ul>"
        if rep.gates
        else '<p class="ok">Every gated eval is at or above its threshold.</p>',
        "<h2>Evals</h2>",
        _table(_summary_view(summary), _SUMMARY_COLUMNS) if len(summary) else "",
        "<h2>Failure modes</h2>",
        _table(rep.by_failure_mode),
    ]
    if rep.definitions:
        defs = pd.DataFrame(
            {"failure_mode": list(rep.definitions), "definition": list(rep.definitions.values())}
        )
        sections += ["<h2>Definitions</h2>", _table(defs)]
    if rep.compare is not None:
        sections += ["<h2>Compared with the previous run</h2>", _table(rep.compare)]
    sections += ["<h2>Examples of failing traces</h2>", _table(rep.examples)]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Eval suite report</title>"
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
