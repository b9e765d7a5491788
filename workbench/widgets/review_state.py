"""The plain state behind the reviewer: its key map, its filters and how a queue is built.

Examples:
    >>> KEYMAP["f"]
    'fail'
    >>> Filters(filter="all").failure_mode is None
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pandas as pd

if TYPE_CHECKING:
    from workbench.workspace import Workspace

KEYMAP: Final[Mapping[str, str]] = {
    "p": "pass",
    "f": "fail",
    "n": "next",
    "ArrowRight": "next",
    "b": "previous",
    "ArrowLeft": "previous",
    "s": "skip",
    "t": "focus_tag",
    "e": "focus_note",
    "Enter": "focus_note",
    "u": "undo",
    **{str(n): f"toggle_{n}" for n in range(1, 10)},
    "Escape": "leave_input",
    "?": "help",
}
"""Key (as ``KeyboardEvent.key`` names it) -> action, for :meth:`Reviewer.press`."""

KEY_HELP: Final[tuple[tuple[str, str], ...]] = (
    ("p", "mark pass"),
    ("f", "mark fail"),
    ("n  →", "next trace"),
    ("b  ←", "previous trace"),
    ("s", "skip: move this trace to the end of the queue"),
    ("t", "type a failure mode (Enter adds it)"),
    ("e  Enter", "write a note (Enter saves, Shift+Enter new line)"),
    ("1 … 9", "toggle the numbered failure mode"),
    ("u", "undo your last action"),
    ("Esc", "leave the text box, back to the keys"),
    ("?", "show or hide this list"),
)
"""The key map as shown in the widget's help."""

LOCAL_ACTIONS: Final = frozenset({"focus_tag", "focus_note", "leave_input", "help"})
"""Actions the browser does at once, without a round trip (moving focus must not lag keys)."""


FILTERS: Final = ("unreviewed", "all", "reviewed", "fail", "pass")
"""Values of the ``filter`` argument: by the reviewing annotator's own verdict."""

_KEEP: Final[Mapping[str, Callable[[Any], bool]]] = {
    "unreviewed": lambda verdict: verdict is None,
    "all": lambda verdict: True,
    "reviewed": lambda verdict: verdict is not None,
    "fail": lambda verdict: verdict == "fail",
    "pass": lambda verdict: verdict == "pass",
}


class Progress(NamedTuple):
    """How far the review of the queue is."""

    reviewed: int
    """Traces of the queue that the annotator gave a verdict."""

    total: int
    """Traces in the queue."""


@dataclass(frozen=True)
class Filters:
    """The filters that made a review queue (all of them apply)."""

    filter: str = "unreviewed"
    """One of :data:`FILTERS`."""

    cluster: str | None = None
    """Only traces in this cluster."""

    failure_mode: str | None = None
    """Only traces someone tagged with this failure mode."""

    labelled_by: str | None = None
    """Only traces this annotator labelled."""


def scope_of(
    traces: Sequence[str] | pd.Series | pd.DataFrame | None,
) -> tuple[list[str] | None, dict[str, str] | None]:
    """Return the ids a reviewer is restricted to, and each one's cluster if the frame has them.

    Examples:
        >>> scope_of(["t-1", "t-2", "t-1"])
        (['t-1', 't-2'], None)
    """
    if traces is None:
        return None, None
    if isinstance(traces, str):
        raise TypeError(f"traces takes a list of trace ids, not one id: [{traces!r}]")
    if isinstance(traces, pd.DataFrame):
        if "trace_id" not in traces.columns:
            raise ValueError(f"traces has no trace_id column; columns: {list(traces.columns)}")
        ids = [str(t) for t in traces["trace_id"]]
        if "cluster" in traces.columns:
            return list(dict.fromkeys(ids)), dict(
                zip(ids, map(str, traces["cluster"]), strict=True)
            )
        return list(dict.fromkeys(ids)), None
    return list(dict.fromkeys(str(t) for t in traces)), None


def build_queue(
    ws: Workspace, annotator: str, filters: Filters, scope: list[str] | None
) -> list[str]:
    """Return the ids that pass the filters, in the scope's order (or the workspace's).

    Raises:
        KeyError: when the scope names traces the workspace does not have.

    Examples:
        >>> build_queue(ws, "ana", Filters("unreviewed"), None)[:2]  # doctest: +SKIP
        ['t-0001', 't-0002']
    """
    table = ws.traces(annotator=annotator)
    verdicts = dict(zip(table["trace_id"], table["verdict"], strict=True))
    if scope is not None:
        missing = [t for t in scope if t not in verdicts]
        if missing:
            raise KeyError(f"{len(missing)} trace id(s) not in the workspace, e.g. {missing[:5]}")
    keep = _KEEP[filters.filter]
    ids = [t for t in (scope if scope is not None else verdicts) if keep(verdicts[t])]
    if filters.failure_mode is None and filters.labelled_by is None:
        return ids
    labels = ws.labels()
    if filters.failure_mode is not None:
        pairs = zip(labels["trace_id"], labels["failure_modes"], strict=True)
        tagged = {t for t, modes in pairs if filters.failure_mode in modes}
        ids = [t for t in ids if t in tagged]
    if filters.labelled_by is not None:
        by = set(labels.loc[labels["annotator"] == filters.labelled_by, "trace_id"])
        ids = [t for t in ids if t in by]
    return ids


def label_of(labels: pd.DataFrame | None, trace_id: str | None, annotator: str) -> dict[str, Any]:
    """Return one annotator's current label of a trace: verdict, note and failure modes.

    Args:
        labels: current labels, as :meth:`Workspace.labels` returns them (None: none).
        trace_id: the trace (None gives an empty label).
        annotator: whose label.

    Examples:
        >>> label_of(ws.labels(), "t-1", "ana")  # doctest: +SKIP
        {'verdict': 'fail', 'note': 'invented a refund rule', 'failure_modes': ['invented_policy']}
    """
    if labels is None:
        return {"verdict": None, "note": None, "failure_modes": []}
    rows = labels[(labels["trace_id"] == trace_id) & (labels["annotator"] == annotator)]
    if rows.empty:
        return {"verdict": None, "note": None, "failure_modes": []}
    row = rows.iloc[-1]
    return {
        "verdict": row["verdict"],
        "note": row["note"],
        "failure_modes": list(row["failure_modes"]),
    }


def reviewed_count(labels: pd.DataFrame, annotator: str, ids: set[str]) -> int:
    """Return how many of the ids have a verdict from the annotator."""
    mine = labels[(labels["annotator"] == annotator) & labels["verdict"].notna()]
    return sum(1 for trace_id in mine["trace_id"] if trace_id in ids)


def stable_order(previous: Sequence[str], names: Iterable[str]) -> list[str]:
    """Return the names, those already known in their old order and new ones after them.

    The number keys toggle failure modes by position, so a mode keeps its number while a
    person reviews even when counts reorder the modes table.

    Examples:
        >>> stable_order(["b", "a"], ["a", "c", "b"])
        ['b', 'a', 'c']
    """
    current = list(names)
    kept = [name for name in previous if name in current]
    return kept + [name for name in current if name not in kept]


def widget_options(
    modes: Sequence[str],
    table: pd.DataFrame,
    annotators: Sequence[str],
    clusters: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Return the parts of the widget's status that list choices: modes, filters, keys."""
    counts = dict(zip(table["name"], table["count"], strict=True))
    return {
        "modes": [
            {"name": m, "count": int(counts.get(m, 0)), "key": str(i + 1) if i < 9 else ""}
            for i, m in enumerate(modes)
        ],
        "options": {
            "filter": list(FILTERS),
            "failure_mode": sorted(counts),
            "labelled_by": sorted(annotators),
            "cluster": sorted(set(clusters.values())) if clusters else [],
        },
        "keymap": dict(KEYMAP),
        "local_actions": sorted(LOCAL_ACTIONS),
        "key_help": [list(row) for row in KEY_HELP],
    }
