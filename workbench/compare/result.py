"""The result of comparing two periods: four tables, a summary, a figure, an HTML view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from workbench.compare.render import comparison_html, fmt_share, fmt_value
from workbench.keywords import NOISE_NAME

__all__ = ["SUMMARY_COLUMNS", "PeriodComparison"]

SUMMARY_COLUMNS: Final = ("section", "item", "last", "this", "change", "p_value", "what")
"""Columns of :meth:`PeriodComparison.summary`."""


@dataclass(frozen=True, eq=False)
class PeriodComparison:
    """Last period against this one; made by :func:`workbench.compare_periods`.

    In a notebook it shows the summary and every table (all text escaped); ``.plot()`` draws
    failure-mode rates and cluster shares of both periods.

    Examples:
        >>> import workbench as wb
        >>> from workbench.compare import compare_periods, last_and_this
        >>> weeks = last_and_this(wb.load_traces("sample_data/traces.jsonl"))
        >>> comparison = compare_periods(*weeks, semantic=False)
        >>> comparison.sizes, comparison.summary()["section"].unique().tolist()
        ((594, 606), ['structure'])
    """

    periods: tuple[str, str]
    """Names of last and this period (``attrs["period"]`` of the tables, or last / this)."""
    sizes: tuple[int, int]
    """Traces in last and this period."""
    structure: pd.DataFrame
    """Structural skew, one row per measurement (:mod:`workbench.compare.structure`)."""
    clusters: pd.DataFrame
    """Cluster shares of both periods on one shared clustering (:mod:`workbench.compare.drift`);
    empty when the comparison ran with ``semantic=False``."""
    failure_modes: pd.DataFrame
    """Failure-mode rates with intervals, from labels and evals (:mod:`workbench.compare.rates`)."""
    taxonomy: pd.DataFrame
    """New, disappeared, renamed, merged and split failure modes
    (:mod:`workbench.compare.taxonomy`)."""
    traces: pd.DataFrame
    """One row per trace: ``trace_id``, ``period``, ``cluster``, ``x``, ``y``, ``is_noise``."""
    notes: tuple[str, ...] = ()
    """What could not be compared, and why (no labels, no workspace, no suite results...)."""
    alpha: float = 0.05
    """Significance level of the failure-mode rates."""
    options: dict[str, Any] = field(default_factory=dict)
    """The settings the comparison ran with (view, levels, seed), for the record."""

    def summary(self, top: int | None = 5) -> pd.DataFrame:
        """The changes that matter, at most ``top`` per section (None: all).

        Sections come in this order: failure modes (significant changes), structure
        (flagged rows), clusters (not stable), taxonomy (anything but kept modes); within a
        section, the largest effect first.

        Returns:
            Columns :data:`SUMMARY_COLUMNS`; ``what`` says the change in words.

        Examples:
            >>> comparison.summary()["what"].iloc[0]  # doctest: +SKIP
            'malformed_tool_args down: 6.6% -> 1.8% of reviewed traces (p=3.8e-05)'
        """
        parts = [
            _top(_failure_rows(self.failure_modes), top),
            _top(_structure_rows(self.structure), top),
            _top(_cluster_rows(self.clusters), top),
            _top(_taxonomy_rows(self.taxonomy), top),
        ]
        rows = [row for part in parts for row in part]
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    def plot(self) -> Any:
        """Failure-mode rates (with intervals) and cluster shares, last against this.

        Returns:
            A plotly ``Figure`` of two panels.

        Examples:
            >>> comparison.plot().show()  # doctest: +SKIP
        """
        from workbench.compare.plots import comparison_figure

        return comparison_figure(self)

    def __repr__(self) -> str:
        (last, this), (n_last, n_this) = self.periods, self.sizes
        lines = [f"PeriodComparison: {last} ({n_last} traces) -> {this} ({n_this} traces)"]
        lines += [f"  {row.section}: {row.what}" for row in self.summary().itertuples()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return comparison_html(self, self.summary())


def _top(rows: list[dict[str, Any]], top: int | None) -> list[dict[str, Any]]:
    """The rows by |effect| (``_rank``), largest first, without the rank."""
    ranked = sorted(rows, key=lambda r: -abs(r["_rank"]))
    kept = ranked if top is None else ranked[:top]
    return [{k: v for k, v in r.items() if k != "_rank"} for r in kept]


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in table.to_dict("records")]


def _p(value: float) -> str:
    return f"p={value:.2g}"


def _failure_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in _records(table[table["significant"].astype(bool)]):
        labels = r["source"] == "labels"
        item = r["failure_mode"] if labels else f"{r['failure_mode']} ({r['source']})"
        what = (
            f"{item} {r['direction']}: {fmt_share(r['last'])} -> {fmt_share(r['this'])} "
            f"of {'reviewed' if labels else 'graded'} traces ({_p(r['p_value'])})"
        )
        rows.append(_summary_row("failure modes", item, (r["last"], r["this"]), r, what))
    return rows


def _structure_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Flagged rows; of a mix only the values that grew (the others' loss is the same move)."""
    rows = []
    chosen = table["flag"].astype(bool) & ((table["mix"] == "") | (table["change"] > 0))
    for r in _records(table[chosen]):
        share = r["statistic"] == "share"
        item = r["metric"] if share else f"{r['metric']}, {r['statistic']}"
        last, this = fmt_value(r["last"], share), fmt_value(r["this"], share)
        what = f"{item}: {last} -> {this} ({r['test']}, {_p(r['p_value'])})"
        rows.append(_summary_row("structure", item, (r["last"], r["this"]), r, what))
    return rows


def _cluster_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in _records(table[table["status"] != "stable"]):
        name = NOISE_NAME if r["cluster"] == -1 else f"cluster {r['cluster']}"
        item = f"{name} ({r['keywords']})"
        what = (
            f"{item} {r['status']}: {fmt_share(r['share_last'])} -> "
            f"{fmt_share(r['share_this'])} of traces ({_p(r['p_value'])})"
        )
        rows.append(_summary_row("clusters", item, (r["share_last"], r["share_this"]), r, what))
    return rows


def _taxonomy_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in _records(table[table["change"] != "kept"]):
        mode, change = r["failure_mode"], r["change"]
        if change in ("new", "disappeared"):
            what = f"{mode} {change} ({r['last']} -> {r['this']} tagged traces)"
        else:
            what = f"{mode} {change} from {r['was']}"
        nan = float("nan")
        row = {"change": nan, "p_value": nan, "effect": nan}
        rows.append(_summary_row("taxonomy", mode, (r["last"], r["this"]), row, what))
    return rows


def _summary_row(
    section: str, item: str, values: tuple[Any, Any], r: dict[str, Any], what: str
) -> dict[str, Any]:
    """A summary row; ``_rank`` (the effect size) orders the rows of a section."""
    effect = float(r["effect"])
    return {
        "section": section, "item": item, "last": values[0], "this": values[1],
        "change": r["change"], "p_value": r["p_value"], "what": what,
        "_rank": effect if effect == effect else 0.0,
    }  # fmt: skip
