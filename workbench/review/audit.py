"""Who changed what, and when: the annotation log in words.

The log already keeps every action with its author and time (``ws.history()``);
:func:`audit` filters it by person and time and says what each event did, in one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench import coding

if TYPE_CHECKING:
    from workbench.workspace import Workspace

AUDIT_COLUMNS: Final = ("id", "created_at", "annotator", "action", "trace_id", "detail", "undone")
"""Columns of :func:`audit`."""

SNIPPET: Final = 80
"""Notes and definitions are cut to this many characters in ``detail``."""


def audit(
    ws: Workspace,
    annotator: str | Sequence[str] | None = None,
    since: str | dt.date | dt.datetime | pd.Timestamp | None = None,
    *,
    trace_id: str | None = None,
) -> pd.DataFrame:
    """Return the log of annotation actions, oldest first, each described in words.

    Args:
        ws: the workspace.
        annotator: only this person's actions (a name or a list of names).
        since: only actions at or after this time (a date, a datetime, or ISO text;
            without a time zone it is taken as UTC).
        trace_id: only actions on this trace.

    Returns:
        Columns ``id``, ``created_at`` (UTC), ``annotator``, ``action`` (the event kind,
        or ``adjudicate`` for a settled label), ``trace_id``, ``detail`` and ``undone``.

    Examples:
        >>> wb.audit(ws, "ana", since="2026-11-09")[["annotator", "action", "detail"]]
        ... # doctest: +SKIP
          annotator  action                   detail
        0       ana   label  verdict fail; note 'made up a rule'
        1       ana     tag          invented_policy
    """
    events = ws.history(trace_id)
    if annotator is not None:
        names = [annotator] if isinstance(annotator, str) else list(annotator)
        events = events[events["annotator"].isin(names)]
    if since is not None:
        events = events[events["created_at"] >= _utc(since)]
    frame = pd.DataFrame(
        {
            "id": events["id"].astype("int64"),
            "created_at": events["created_at"],
            "annotator": events["annotator"],
            "action": [
                _action(k, p) for k, p in zip(events["kind"], events["payload"], strict=True)
            ],
            "trace_id": events["trace_id"],
            "detail": [
                _detail(k, p) for k, p in zip(events["kind"], events["payload"], strict=True)
            ],
            "undone": events["undone"].astype(bool),
        }
    )
    return frame.reset_index(drop=True)


def _utc(when: str | dt.date | dt.datetime | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _action(kind: str, payload: Mapping[str, Any]) -> str:
    return "adjudicate" if kind == "label" and payload.get(coding.ADJUDICATION) else kind


def _cut(text: object) -> str:
    words = str(text)
    return repr(words if len(words) <= SNIPPET else words[: SNIPPET - 1] + "…")


def _label(p: Mapping[str, Any]) -> str:
    parts = [f"verdict {p.get('verdict') or 'cleared'}"]
    if p.get(coding.ADJUDICATION):
        parts.append(f"failure modes {', '.join(p.get('failure_modes', [])) or 'none'}")
    if "note" in p:
        parts.append(f"note {_cut(p['note'])}")
    return "; ".join(parts)


def _split(p: Mapping[str, Any]) -> str:
    parts = ", ".join(f"{new} ({len(ids)} traces)" for new, ids in p["parts"].items())
    return f"{p['failure_mode']} → {parts}"


_DETAILS: Final[Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "label": _label,
    "note": lambda p: f"note {_cut(p['note'])}",
    "tag": lambda p: str(p["failure_mode"]),
    "untag": lambda p: str(p["failure_mode"]),
    "define": lambda p: f"{p['failure_mode']}: {_cut(p.get('definition', ''))}",
    "rename": lambda p: f"{p['old']} → {p['new']}",
    "merge": lambda p: f"{', '.join(p['sources'])} → {p['into']}",
    "split": _split,
    "undo": lambda p: f"undid event {p['event_id']} ({p.get('kind', '?')})",
}


def _detail(kind: str, payload: Mapping[str, Any]) -> str:
    describe = _DETAILS.get(kind)
    return describe(payload) if describe is not None else str(dict(payload))
