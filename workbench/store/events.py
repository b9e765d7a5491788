"""Annotation events: the rows of the append-only log, one per action.

Every annotation action (a verdict, a note, a tag, a new failure mode, an undo, ...) is one
event. Events are never updated or deleted; the current labels and failure modes are derived
from them (see :mod:`workbench.coding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pandas as pd

EVENT_KINDS: Final[tuple[str, ...]] = (
    "label",
    "note",
    "tag",
    "untag",
    "define",
    "rename",
    "merge",
    "split",
    "undo",
)
"""The kinds of event the log accepts.

- ``label``: a verdict (``pass``, ``fail`` or ``None`` to clear), optionally with a note.
- ``note``: a note on its own.
- ``tag`` / ``untag``: put a failure mode on a trace, or take it off.
- ``define``: create a failure mode or change its definition.
- ``rename``, ``merge``, ``split``: reorganise failure modes.
- ``undo``: cancel an earlier event of the same annotator (the payload names its id).
"""

EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "kind",
    "trace_id",
    "annotator",
    "payload",
    "created_at",
)
"""Columns of the event table returned by the store, in this order."""


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended to the log (it has no id or time yet).

    Examples:
        >>> NewEvent("tag", "ana", "t-1", {"failure_mode": "invented_policy"})
        NewEvent(kind='tag', annotator='ana', trace_id='t-1', payload={...})  # doctest: +SKIP
    """

    kind: str
    """One of :data:`EVENT_KINDS`."""

    annotator: str
    """Who did it (a non-empty name)."""

    trace_id: str | None = None
    """The trace it is about, or ``None`` for events about failure modes as a whole."""

    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """The details of the action, JSON-serialisable (e.g. ``{"failure_mode": "x"}``)."""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; expected one of {EVENT_KINDS}")
        if not isinstance(self.annotator, str) or not self.annotator.strip():
            raise ValueError(f"event annotator must be a non-empty string, got {self.annotator!r}")


@dataclass(frozen=True)
class Event:
    """An event as stored in the log.

    Examples:
        >>> event = ws.label("t-1", "fail", annotator="ana")  # doctest: +SKIP
        >>> event.id, event.kind, event.payload  # doctest: +SKIP
        (1, 'label', {'verdict': 'fail'})
    """

    id: int
    """Position in the log: increases with every append, never reused."""

    kind: str
    """One of :data:`EVENT_KINDS`."""

    trace_id: str | None
    """The trace it is about, or ``None``."""

    annotator: str
    """Who did it."""

    payload: Mapping[str, Any] = field(hash=False)
    """The details of the action (decoded JSON)."""

    created_at: datetime
    """When it was appended (timezone-aware, UTC)."""


def undone_ids(events: pd.DataFrame) -> set[int]:
    """Return the ids of the events that an ``undo`` event cancelled.

    Args:
        events: the log, with the columns :data:`EVENT_COLUMNS`.
    """
    undos = events.loc[events["kind"] == "undo", "payload"]
    return {int(payload["event_id"]) for payload in undos}


def undo_of(events: pd.DataFrame, annotator: str) -> NewEvent | None:
    """Return the event undoing the annotator's last action that is not undone yet, or None.

    That action is the annotator's last event that is neither an undo nor undone; the undo
    is about the same trace and names it in its payload (``event_id`` and ``kind``).

    Examples:
        >>> undo_of(ws.history(), "ana").payload  # doctest: +SKIP
        {'event_id': 8, 'kind': 'tag'}
    """
    mine = events[(events["annotator"] == annotator) & (events["kind"] != "undo")]
    mine = mine[~mine["id"].isin(undone_ids(events))]
    if mine.empty:
        return None
    target = mine.iloc[-1]
    trace_id = target["trace_id"] if isinstance(target["trace_id"], str) else None
    return NewEvent(
        "undo", annotator, trace_id, {"event_id": int(target["id"]), "kind": str(target["kind"])}
    )
