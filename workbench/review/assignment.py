"""Review sessions: who reviews which traces, with a shared part everyone reviews.

A session splits a set of traces among annotators. A share of them (``overlap``) goes to
*every* annotator: on those the team measures its agreement (every pair of people has the
same shared traces, and Krippendorff's alpha sees complete data). The rest is split evenly,
each trace to one person. The assignment is stored in the workspace settings under
``review_session:<name>``, so everyone's notebook, on SQLite or on a shared PostgreSQL, opens
the same queues; each person then reviews theirs with
``wb.Reviewer(ws, traces=session.queue("ana"), annotator="ana")``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from workbench import coding
from workbench.review.agreement import agreement
from workbench.review.labels import reviewed, who_is

if TYPE_CHECKING:
    from workbench.workspace import Workspace

SETTING_PREFIX: Final = "review_session:"
"""Settings key prefix of a stored session (followed by its name)."""

PROGRESS_COLUMNS: Final = ("annotator", "assigned", "reviewed", "remaining", "done")
"""Columns of :meth:`ReviewSession.progress`."""


@dataclass(frozen=True)
class ReviewSession:
    """One round of team review: each annotator's queue and the traces they all share.

    Get one with :func:`review_session` (to create) or :func:`open_review_session`.

    Examples:
        >>> session = wb.open_review_session(ws)  # doctest: +SKIP
        >>> wb.Reviewer(ws, traces=session.queue("ana"), annotator="ana")  # doctest: +SKIP
    """

    name: str
    """The session's name (by default the day it was created, ``YYYY-MM-DD``)."""

    annotators: tuple[str, ...]
    """Who reviews, in the order given."""

    queues: Mapping[str, tuple[str, ...]]
    """Annotator -> trace ids to review, shared traces first."""

    shared: tuple[str, ...]
    """The traces every annotator reviews (where agreement is measured)."""

    overlap: float
    """The share of the session's traces that is shared, as asked."""

    seed: int
    """The random seed of the assignment."""

    created_at: str
    """When the session was stored (ISO 8601, UTC)."""

    created_by: str | None
    """Who created it, when known."""

    ws: Workspace = field(repr=False, compare=False)
    """The workspace the session belongs to."""

    @property
    def traces(self) -> list[str]:
        """Every trace of the session: the shared ones, then the others."""
        shared = set(self.shared)
        rest = [t for a in self.annotators for t in self.queues[a] if t not in shared]
        return [*self.shared, *rest]

    def queue(self, annotator: str) -> list[str]:
        """Return the trace ids an annotator reviews, in order.

        Raises:
            KeyError: naming the annotator and those of the session.
        """
        if annotator not in self.queues:
            raise KeyError(
                f"{annotator!r} is not in review session {self.name!r}; "
                f"its annotators are {list(self.annotators)}"
            )
        return list(self.queues[annotator])

    def progress(self) -> pd.DataFrame:
        """Return how far each annotator is: assigned, reviewed, remaining, done (share).

        A trace counts as reviewed once the annotator gave it a verdict.

        Examples:
            >>> session.progress()  # doctest: +SKIP
              annotator  assigned  reviewed  remaining  done
            0       ana        60        12         48   0.2
        """
        labels = reviewed(self.ws.labels())
        done_by = labels.groupby("annotator")["trace_id"].agg(set).to_dict()
        rows = []
        for annotator in self.annotators:
            queue = self.queues[annotator]
            count = sum(1 for t in queue if t in done_by.get(annotator, set()))
            share = count / len(queue) if queue else float("nan")
            rows.append((annotator, len(queue), count, len(queue) - count, share))
        return pd.DataFrame(rows, columns=list(PROGRESS_COLUMNS))

    def agreement(self, items: Sequence[str] | None = None) -> pd.DataFrame:
        """Return :func:`workbench.review.agreement` on the shared traces.

        Only annotators who have reviewed something count, so the table can be looked at
        while the session is under way.
        """
        started = set(reviewed(self.ws.labels())["annotator"])
        people = [a for a in self.annotators if a in started]
        return agreement(self.ws, annotators=people, items=items, traces=self.shared)

    def to_dict(self) -> dict[str, Any]:
        """Return the session as stored in the workspace settings (plain JSON values)."""
        return {
            "name": self.name,
            "annotators": list(self.annotators),
            "queues": {a: list(q) for a, q in self.queues.items()},
            "shared": list(self.shared),
            "overlap": self.overlap,
            "seed": self.seed,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def review_session(
    ws: Workspace,
    traces: Sequence[str] | pd.Series[Any] | pd.DataFrame,
    annotators: Sequence[str],
    overlap: float = 0.2,
    per_person: int | None = None,
    seed: int = 0,
    *,
    name: str | None = None,
    created_by: str | None = None,
    replace: bool = False,
) -> ReviewSession:
    """Assign traces to annotators, a share of them to everyone, and store the assignment.

    Args:
        ws: the workspace.
        traces: the traces to review: ids, or a frame with a ``trace_id`` column.
        annotators: who reviews.
        overlap: the share of the session's traces that every annotator reviews (0 to 1;
            at least one trace when above 0 and there are two or more annotators).
        per_person: at most this many traces per annotator; the session then takes only as
            many traces (drawn at random) as fit. Default: all traces.
        seed: the random seed; the same traces, annotators and seed give the same queues.
        name: the session's name (default: today's date in UTC, ``YYYY-MM-DD``).
        created_by: who sets it up (default: the workspace's annotator, if any).
        replace: overwrite a stored session of that name that differs.

    Returns:
        The stored session. Calling again with the same arguments returns it unchanged.

    Raises:
        KeyError: naming trace ids the workspace does not have.
        ValueError: for bad arguments, or a different session stored under ``name``.

    Examples:
        >>> import workbench as wb
        >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
        >>> ids = ws.traces()["trace_id"].sample(100, random_state=0)  # doctest: +SKIP
        >>> session = wb.review_session(ws, ids, ["ana", "bob", "carl"])  # doctest: +SKIP
        >>> len(session.shared), len(session.queue("ana"))  # doctest: +SKIP
        (20, 47)
    """
    ids, people = _check_ids(ws, traces), _check_people(annotators)
    _check_numbers(overlap, per_person)
    shared, queues = assign(ids, people, overlap, per_person, seed)
    session = ReviewSession(
        name=coding.check_name(name or dt.datetime.now(dt.UTC).date().isoformat(), "session name"),
        annotators=tuple(people),
        queues={a: tuple(q) for a, q in queues.items()},
        shared=tuple(shared),
        overlap=float(overlap),
        seed=int(seed),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        created_by=_creator(ws, created_by),
        ws=ws,
    )
    return _store(ws, session, replace)


def _store(ws: Workspace, session: ReviewSession, replace: bool) -> ReviewSession:
    """Store a new session; return the stored one when it is the same assignment."""
    key = SETTING_PREFIX + session.name
    stored = ws.settings.get(key)
    if stored is not None and not replace:
        if _same_assignment(stored, session.to_dict()):
            return _from_dict(ws, stored)
        raise ValueError(
            f"a different review session named {session.name!r} exists (created "
            f"{stored.get('created_at')} by {stored.get('created_by')}); pick another name= "
            "or pass replace=True"
        )
    ws.set(key, session.to_dict())
    return session


def assign(
    trace_ids: Sequence[str],
    annotators: Sequence[str],
    overlap: float,
    per_person: int | None = None,
    seed: int = 0,
) -> tuple[list[str], dict[str, list[str]]]:
    """Return the shared traces and each annotator's queue (shared first, then their own).

    The ids are sorted, then shuffled by ``seed``, so the order they come in does not
    matter. One annotator alone gets every trace and nothing is shared.

    Examples:
        >>> shared, queues = assign([f"t{i}" for i in range(10)], ["ana", "bob"], 0.2)
        >>> len(shared), [len(q) for q in queues.values()]
        (2, [6, 6])
    """
    order = sorted(trace_ids)
    order = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    k = len(annotators)
    total = len(order) if per_person is None else _fitting(len(order), k, overlap, per_person)
    n_shared = _shared_count(total, k, overlap)
    shared, rest = order[:n_shared], order[n_shared:total]
    queues = {a: list(shared) for a in annotators}
    for position, trace_id in enumerate(rest):
        queues[annotators[position % k]].append(trace_id)
    return shared, queues


def _shared_count(total: int, k: int, overlap: float) -> int:
    if k < 2 or overlap <= 0 or total == 0:
        return 0
    return min(total, max(1, int(overlap * total + 0.5)))


def _fitting(available: int, k: int, overlap: float, per_person: int) -> int:
    """The most traces (up to ``available``) whose split gives nobody over ``per_person``."""
    total = available
    while total > 0:
        n_shared = _shared_count(total, k, overlap)
        if n_shared + -(-(total - n_shared) // k) <= per_person:
            return total
        total -= 1
    return 0


def open_review_session(ws: Workspace, name: str | None = None) -> ReviewSession:
    """Open a stored review session: the one named, or the latest created.

    Raises:
        KeyError: when there is no such session (lists the stored ones).

    Examples:
        >>> session = wb.open_review_session(ws)  # doctest: +SKIP
        >>> session.queue("bob")[:2]  # doctest: +SKIP
        ['tr_000412', 'tr_000077']
    """
    stored = _stored(ws)
    if not stored:
        raise KeyError("no review session in this workspace; create one with wb.review_session")
    if name is None:
        return _from_dict(ws, max(stored.values(), key=lambda s: str(s.get("created_at"))))
    if name not in stored:
        raise KeyError(f"no review session named {name!r}; stored sessions: {sorted(stored)}")
    return _from_dict(ws, stored[name])


def review_sessions(ws: Workspace) -> pd.DataFrame:
    """List the stored review sessions, oldest first.

    Columns: ``name``, ``created_at``, ``created_by``, ``annotators`` (list), ``traces``
    (how many) and ``shared`` (how many every annotator reviews).
    """
    rows = [
        (s["name"], s.get("created_at"), s.get("created_by"), list(s["annotators"]),
         len({t for q in s["queues"].values() for t in q}), len(s["shared"]))
        for s in _stored(ws).values()
    ]  # fmt: skip
    columns = ["name", "created_at", "created_by", "annotators", "traces", "shared"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)


def _stored(ws: Workspace) -> dict[str, dict[str, Any]]:
    settings = ws.settings
    return {
        k[len(SETTING_PREFIX) :]: v for k, v in settings.items() if k.startswith(SETTING_PREFIX)
    }


def _from_dict(ws: Workspace, stored: Mapping[str, Any]) -> ReviewSession:
    return ReviewSession(
        name=str(stored["name"]),
        annotators=tuple(stored["annotators"]),
        queues={a: tuple(q) for a, q in stored["queues"].items()},
        shared=tuple(stored["shared"]),
        overlap=float(stored["overlap"]),
        seed=int(stored["seed"]),
        created_at=str(stored["created_at"]),
        created_by=stored.get("created_by"),
        ws=ws,
    )


def _same_assignment(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    keys = ("annotators", "queues", "shared")
    return all(stored.get(k) == new[k] for k in keys)


def _creator(ws: Workspace, created_by: str | None) -> str | None:
    try:
        return who_is(ws, created_by, "created_by")
    except ValueError:
        return None


def _check_ids(ws: Workspace, traces: Sequence[str] | pd.Series[Any] | pd.DataFrame) -> list[str]:
    if isinstance(traces, str):
        raise TypeError(f"traces takes a list of trace ids, e.g. [{traces!r}], not one id")
    if isinstance(traces, pd.DataFrame):
        if "trace_id" not in traces.columns:
            raise ValueError(f"traces has no trace_id column; columns: {list(traces.columns)}")
        traces = traces["trace_id"]
    ids = list(dict.fromkeys(str(t) for t in traces))
    if not ids:
        raise ValueError("a review session needs at least one trace")
    known = set(ws.traces()["trace_id"])
    missing = [t for t in ids if t not in known]
    if missing:
        raise KeyError(f"{len(missing)} trace id(s) not in the workspace, e.g. {missing[:10]}")
    return ids


def _check_people(annotators: Sequence[str]) -> list[str]:
    if isinstance(annotators, str):
        raise TypeError(f"annotators takes a list of names, e.g. [{annotators!r}], not a str")
    people = [coding.check_name(a, "annotator") for a in annotators]
    twice = sorted({a for a in people if people.count(a) > 1})
    if twice:
        raise ValueError(f"annotators named more than once: {twice}")
    if not people:
        raise ValueError("a review session needs at least one annotator")
    return people


def _check_numbers(overlap: float, per_person: int | None) -> None:
    if not 0 <= overlap <= 1:
        raise ValueError(f"overlap is a share of the traces, between 0 and 1; got {overlap!r}")
    if per_person is not None and (isinstance(per_person, bool) or per_person < 1):
        raise ValueError(f"per_person must be a positive number of traces; got {per_person!r}")
