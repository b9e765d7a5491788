"""The workbench: error analysis of LLM applications, in a notebook.

Load traces, see how the app fails, tag failures, and turn each failure mode into
an eval validated against human labels. Names are imported on first use, so
``import workbench`` stays quick and touches no network.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Functions named like the module that defines them are imported now: importing such a
# module later would otherwise replace the function with the module on this package.
from workbench.cluster import cluster, cluster_summary
from workbench.sample import sample
from workbench.traces import (
    TraceLoadError,
    TraceLoadWarning,
    load_traces,
    overview,
    show_trace,
    skipped,
)

if TYPE_CHECKING:
    from workbench import llm, suite
    from workbench.compare import (
        PeriodComparison,
        PeriodWarning,
        compare_periods,
        last_and_this,
        split_periods,
    )
    from workbench.evalgen import propose_evals, validate
    from workbench.review import (
        AgreementWarning,
        NotReadyError,
        Readiness,
        ReviewSession,
        adjudicate,
        disagreements,
        ensure_judge_ready,
        judge_readiness,
        open_review_session,
        review_session,
        review_sessions,
    )
    from workbench.review.agreement import agreement
    from workbench.review.audit import audit
    from workbench.review.meeting import session_report
    from workbench.suggest import Suggestions, saturation, suggest_failure_modes
    from workbench.suite.report import report
    from workbench.suite.suite import Suite
    from workbench.widgets.cluster_map import ClusterMap, cluster_map
    from workbench.widgets.eval_builder import EvalBuilder
    from workbench.widgets.failure_board import FailureModes
    from workbench.widgets.reviewer import Reviewer
    from workbench.workspace import TraceConflictWarning, Workspace, open_workspace

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "open_workspace": "workbench.workspace",
    "Workspace": "workbench.workspace",
    "TraceConflictWarning": "workbench.workspace",
    "Reviewer": "workbench.widgets.reviewer",
    "FailureModes": "workbench.widgets.failure_board",
    "EvalBuilder": "workbench.widgets.eval_builder",
    "review_session": "workbench.review",
    "open_review_session": "workbench.review",
    "review_sessions": "workbench.review",
    "ReviewSession": "workbench.review",
    "agreement": "workbench.review",
    "disagreements": "workbench.review",
    "adjudicate": "workbench.review",
    "judge_readiness": "workbench.review",
    "ensure_judge_ready": "workbench.review",
    "Readiness": "workbench.review",
    "AgreementWarning": "workbench.review",
    "NotReadyError": "workbench.review",
    "audit": "workbench.review",
    "cluster_map": "workbench.widgets.cluster_map",
    "ClusterMap": "workbench.widgets.cluster_map",
    "compare_periods": "workbench.compare",
    "PeriodComparison": "workbench.compare",
    "split_periods": "workbench.compare",
    "last_and_this": "workbench.compare",
    "PeriodWarning": "workbench.compare",
    "report": "workbench.suite",
    "Suite": "workbench.suite",
    "session_report": "workbench.review.meeting",
    "propose_evals": "workbench.evalgen",
    "validate": "workbench.evalgen",
    "suggest_failure_modes": "workbench.suggest",
    "Suggestions": "workbench.suggest",
    "saturation": "workbench.suggest",
}
"""Public name -> the module that defines it, imported when the name is first used."""

_MODULES = {"llm", "suite"}
"""Submodules reachable as attributes (``wb.llm.configure(...)``)."""

__all__ = [
    "AgreementWarning",
    "ClusterMap",
    "EvalBuilder",
    "FailureModes",
    "NotReadyError",
    "PeriodComparison",
    "PeriodWarning",
    "Readiness",
    "ReviewSession",
    "Reviewer",
    "Suggestions",
    "Suite",
    "TraceConflictWarning",
    "TraceLoadError",
    "TraceLoadWarning",
    "Workspace",
    "__version__",
    "adjudicate",
    "agreement",
    "audit",
    "cluster",
    "cluster_map",
    "cluster_summary",
    "compare_periods",
    "disagreements",
    "ensure_judge_ready",
    "judge_readiness",
    "last_and_this",
    "llm",
    "load_traces",
    "open_review_session",
    "open_workspace",
    "overview",
    "propose_evals",
    "report",
    "review_session",
    "review_sessions",
    "sample",
    "saturation",
    "session_report",
    "show_trace",
    "skipped",
    "split_periods",
    "suggest_failure_modes",
    "suite",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"workbench.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
