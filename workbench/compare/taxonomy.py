"""How the failure-mode taxonomy changed between two periods.

Which modes a period *had* is read from the labels of its reviewed traces, under today's
names (the workspace folds renames and merges into every label, so a mode renamed this week
counts as the same mode in both periods). A mode tagged only this period is ``new``, only
last period ``disappeared``, in both ``kept``.

The reorganisations come from the annotation log (``ws.history()``): every ``rename``,
``merge`` and ``split`` not undone, made since the reviewing of either period began (the
first label, note or tag on one of their traces, by the events' ``created_at``). Earlier
reorganisations belong to the taxonomy both periods were tagged with.

Examples:
    >>> labels = pd.DataFrame({"trace_id": ["a", "b"], "verdict": ["fail", "fail"],
    ...                        "failure_modes": [["slow"], ["rude"]]})
    >>> history = pd.DataFrame(columns=["id", "kind", "trace_id", "payload", "created_at"])
    >>> taxonomy_diff(history, labels, ["a"], ["b"])[["failure_mode", "change"]].values.tolist()
    [['rude', 'new'], ['slow', 'disappeared']]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

import pandas as pd

__all__ = ["TAXONOMY_COLUMNS", "taxonomy_diff"]

TAXONOMY_COLUMNS: Final = ("failure_mode", "change", "was", "last", "this", "at")
"""``last`` / ``this``: reviewed traces tagged with the mode (NA on reorganisation rows);
``was``: the earlier name(s); ``at``: when the reorganisation was made (UTC)."""

_REVIEW_KINDS: Final = frozenset({"label", "note", "tag", "untag"})
_ORDER: Final = {"renamed": 0, "merged": 0, "split": 0, "new": 1, "disappeared": 2, "kept": 3}


def taxonomy_diff(
    history: pd.DataFrame,
    labels: pd.DataFrame,
    last_ids: Collection[str],
    this_ids: Collection[str],
) -> pd.DataFrame:
    """The taxonomy diff: reorganisations, then new, disappeared and kept modes.

    Args:
        history: the annotation log, as ``ws.history()`` returns it.
        labels: one label per trace (``trace_id``, ``verdict``, ``failure_modes``).
        last_ids: the traces of last period.
        this_ids: the traces of this period.

    Returns:
        The columns of :data:`TAXONOMY_COLUMNS`; ``change`` is ``renamed``, ``merged``,
        ``split``, ``new``, ``disappeared`` or ``kept``. Without reviewed traces in one of
        the periods, only the reorganisations (nothing can be said to be new or gone).
    """
    last, this = (_mode_counts(labels, ids) for ids in (last_ids, this_ids))
    rows = _reorganisations(history, {*last_ids, *this_ids})
    if last is not None and this is not None:
        for mode in sorted(set(last) | set(this)):
            change = "kept" if mode in last and mode in this else "new"
            change = "disappeared" if mode not in this else change
            rows.append(_row(mode, change, "", last.get(mode, 0), this.get(mode, 0), pd.NaT))
    table = pd.DataFrame(rows, columns=list(TAXONOMY_COLUMNS))
    table["last"] = table["last"].astype("Int64")
    table["this"] = table["this"].astype("Int64")
    table["at"] = pd.to_datetime(table["at"], utc=True)
    rank = table["change"].map(_ORDER)
    return (
        table.assign(_rank=rank)
        .sort_values(["_rank", "at"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def _row(mode: str, change: str, was: str, last: Any, this: Any, at: Any) -> dict[str, Any]:
    return {"failure_mode": mode, "change": change, "was": was, "last": last, "this": this,
            "at": at}  # fmt: skip


def _mode_counts(labels: pd.DataFrame, ids: Collection[str]) -> dict[str, int] | None:
    """Reviewed traces per mode (None when no trace of the period is reviewed)."""
    part = labels[labels["trace_id"].isin(set(ids))]
    modes = [list(m) if isinstance(m, list | tuple) else [] for m in part["failure_modes"]]
    reviewed = [
        verdict in ("pass", "fail") or bool(found)
        for verdict, found in zip(part["verdict"], modes, strict=True)
    ]
    if not any(reviewed):
        return None
    counts: dict[str, int] = {}
    for found in modes:
        for mode in found:
            counts[mode] = counts.get(mode, 0) + 1
    return counts


def _reorganisations(history: pd.DataFrame, ids: set[str]) -> list[dict[str, Any]]:
    """Renames, merges and splits made since the first review event on the periods' traces."""
    if history.empty:
        return []
    live = history[~history["undone"]] if "undone" in history.columns else history
    live = live[live["kind"] != "undo"]
    reviews = live[live["kind"].isin(_REVIEW_KINDS) & live["trace_id"].isin(ids)]
    if reviews.empty:
        return []
    start = pd.to_datetime(reviews["created_at"], utc=True).min()
    stamps = pd.to_datetime(live["created_at"], utc=True)
    chosen = live[(stamps >= start) & live["kind"].isin(["rename", "merge", "split"])]
    rows: list[dict[str, Any]] = []
    for kind, payload, at in zip(
        chosen["kind"], chosen["payload"], chosen["created_at"], strict=True
    ):
        rows += _reorganisation(kind, payload, at)
    return rows


def _reorganisation(kind: str, payload: Mapping[str, Any], at: Any) -> list[dict[str, Any]]:
    na = pd.NA
    if kind == "rename":
        return [_row(payload["new"], "renamed", payload["old"], na, na, at)]
    if kind == "merge":
        return [_row(payload["into"], "merged", ", ".join(payload["sources"]), na, na, at)]
    parts = payload.get("parts", {})
    return [_row(new, "split", payload["failure_mode"], na, na, at) for new in parts]
