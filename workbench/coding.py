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
with their tags, and history never loses a step. :class:`LogFold` keeps a fold between
calls, so that a new event costs only itself on a long log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd

from workbench.labels_view import LABEL_COLUMNS as LABEL_COLUMNS
from workbench.labels_view import Label, label_frame, label_rows, replace_rows
from workbench.store.events import EVENT_COLUMNS, undone_ids

VERDICTS: Final[tuple[str, ...]] = ("pass", "fail")
"""The verdicts a label can carry (or ``None``: not reviewed)."""

ADJUDICATION: Final = "adjudication"
"""Payload flag of a ``label`` event that settles a trace's label (see the module notes)."""


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

    adjudications: pd.DataFrame = field(default_factory=lambda: label_frame([]))
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
    fold.apply_all(events, undone_ids(events))
    return fold.result()


class LogFold:
    """The fold of a growing log, kept between calls so that new events cost only themselves.

    :meth:`update` applies just the events appended since its last call when the log it gets
    starts with exactly the events folded so far (same ids, same order) and none of the new
    ones is an ``undo``. Otherwise, after an undo or when an event committed late under a
    lower id (PostgreSQL allows that), it folds the whole log again. Either way the result
    equals ``derive(events)``: events never change once stored, and with no new undo the
    set of undone events stays the same, so the events applied, and their order, are the
    same as in a fold from the start.

    Examples:
        >>> fold = LogFold()
        >>> fold.update(ws.history()).view()[["trace_id", "verdict"]]  # doctest: +SKIP
          trace_id verdict
        0      t-1    fail
    """

    def __init__(self) -> None:
        self._fold = _Fold()
        self._ids: np.ndarray[Any, np.dtype[np.int64]] = np.empty(0, dtype=np.int64)
        self._undone: set[int] = set()
        self._seen: pd.DataFrame | None = None
        self._result = self._fold.result()

    def update(self, events: pd.DataFrame) -> Coding:
        """Return the state after ``events`` (the whole log, oldest first), as :func:`derive`."""
        if events is self._seen:
            return self._result
        ids = events["id"].to_numpy(dtype=np.int64, copy=True)
        new = self._appended(events, ids)
        if new is None:  # fold again from the start
            self._fold, self._undone, new = _Fold(), undone_ids(events), events
            self._result = self._fold.result()  # for an empty log
        if not new.empty:
            self._fold.apply_all(new, self._undone)
            self._result = self._fold.result()
        self._ids, self._seen = ids, events
        return self._result

    def _appended(
        self, events: pd.DataFrame, ids: np.ndarray[Any, np.dtype[np.int64]]
    ) -> pd.DataFrame | None:
        """Return the events after those folded, or None when the earlier ones changed meaning."""
        done = len(self._ids)
        if len(ids) < done or not np.array_equal(ids[:done], self._ids):
            return None
        if done and len(ids) > done and ids[done:].min() <= self._ids.max():
            return None
        new = events.iloc[done:]
        return None if (new["kind"] == "undo").any() else new


class _EventRow(NamedTuple):
    """One event of the log while folding (the columns of ``EVENT_COLUMNS``)."""

    id: int
    kind: str
    trace_id: str
    annotator: str
    payload: Mapping[str, Any]
    created_at: pd.Timestamp


class _Fold:
    """The mutable state of a pass over the log; :meth:`result` returns it as a :class:`Coding`.

    Every failure mode on a label is in ``modes``: tags and adjudications add their modes,
    rename and merge rename labels and modes alike, and split drops a mode only when no
    label has it any more.
    """

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}
        self.labels: dict[str, dict[str, Label]] = {}
        self.adjudicated: dict[str, dict[str, Label]] = {}
        # The frames of the last result, and what changed since, to rebuild only that.
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._touched: dict[tuple[str, str], None] = {}
        self._relabelled = self._resettled = False
        self._newest = 0

    def apply_all(self, events: pd.DataFrame, undone: set[int]) -> None:
        """Apply the events in order, leaving out undos and the events in ``undone``."""
        columns = events[list(EVENT_COLUMNS)].itertuples(index=False, name=None)
        for event in map(_EventRow._make, columns):
            if event.kind != "undo" and int(event.id) not in undone:
                self.apply(event)

    def apply(self, event: _EventRow) -> None:
        if event.id <= self._newest:  # the frames' order goes by event id: sort all again
            self._relabelled = True
        self._newest = max(self._newest, int(event.id))
        getattr(self, f"_on_{event.kind}")(event, event.payload)

    def _touch(self, event: _EventRow) -> Label:
        self._touched[event.trace_id, event.annotator] = None
        label = self.labels.setdefault(event.trace_id, {}).setdefault(event.annotator, Label())
        label.labelled_at = event.created_at
        label.last_event = int(event.id)
        return label

    def _on_label(self, event: _EventRow, payload: Mapping[str, Any]) -> None:
        if payload.get(ADJUDICATION):
            modes = _unique(payload.get("failure_modes", []))
            settled = Label(payload.get("verdict"), payload.get("note"), modes)
            settled.labelled_at, settled.last_event = event.created_at, int(event.id)
            self.adjudicated[event.trace_id] = {event.annotator: settled}
            self._resettled = True
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

    def _move(self, renames: Mapping[str, str], labels: Mapping[str, dict[str, Label]]) -> None:
        """Rename failure modes on the given traces' labels (and in the mode list)."""
        self._relabelled = self._resettled = True
        for by_annotator in labels.values():
            for label in by_annotator.values():
                label.failure_modes = _unique(renames.get(m, m) for m in label.failure_modes)
        if labels is self.labels:
            self._move(renames, self.adjudicated)
            modes: dict[str, str] = {}
            for name, definition in self.modes.items():
                modes.setdefault(renames.get(name, name), definition)
            self.modes = modes

    def _all_labels(self) -> Iterable[Label]:
        for by_annotator in (*self.labels.values(), *self.adjudicated.values()):
            yield from by_annotator.values()

    def result(self) -> Coding:
        """Return the state so far; the fold can go on.

        The frames are built anew only where labels changed since the last result: a label,
        note, tag or untag replaces one row. Treat them as read-only, as later results may
        share them.
        """
        labels, settled = self._frames or (None, None)
        if labels is None or labels.empty or self._relabelled:  # (empty: no time unit to keep)
            labels = label_frame(label_rows(self.labels))
        elif self._touched:
            touched: dict[str, dict[str, Label]] = {}
            for trace_id, annotator in self._touched:
                touched.setdefault(trace_id, {})[annotator] = self.labels[trace_id][annotator]
            labels = replace_rows(labels, self._touched, label_rows(touched))
        if settled is None or self._resettled:
            settled = label_frame(label_rows(self.adjudicated))
        self._frames, self._touched = (labels, settled), {}
        self._relabelled = self._resettled = False
        return Coding(dict(self.modes), labels, settled)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


# Checks made before a reorganising event is appended -----------------------------------------


def check_name(name: object, what: str = "failure mode name") -> str:
    """Return the name stripped of surrounding spaces; refuse non-strings and empty names."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a {what} must be a non-empty string, got {name!r}")
    return name.strip()


def adjudication(
    trace_id: str, verdict: object, failure_modes: Sequence[str], note: str | None
) -> dict[str, Any]:
    """Return the payload of a ``label`` event settling a trace; refuse what can not be settled."""
    if verdict not in VERDICTS:
        raise ValueError(f"an adjudicated verdict must be 'pass' or 'fail', got {verdict!r}")
    if isinstance(failure_modes, str):
        raise TypeError(f"failure_modes takes a list, e.g. [{failure_modes!r}], not a str")
    modes = _unique(check_name(m) for m in failure_modes)
    if verdict == "pass" and modes:
        raise ValueError(f"trace {trace_id!r}: a passing trace carries no failure mode: {modes}")
    payload: dict[str, Any] = {"verdict": verdict, "failure_modes": modes, ADJUDICATION: True}
    if note is not None:
        payload["note"] = check_note(note)
    return payload


def check_verdict(verdict: object) -> str | None:
    """Return the verdict of a label; refuse anything but ``"pass"``, ``"fail"`` or None."""
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict must be 'pass', 'fail' or None, got {verdict!r}")
    return verdict


def check_trace_id(trace_id: object) -> str:
    """Return the trace id; refuse anything but a str."""
    if not isinstance(trace_id, str):
        raise TypeError(f"trace ids are str, got {trace_id!r} ({type(trace_id).__name__})")
    return trace_id


def check_note(note: object) -> str:
    """Return the note; refuse anything but a str."""
    if not isinstance(note, str):
        raise TypeError(f"a note must be a str, got {type(note).__name__}")
    return note


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


def merge_payload(
    coding: Coding, sources: Sequence[str], into: str, definition: str | None
) -> dict[str, Any]:
    """Return the payload of a ``merge`` event (see :func:`check_merge` for what is refused).

    The merged mode keeps ``definition`` if given, else the existing definition of ``into``,
    else the sources' definitions joined.
    """
    moving = check_merge(coding, sources, into)
    if definition is None:
        joined = "\n".join(d for d in (coding.modes[m] for m in moving) if d)
        definition = coding.modes.get(into) or joined
    return {"sources": moving, "into": into, "definition": definition}


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
