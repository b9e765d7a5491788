"""Failure-mode rates of two periods, from human labels and from the eval suite.

From labels, a mode's rate in a period is the share of the period's *reviewed* traces (a
verdict, or a tag) that carry it, with a Wilson interval. From the suite, an eval's raw rate
is the share of graded traces it fails; when the suite holds the eval's alignment with the
human labels (TPR and TNR), the rate is corrected for the eval's errors (Rogan-Gladen, with
a bootstrap interval, :mod:`workbench.evalgen.prevalence`), else it is raw with a Wilson
interval.

The change is tested on the counts (:func:`workbench.compare.stats.share_p`). For a
corrected rate that is the test of the raw counts: the same eval corrects both periods with
the same TPR and TNR, and the correction is increasing in the raw rate, so the two corrected
rates differ exactly when the raw ones do (assuming the eval errs alike in both periods).

Examples:
    >>> import pandas as pd
    >>> results = pd.DataFrame({"trace_id": ["a", "b", "c", "d"], "eval": "len",
    ...                         "passed": pd.array([True, False, False, None], "boolean")})
    >>> table = suite_rates(results, ["a", "b"], ["c", "d"], {"len": ("overlong", None)})
    >>> table[["failure_mode", "last", "this", "n_last", "n_this"]].values.tolist()
    [['overlong', 0.5, 1.0, 2, 1]]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.compare.stats import share_moved, wilson
from workbench.suite.report import corrected
from workbench.suite.runner import collapse_repeats, verdict_mask

if TYPE_CHECKING:
    from workbench.evalgen.candidate import Metrics

__all__ = ["ANY_FAILURE", "RATE_COLUMNS", "EvalInfo", "eval_info", "label_rates", "suite_rates"]

ANY_FAILURE: Final = "(any failure)"
"""The row of the share of reviewed traces judged failing, whatever the mode."""

RATE_COLUMNS: Final = (
    "failure_mode", "source", "last", "last_low", "last_high", "this", "this_low",
    "this_high", "change", "k_last", "n_last", "k_this", "n_this", "p_value", "effect",
    "significant", "direction", "method",
)  # fmt: skip
"""Columns of the failure-mode table: ``k`` failing of ``n`` reviewed (or graded) traces."""

EvalInfo = tuple[str, "Metrics | None"]
"""An eval's failure mode, and its alignment with the human labels when known."""


def label_rates(
    labels: pd.DataFrame, last_ids: Collection[str], this_ids: Collection[str], alpha: float
) -> pd.DataFrame:
    """Rates of each tagged failure mode among each period's reviewed traces.

    Args:
        labels: one label per trace: ``trace_id``, ``verdict``, ``failure_modes`` (as
            ``ws.traces()`` has them).
        last_ids: the traces of last period.
        this_ids: the traces of this period.
        alpha: significance level.

    Examples:
        >>> labels = pd.DataFrame({"trace_id": ["a", "b"], "verdict": ["fail", "pass"],
        ...                        "failure_modes": [["slow"], []]})
        >>> label_rates(labels, ["a"], ["b"], 0.05)["failure_mode"].tolist()
        ['(any failure)', 'slow']
    """
    last, this = (_reviewed(labels, ids) for ids in (last_ids, this_ids))
    if last.empty and this.empty:
        return empty_rates()
    modes = sorted({m for frame in (last, this) for ms in frame["failure_modes"] for m in ms})
    rows = [_rate_row(ANY_FAILURE, "labels", _count_fail(last), _count_fail(this), alpha, "Wilson")]
    for mode in modes:
        counts = [(_count_mode(f, mode), len(f)) for f in (last, this)]
        rows.append(_rate_row(mode, "labels", counts[0], counts[1], alpha, "Wilson"))
    return pd.DataFrame(rows, columns=list(RATE_COLUMNS))


def suite_rates(
    results: pd.DataFrame,
    last_ids: Collection[str],
    this_ids: Collection[str],
    evals: Mapping[str, EvalInfo],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fail rates of each eval in each period, corrected where the alignment is known.

    Args:
        results: suite results (``trace_id``, ``eval``, ``passed``; NA is ungraded).
        last_ids: the traces of last period.
        this_ids: the traces of this period.
        evals: eval id -> (failure mode, alignment or None); an eval not listed counts
            under the ``failure_mode`` column of ``results``, else under its own id.
        alpha: significance level.
    """
    missing = [c for c in ("trace_id", "eval", "passed") if c not in results.columns]
    if missing:
        raise ValueError(f"suite_results lacks the column(s) {missing}; see ws.suite.run")
    table = collapse_repeats(results)
    graded = table[table["passed"].astype("boolean").notna()]
    rows = []
    for eval_id, part in graded.groupby("eval", sort=False):
        mode, metrics = evals.get(str(eval_id), (_mode_of(part, str(eval_id)), None))
        counts = [_failed(part, ids) for ids in (last_ids, this_ids)]
        if counts[0][1] == 0 and counts[1][1] == 0:
            continue
        method = "Rogan-Gladen, bootstrap" if metrics is not None else "raw, Wilson"
        row = _rate_row(mode, f"eval {eval_id}", counts[0], counts[1], alpha, method)
        if metrics is not None:
            _correct(row, counts, metrics)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RATE_COLUMNS))


def eval_info(suite: Any) -> dict[str, EvalInfo]:
    """Eval id -> (failure mode, alignment) from a Suite, or from ``{eval_id: failure_mode}``.

    The alignment is the suite's test figures, else dev, else train, as the report uses.
    """
    if suite is None:
        return {}
    if isinstance(suite, Mapping):
        return {str(k): (str(v), None) for k, v in suite.items()}
    info: dict[str, EvalInfo] = {}
    for record in suite.load().evals:
        metrics = record.candidate.metrics
        found = next((metrics[s] for s in ("test", "dev", "train") if s in metrics), None)
        info[record.id] = (record.failure_mode, found)
    return info


def empty_rates() -> pd.DataFrame:
    """A failure-mode table with no rows."""
    return pd.DataFrame(columns=list(RATE_COLUMNS))


def _reviewed(labels: pd.DataFrame, ids: Collection[str]) -> pd.DataFrame:
    part = labels[labels["trace_id"].isin(set(ids))]
    modes = part["failure_modes"].map(lambda m: list(m) if isinstance(m, list | tuple) else [])
    part = part.assign(failure_modes=modes)
    seen = part["verdict"].isin(["pass", "fail"]) | modes.map(bool)
    return part[seen]


def _count_fail(reviewed: pd.DataFrame) -> tuple[int, int]:
    failing = (reviewed["verdict"] == "fail") | reviewed["failure_modes"].map(bool)
    return int(failing.sum()), len(reviewed)


def _count_mode(reviewed: pd.DataFrame, mode: str) -> int:
    return int(reviewed["failure_modes"].map(lambda ms: mode in ms).sum())


def _failed(part: pd.DataFrame, ids: Collection[str]) -> tuple[int, int]:
    rows = part[part["trace_id"].astype(str).isin(set(ids))]
    return int(verdict_mask(rows["passed"], False).sum()), len(rows)


def _mode_of(part: pd.DataFrame, eval_id: str) -> str:
    if "failure_mode" in part.columns:
        modes = part["failure_mode"].dropna()
        if len(modes):
            return str(modes.iloc[0])
    return eval_id


def _rate_row(
    mode: str,
    source: str,
    last: tuple[int, int],
    this: tuple[int, int],
    alpha: float,
    method: str,
) -> dict[str, Any]:
    moved = share_moved(last[0], last[1], this[0], this[1])
    significant = bool(moved.p_value < alpha)
    direction = ("up" if moved.change > 0 else "down") if significant else ""
    (last_low, last_high), (this_low, this_high) = wilson(*last), wilson(*this)
    return {
        "failure_mode": mode, "source": source,
        "last": moved.last, "last_low": last_low, "last_high": last_high,
        "this": moved.this, "this_low": this_low, "this_high": this_high,
        "change": moved.change, "k_last": last[0], "n_last": last[1],
        "k_this": this[0], "n_this": this[1], "p_value": moved.p_value,
        "effect": moved.effect, "significant": significant, "direction": direction,
        "method": method,
    }  # fmt: skip


def _correct(row: dict[str, Any], counts: list[tuple[int, int]], metrics: Metrics) -> None:
    """Put the corrected rates and intervals in a row; keep it raw if the eval is no use."""
    fixed = [corrected(failed, graded, metrics) for failed, graded in counts]
    if any(rate != rate for rate, _, _ in fixed):  # NaN: no better than chance, or no data
        row["method"] = "raw, Wilson (alignment no better than chance)"
        return
    for period, (rate, low, high) in zip(("last", "this"), fixed, strict=True):
        row[period], row[f"{period}_low"], row[f"{period}_high"] = rate, low, high
    row["change"] = row["this"] - row["last"]
