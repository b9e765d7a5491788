"""The workspace: the folder a team works in, and the Python API of the annotation loop.

A workspace is a folder holding ``workbench.db`` (SQLite; or a PostgreSQL database given by
URL, for teams) and ``evals/`` (the eval suite, see DESIGN). The database keeps the traces
and an append-only log of annotation events; labels and failure modes are derived from the
log (:mod:`workbench.coding`), so every action can be undone and nothing is ever overwritten.
Every call that changes something has committed when it returns.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from workbench import coding, labels_view
from workbench.coding import Coding
from workbench.labels_view import VIEW_COLUMNS as VIEW_COLUMNS
from workbench.store import Event, NewEvent, Store, encode_traces, first_of_each_id, open_store
from workbench.store import sqlite_url as _sqlite_url
from workbench.store.events import undo_of, undone_ids

if TYPE_CHECKING:
    from workbench.suite import Suite

ANNOTATOR_ENV: Final = "WORKBENCH_ANNOTATOR"
"""Environment variable naming the annotator when a call does not."""

DB_FILENAME: Final = "workbench.db"
"""The SQLite database inside a workspace folder."""


class NoAnnotatorError(ValueError):
    """A call needed to know who acts, and no name was given or configured."""


class TraceConflictWarning(UserWarning):
    """Traces came in under ids already used by different content; the first was kept."""

    def __init__(self, message: str, trace_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.trace_ids: tuple[str, ...] = tuple(trace_ids)
        """The conflicting ids."""


def open_workspace(path: str | os.PathLike[str], db: str | None = None) -> Workspace:
    """Open a workspace folder, creating it (and its database) when new.

    Args:
        path: the folder; it gets ``evals/`` and, without ``db``, ``workbench.db``.
        db: a database URL to use instead of the SQLite file, e.g.
            ``postgresql+psycopg://user:password@host:5432/dbname``. To keep several
            workspaces in one PostgreSQL database, give each its own schema:
            ``...?options=-csearch_path%3Dmy_schema``.

    Raises:
        NotADirectoryError: when ``path`` is a file.
        SchemaTooNewError: when the database was written by a newer trace-workbench.

    Examples:
        >>> import workbench as wb
        >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
        >>> ws.add_traces(wb.load_traces("sample_data/traces.jsonl"))  # doctest: +SKIP
        200
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; a workspace is a folder")
    (folder / "evals").mkdir(parents=True, exist_ok=True)
    url = db if db is not None else _sqlite_url(str((folder / DB_FILENAME).resolve()))
    return Workspace(folder, open_store(url))


class Workspace:
    """Traces, labels and failure modes of one analysis; get one with :func:`open_workspace`.

    Examples:
        >>> ws.label("t-1", "fail", note="made up a rule", annotator="ana")  # doctest: +SKIP
        >>> ws.tag("t-1", "invented_policy", annotator="ana")  # doctest: +SKIP
        >>> ws.failure_modes()  # doctest: +SKIP
                      name definition  count  share
        0  invented_policy                1    1.0
    """

    def __init__(self, path: Path, store: Store) -> None:
        self.path = path
        """The workspace folder."""
        self.evals_dir = path / "evals"
        """Where the eval suite lives."""
        self._store = store
        self._fold = coding.LogFold()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, db={self._store.where!r})"

    @property
    def suite(self) -> Suite:
        """The eval suite in ``evals/``: ``ws.suite.add(candidate)``, ``ws.suite.run(traces)``."""
        from workbench.suite import Suite

        return Suite(self.evals_dir, workspace=self)

    def close(self) -> None:
        """Close the database connections."""
        self._store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Traces -------------------------------------------------------------------------------

    def add_traces(self, traces: pd.DataFrame) -> int:
        """Add traces; those whose ``trace_id`` is already here are skipped.

        A trace arriving under an id already used by different content is not stored: the
        first version is kept and a :class:`TraceConflictWarning` names the ids.

        Returns:
            How many traces were new.

        Examples:
            >>> ws.add_traces(traces)  # doctest: +SKIP
            200
            >>> ws.add_traces(traces)  # doctest: +SKIP
            0
        """
        if not isinstance(traces, pd.DataFrame):
            raise TypeError(f"add_traces takes a DataFrame, got {type(traces).__name__}")
        if traces.empty:
            return 0
        unique, conflicts = first_of_each_id(encode_traces(traces))
        result = self._store.add_traces(unique)
        conflicts += result.conflicts
        if conflicts:
            shown = ", ".join(repr(t) for t in conflicts[:20])
            more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
            warnings.warn(
                TraceConflictWarning(
                    f"{len(conflicts)} trace(s) came with an id already used by different "
                    f"content; kept the first version of: {shown}{more}",
                    conflicts,
                ),
                stacklevel=2,
            )
        return result.added

    def traces(self, annotator: str | None = None) -> pd.DataFrame:
        """Return all traces with their current label as extra columns.

        Args:
            annotator: show this annotator's labels; by default each trace shows the label
                of whoever labelled it last.

        Returns:
            The trace table plus ``verdict``, ``note``, ``failure_modes`` (list of names),
            ``annotator`` and ``labelled_at`` (None / [] / NaT where unlabelled). A source
            column with one of those names is kept with the suffix ``_trace``.
        """
        return labels_view.with_labels(self._store.traces(), self._derived().view(annotator))

    def trace(self, trace_id: str) -> dict[str, Any]:
        """Return one trace as a dict of its columns.

        Raises:
            KeyError: naming the id, when no trace has it.
        """
        return self._store.trace(coding.check_trace_id(trace_id))

    # Labels -------------------------------------------------------------------------------

    def label(
        self,
        trace_id: str,
        verdict: str | None,
        note: str | None = None,
        *,
        annotator: str | None = None,
    ) -> Event:
        """Set a verdict on a trace (``None`` clears it), with a note when one is given.

        Without ``note`` the annotator's previous note stays; ``note=""`` clears it.

        Raises:
            KeyError: when the trace is not in the workspace.
            ValueError: for a verdict other than ``"pass"``, ``"fail"`` or ``None``.

        Examples:
            >>> ws.label("t-1", "fail", note="made up a rule", annotator="ana")  # doctest: +SKIP
            Event(id=7, kind='label', trace_id='t-1', annotator='ana', ...)
        """
        payload: dict[str, Any] = {"verdict": coding.check_verdict(verdict)}
        if note is not None:
            payload["note"] = coding.check_note(note)
        return self._append("label", trace_id, payload, annotator)

    def note(self, trace_id: str, note: str, *, annotator: str | None = None) -> Event:
        """Set the annotator's note on a trace, leaving the verdict as it is."""
        return self._append("note", trace_id, {"note": coding.check_note(note)}, annotator)

    def tag(self, trace_id: str, failure_mode: str, *, annotator: str | None = None) -> Event:
        """Put a failure mode on a trace (a new name creates the failure mode)."""
        name = coding.check_name(failure_mode)
        return self._append("tag", trace_id, {"failure_mode": name}, annotator)

    def untag(self, trace_id: str, failure_mode: str, *, annotator: str | None = None) -> Event:
        """Take a failure mode off the annotator's label of a trace."""
        name = coding.check_name(failure_mode)
        return self._append("untag", trace_id, {"failure_mode": name}, annotator)

    def adjudicate(
        self,
        trace_id: str,
        verdict: str,
        failure_modes: Sequence[str] = (),
        note: str | None = None,
        *,
        annotator: str | None = None,
    ) -> Event:
        """Settle a trace's label as the lead (``verdict`` ``"pass"`` or ``"fail"``).

        Appends one ``label`` event flagged ``"adjudication": true``; everyone's own label
        stays. From then on :meth:`traces` and :meth:`failure_modes` show the settled label
        (``traces(annotator=...)`` each person's own); the lead's :meth:`undo` takes it back.

        Raises:
            KeyError: when the trace is not in the workspace.
            ValueError: for a verdict other than pass/fail, or failure modes on a pass.

        Examples:
            >>> ws.adjudicate("t-1", "fail", ["invented_policy"], annotator="lea")  # doctest: +SKIP
            Event(id=9, kind='label', trace_id='t-1', annotator='lea', ...)
        """
        payload = coding.adjudication(coding.check_trace_id(trace_id), verdict, failure_modes, note)
        return self._append("label", trace_id, payload, annotator)

    def undo(self, annotator: str | None = None) -> Event | None:
        """Undo the annotator's last action that is not undone yet.

        Appends an ``undo`` event naming that action; nothing is deleted. Undoing again
        reaches further back. Returns None when there is nothing left to undo.

        Examples:
            >>> ws.tag("t-1", "wrong_tool", annotator="ana")  # doctest: +SKIP
            >>> ws.undo("ana").payload  # doctest: +SKIP
            {'event_id': 8, 'kind': 'tag'}
        """
        who = self.annotator(annotator)
        return self._store.append_checked(lambda events: undo_of(events, who))

    def history(self, trace_id: str | None = None) -> pd.DataFrame:
        """Return the events (of one trace, or all), oldest first.

        Columns: ``id``, ``kind``, ``trace_id``, ``annotator``, ``payload`` (dict),
        ``created_at`` (UTC) and ``undone`` (whether a later undo cancelled the event).
        """
        events = self._store.events().copy()
        events["undone"] = events["id"].isin(undone_ids(events))
        if trace_id is not None:
            missing = self._store.missing([coding.check_trace_id(trace_id)])
            if missing:
                raise KeyError(f"no trace with id {trace_id!r} in {self._store.where}")
            events = events[events["trace_id"] == trace_id].reset_index(drop=True)
        return events

    def labels(self, *, annotator: str | None = None, trace_id: str | None = None) -> pd.DataFrame:
        """Return every annotator's current label of every trace they labelled.

        One row per (trace, annotator): ``trace_id``, ``annotator``, ``verdict``, ``note``,
        ``failure_modes`` (list) and ``labelled_at``, least recently labelled first.
        ``annotator`` and ``trace_id`` keep only that person's labels or that trace's.
        """
        labels = self._derived().labels
        if annotator is not None:
            labels = labels[labels["annotator"] == annotator]
        if trace_id is not None:
            labels = labels[labels["trace_id"] == trace_id]
        return labels_view.copy_labels(labels)

    def annotators(self) -> list[str]:
        """Return who has labelled at least one trace, sorted."""
        return sorted(set(self._derived().labels["annotator"]))

    # Failure modes ------------------------------------------------------------------------

    def failure_modes(self, annotator: str | None = None) -> pd.DataFrame:
        """Return the failure modes with how many traces carry each, most frequent first.

        Columns: ``name``, ``definition``, ``count`` (traces currently tagged) and ``share``
        (fraction of the failing traces tagged with it). Counts use the same labels as
        :meth:`traces` (the latest per trace, or ``annotator``'s).
        """
        derived = self._derived()
        return labels_view.mode_table(derived.modes, derived.view(annotator))

    def define(self, name: str, definition: str, *, annotator: str | None = None) -> Event:
        """Create a failure mode, or replace the definition of an existing one."""
        if not isinstance(definition, str):
            raise TypeError(f"a definition must be a str, got {type(definition).__name__}")
        payload = {"failure_mode": coding.check_name(name), "definition": definition}
        return self._store.append(NewEvent("define", self.annotator(annotator), None, payload))

    def rename(self, old: str, new: str, *, annotator: str | None = None) -> Event:
        """Rename a failure mode; its tags follow.

        Renaming onto an existing name is refused (the error suggests :meth:`merge`), so two
        modes are never combined by a typo.
        """
        who, old, new = self.annotator(annotator), coding.check_name(old), coding.check_name(new)

        def build(derived: Coding) -> NewEvent:
            coding.check_rename(derived, old, new)
            return NewEvent("rename", who, None, {"old": old, "new": new})

        return self._append_checked(build)

    def merge(
        self,
        sources: Sequence[str],
        into: str,
        *,
        definition: str | None = None,
        annotator: str | None = None,
    ) -> Event:
        """Fold failure modes into one (new or existing); their tags move to it.

        The merged mode keeps ``definition`` if given, else the existing definition of
        ``into``, else the sources' definitions joined.

        Examples:
            >>> ws.merge(["made_up_policy", "fake_rule"], into="invented_policy")  # doctest: +SKIP
        """
        who, into = self.annotator(annotator), coding.check_name(into)

        def build(derived: Coding) -> NewEvent:
            payload = coding.merge_payload(derived, sources, into, definition)
            return NewEvent("merge", who, None, payload)

        return self._append_checked(build)

    def split(
        self, name: str, parts: Mapping[str, Sequence[str]], *, annotator: str | None = None
    ) -> Event:
        """Move some traces of a failure mode to new (or existing) modes.

        Args:
            name: the failure mode to split.
            parts: new mode name -> ids of traces to move there; every id must currently be
                tagged with ``name``. Traces not listed stay in ``name``.
            annotator: who does it.

        Examples:
            >>> parts = {"wrong_math": ["t-3"], "wrong_date": ["t-9"]}
            >>> ws.split("wrong_answer", parts, annotator="ana")  # doctest: +SKIP
        """
        who, name = self.annotator(annotator), coding.check_name(name)
        if not isinstance(parts, Mapping):
            raise TypeError("split takes a dict: new failure mode -> list of trace ids")

        def build(derived: Coding) -> NewEvent:
            coding.check_split(derived, name, parts)
            moves = {coding.check_name(new): list(ids) for new, ids in parts.items()}
            return NewEvent("split", who, None, {"failure_mode": name, "parts": moves})

        return self._append_checked(build)

    # Settings -----------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        """The workspace settings (a fresh copy; change them with :meth:`set`)."""
        return self._store.settings()

    def set(self, key: str, value: Any) -> None:
        """Store a small setting (any JSON value), e.g. ``ws.set("annotator", "ana")``."""
        self._store.put_setting(coding.check_name(key, "setting name"), value)

    def annotator(self, annotator: str | None = None) -> str:
        """Return who acts: ``annotator`` if given, else ``WORKBENCH_ANNOTATOR``, else the setting.

        Raises:
            NoAnnotatorError: (a ValueError) when none is given or set; it says how to set one.

        Examples:
            >>> ws.set("annotator", "ana")  # doctest: +SKIP
            >>> ws.annotator()  # doctest: +SKIP
            'ana'
        """
        if annotator is None:
            annotator = os.environ.get(ANNOTATOR_ENV) or self._store.settings().get("annotator")
            if not annotator:
                raise NoAnnotatorError(
                    "who is annotating? pass annotator='your-name', set the "
                    f"{ANNOTATOR_ENV} environment variable, or run ws.set('annotator', 'your-name')"
                )
        return coding.check_name(annotator, "annotator")

    # Internals ----------------------------------------------------------------------------

    def _append(
        self, kind: str, trace_id: str, payload: dict[str, Any], annotator: str | None
    ) -> Event:
        event = NewEvent(kind, self.annotator(annotator), coding.check_trace_id(trace_id), payload)
        return self._store.append(event)

    def _append_checked(self, build: Callable[[Coding], NewEvent]) -> Event:
        event = self._store.append_checked(lambda events: build(self._derived(events)))
        if event is None:
            raise RuntimeError("the store appended no event for a reorganisation")
        return event

    def _derived(self, events: pd.DataFrame | None = None) -> Coding:
        """Fold the log: only the events new since the last call, when that is the same."""
        return self._fold.update(self._store.events() if events is None else events)
