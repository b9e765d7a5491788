"""The store: the one object that reads and writes a workspace database.

Everything above it (the workspace, the widgets) talks to it in plain Python values and
pandas frames; SQLAlchemy stays inside this package.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
from sqlalchemy import Select, func, insert, select, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.sql.schema import Table

from workbench.store import engine as engines
from workbench.store import tables
from workbench.store.codec import TraceRecord, decode_trace, decode_traces, dumps
from workbench.store.events import EVENT_COLUMNS, Event, NewEvent
from workbench.store.migrations import StoreError, migrate
from workbench.traces.schema import order_columns

CHUNK_SIZE: Final = 2_000
"""Traces per round trip when adding many (keeps statements under parameter limits)."""


@dataclass(frozen=True)
class AddResult:
    """What :meth:`Store.add_traces` did."""

    added: int
    """How many traces were new and are now stored."""

    conflicts: tuple[str, ...]
    """Ids already stored with different content (the stored version was kept)."""


@dataclass(frozen=True)
class _Cached:
    """A decoded copy of an append-only table, and what it was read up to."""

    frame: pd.DataFrame
    count: int
    last: int


def open_store(url: str | URL) -> Store:
    """Open (creating and migrating as needed) the workspace database at a URL.

    Args:
        url: ``sqlite+pysqlite:///path/workbench.db`` or ``postgresql+psycopg://...``.

    Raises:
        ValueError: for an unsupported or malformed URL.
        SchemaTooNewError: when the database is newer than this code.

    Examples:
        >>> store = open_store("sqlite:///analysis/workbench.db")  # doctest: +SKIP
        >>> store.count_traces()  # doctest: +SKIP
        0
    """
    parsed = engines.parse_url(url)
    where = (
        str(parsed.database)
        if parsed.get_backend_name() == "sqlite"
        else parsed.render_as_string(hide_password=True)
    )
    engine = engines.create(parsed)
    try:
        migrate(engine, where, engines.write_options(engine))
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, where)


class Store:
    """Traces, the annotation log and settings of one workspace database.

    Use :func:`open_store` to get one. Every write commits before the method returns.
    """

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self.where = where
        """The database, for messages: a file path, or a URL without its password."""
        self._traces: _Cached | None = None
        self._events: _Cached | None = None

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return str(self._engine.dialect.name)

    def close(self) -> None:
        """Close the database connections (the store can not be used afterwards)."""
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**engines.write_options(self._engine))
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**engines.read_options(self._engine))
            with conn.begin():
                yield conn

    def _lock(self, conn: Connection, table: Table) -> None:
        """Hold off other writers of a table until commit (SQLite: already by BEGIN IMMEDIATE)."""
        if self.backend == "postgresql":
            conn.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))

    # Traces -------------------------------------------------------------------------------

    def add_traces(self, records: Sequence[TraceRecord]) -> AddResult:
        """Store the records whose ids are new, in one transaction.

        Args:
            records: traces with distinct ids.

        Returns:
            The number added and the ids that were already stored with other content.

        Raises:
            ValueError: when two records share an id.
        """
        ids = [r.trace_id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("add_traces got the same trace_id twice; deduplicate first")
        added, conflicts = 0, []
        now = dt.datetime.now(dt.UTC)
        with self._write() as conn:
            self._lock(conn, tables.traces)
            for start in range(0, len(records), CHUNK_SIZE):
                chunk_added, chunk_conflicts = _add_chunk(
                    conn, records[start : start + CHUNK_SIZE], now
                )
                added += chunk_added
                conflicts += chunk_conflicts
        return AddResult(added, tuple(conflicts))

    def count_traces(self) -> int:
        """Return how many traces are stored."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.traces)).scalar_one())

    def traces(self) -> pd.DataFrame:
        """Return all traces as a canonical trace table, in the order they were added.

        Decoded traces are kept in memory and only new ones are read on the next call, so
        repeated calls on a large workspace are cheap. Treat the frame as read-only.
        """
        column = tables.traces.c
        with self._read() as conn:
            self._traces = _refresh(
                conn,
                column.seq,
                [column.seq, column.payload],
                _decode_trace_rows,
                self._traces,
                reorder=order_columns,
            )
        return self._traces.frame

    def missing(self, trace_ids: Sequence[str]) -> list[str]:
        """Return the ids, of those given, that no stored trace has (in the order given)."""
        column = tables.traces.c
        found: set[str] = set()
        with self._read() as conn:
            for start in range(0, len(trace_ids), CHUNK_SIZE):
                chunk = list(trace_ids[start : start + CHUNK_SIZE])
                query = select(column.trace_id).where(column.trace_id.in_(chunk))
                found.update(conn.execute(query).scalars())
        return [trace_id for trace_id in trace_ids if trace_id not in found]

    def trace(self, trace_id: str) -> dict[str, Any]:
        """Return one trace as a dict of its columns.

        Raises:
            KeyError: when no trace has this id.
        """
        column = tables.traces.c
        with self._read() as conn:
            payload = conn.execute(
                select(column.payload).where(column.trace_id == trace_id)
            ).scalar_one_or_none()
        if payload is None:
            raise KeyError(f"no trace with id {trace_id!r} in {self.where}")
        return decode_trace(payload)

    # Events -------------------------------------------------------------------------------

    def append(self, new: NewEvent) -> Event:
        """Append one event and commit.

        Raises:
            KeyError: when the event names a trace that is not stored.
        """
        with self._write() as conn:
            return self._insert_event(conn, new)

    def append_checked(self, build: Callable[[pd.DataFrame], NewEvent | None]) -> Event | None:
        """Append the event that ``build`` makes from the current log, atomically.

        The log is read and the event appended under the write lock, so the check that
        ``build`` does (e.g. "this failure mode exists") still holds when the event lands.

        Args:
            build: gets the log (as :meth:`events` returns it) and returns the event to
                append, or ``None`` to append nothing; it raises to refuse.
        """
        column = tables.events.c
        with self._write() as conn:
            self._lock(conn, tables.events)
            self._events = _refresh(conn, column.id, _event_columns(), _decode_events, self._events)
            new = build(self._events.frame)
            return None if new is None else self._insert_event(conn, new)

    def events(self) -> pd.DataFrame:
        """Return the whole log, oldest first (columns: :data:`EVENT_COLUMNS`).

        ``payload`` holds decoded dicts and ``created_at`` UTC timestamps. Like
        :meth:`traces`, the log is cached and read incrementally; treat it as read-only.
        """
        column = tables.events.c
        with self._read() as conn:
            self._events = _refresh(conn, column.id, _event_columns(), _decode_events, self._events)
        return self._events.frame

    def _insert_event(self, conn: Connection, new: NewEvent) -> Event:
        if new.trace_id is not None:
            column = tables.traces.c
            found = conn.execute(select(column.seq).where(column.trace_id == new.trace_id)).first()
            if found is None:
                raise KeyError(f"no trace with id {new.trace_id!r} in {self.where}")
        payload = dumps(dict(new.payload))
        created_at = dt.datetime.now(dt.UTC)
        result = conn.execute(
            insert(tables.events).values(
                kind=new.kind,
                trace_id=new.trace_id,
                annotator=new.annotator,
                payload=payload,
                created_at=created_at,
            )
        )
        key = result.inserted_primary_key
        if key is None:
            raise StoreError(f"{self.where} returned no id for the appended event")
        event_id = int(key[0])
        return Event(
            event_id, new.kind, new.trace_id, new.annotator, json.loads(payload), created_at
        )

    # Settings -----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """Return all settings as a dict (values decoded from JSON)."""
        column = tables.settings.c
        with self._read() as conn:
            rows = conn.execute(select(column.key, column.value).order_by(column.key)).all()
            return {key: json.loads(value) for key, value in rows}

    def put_setting(self, key: str, value: Any) -> None:
        """Set one setting (any JSON-serialisable value) and commit."""
        encoded = dumps(value)
        table = tables.settings
        with self._write() as conn:
            conn.execute(table.delete().where(table.c.key == key))
            conn.execute(
                insert(table).values(key=key, value=encoded, updated_at=dt.datetime.now(dt.UTC))
            )


def _add_chunk(
    conn: Connection, chunk: Sequence[TraceRecord], now: dt.datetime
) -> tuple[int, list[str]]:
    column = tables.traces.c
    query = select(column.trace_id, column.content_hash).where(
        column.trace_id.in_([r.trace_id for r in chunk])
    )
    known = {str(row[0]): str(row[1]) for row in conn.execute(query)}
    conflicts = [
        r.trace_id for r in chunk if known.get(r.trace_id, r.content_hash) != r.content_hash
    ]
    fresh = [
        {
            "trace_id": r.trace_id,
            "content_hash": r.content_hash,
            "payload": r.payload,
            "added_at": now,
        }
        for r in chunk
        if r.trace_id not in known
    ]
    if fresh:
        conn.execute(insert(tables.traces), fresh)
    return len(fresh), conflicts


def _event_columns() -> list[Any]:
    return [tables.events.c[name] for name in EVENT_COLUMNS]


def _decode_trace_rows(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    return decode_traces(row[1] for row in rows)


def _decode_events(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": pd.Series([row[0] for row in rows], dtype="int64"),
            "kind": pd.Series([row[1] for row in rows], dtype="object"),
            "trace_id": pd.Series([row[2] for row in rows], dtype="object"),
            "annotator": pd.Series([row[3] for row in rows], dtype="object"),
            "payload": pd.Series([json.loads(row[4]) for row in rows], dtype="object"),
            "created_at": pd.Series([row[5] for row in rows], dtype="object"),
        }
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def _tuples(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(query)]


def _refresh(
    conn: Connection,
    key: Any,
    columns: list[Any],
    decode: Callable[[Sequence[tuple[Any, ...]]], pd.DataFrame],
    cached: _Cached | None,
    *,
    reorder: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame,
) -> _Cached:
    """Bring a cached copy of an append-only table up to date, reading only new rows.

    ``key`` is the table's growing integer key and the first of ``columns``. Keys grow with
    every insert, but on PostgreSQL a lower key can commit after a higher one; the row count
    catches that, and then the table is read again in full.
    """
    table = key.table
    count, last = conn.execute(select(func.count(), func.max(key)).select_from(table)).one()
    count, last = int(count), int(last or 0)
    if cached is not None and (cached.count, cached.last) == (count, last):
        return cached
    if cached is not None and 0 < cached.count < count:
        rows = _tuples(conn, select(*columns).where(key > cached.last).order_by(key))
        if cached.count + len(rows) == count:
            frame = pd.concat([cached.frame, decode(rows)], ignore_index=True)
            return _Cached(reorder(frame), count, last)
    rows = _tuples(conn, select(*columns).order_by(key))
    return _Cached(decode(rows), len(rows), int(rows[-1][0]) if rows else 0)
