"""The workspace database: traces, the append-only annotation log, settings.

This package is the only one that imports SQLAlchemy. SQLite (one file, WAL mode) is the
default; PostgreSQL serves teams that share a workspace. The rest of the workbench talks to
a :class:`Store` in plain Python values and pandas frames.

Examples:
    >>> from workbench.store import NewEvent, open_store
    >>> store = open_store("sqlite:///analysis/workbench.db")  # doctest: +SKIP
    >>> store.append(NewEvent("define", "ana", None, {"failure_mode": "x"}))  # doctest: +SKIP
    Event(id=1, kind='define', ...)
"""

from workbench.store.codec import (
    TraceRecord,
    decode_trace,
    decode_traces,
    dumps,
    encode_traces,
    first_of_each_id,
)
from workbench.store.engine import sqlite_url
from workbench.store.events import (
    EVENT_COLUMNS,
    EVENT_KINDS,
    Event,
    NewEvent,
    undo_of,
    undone_ids,
)
from workbench.store.migrations import (
    LATEST_VERSION,
    NotAWorkspaceError,
    SchemaTooNewError,
    StoreError,
)
from workbench.store.store import AddResult, Store, open_store

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_KINDS",
    "LATEST_VERSION",
    "AddResult",
    "Event",
    "NewEvent",
    "NotAWorkspaceError",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "TraceRecord",
    "decode_trace",
    "decode_traces",
    "dumps",
    "encode_traces",
    "first_of_each_id",
    "open_store",
    "sqlite_url",
    "undo_of",
    "undone_ids",
]
