"""The label tables: how the folded labels become frames, and the tables the workspace shows.

:mod:`workbench.coding` folds the log into labels; :func:`label_frame` and
:func:`replace_rows` turn them into the frames of a :class:`workbench.coding.Coding` (the
second touching only the rows that changed, so a new event costs little on a long log).
:func:`with_labels`, :func:`copy_labels` and :func:`mode_table` make what ``traces()``,
``labels()`` and ``failure_modes()`` return: fresh frames whose lists are fresh too, so
changing them can not change the state the workspace keeps between calls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

import pandas as pd

LABEL_COLUMNS: Final[tuple[str, ...]] = (
    "trace_id",
    "annotator",
    "verdict",
    "note",
    "failure_modes",
    "labelled_at",
)
"""Columns of a label table (one row per trace and annotator)."""

VIEW_COLUMNS: Final = ("verdict", "note", "failure_modes", "annotator", "labelled_at")
"""Label columns that :func:`with_labels` adds to the trace table."""

MODE_COLUMNS: Final[tuple[str, ...]] = ("name", "definition", "count", "share")
"""Columns of :func:`mode_table`."""

LabelRow: TypeAlias = tuple[str, str, str | None, str | None, list[str], pd.Timestamp | None]
"""One row of a label table, in the order of :data:`LABEL_COLUMNS`."""


@dataclass
class Label:
    """One annotator's label of one trace, while the log is folded."""

    verdict: str | None = None
    note: str | None = None
    failure_modes: list[str] = field(default_factory=list)
    labelled_at: pd.Timestamp | None = None
    last_event: int = 0
    """The id of the last event that set the label (rows are ordered by it)."""


def label_rows(labels: Mapping[str, Mapping[str, Label]]) -> list[LabelRow]:
    """Flatten labels by trace and annotator into rows, least recently labelled first."""
    found = [
        (label.last_event, trace_id, annotator, label)
        for trace_id, by_annotator in labels.items()
        for annotator, label in by_annotator.items()
    ]
    found.sort(key=lambda item: item[0])
    return [
        (
            trace_id,
            annotator,
            label.verdict,
            label.note,
            list(label.failure_modes),
            label.labelled_at,
        )
        for _, trace_id, annotator, label in found
    ]


def label_frame(rows: Sequence[LabelRow]) -> pd.DataFrame:
    """Return the rows as a label table (:data:`LABEL_COLUMNS`; ``labelled_at`` in UTC)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(LABEL_COLUMNS)
    frame = pd.DataFrame(
        {
            name: pd.Series(list(values), dtype="object")
            for name, values in zip(LABEL_COLUMNS, columns, strict=True)
        }
    )
    frame["labelled_at"] = pd.to_datetime(frame["labelled_at"], utc=True)
    return frame


def replace_rows(
    frame: pd.DataFrame, keys: Collection[tuple[str, str]], rows: Sequence[LabelRow]
) -> pd.DataFrame:
    """Return a label table without the rows of the (trace, annotator) ``keys``, plus ``rows``.

    The new rows go last, in the order given. ``frame`` is not changed.
    """
    traces = {trace_id for trace_id, _ in keys}
    stale = frame["trace_id"].isin(traces).to_numpy(copy=True)
    pairs = zip(frame["trace_id"][stale], frame["annotator"][stale], strict=True)
    stale[stale] = [pair in keys for pair in pairs]
    return pd.concat([frame[~stale], label_frame(rows)], ignore_index=True)


def with_labels(traces: pd.DataFrame, view: pd.DataFrame) -> pd.DataFrame:
    """Return the trace table with one label per trace as extra columns.

    Args:
        traces: the canonical trace table.
        view: one label per trace, as :meth:`workbench.coding.Coding.view` returns.

    Returns:
        ``traces`` plus :data:`VIEW_COLUMNS` (None / [] / NaT where unlabelled). A trace
        column with one of those names is kept with the suffix ``_trace``.
    """
    labels = view[["trace_id", *VIEW_COLUMNS]]
    frame = traces.merge(labels, on="trace_id", how="left", suffixes=("_trace", ""))
    for name in ("verdict", "note", "annotator"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    modes = [list(m) if isinstance(m, list) else [] for m in frame["failure_modes"].tolist()]
    frame["failure_modes"] = pd.Series(modes, index=frame.index, dtype=object)
    return frame


def copy_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of a label table, its lists of failure modes copied too."""
    copy = labels.copy()
    copy["failure_modes"] = pd.Series(
        [list(m) for m in copy["failure_modes"].tolist()], index=copy.index, dtype=object
    )
    return copy


def mode_table(modes: Mapping[str, str], view: pd.DataFrame) -> pd.DataFrame:
    """Count the traces in each failure mode, most frequent first.

    Args:
        modes: failure mode name -> definition, in the order they appeared.
        view: one label per trace, as :meth:`workbench.coding.Coding.view` returns.

    Returns:
        Columns ``name``, ``definition``, ``count`` (traces tagged with the mode) and
        ``share`` (of the traces whose verdict is ``fail``, the fraction tagged with the
        mode; NaN while no trace failed). Tags on traces not marked as failing count in
        ``count`` but not in ``share``.
    """
    tagged = view[["trace_id", "verdict", "failure_modes"]].explode("failure_modes")
    tagged = tagged.dropna(subset=["failure_modes"])
    counts = tagged.groupby("failure_modes")["trace_id"].nunique()
    failing_tagged = tagged[tagged["verdict"] == "fail"]
    fail_counts = failing_tagged.groupby("failure_modes")["trace_id"].nunique()
    failing = int((view["verdict"] == "fail").sum())
    names = list(modes)
    table = pd.DataFrame(
        {
            "name": pd.Series(names, dtype="object"),
            "definition": pd.Series([modes[n] for n in names], dtype="object"),
            "count": pd.Series([int(counts.get(n, 0)) for n in names], dtype="int64"),
            "share": pd.Series(
                [fail_counts.get(n, 0) / failing if failing else float("nan") for n in names],
                dtype="float64",
            ),
        }
    )
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
