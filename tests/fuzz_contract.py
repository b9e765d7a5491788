"""The promise of ``load_traces``, checked on one file: load fully or fail naming the place.

Every input either loads or raises :class:`TraceLoadError` whose message names the
file; nothing else escapes, nothing hangs, and nothing is left out silently: with
``errors="raise"`` a load returns every record or raises, and with ``errors="skip"``
every record is either a row or an entry of ``wb.skipped(traces)``. :func:`check_file`
loads a file both ways and says which part of that promise, if any, was broken.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import workbench as wb
from workbench.traces import REQUIRED_COLUMNS, TraceLoadError, TraceLoadWarning, adapters
from workbench.traces.errors import LoadReport
from workbench.traces.readers import read_items

OUTCOMES = (
    "loaded",
    "trace_load_error",
    "other_exception",
    "timeout",
    "unnamed_error",
    "partial_load",
    "inconsistent",
    "bad_frame",
    "stray_warning",
)
"""What a case can come to; all but the first two break the promise."""

GOOD = frozenset({"loaded", "trace_load_error"})
"""Outcomes that keep the promise."""


class CaseTimeout(BaseException):
    """A load ran past its time limit (a BaseException, so no ``except Exception`` eats it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`CaseTimeout` after ``seconds`` (main thread only).

    A timer already set (pytest-timeout's) is put back afterwards with what it had left.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = max(outer - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


@dataclass(frozen=True)
class Attempt:
    """One call of ``load_traces`` and how it ended."""

    kind: str
    """``"frame"``, ``"error"`` (a TraceLoadError), ``"crash"`` or ``"timeout"``."""
    frame: pd.DataFrame | None = None
    """The table, when it loaded."""
    message: str = ""
    """The error message or the traceback's last lines."""
    warnings: tuple[str, ...] = ()
    """Warnings other than :class:`TraceLoadWarning`, as ``Category: text``."""


@dataclass(frozen=True)
class Verdict:
    """What loading one file came to."""

    outcome: str
    """One of :data:`OUTCOMES`."""
    detail: str = ""
    """Why, for a broken promise."""
    rows: int | None = None
    """Traces loaded with ``errors="raise"`` (``None`` when it raised)."""
    extra: dict[str, int] = field(default_factory=dict)
    """Figures for reports: ``skipped`` with ``errors="skip"``."""

    @property
    def failed(self) -> bool:
        """True when the promise was broken."""
        return self.outcome not in GOOD


def attempt(path: Path, errors: str, seconds: float) -> Attempt:
    """Load ``path`` once under a time limit, recording warnings instead of raising them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit(seconds):
                frame = wb.load_traces(path, errors=errors)
        except CaseTimeout as exc:
            return Attempt("timeout", message=str(exc))
        except TraceLoadError as exc:
            return Attempt("error", message=str(exc))
        except Exception as exc:  # any other type breaks the promise: keep it for the report
            lines = traceback.format_exception(exc)
            return Attempt("crash", message="".join(lines[-6:]).strip())
    stray = tuple(
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, TraceLoadWarning)
    )
    return Attempt("frame", frame=frame, warnings=stray)


def frame_problems(frame: pd.DataFrame) -> list[str]:
    """How a loaded table differs from the canonical one (empty when it is canonical)."""
    problems = []
    if tuple(frame.columns[: len(REQUIRED_COLUMNS)]) != REQUIRED_COLUMNS:
        problems.append(f"columns {list(frame.columns)}")
        return problems
    ids = frame["trace_id"].tolist()
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        problems.append("trace ids are not distinct non-empty strings")
    for column in ("input", "output"):
        if not all(isinstance(v, str) for v in frame[column]):
            problems.append(f"{column} holds a value that is not text")
    if not all(isinstance(m, dict) for m in frame["metadata"]):
        problems.append("metadata holds a value that is not an object")
    for messages in frame["messages"]:
        if messages is not None and not (
            isinstance(messages, list)
            and all(
                isinstance(m, dict)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            problems.append("messages holds something other than role/content messages")
            break
    stamp = frame["timestamp"].dtype
    if not (isinstance(stamp, pd.DatetimeTZDtype) and str(stamp.tz) == "UTC"):
        problems.append(f"timestamp has dtype {stamp}")
    for column in ("latency_ms", "cost_usd"):
        if column in frame.columns and frame[column].dtype.kind != "f":
            problems.append(f"{column} has dtype {frame[column].dtype}")
    return problems


def record_count(path: Path) -> int | None:
    """How many records a file holds when each record must become one row (plain records).

    JSON Lines are counted by their non-blank lines, so an unparseable line counts
    too; other containers by their parsed records. ``None`` when rows are not one per
    record (span exports group records into traces) or the file cannot be read.
    """
    report = LoadReport(skip=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            container, items = read_items(path, None, report)
        except TraceLoadError:
            return None
        if adapters.choose(items).name != "records":
            return None
    if container == "jsonl":
        return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
    return len(items) + len(report.rejected)


def check_file(path: Path, seconds: float = 10.0) -> Verdict:
    """Load ``path`` with ``errors="raise"`` and ``"skip"`` and check the promise."""
    strict = attempt(path, "raise", seconds)
    lenient = attempt(path, "skip", seconds)
    for mode, result in (("raise", strict), ("skip", lenient)):
        if result.kind == "crash":
            return Verdict("other_exception", f"errors={mode!r}: {result.message}")
        if result.kind == "timeout":
            return Verdict("timeout", f"errors={mode!r}: {result.message}")
        if result.kind == "error" and path.name not in result.message:
            return Verdict("unnamed_error", f"errors={mode!r}: {result.message[:300]}")
        if result.frame is not None and (problems := frame_problems(result.frame)):
            return Verdict("bad_frame", f"errors={mode!r}: {'; '.join(problems)}")
        if result.warnings:
            return Verdict("stray_warning", f"errors={mode!r}: {result.warnings[0][:300]}")
    return _compare(path, strict, lenient)


def _compare(path: Path, strict: Attempt, lenient: Attempt) -> Verdict:
    """Both modes must agree, and skipping must account for every record."""
    skipped = len(wb.skipped(lenient.frame)) if lenient.frame is not None else 0
    extra = {"skipped": skipped}
    if strict.frame is not None:
        if lenient.frame is None or skipped:
            reason = lenient.message[:200] if lenient.frame is None else f"{skipped} skipped"
            return Verdict("inconsistent", f"raise loaded, skip did not ({reason})")
        if strict.frame["trace_id"].tolist() != lenient.frame["trace_id"].tolist():
            return Verdict("inconsistent", "raise and skip loaded different traces")
    elif lenient.frame is not None and not skipped:
        detail = f"raise refused ({strict.message[:200]}) but skip reported nothing left out"
        return Verdict("inconsistent", detail)
    expected = record_count(path)
    if expected is not None:
        for mode, result, left_out in (("raise", strict, 0), ("skip", lenient, skipped)):
            if result.frame is not None and len(result.frame) + left_out != expected:
                detail = (
                    f"errors={mode!r}: {len(result.frame)} rows + {left_out} skipped "
                    f"!= {expected} records"
                )
                return Verdict("partial_load", detail)
    if strict.frame is None:
        return Verdict("trace_load_error", strict.message[:300], None, extra)
    return Verdict("loaded", "", len(strict.frame), extra)
