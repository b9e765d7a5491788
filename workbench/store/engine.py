"""Database connections: SQLite tuned for durable concurrent appends, or PostgreSQL.

SQLite settings, on every connection:

- ``journal_mode=WAL``: readers never block the writer and the writer never blocks readers,
  so a notebook re-reading labels does not stall a colleague's process tagging.
- ``synchronous=FULL``: each commit waits for the WAL to reach the disk. ``NORMAL`` would be
  faster and still survives a killed process, but can drop the last commits on power loss;
  an acknowledged label must never be lost, and one fsync per key press costs a few
  milliseconds.
- ``busy_timeout`` of 30 s: a writer waits for another writer instead of failing.
- Write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so
  "read, check, then append" is atomic and cannot fail halfway with "database is locked".

WAL needs a local disk (not a network share); teams sharing a workspace use PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

BUSY_TIMEOUT_S: Final = 30.0
"""How long a SQLite writer waits for the lock before giving up."""

WRITE_OPTION: Final = "workbench_write"
"""Execution option marking a SQLite transaction as a writer (``BEGIN IMMEDIATE``)."""


def sqlite_url(path: str) -> URL:
    """Return the URL of a SQLite database file.

    Examples:
        >>> sqlite_url("/tmp/analysis/workbench.db").database
        '/tmp/analysis/workbench.db'
    """
    return URL.create("sqlite+pysqlite", database=path)


def parse_url(url: str | URL) -> URL:
    """Parse and check a database URL; ``postgresql://`` means the psycopg (3) driver.

    Raises:
        ValueError: for a malformed URL or a database other than SQLite and PostgreSQL.

    Examples:
        >>> parse_url("postgresql://ana@127.0.0.1:55432/wb").drivername
        'postgresql+psycopg'
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        shown = re.sub(r":[^:@/]*@", ":***@", str(url))  # no password in error messages
        raise ValueError(f"cannot parse database URL {shown!r}: {error}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {parsed.drivername!r} in "
            f"{parsed.render_as_string(hide_password=True)}; use a SQLite file or "
            "postgresql+psycopg://user:password@host:port/database"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("a workspace needs a SQLite file, not an in-memory database")
    return parsed


def create(url: URL) -> Engine:
    """Create an engine for a URL checked by :func:`parse_url`."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        import psycopg  # noqa: F401 (only to report a missing driver clearly)
    except ImportError as error:
        raise ImportError(
            "a PostgreSQL workspace needs the psycopg driver: "
            "pip install 'trace-workbench[postgres]'"
        ) from error
    return create_engine(url, pool_pre_ping=True)


def write_options(engine: Engine) -> dict[str, Any]:
    """Execution options that make a transaction on this engine take the write lock at once."""
    return {WRITE_OPTION: True} if engine.dialect.name == "sqlite" else {}


def read_options(engine: Engine) -> dict[str, Any]:
    """Execution options that give a transaction one consistent snapshot for all its reads."""
    if engine.dialect.name == "postgresql":
        return {"isolation_level": "REPEATABLE READ"}
    return {}


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode for {url.database} (got {mode!r})")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writer = bool(conn.get_execution_options().get(WRITE_OPTION))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine
