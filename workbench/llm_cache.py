"""The on-disk cache of LLM responses, so re-running a notebook costs nothing.

One SQLite file (``llm-cache.sqlite3``) in the cache directory, in WAL mode with a busy
timeout, so several processes (two notebooks, a test run) can share it safely. Entries are
keyed by :func:`cache_key`, the sha256 of the canonical JSON of everything that shapes the
answer. The cache is a convenience, not a record: deleting the file only costs money.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CACHE_FILE = "llm-cache.sqlite3"
"""File name of the cache inside the cache directory."""

_KEY_VERSION = 1  # bump when the meaning of a cached entry changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    entry TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_dir() -> Path:
    """The cache directory: ``$WORKBENCH_CACHE_DIR`` or ``~/.cache/workbench/llm``.

    Examples:
        >>> isinstance(default_cache_dir(), Path)
        True
    """
    env = os.environ.get("WORKBENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbench" / "llm"


def _not_json(value: object) -> Any:
    raise TypeError(
        f"cannot build a cache key from a {type(value).__name__} ({value!r:.60}); "
        "pass plain JSON values (dicts, lists, str, numbers) or use cache=False"
    )


def cache_key(request: Mapping[str, Any]) -> str:
    """Hash a request into a cache key: sha256 of its canonical JSON.

    Canonical means sorted keys, no whitespace and unicode kept as is, so two equal
    requests built in a different order get the same key.

    Args:
        request: Everything that shapes the answer (model, messages, parameters, api base).

    Returns:
        64 hex characters.

    Raises:
        TypeError: A value is not plain JSON data.

    Examples:
        >>> a = cache_key({"model": "m", "messages": [], "params": {"a": 1, "b": 2}})
        >>> a == cache_key({"params": {"b": 2, "a": 1}, "messages": [], "model": "m"})
        True
    """
    text = json.dumps(
        {"v": _KEY_VERSION, **request},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_not_json,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """What is kept of one answer."""

    text: str
    """The assistant's text."""
    model: str
    """The model that answered, as requested."""
    prompt_tokens: int
    """Prompt tokens of the original call."""
    completion_tokens: int
    """Completion tokens of the original call."""
    cost_usd: float
    """What the original call cost."""
    latency_s: float
    """How long the original call took."""
    finish_reason: str | None = None
    """Why generation stopped (``stop``, ``length``, ...), when the server said."""


class ResponseCache:
    """A SQLite file of responses by key; safe to share between threads and processes.

    One connection per instance and process, used under a lock, so it works from any thread
    or event loop. (A connection per operation would be simpler but slow: closing the last
    connection of a WAL database checkpoints it, which costs an fsync each time.)

    Args:
        directory: Where ``llm-cache.sqlite3`` lives; created when missing.

    Examples:
        >>> import tempfile
        >>> cache = ResponseCache(tempfile.mkdtemp())
        >>> cache.put("k", CachedResponse("hi", "m", 3, 1, 0.0, 0.2))
        >>> cache.get("k").text
        'hi'
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory).expanduser() / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        with self._connect():
            pass

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last answers,
        # which a cache can afford, and each commit skips an fsync.
        db.execute("PRAGMA synchronous=NORMAL")
        # Switching to WAL needs a moment of exclusive access, and SQLite reports "locked" at
        # once (without waiting) when another process is creating the file at the same time.
        for attempt in range(100):
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
                return db
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    db.close()
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None or self._pid != os.getpid():  # never reuse one across fork
                self._db, self._pid = self._open(), os.getpid()
            yield self._db

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def get(self, key: str) -> CachedResponse | None:
        """Return the entry for ``key``, or None when there is none."""
        with self._connect() as db:
            row = db.execute("SELECT entry FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return CachedResponse(**json.loads(row[0]))

    def put(self, key: str, response: CachedResponse) -> None:
        """Store ``response`` under ``key``, replacing an older entry."""
        entry = json.dumps(asdict(response), ensure_ascii=False)
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO responses (key, model, entry, created) VALUES (?, ?, ?, ?)",
                (key, response.model, entry, time.time()),
            )

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        """Delete every entry."""
        with self._connect() as db:
            db.execute("DELETE FROM responses")
