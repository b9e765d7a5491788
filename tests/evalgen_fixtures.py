"""Helpers for the eval-generation tests: workspaces labelled from the sample's answer key."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

import workbench as wb
from workbench.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
CODE_MODES = (
    "leaked_internal_id",
    "malformed_tool_args",
    "missing_tool_call",
    "overlong_reply",
    "wrong_language",
)
JUDGE_MODES = ("dismissive_tone", "ignored_constraint", "invented_policy", "premature_handoff")


def ground_truth() -> pd.DataFrame:
    """The sample's answer key, with ``modes`` as a list."""
    truth = pd.read_csv(REPO / "sample_data" / "ground_truth.csv", keep_default_na=False)
    truth["modes"] = truth["failure_modes"].map(lambda text: [m for m in text.split(";") if m])
    return truth


def sample_traces() -> pd.DataFrame:
    """The 1,200 sample traces."""
    return wb.load_traces(REPO / "sample_data" / "traces.jsonl")


def labelled_workspace(
    path: Path, trace_ids: Iterable[str] | None = None, annotator: str = "truth"
) -> Workspace:
    """A workspace with the sample traces, labelled pass/fail and tagged from the answer key.

    With ``trace_ids``, only those traces are added and labelled.
    """
    traces = sample_traces()
    truth = ground_truth()
    if trace_ids is not None:
        keep = set(trace_ids)
        traces = traces[traces["trace_id"].isin(keep)]
        truth = truth[truth["trace_id"].isin(keep)]
    ws = wb.open_workspace(path)
    ws.add_traces(traces)
    for row in truth.itertuples():
        ws.label(row.trace_id, "fail" if row.failed else "pass", annotator=annotator)
        for mode in row.modes:
            ws.tag(row.trace_id, mode, annotator=annotator)
    return ws


def subset(mode: str, n_failing: int, n_clean: int) -> list[str]:
    """Ids of the first ``n_failing`` traces with the mode and ``n_clean`` traces without any."""
    truth = ground_truth()
    failing = truth[truth["modes"].map(lambda modes: mode in modes)]["trace_id"]
    clean = truth[truth["failed"] == 0]["trace_id"]
    return [*failing.head(n_failing), *clean.head(n_clean)]
