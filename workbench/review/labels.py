"""The labels a team review works on: everyone's own labels, the settled ones, ratings.

Every function of :mod:`workbench.review` reads one snapshot of the annotation log, folded
by :func:`workbench.coding.derive`: the labels each person gave (a lead's adjudications are
kept apart, so nobody's own label is replaced) and the adjudicated labels.

An *item* is one question people answer about a trace: ``"verdict"`` (pass or fail) or a
failure mode (present or absent). Only traces a person *reviewed* (gave a verdict) count:
there, a failure mode they did not tag counts as absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

import pandas as pd

from workbench import coding
from workbench.coding import Coding
from workbench.workspace import ANNOTATOR_ENV, NoAnnotatorError

if TYPE_CHECKING:
    from workbench.workspace import Workspace

VERDICT: Final = "verdict"
"""The item name of the pass/fail verdict."""

CODES: Final = {"pass": 0.0, "fail": 1.0}
"""How a verdict is coded in a ratings matrix (a failure mode: 1.0 tagged, 0.0 not)."""


def snapshot(ws: Workspace) -> Coding:
    """Fold the log once: own labels (``.labels``) and settled ones (``.adjudications``).

    Examples:
        >>> snapshot(ws).labels[["trace_id", "annotator", "verdict"]]  # doctest: +SKIP
    """
    return coding.derive(ws.history())


def reviewed(labels: pd.DataFrame) -> pd.DataFrame:
    """Return the labels that carry a verdict (the traces each person actually reviewed)."""
    return labels[labels["verdict"].notna()].reset_index(drop=True)


def choose_annotators(labels: pd.DataFrame, annotators: Sequence[str] | None) -> list[str]:
    """Return the annotators to compare: the given ones, or everyone who reviewed a trace.

    Raises:
        TypeError: for a single name instead of a list.
        KeyError: naming the annotators who reviewed nothing, and those who did.
    """
    present = sorted(set(reviewed(labels)["annotator"]))
    if annotators is None:
        return present
    if isinstance(annotators, str):
        raise TypeError(f"annotators takes a list of names, e.g. [{annotators!r}], not a str")
    chosen = list(dict.fromkeys(coding.check_name(a, "annotator") for a in annotators))
    missing = [a for a in chosen if a not in present]
    if missing:
        raise KeyError(
            f"no reviewed traces from annotator(s) {missing}; annotators with verdicts: {present}"
        )
    return chosen


def choose_items(modes: Iterable[str], items: Sequence[str] | None) -> list[str]:
    """Return the items to measure: ``"verdict"`` and every failure mode, or those given.

    Raises:
        KeyError: naming unknown items and listing the known ones.
    """
    known = [VERDICT, *modes]
    if items is None:
        return known
    if isinstance(items, str):
        raise TypeError(f"items takes a list, e.g. [{items!r}], not a str")
    unknown = [item for item in items if item not in known]
    if unknown:
        raise KeyError(f"no item named {unknown}; items are 'verdict' and the modes {known[1:]}")
    return list(dict.fromkeys(items))


def check_traces(traces: Sequence[str] | None) -> set[str] | None:
    """Return the trace ids as a set (None: all traces); refuse a single id."""
    if traces is None:
        return None
    if isinstance(traces, str):
        raise TypeError(f"traces takes a list of trace ids, e.g. [{traces!r}], not one id")
    return {str(t) for t in traces}


def ratings(
    labels: pd.DataFrame,
    item: str,
    annotators: Sequence[str],
    traces: set[str] | None = None,
) -> pd.DataFrame:
    """Return the ratings matrix of one item: annotators x traces, NaN where not reviewed.

    Args:
        labels: own labels (:data:`workbench.coding.LABEL_COLUMNS`).
        item: ``"verdict"`` or a failure mode name.
        annotators: the rows, in this order.
        traces: only these traces (None: all reviewed ones).

    Returns:
        A float frame (index ``annotator``, columns ``trace_id`` sorted) coded by
        :data:`CODES` for the verdict, 1.0 / 0.0 for a failure mode tagged / not.

    Examples:
        >>> ratings(snapshot(ws).labels, "verdict", ["ana", "bob"])  # doctest: +SKIP
        trace_id   t0   t1
        annotator
        ana       1.0  0.0
        bob       1.0  NaN
    """
    rows = reviewed(labels)
    rows = rows[rows["annotator"].isin(list(annotators))]
    if traces is not None:
        rows = rows[rows["trace_id"].isin(list(traces))]
    if item == VERDICT:
        values = [CODES[v] for v in rows["verdict"]]
    else:
        values = [1.0 if item in modes else 0.0 for modes in rows["failure_modes"]]
    long = pd.DataFrame(
        {"annotator": rows["annotator"], "trace_id": rows["trace_id"], "value": values},
        dtype=object,
    )
    wide = long.pivot(index="annotator", columns="trace_id", values="value")
    wide = wide.reindex(index=list(annotators), columns=sorted(wide.columns))
    wide.index.name, wide.columns.name = "annotator", "trace_id"
    return wide.astype("float64")


def describe(item: str, value: float) -> str:
    """Return a rating in words: ``'fail'``, ``'pass'``, ``'tagged'`` or ``'not tagged'``."""
    if item == VERDICT:
        return "fail" if value == CODES["fail"] else "pass"
    return "tagged" if value == 1.0 else "not tagged"


def who_is(ws: Workspace, name: str | None, role: str) -> str:
    """Return a person's name: the one given, else the workspace's (:meth:`Workspace.annotator`).

    Raises:
        NoAnnotatorError: (a ValueError) when no name is given or configured; it names the
            role and says how to set one.
    """
    if name is not None:
        return coding.check_name(name, role)
    try:
        return ws.annotator()
    except NoAnnotatorError:
        raise NoAnnotatorError(
            f"who is the {role}? pass {role}='your-name', set {ANNOTATOR_ENV}, "
            "or run ws.set('annotator', 'your-name')"
        ) from None
