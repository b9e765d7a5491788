"""Simulated reviewers for demos and template notebooks on the sample data.

The sample data comes with a ground-truth file (which failure modes were seeded in
which trace). The workbench never reads it on its own; the demo and the template
notebooks read it here, on purpose, to stand in for people: a simulated reviewer
labels a trace the way the ground truth says, makes mistakes at a chosen rate, and
writes short notes the way people do. Everything it writes goes through the normal
workspace API, so the rest of the loop cannot tell it from a person.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from workbench.suite import Suite
    from workbench.workspace import Workspace

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
"""The sample data shipped with the repository."""

NOTES: dict[str, tuple[str, ...]] = {
    "malformed_tool_args": (
        "tool call arguments are broken JSON",
        "lookup failed: args not valid json",
        "bad JSON in the tool call",
    ),
    "missing_tool_call": (
        "answered the order status without looking it up",
        "never called the order tool, made up a status",
        "no lookup before answering",
    ),
    "leaked_internal_id": (
        "shows an internal id to the customer",
        "leaked internal reference in the reply",
        "customer sees our warehouse code",
    ),
    "overlong_reply": (
        "way too long, rambles",
        "reply is a wall of text",
        "far longer than needed",
    ),
    "wrong_language": (
        "customer wrote in another language, reply in English",
        "wrong language",
        "answered in English to a non-English customer",
    ),
    "invented_policy": (
        "made up a refund rule",
        "policy in the reply is not what get_policy said",
        "promised something the policy does not allow",
    ),
    "ignored_constraint": (
        "ignored the customer's budget",
        "customer said no leather, got leather",
        "did not respect the size the user asked for",
    ),
    "dismissive_tone": (
        "rude and dismissive",
        "brushes the customer off",
        "tone is curt and annoyed",
    ),
    "premature_handoff": (
        "handed off to a human for no reason",
        "escalated when it could have answered",
        "gave up and escalated too early",
    ),
}
"""Short notes a reviewer might write for each seeded failure mode."""


def ground_truth(path: str | Path | None = None) -> pd.DataFrame:
    """The seeded failure modes of the sample traces: trace_id, week, failed, failure_modes.

    ``failure_modes`` is a list of names (empty for passing traces).
    """
    frame = pd.read_csv(path or SAMPLE_DIR / "ground_truth.csv", dtype={"trace_id": str})
    frame["failure_modes"] = (
        frame["failure_modes"].fillna("").map(lambda text: [m for m in str(text).split(";") if m])
    )
    frame["failed"] = frame["failed"].astype(bool)
    return frame


def simulate_reviews(
    ws: Workspace,
    trace_ids: Iterable[str],
    annotator: str,
    *,
    truth: pd.DataFrame | None = None,
    error_rate: float = 0.05,
    seed: int = 0,
) -> int:
    """Label traces as a reviewer would, from the ground truth with a given error rate.

    A simulated reviewer gives the true verdict, tags the true failure modes and
    writes a note; with probability ``error_rate`` it gets the verdict wrong, and
    independently it misses a mode. Returns the number of traces labelled.

    Examples:
        >>> simulate_reviews(ws, ids[:20], "ana", error_rate=0.1)  # doctest: +SKIP
        20
    """
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
    truth = ground_truth() if truth is None else truth
    seeded: dict[str, list[str]] = dict(zip(truth["trace_id"], truth["failure_modes"], strict=True))
    rng = random.Random(f"{seed}:{annotator}")
    count = 0
    for trace_id in trace_ids:
        if trace_id not in seeded:
            raise KeyError(f"trace {trace_id!r} is not in the ground truth")
        true_modes = seeded[trace_id]
        modes = [m for m in true_modes if rng.random() >= error_rate]
        failed = bool(true_modes) != (rng.random() < error_rate)
        if failed and not modes and true_modes:
            modes = true_modes[:1]
        _review(ws, trace_id, annotator, failed, modes if failed else [], rng)
        count += 1
    return count


def _review(
    ws: Workspace,
    trace_id: str,
    annotator: str,
    failed: bool,
    modes: list[str],
    rng: random.Random,
) -> None:
    """Write one simulated review through the workspace API."""
    if not failed:
        ws.label(trace_id, "pass", annotator=annotator)
        return
    note = "; ".join(rng.choice(NOTES.get(m, (m.replace("_", " "),))) for m in modes)
    ws.label(trace_id, "fail", note=note or "something is off", annotator=annotator)
    for mode in modes:
        ws.tag(trace_id, mode, annotator=annotator)


def define_sample_modes(ws: Workspace, annotator: str) -> None:
    """Write the sample's failure-mode definitions (from sample_data/README.md) into ws."""
    for name, definition in SAMPLE_DEFINITIONS.items():
        ws.define(name, definition, annotator=annotator)


SAMPLE_DEFINITIONS: dict[str, str] = {
    "malformed_tool_args": "A tool call's arguments are not valid JSON for its schema.",
    "missing_tool_call": "The reply answers an order or policy question without a lookup.",
    "leaked_internal_id": "The reply shows an internal id (customer id, warehouse bin).",
    "overlong_reply": "The reply runs far past the few sentences the prompt asks for.",
    "wrong_language": "The reply is not in the customer's language.",
    "invented_policy": "The reply states a store rule that get_policy did not return.",
    "ignored_constraint": "The reply ignores a limit the customer stated (size, budget, date).",
    "dismissive_tone": "The reply brushes the customer off or sounds annoyed.",
    "premature_handoff": "The agent hands over to a person when the rules do not call for it.",
}
"""One-line definitions of the sample's seeded failure modes."""


def run_demo(
    out: str | Path = "demo-workspace", *, log: Callable[[str], None] = print
) -> dict[str, Path]:
    """Run the whole weekly loop on the sample data, headless, and say where everything went.

    Last week's traces are labelled by a simulated reviewer (the sample's ground truth
    with a 2% error rate), standing in for the person who would tag them in the
    Reviewer. Then: cluster, count failure modes, propose and validate evals, keep
    those that agree with the labels (TPR and TNR at least 0.9 on the test split) in
    the suite, run it on this week, compare the weeks and write the reports.

    Returns:
        Where the workspace, the suite and the reports were written.
    """
    from workbench.cluster import cluster, cluster_summary
    from workbench.compare import compare_periods, last_and_this
    from workbench.review.meeting import session_report
    from workbench.suite import Suite, report
    from workbench.traces import load_traces
    from workbench.workspace import open_workspace

    folder = Path(out)
    traces = load_traces(SAMPLE_DIR / "traces.jsonl")
    last_week, this_week = last_and_this(traces)
    log(f"Loaded {len(traces)} traces: {len(last_week)} last week, {len(this_week)} this week.")
    ws = open_workspace(folder / "workspace")
    ws.add_traces(traces)
    clusters = cluster(last_week, workspace=ws, show_progress=False)
    summary = cluster_summary(clusters, last_week)
    log(f"\nLast week in {len(summary) - 1} clusters; the largest:")
    log(summary[["name", "size"]].head(6).to_string(index=False))
    define_sample_modes(ws, "demo-reviewer")
    simulate_reviews(ws, last_week["trace_id"], "demo-reviewer", error_rate=0.02)
    log("\nFailure modes in last week's labels (simulated reviewer):")
    log(ws.failure_modes()[["name", "count", "share"]].to_string(index=False))
    suite = Suite(ws.evals_dir, workspace=ws)
    log("\nProposed evals, measured once on the held-out test split:")
    log(_accept_evals(ws, suite).to_string(index=False))
    results_last, results_this = suite.run(last_week), suite.run(this_week)
    results_this.to_parquet(folder / "results_this_week.parquet")
    suite_page = report(results_this, previous=results_last, suite=suite, traces=this_week)
    suite_page.to_html(folder / "suite_report.html")
    both = pd.concat([results_last, results_this])
    comparison = compare_periods(last_week, this_week, workspace=ws, suite_results=both)
    log("\nWhat changed this week:")
    log(comparison.summary()[["section", "what"]].to_string(index=False))
    paths = {
        "workspace": ws.path,
        "suite": ws.evals_dir,
        "suite report": folder / "suite_report.html",
        "team report": session_report(ws, folder / "team_report.html"),
        "results": folder / "results_this_week.parquet",
    }
    log("\nWritten:\n" + "\n".join(f"  {name:<13} {path}" for name, path in paths.items()))
    return paths


def _accept_evals(ws: Workspace, suite: Suite, bar: float = 0.9) -> pd.DataFrame:
    """Propose evals for every failure mode; keep the best when it clears ``bar`` on test."""
    from workbench.evalgen import propose_evals, validate

    rows = []
    for mode in ws.failure_modes()["name"]:
        with warnings.catch_warnings():  # few-label and no-model notes go in the table
            warnings.simplefilter("ignore")
            candidates = propose_evals(ws, mode, kinds=("assertion",))
            best = validate(candidates[0], ws, split="test") if candidates else None
        if best is None:
            rows.append({"failure mode": mode, "eval": "-", "test TPR": None, "test TNR": None})
            continue
        test = best.metrics["test"]
        kept = test.tpr >= bar and test.tnr >= bar
        if kept:
            suite.add(best, replace=True)
        rows.append(
            {
                "failure mode": mode,
                "eval": best.id if kept else "(needs a judge: no check reached the bar)",
                "test TPR": round(test.tpr, 2),
                "test TNR": round(test.tnr, 2),
            }
        )
    return pd.DataFrame(rows)
