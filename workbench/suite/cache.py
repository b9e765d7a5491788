"""The results cache of suite runs, so a re-run or a resumed run calls no model twice.

One SQLite file, ``evals/.cache/results.sqlite3`` (git-ignored), in WAL mode. A judge's
verdict on a trace is kept under (eval version, trace content hash, model, repeat): edit the
judge file and its version changes, so its old verdicts are no longer used; change the trace
and its hash changes. Each result is committed as soon as it arrives, so after Ctrl-C or a
crash the next run starts where this one stopped. Only finished calls are kept: a verdict,
or an answer that could not be read as one. Failed calls (retries exhausted) are not, so
they are tried again.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> cache = ResultCache(Path(tempfile.mkdtemp()) / "results.sqlite3")
    >>> row = CachedResult("v1", "h1", "m", 0, "e", "t1", True, "", 0.2, 0.001)
    >>> cache.put(row)
    >>> cache.lookup("v1", "m")[("h1", 0)].passed
    True
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR = ".cache"
"""Folder of the cache inside the evals folder (listed in ``evals/.gitignore``)."""

CACHE_FILE = "results.sqlite3"
"""File name of the cache."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    version TEXT NOT NULL,
    trace_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    eval TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    passed INTEGER,
    reason TEXT NOT NULL,
    latency_s REAL NOT NULL,
    cost_usd REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (version, trace_hash, model, repeat)
)
"""


def trace_hash(record: dict[str, Any]) -> str:
    """The content hash of a trace record: sha256 of its canonical JSON, 32 hex digits.

    Examples:
        >>> trace_hash({"b": 1, "a": "x"}) == trace_hash({"a": "x", "b": 1})
        True
    """
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class CachedResult:
    """One finished judge call as stored."""

    version: str
    """Content hash of the judge file."""
    trace_hash: str
    """Content hash of the trace (:func:`trace_hash`)."""
    model: str
    """The model that answered."""
    repeat: int
    """Repeat index (0 for a single run)."""
    eval: str
    """Eval id (for reading the file by hand; not part of the key)."""
    trace_id: str
    """Trace id (for reading the file by hand; not part of the key)."""
    passed: bool | None
    """The verdict: True = failure absent; None = the answer could not be graded."""
    reason: str
    """The judge's reasoning, or why it could not be graded."""
    latency_s: float
    """Seconds the original call took."""
    cost_usd: float
    """What the original call cost."""


class ResultCache:
    """The SQLite file of finished judge calls; safe to use from any thread.

    Args:
        path: The database file; its folder is created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode cannot corrupt the file; a power cut may lose the last results,
        # which are then simply asked for again.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def lookup(self, version: str, model: str) -> dict[tuple[str, int], CachedResult]:
        """Every stored result of one eval version and model, by (trace hash, repeat)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT version, trace_hash, model, repeat, eval, trace_id, passed, reason, "
                "latency_s, cost_usd FROM results WHERE version = ? AND model = ?",
                (version, model),
            ).fetchall()
        out = {}
        for row in rows:
            result = CachedResult(
                version=str(row[0]),
                trace_hash=str(row[1]),
                model=str(row[2]),
                repeat=int(row[3]),
                eval=str(row[4]),
                trace_id=str(row[5]),
                passed=None if row[6] is None else bool(row[6]),
                reason=str(row[7]),
                latency_s=float(row[8]),
                cost_usd=float(row[9]),
            )
            out[(result.trace_hash, result.repeat)] = result
        return out

    def put(self, result: CachedResult) -> None:
        """Store one result and commit at once (ignored once closed: a cancelled call's)."""
        passed = None if result.passed is None else int(result.passed)
        with self._lock:
            if self._closed:
                return
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.version,
                    result.trace_hash,
                    result.model,
                    result.repeat,
                    result.eval,
                    result.trace_id,
                    passed,
                    result.reason,
                    result.latency_s,
                    result.cost_usd,
                    time.time(),
                ),
            )

    def max_cost(self, version: str, model: str) -> float | None:
        """The dearest call stored for one eval version and model, or None without any."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(cost_usd) FROM results WHERE version = ? AND model = ?",
                (version, model),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._closed = True
            self._db.close()
