"""Disagreements side by side, and a lead settling them without erasing anyone's label.

An adjudication is one ``label`` event by the lead whose payload carries the settled
verdict, failure modes and note, flagged ``"adjudication": true``. The fold
(:mod:`workbench.coding`) keeps it apart from everyone's own label, the lead's included, and
shows it as the trace's label in ``ws.traces()`` and ``ws.failure_modes()``. Nothing is
overwritten: ``ws.history(trace_id)`` shows every label and the adjudication, and
``ws.undo(lead)`` takes an adjudication back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench.review.labels import (
    VERDICT,
    check_traces,
    choose_annotators,
    choose_items,
    reviewed,
    snapshot,
    who_is,
)
from workbench.store import Event

if TYPE_CHECKING:
    from workbench.workspace import Workspace

FIELDS: Final = ("verdict", "failure_modes", "note")
"""Per-annotator columns of :func:`disagreements`, named ``"<annotator>: <field>"``."""


def disagreements(
    ws: Workspace,
    item: str | None = None,
    *,
    annotators: Sequence[str] | None = None,
    traces: Sequence[str] | None = None,
    include_settled: bool = False,
) -> pd.DataFrame:
    """Return the traces on which people who reviewed them differ, their labels side by side.

    Args:
        ws: the workspace.
        item: ``"verdict"``, a failure mode (tagged by some, not by others), or None for
            either the verdict or any failure mode.
        annotators: whose labels to compare (default: everyone with a verdict somewhere).
        traces: only these traces (default: all).
        include_settled: also list traces a lead already adjudicated.

    Returns:
        One row per trace, in workspace order: ``trace_id``, ``differ_on`` (the items people
        differ on), ``settled`` (adjudicated), then ``"<annotator>: verdict"``,
        ``"<annotator>: failure_modes"`` and ``"<annotator>: note"`` for each annotator
        (None where they did not review the trace), then ``input`` and ``output``.

    Raises:
        KeyError: naming an unknown item or an annotator who reviewed nothing.

    Examples:
        >>> import workbench as wb
        >>> wb.disagreements(ws, "verdict")[["trace_id", "ana: verdict", "bob: verdict"]]
        ... # doctest: +SKIP
            trace_id ana: verdict bob: verdict
        0  tr_000412         fail         pass
    """
    state = snapshot(ws)
    people = choose_annotators(state.labels, annotators)
    items = choose_items(state.modes, None if item is None else [item])
    chosen = check_traces(traces)
    rows = reviewed(state.labels)
    rows = rows[rows["annotator"].isin(people)]
    if chosen is not None:
        rows = rows[rows["trace_id"].isin(list(chosen))]
    settled = set(state.adjudications["trace_id"])
    found: list[dict[str, Any]] = []
    for trace_id, group in rows.groupby("trace_id", sort=False):
        if len(group) < 2 or (trace_id in settled and not include_settled):
            continue
        differ = _differ_on(group, items)
        if differ:
            found.append(_side_by_side(str(trace_id), group, differ, trace_id in settled, people))
    return _frame(ws, found, people)


def _differ_on(group: pd.DataFrame, items: Sequence[str]) -> list[str]:
    differ = []
    for item in items:
        if item == VERDICT:
            answers = set(group["verdict"])
        else:
            answers = {item in modes for modes in group["failure_modes"]}
        if len(answers) > 1:
            differ.append(item)
    return differ


def _side_by_side(
    trace_id: str, group: pd.DataFrame, differ: list[str], settled: bool, people: list[str]
) -> dict[str, Any]:
    row: dict[str, Any] = {"trace_id": trace_id, "differ_on": differ, "settled": settled}
    by_person = {label["annotator"]: label for label in group.to_dict("records")}
    for person in people:
        label = by_person.get(person)
        for name in FIELDS:
            value = None if label is None else label[name]
            if value is not None and name == "failure_modes":
                value = list(value)
            row[f"{person}: {name}"] = value
    return row


def _frame(ws: Workspace, found: list[dict[str, Any]], people: list[str]) -> pd.DataFrame:
    columns = ["trace_id", "differ_on", "settled", *(f"{p}: {f}" for p in people for f in FIELDS)]
    frame = pd.DataFrame(found, columns=columns, dtype=object)
    frame["settled"] = frame["settled"].astype(bool)
    texts = ws.traces()[["trace_id", "input", "output"]]
    frame = frame.merge(texts, on="trace_id", how="left")
    order = {t: i for i, t in enumerate(texts["trace_id"])}
    frame = frame.sort_values("trace_id", key=lambda ids: ids.map(order), kind="stable")
    return frame.reset_index(drop=True)


def adjudicate(
    ws: Workspace,
    trace_id: str,
    verdict: str,
    failure_modes: Sequence[str] = (),
    note: str | None = None,
    *,
    lead: str | None = None,
) -> Event:
    """Settle a trace's label: append one event; everyone's own label stays as it was.

    The same as :meth:`Workspace.adjudicate`, with the person deciding called ``lead``.

    From then on ``ws.traces()`` and ``ws.failure_modes()`` show the settled label for the
    trace (``ws.traces(annotator=...)`` still shows each person's own). Adjudicating again
    replaces the settled label; ``ws.undo(lead)`` takes the last adjudication back.

    Args:
        ws: the workspace.
        trace_id: the trace.
        verdict: ``"pass"`` or ``"fail"``.
        failure_modes: the failure modes the trace has (none for a pass).
        note: why, in a sentence (kept with the event).
        lead: who decides (default: the workspace's annotator setting).

    Returns:
        The appended event (kind ``label``, payload flagged ``"adjudication": true``).

    Raises:
        KeyError: when the trace is not in the workspace.
        ValueError: for a verdict other than pass/fail, or failure modes on a pass.

    Examples:
        >>> wb.adjudicate(ws, "tr_000412", "fail", ["invented_policy"],
        ...               note="the 90-day rule is not in the policy", lead="ana")
        ... # doctest: +SKIP
        Event(id=913, kind='label', trace_id='tr_000412', annotator='ana', ...)
    """
    lead = who_is(ws, lead, "lead")
    return ws.adjudicate(trace_id, verdict, failure_modes, note, annotator=lead)


def settled_labels(ws: Workspace) -> pd.DataFrame:
    """Return the adjudicated labels: one row per settled trace (``annotator`` is the lead).

    Columns: ``trace_id``, ``annotator``, ``verdict``, ``note``, ``failure_modes``,
    ``labelled_at``.
    """
    return snapshot(ws).adjudications.copy()
