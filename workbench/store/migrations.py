"""Versioned schema migrations: an ordered list of steps, applied forward in one transaction.

A workspace database records every step it has been through in ``schema_version``. Opening
it applies the missing steps, oldest first, all in one transaction (so a failure leaves the
database as it was); opening a database from a newer trace-workbench raises
:class:`SchemaTooNewError` rather than guessing.

To change the schema: append a function to :data:`MIGRATIONS` (never edit a released one),
update :mod:`workbench.store.tables` to match, and extend the upgrade test. Each step builds
its own table objects so it keeps meaning what it meant when it was written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Column, ForeignKey, Index, MetaData, String, Table, Text, func
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import select, text

from workbench.store.tables import ID_TYPE, UtcDateTime
from workbench.store.tables import schema_version as schema_version_table

Migration = Callable[[Connection], None]
"""A step: runs DDL (and data moves) on a connection inside the migration transaction."""

_PG_LOCK_KEY: Final = 7_340_021_193
"""PostgreSQL advisory lock held while migrating, so two first openers do not race."""


class StoreError(Exception):
    """A problem with the workspace database itself (not with the caller's arguments)."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer trace-workbench than the one running."""


class NotAWorkspaceError(StoreError):
    """The database holds tables of the same names that trace-workbench did not create."""


def _v1_traces_and_events(conn: Connection) -> None:
    """Version 1: the traces (JSON documents) and the append-only event log."""
    meta = MetaData()
    Table(
        "traces",
        meta,
        Column("seq", ID_TYPE, primary_key=True, autoincrement=True),
        Column("trace_id", Text, nullable=False, unique=True),
        Column("content_hash", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("added_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    Table(
        "events",
        meta,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("kind", String(16), nullable=False),
        Column("trace_id", Text, ForeignKey("traces.trace_id"), nullable=True),
        Column("annotator", Text, nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    meta.create_all(conn)


def _v2_settings_and_event_indexes(conn: Connection) -> None:
    """Version 2: workspace settings, and indexes for per-trace and per-annotator history."""
    meta = MetaData()
    Table(
        "settings",
        meta,
        Column("key", Text, primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    )
    meta.create_all(conn)
    events = Table("events", MetaData(), Column("trace_id", Text), Column("annotator", Text))
    Index("ix_events_trace_id", events.c.trace_id).create(conn)
    Index("ix_events_annotator", events.c.annotator).create(conn)


MIGRATIONS: Final[tuple[Migration, ...]] = (
    _v1_traces_and_events,
    _v2_settings_and_event_indexes,
)
"""The steps, in order: ``MIGRATIONS[n - 1]`` takes a database from version ``n - 1`` to ``n``."""

LATEST_VERSION: Final = len(MIGRATIONS)
"""The schema version this code writes."""

_OUR_TABLES: Final = ("traces", "events", "settings")


def current_version(conn: Connection) -> int:
    """Return the database's schema version (0 for a database without workbench tables)."""
    if not sa_inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(select(func.max(schema_version_table.c.version))).scalar_one()
    return int(found or 0)


def migrate(engine: Engine, where: str, write_options: Mapping[str, Any]) -> int:
    """Bring the database up to :data:`LATEST_VERSION`, in one transaction.

    Args:
        engine: the database.
        where: how to name the database in error messages (a path, or a URL without password).
        write_options: execution options that make a transaction take the write lock.

    Returns:
        The version the database had before (0 when it was empty).

    Raises:
        SchemaTooNewError: the database is newer than this code.
        NotAWorkspaceError: the database has tables named like ours but no schema version.

    Examples:
        >>> migrate(engine, "analysis/workbench.db", {})  # doctest: +SKIP
        0
    """
    with engine.connect() as conn:
        conn.execution_options(**write_options)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            before = current_version(conn)
            _check_version(conn, before, where)
            for version in range(before + 1, LATEST_VERSION + 1):
                if version == 1:
                    schema_version_table.create(conn, checkfirst=True)
                MIGRATIONS[version - 1](conn)
                conn.execute(
                    schema_version_table.insert().values(
                        version=version, applied_at=dt.datetime.now(dt.UTC)
                    )
                )
    return before


def _check_version(conn: Connection, found: int, where: str) -> None:
    if found > LATEST_VERSION:
        raise SchemaTooNewError(
            f"the workspace database {where} has schema version {found}, but this "
            f"trace-workbench only knows versions up to {LATEST_VERSION}; upgrade it "
            "(pip install -U trace-workbench) to open this workspace"
        )
    if found == 0:
        clashing = [name for name in _OUR_TABLES if sa_inspect(conn).has_table(name)]
        if clashing:
            raise NotAWorkspaceError(
                f"the database {where} already has tables {clashing} but no schema_version "
                "table: it is not a trace-workbench workspace; use an empty database"
            )
