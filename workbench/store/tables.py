"""The tables of a workspace database, in their current shape (SQLAlchemy Core).

These definitions are what the queries use. The database itself is built and upgraded by the
ordered steps in :mod:`workbench.store.migrations`; a test checks that both agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite needs INTEGER for an autoincrementing primary key."""


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that goes in and comes out as a timezone-aware UTC datetime.

    SQLite has no time zones, so the value is stored there as naive UTC text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Check the value is aware and convert it to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware, got naive {value!r}")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        stamp: dt.datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC)


metadata = MetaData()
"""All tables of the current schema."""

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)
"""One row per migration applied; the highest ``version`` is the schema's version."""

traces = Table(
    "traces",
    metadata,
    Column("seq", ID_TYPE, primary_key=True, autoincrement=True),
    Column("trace_id", Text, nullable=False, unique=True),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)
"""The traces: one JSON document per trace; ``seq`` keeps the order they were added in."""

events = Table(
    "events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("trace_id", Text, ForeignKey("traces.trace_id"), nullable=True),
    Column("annotator", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_events_trace_id", "trace_id"),
    Index("ix_events_annotator", "annotator"),
    sqlite_autoincrement=True,
)
"""The append-only annotation log (see :mod:`workbench.store.events`)."""

settings = Table(
    "settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Small key-value settings of the workspace (values are JSON)."""
