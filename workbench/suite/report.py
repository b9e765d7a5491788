"""What a suite run says: pass rates, corrected failure rates, changes since last week, gates.

:func:`report` turns a results table (:meth:`Suite.run`) into a :class:`Report`: a summary
per eval (and per failure mode), the comparison with a previous run, the gate failures, and
examples of failing traces. ``print(report)`` gives a terminal summary and
:meth:`Report.to_html` a self-contained HTML page.

Where an eval has alignment figures (TPR and TNR against human labels), its observed failure
rate is corrected with the Rogan-Gladen estimator ``(p_obs + TNR - 1) / (TPR + TNR - 1)``,
with the bootstrap interval of :mod:`workbench.evalgen.prevalence`. The raw failure rate
gets a Wilson interval.

Examples:
    >>> import pandas as pd
    >>> results = pd.DataFrame({"trace_id": list("abcd"), "eval": ["e"] * 4,
    ...     "failure_mode": ["m"] * 4, "kind": ["assertion"] * 4,
    ...     "passed": pd.array([True, True, False, None], dtype="boolean")})
    >>> report(results).summary[["eval", "n", "failed", "ungraded", "pass_rate"]].round(3)
      eval  n  failed  ungraded  pass_rate
    0    e  4       1         1      0.667
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.evalgen.candidate import Metrics
from workbench.evalgen.prevalence import corrected_rate, estimate
from workbench.redact import Redactor, redact_pii
from workbench.suite.format import atomic_write_text
from workbench.suite.gate import GateFailure, check_gates
from workbench.suite.runner import collapse_repeats, flakiness, verdict_mask
from workbench.traces.show import printable

if TYPE_CHECKING:
    from workbench.suite.suite import Suite

EXAMPLES = 5
"""Example trace ids shown per eval."""


@dataclass(frozen=True, eq=False)
class Report:
    """The report of one run, optionally compared with a previous one."""

    summary: pd.DataFrame
    """One row per eval: counts, rates with intervals, corrected failure rate, gate."""
    by_failure_mode: pd.DataFrame
    """One row per failure mode: a trace fails it when any eval of the mode fails."""
    compare: pd.DataFrame | None
    """Per eval against the previous run: change, p-value, new failures; None without one."""
    gates: list[GateFailure]
    """Evals below their threshold (empty without a suite, or when all pass)."""
    examples: pd.DataFrame
    """Failing traces per eval (up to :data:`EXAMPLES`): eval, trace_id, reason, and the
    trace's input and output when traces were given."""
    definitions: dict[str, str] = field(default_factory=dict)
    """Failure mode definitions from the suite."""

    def __str__(self) -> str:
        return terminal_text(self)

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (no scripts or links outside it).

        Returns:
            The path written.
        """
        from workbench.suite.report_html import render_html

        target = Path(path)
        atomic_write_text(target, render_html(self))
        return target


def report(
    results: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    suite: Suite | None = None,
    traces: pd.DataFrame | None = None,
    redact: Redactor | None = redact_pii,
) -> Report:
    """Summarise a run, compare it with a previous one, and check the gates.

    Args:
        results: This run (:meth:`Suite.run`).
        previous: An earlier run (e.g. last week's results parquet) to compare with.
        suite: The suite, for thresholds, alignment figures and failure mode definitions.
        traces: The traces of this run, to show the input and output of failing examples.
        redact: applied to the examples' input, output and reason before they are shown
            (a report is shared; the team report does the same). None: as they are.

    Returns:
        The :class:`Report`.
    """
    loaded = suite.load() if suite is not None else None
    metrics = {e.id: e.candidate.metrics for e in loaded.evals} if loaded else {}
    limits = {e.id: e.threshold for e in loaded.evals} if loaded else {}
    gates = check_gates(results, limits) if loaded else []
    return Report(
        summary=_summary(results, metrics, limits, {g.eval for g in gates}),
        by_failure_mode=_by_failure_mode(results),
        compare=None if previous is None else compare_runs(results, previous),
        gates=gates,
        examples=_examples(results, traces, redact or str),
        definitions=dict(loaded.failure_modes) if loaded else {},
    )


# ---------------------------------------------------------------- statistics


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n; (NaN, NaN) for n = 0.

    Examples:
        >>> [round(x, 3) for x in wilson(5, 100)]
        [0.022, 0.112]
    """
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that two proportions k1/n1 and k2/n2 are equal (pooled z-test).

    Examples:
        >>> round(two_proportion_p(90, 100, 70, 100), 4)
        0.0004
    """
    if n1 == 0 or n2 == 0:
        return float("nan")
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if k1 / n1 == k2 / n2 else 0.0
    return math.erfc(abs(k1 / n1 - k2 / n2) / se / math.sqrt(2))


def _alignment(metrics: dict[str, Metrics]) -> Metrics | None:
    return next((metrics[s] for s in ("test", "dev", "train") if s in metrics), None)


def corrected(failed: int, graded: int, metrics: Metrics | None) -> tuple[float, float, float]:
    """Corrected failure rate and its bootstrap interval from the alignment counts.

    The labelled set is rebuilt from its confusion counts (resampling it is the same as
    resampling the traces behind them). Without both classes in it, only the point estimate.
    """
    if metrics is None or graded == 0:
        return float("nan"), float("nan"), float("nan")
    m = metrics
    human = [True] * (m.tp + m.fn) + [False] * (m.tn + m.fp)
    flagged = [True] * m.tp + [False] * m.fn + [True] * m.fp + [False] * m.tn
    flagged_now = [True] * failed + [False] * (graded - failed)
    try:
        found = estimate(flagged_now, human, flagged, rounds=1000, seed=0)
    except ValueError:
        point = corrected_rate(failed / graded, m.tpr, m.tnr) if m.n else float("nan")
        return point, float("nan"), float("nan")
    return found.corrected, found.low, found.high


# ---------------------------------------------------------------- tables


def _counts(rows: pd.DataFrame) -> dict[str, int]:
    passed = rows["passed"].astype("boolean")
    status = rows["status"] if "status" in rows else pd.Series("", index=rows.index)
    skipped = int((status == "skipped").sum())
    return {
        "n": len(rows),
        "passed": int(verdict_mask(passed, True).sum()),
        "failed": int(verdict_mask(passed, False).sum()),
        "ungraded": int(passed.isna().sum()) - skipped,
        "skipped": skipped,
    }


def _summary(
    results: pd.DataFrame,
    metrics: dict[str, dict[str, Metrics]],
    limits: dict[str, float],
    failing: set[str],
) -> pd.DataFrame:
    table = collapse_repeats(results)
    flaky = flakiness(results).groupby("eval")["flakiness"].mean() if "repeat" in results else None
    rows = []
    for eval_id, part in table.groupby("eval", sort=False):
        c = _counts(part)
        graded = c["passed"] + c["failed"]
        low, high = wilson(c["failed"], graded)
        aligned = _alignment(metrics.get(str(eval_id), {}))
        fixed, fixed_low, fixed_high = corrected(c["failed"], graded, aligned)
        limit = limits.get(str(eval_id))
        rows.append(
            {
                "eval": eval_id,
                "failure_mode": _first(part, "failure_mode"),
                "kind": _first(part, "kind"),
                **c,
                "pass_rate": c["passed"] / graded if graded else float("nan"),
                "fail_rate": c["failed"] / graded if graded else float("nan"),
                "fail_low": low,
                "fail_high": high,
                "corrected_fail_rate": fixed,
                "corrected_low": fixed_low,
                "corrected_high": fixed_high,
                "alignment": aligned.split if aligned else None,
                "threshold": limit if limit is not None else float("nan"),
                "gate": "" if limit is None else ("FAIL" if eval_id in failing else "ok"),
                **_spent(results, eval_id),
                "flakiness": float(flaky.get(eval_id, float("nan"))) if flaky is not None else None,
            }
        )
    frame = pd.DataFrame(rows)
    return frame.drop(columns=["flakiness"]) if flaky is None and len(frame) else frame


def _spent(results: pd.DataFrame, eval_id: Any) -> dict[str, Any]:
    rows = results[results["eval"] == eval_id]
    return {
        "tokens": int(rows["tokens"].sum()) if "tokens" in rows else 0,
        "cost_usd": float(rows["cost_usd"].sum()) if "cost_usd" in rows else 0.0,
    }


def _first(rows: pd.DataFrame, column: str) -> Any:
    return rows[column].iloc[0] if column in rows and len(rows) else None


def _by_failure_mode(results: pd.DataFrame) -> pd.DataFrame:
    table = collapse_repeats(results)
    if "failure_mode" not in table or not len(table):
        return pd.DataFrame(columns=["failure_mode", "evals", "n", "failed", "fail_rate"])
    frame = pd.DataFrame(
        {
            "failure_mode": table["failure_mode"],
            "eval": table["eval"],
            "trace_id": table["trace_id"],
            "failed": verdict_mask(table["passed"], False),
            "graded": table["passed"].astype("boolean").notna(),
        }
    )
    per_trace = frame.groupby(["failure_mode", "trace_id"], sort=False).agg(
        failed=("failed", "any"), graded=("graded", "any")
    )
    out = per_trace.groupby(level=0, sort=False).agg(
        n=("failed", "size"), failed=("failed", "sum"), graded=("graded", "sum")
    )
    out["fail_rate"] = out["failed"] / out["graded"].where(out["graded"] > 0)
    out["evals"] = frame.groupby("failure_mode", sort=False)["eval"].nunique()
    return out.reset_index()[["failure_mode", "evals", "n", "failed", "fail_rate"]]


def compare_runs(results: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Per eval: pass rate now and before, the change and its p-value, new failures.

    ``change`` is ``regression`` or ``improvement`` when the pass rates differ at p < 0.05
    (two-proportion z-test), else ``unchanged``; ``new`` and ``removed`` for evals in one run
    only. ``new_failures`` counts traces in both runs that passed before and fail now;
    ``examples`` names some (or failing traces now, when the runs share no traces).
    """
    now, before = collapse_repeats(results), collapse_repeats(previous)
    rows = []
    order = list(dict.fromkeys([*now["eval"], *before["eval"]]))
    for eval_id in order:
        a, b = now[now["eval"] == eval_id], before[before["eval"] == eval_id]
        rows.append(_change(eval_id, a, b))
    return pd.DataFrame(rows)


def _change(eval_id: Any, now: pd.DataFrame, before: pd.DataFrame) -> dict[str, Any]:
    cn, cb = _counts(now), _counts(before)
    gn, gb = cn["passed"] + cn["failed"], cb["passed"] + cb["failed"]
    rate = cn["passed"] / gn if gn else float("nan")
    prior = cb["passed"] / gb if gb else float("nan")
    p = two_proportion_p(cn["passed"], gn, cb["passed"], gb)
    if not len(before) or not len(now):
        change = "new" if len(now) else "removed"
    elif p < 0.05:
        change = "regression" if rate < prior else "improvement"
    else:
        change = "unchanged"
    fail_now = now.loc[verdict_mask(now["passed"], False), "trace_id"]
    passed_before = set(before.loc[verdict_mask(before["passed"], True), "trace_id"])
    newly = [str(t) for t in fail_now if t in passed_before]
    versions = set(now.get("version", pd.Series(dtype=object))) ^ set(
        before.get("version", pd.Series(dtype=object))
    )
    return {
        "eval": eval_id,
        "failure_mode": _first(now if len(now) else before, "failure_mode"),
        "previous_pass_rate": prior,
        "pass_rate": rate,
        "delta": rate - prior,
        "p_value": p,
        "change": change,
        "version_changed": bool(versions) and bool(len(now)) and bool(len(before)),
        "new_failures": len(newly),
        "examples": ", ".join((newly or [str(t) for t in fail_now])[:EXAMPLES]),
    }


def _examples(results: pd.DataFrame, traces: pd.DataFrame | None, clean: Redactor) -> pd.DataFrame:
    table = collapse_repeats(results)
    failing = table[verdict_mask(table["passed"], False)]
    columns = ["eval", "trace_id", "reason"] if "reason" in table else ["eval", "trace_id"]
    picked = failing.groupby("eval", sort=False).head(EXAMPLES)[columns].reset_index(drop=True)
    if traces is not None and len(picked):
        text = traces.set_index(traces["trace_id"].astype(str))[["input", "output"]]
        picked = picked.join(text, on="trace_id")
    for column in ("reason", "input", "output"):
        if column in picked:
            picked[column] = picked[column].map(lambda v: clean(v) if isinstance(v, str) else v)
    return picked


# ---------------------------------------------------------------- terminal


def _pct(value: float) -> str:
    return "—" if value != value else f"{value:.1%}"


def _corrected_text(row: dict[Any, Any]) -> str:
    point, low, high = row["corrected_fail_rate"], row["corrected_low"], row["corrected_high"]
    if point != point:
        return "—"
    if low != low or high != high:
        return _pct(point)
    return f"{_pct(point)} ({low:.1%}-{high:.1%})"


def _table_lines(s: pd.DataFrame) -> list[str]:
    rows = s.to_dict("records")
    wide = max(4, *(len(str(r["eval"])) for r in rows))
    mode = max(12, *(len(str(r["failure_mode"])) for r in rows))
    lines = [
        f"{'eval':<{wide}}  {'failure mode':<{mode}} {'pass':>6} {'fail':>6} {'ungr.':>6} "
        f"{'pass rate':>9}  {'corrected fail rate':<21} gate"
    ]
    for r in rows:
        gate = f"{r['gate']} (min {_pct(r['threshold'])})" if r["gate"] else ""
        lines.append(
            f"{r['eval']!s:<{wide}}  {r['failure_mode']!s:<{mode}} {r['passed']:>6} "
            f"{r['failed']:>6} {r['ungraded'] + r['skipped']:>6} {_pct(r['pass_rate']):>9}  "
            f"{_corrected_text(r):<21} {gate}"
        )
    return lines


def terminal_text(rep: Report) -> str:
    """The report as plain text for a terminal."""
    s = rep.summary
    if not len(s):
        return "Eval suite report: no results."
    lines = [
        f"Eval suite report: {int(s['n'].max())} traces x {len(s)} evals, "
        f"{int(s['tokens'].sum()):,} tokens and ${s['cost_usd'].sum():.4f} spent",
        "",
        *_table_lines(s),
    ]
    if rep.compare is not None:
        moved = rep.compare[rep.compare["change"].isin(["regression", "improvement"])]
        lines += ["", f"Compared with the previous run: {len(moved)} significant change(s)"]
        for r in moved.to_dict("records"):
            lines.append(
                f"  {r['change']}: {r['eval']} {_pct(r['previous_pass_rate'])} -> "
                f"{_pct(r['pass_rate'])} (p={r['p_value']:.3g}); e.g. {r['examples'] or '-'}"
            )
    if rep.gates:
        lines += ["", f"Gate FAILED for {len(rep.gates)} eval(s):"]
        lines += [f"  {g}" for g in rep.gates]
    return printable("\n".join(lines))  # ids and names may hold terminal escapes
