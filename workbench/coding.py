"""From open codes to failure modes: the current labels, derived from the annotation log.

Nothing here touches the database. The log (see :mod:`workbench.store.events`) is folded,
oldest event first, into a :class:`Coding`: the failure modes with their definitions, and
one label per trace and annotator (verdict, note, failure modes). The rules of the fold:

- ``label`` sets the annotator's verdict on the trace (``None`` clears it) and, when the
  payload has a ``note``, the note; ``note`` sets the note alone.
- ``tag`` / ``untag`` add / remove a failure mode on the annotator's label of the trace; a
  tag with a name nobody defined creates that failure mode (open coding).
- ``define`` creates a failure mode or replaces its definition.
- ``rename`` and ``merge`` act on every label: tags on the old names show under the new one.
- ``split`` moves the listed traces (for every annotator) from one failure mode to new ones;
  the old mode disappears when no trace is left in it.
- ``undo`` hides the event it names, as if it had never been appended. Undo is not undoable.
- A ``label`` whose payload has ``"adjudication": true`` is a lead settling a disagreement:
  its verdict, note and ``failure_modes`` become the trace's settled label (kept apart from
  everyone's own label, the lead's included) and :meth:`Coding.view` shows it for the trace.

Because the state is recomputed from the log, undoing a merge brings the merged modes back
with their tags, and history never loses a step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import pandas as pd

from workbench.store.events import EVENT_COLUMNS

VERDICTS: Final[tuple[str, ...]] = ("pass", "fail")
"""The verdicts a label can carry (or ``None``: not reviewed)."""

LABEL_COLUMNS: Final[tuple[str, ...]] = (
    "trace_id",
    "annotator",
    "verdict",
    "note",
    "failure_modes",
    "labelled_at",
)
"""Columns of :attr:`Coding.labels`."""

ADJUDICATION: Final = "adjudication"
"""Payload flag of a ``label`` event that settles a trace's label (see the module notes)."""

MODE_COLUMNS: Final[tuple[str, ...]] = ("name", "definition", "count", "share")
"""Columns of :func:`mode_table`."""


@dataclass
class _Label:
    """One annotator's label of one trace, while the log is folded."""

    verdict: str | None = None
    note: str | None = None
    failure_modes: list[str] = field(default_factory=list)
    labelled_at: pd.Timestamp | None = None
    last_event: int = 0


@dataclass(frozen=True)
class Coding:
    """The state of the annotation at one point of the log.

    Examples:
        >>> coding = derive(ws.history())  # doctest: +SKIP
        >>> list(coding.modes)  # doctest: +SKIP
        ['invented_policy', 'wrong_tool']
    """

    modes: Mapping[str, str]
    """Failure mode name -> definition, in the order the modes appeared."""

    labels: pd.DataFrame
    """One row per (trace, annotator) with a label (:data:`LABEL_COLUMNS`), least recently
    labelled first."""

    adjudications: pd.DataFrame = field(default_factory=lambda: _label_frame([]))
    """One row per settled trace (:data:`LABEL_COLUMNS`; ``annotator`` is the lead)."""

    def view(self, annotator: str | None = None) -> pd.DataFrame:
        """Return one label per trace: the given annotator's, or else the settled or latest one."""
        if annotator is not None:
            return self.labels[self.labels["annotator"] == annotator].reset_index(drop=True)
        latest = self.labels.drop_duplicates("trace_id", keep="last")
        if not self.adjudications.empty:
            unsettled = latest[~latest["trace_id"].isin(self.adjudications["trace_id"])]
            latest = pd.concat([unsettled, self.adjudications], ignore_index=True)
        return latest.reset_index(drop=True)

    def tagged(self, name: str) -> set[str]:
        """Return the ids of the traces that some annotator tagged with a failure mode."""
        return {
            trace_id
            for frame in (self.labels, self.adjudications)
            for trace_id, modes in zip(frame["trace_id"], frame["failure_modes"], strict=True)
            if name in modes
        }


def undone_ids(events: pd.DataFrame) -> set[int]:
    """Return the ids of the events that an ``undo`` event cancelled."""
    undos = events.loc[events["kind"] == "undo", "payload"]
    return {int(payload["event_id"]) for payload in undos}


def undo_target(events: pd.DataFrame, annotator: str) -> Any | None:
    """Return the annotator's last event that is not an undo and not undone (a row), or None.

    Examples:
        >>> undo_target(ws.history(), "ana").kind  # doctest: +SKIP
        'tag'
    """
    undone = undone_ids(events)
    mine = events[(events["annotator"] == annotator) & (events["kind"] != "undo")]
    mine = mine[~mine["id"].isin(undone)]
    return None if mine.empty else mine.iloc[-1]


def derive(events: pd.DataFrame) -> Coding:
    """Fold the log into the current failure modes and labels.

    Args:
        events: the log, oldest first, with the columns of
            :data:`workbench.store.events.EVENT_COLUMNS`.

    Examples:
        >>> derive(ws.history()).view()[["trace_id", "verdict"]]  # doctest: +SKIP
          trace_id verdict
        0      t-1    fail
    """
    fold = _Fold()
    undone = undone_ids(events)
    columns = events[list(EVENT_COLUMNS)].itertuples(index=False, name=None)
    for event in map(_EventRow._make, columns):
        if event.kind != "undo" and int(event.id) not in undone:
            fold.apply(event)
    return fold.result()


class _EventRow(NamedTuple):
    """One event of the log while folding (the columns of ``EVENT_COLUMNS``)."""

    id: int
    kind: str
    trace_id: str
    annotator: str
    payload: Mapping[str, Any]
    created_at: pd.Timestamp


class _Fold:
    """The mutable state of one pass over the log; :meth:`result` freezes it."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}
        self.labels: dict[str, dict[str, _Label]] = {}
        self.adjudicated: dict[str, dict[str, _Label]] = {}

    def apply(self, event: _EventRow) -> None:
        getattr(self, f"_on_{event.kind}")(event, event.payload)

    def _touch(self, event: _EventRow) -> _Label:
        label = self.labels.setdefault(event.trace_id, {}).setdefault(event.annotator, _Label())
        label.labelled_at = event.created_at
        label.last_event = int(event.id)
        return label

    def _on_label(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        if payload.get(ADJUDICATION):
            modes = _unique(payload.get("failure_modes", []))
            settled = _Label(payload.get("verdict"), payload.get("note"), modes)
            settled.labelled_at, settled.last_event = event.created_at, int(event.id)
            self.adjudicated[event.trace_id] = {event.annotator: settled}
            for name in modes:
                self.modes.setdefault(name, "")
            return
        label = self._touch(event)
        label.verdict = payload.get("verdict")
        if "note" in payload:
            label.note = payload["note"]

    def _on_note(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        self._touch(event).note = payload["note"]

    def _on_tag(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        name = payload["failure_mode"]
        label = self._touch(event)
        if name not in label.failure_modes:
            label.failure_modes.append(name)
        self.modes.setdefault(name, "")

    def _on_untag(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        label = self._touch(event)
        label.failure_modes = [m for m in label.failure_modes if m != payload["failure_mode"]]

    def _on_define(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        self.modes[payload["failure_mode"]] = payload.get("definition", "")

    def _on_rename(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        self._move({payload["old"]: payload["new"]}, self.labels)

    def _on_merge(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        into = payload["into"]
        self._move({source: into for source in payload["sources"]}, self.labels)
        self.modes[into] = payload.get("definition", self.modes.get(into, ""))

    def _on_split(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        name = payload["failure_mode"]
        for new, trace_ids in payload["parts"].items():
            chosen = {t: self.labels[t] for t in trace_ids if t in self.labels}
            self._move({name: new}, chosen)
            settled = {t: self.adjudicated[t] for t in trace_ids if t in self.adjudicated}
            self._move({name: new}, settled)
            self.modes.setdefault(new, "")
        still_used = any(name in label.failure_modes for label in self._all_labels())
        if not still_used:
            self.modes.pop(name, None)

    def _move(self, renames: Mapping[str, str], labels: Mapping[str, dict[str, _Label]]) -> None:
        """Rename failure modes on the given traces' labels (and in the mode list)."""
        for by_annotator in labels.values():
            for label in by_annotator.values():
                label.failure_modes = _unique(renames.get(m, m) for m in label.failure_modes)
        if labels is self.labels:
            self._move(renames, self.adjudicated)
            modes: dict[str, str] = {}
            for name, definition in self.modes.items():
                modes.setdefault(renames.get(name, name), definition)
            self.modes = modes

    def _all_labels(self) -> Iterable[_Label]:
        for by_annotator in (*self.labels.values(), *self.adjudicated.values()):
            yield from by_annotator.values()

    def result(self) -> Coding:
        labels, settled = _rows(self.labels), _rows(self.adjudicated)
        for _, _, label in (*labels, *settled):
            for name in label.failure_modes:
                self.modes.setdefault(name, "")
        return Coding(dict(self.modes), _label_frame(labels), _label_frame(settled))


def _rows(labels: Mapping[str, Mapping[str, _Label]]) -> list[tuple[str, str, _Label]]:
    """Flatten labels by trace and annotator, least recently labelled first."""
    rows = [
        (trace_id, annotator, label)
        for trace_id, by_annotator in labels.items()
        for annotator, label in by_annotator.items()
    ]
    rows.sort(key=lambda row: row[2].last_event)
    return rows


def _label_frame(rows: Sequence[tuple[str, str, _Label]]) -> pd.DataFrame:
    """Return labels as a frame with the columns :data:`LABEL_COLUMNS`."""
    return pd.DataFrame(
        {
            "trace_id": pd.Series([r[0] for r in rows], dtype="object"),
            "annotator": pd.Series([r[1] for r in rows], dtype="object"),
            "verdict": pd.Series([r[2].verdict for r in rows], dtype="object"),
            "note": pd.Series([r[2].note for r in rows], dtype="object"),
            "failure_modes": pd.Series([r[2].failure_modes for r in rows], dtype="object"),
            "labelled_at": pd.to_datetime(
                pd.Series([r[2].labelled_at for r in rows], dtype="object"), utc=True
            ),
        }
    )


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def mode_table(coding: Coding, view: pd.DataFrame) -> pd.DataFrame:
    """Count the traces in each failure mode, most frequent first.

    Args:
        coding: the derived state (for the names and definitions).
        view: one label per trace, as :meth:`Coding.view` returns.

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
    names = list(coding.modes)
    table = pd.DataFrame(
        {
            "name": pd.Series(names, dtype="object"),
            "definition": pd.Series([coding.modes[n] for n in names], dtype="object"),
            "count": pd.Series([int(counts.get(n, 0)) for n in names], dtype="int64"),
            "share": pd.Series(
                [fail_counts.get(n, 0) / failing if failing else float("nan") for n in names],
                dtype="float64",
            ),
        }
    )
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


# Checks made before a reorganising event is appended -----------------------------------------


def check_name(name: object, what: str = "failure mode name") -> str:
    """Return the name stripped of surrounding spaces; refuse non-strings and empty names."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a {what} must be a non-empty string, got {name!r}")
    return name.strip()


def check_known(coding: Coding, names: Sequence[str]) -> None:
    """Raise KeyError naming the names that are not failure modes."""
    unknown = [name for name in names if name not in coding.modes]
    if unknown:
        raise KeyError(f"no failure mode named {unknown}; known: {sorted(coding.modes)}")


def check_rename(coding: Coding, old: str, new: str) -> None:
    """Refuse to rename an unknown mode, or onto a name in use (merging is a separate act)."""
    check_known(coding, [old])
    if new == old:
        raise ValueError(f"failure mode {old!r} already has that name")
    if new in coding.modes:
        raise ValueError(
            f"cannot rename {old!r} to {new!r}: a failure mode {new!r} exists; to combine "
            f"them use ws.merge([{old!r}], into={new!r})"
        )


def check_merge(coding: Coding, sources: Sequence[str], into: str) -> list[str]:
    """Return the modes to fold into ``into`` (``into`` itself left out); refuse unknown ones."""
    if isinstance(sources, str):
        raise TypeError(f"merge takes a list of failure modes, e.g. [{sources!r}], not a str")
    check_known(coding, list(sources))
    moving = _unique(s for s in sources if s != into)
    if not moving:
        raise ValueError(f"nothing to merge into {into!r}: name at least one other failure mode")
    return moving


def check_split(coding: Coding, name: str, parts: Mapping[str, Sequence[str]]) -> None:
    """Refuse a split of an unknown mode, or one that lists traces not tagged with it."""
    check_known(coding, [name])
    if not parts:
        raise ValueError(f"split of {name!r} needs at least one new mode with its trace ids")
    for new, ids in parts.items():
        check_name(new, "new failure mode name")
        if isinstance(ids, str):
            raise TypeError(f"split part {new!r} takes a list of trace ids, e.g. [{ids!r}]")
    listed = [t for ids in parts.values() for t in ids]
    twice = sorted(t for t, n in Counter(listed).items() if n > 1)
    if twice:
        raise ValueError(f"split of {name!r} lists traces in more than one part: {twice}")
    if name in parts:
        raise ValueError(f"split of {name!r} cannot move traces to {name!r} itself")
    untagged = sorted(set(listed) - coding.tagged(name))
    if untagged:
        raise ValueError(f"split of {name!r}: traces not tagged with {name!r}: {untagged}")
