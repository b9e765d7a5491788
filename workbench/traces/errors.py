"""Errors and the skip report of trace loading.

A loader never guesses its way past bad input. Each problem is pinned to a place
(file, line or row, field) so the user can open the file and fix it, and in
``errors="skip"`` mode the same problems are collected into a report instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Place:
    """Where a record sits in its source, for error messages."""

    source: str
    """File name (or ``"DataFrame"``) the record came from."""
    line: int | None = None
    """1-based physical line where the record starts, when the source has lines."""
    row: int | None = None
    """1-based record number (CSV/Parquet row, JSON array element), when it differs from line."""

    def __str__(self) -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(f"record {self.row}")
        if self.line is not None:
            parts.append(f"line {self.line}" if self.row is None else f"(line {self.line})")
        return " ".join(parts)


class TraceLoadError(ValueError):
    """A trace source could not be loaded; the message names the file, line and field."""

    def __init__(self, place: Place | str, message: str, field: str | None = None) -> None:
        self.place = place
        self.field = field
        self.reason = message
        where = str(place)
        text = f"{where}: {message}" if field is None else f"{where}, field {field!r}: {message}"
        super().__init__(text)


class RecordError(Exception):
    """One record is malformed; raised inside adapters and turned into a report entry."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.reason = message


class TraceLoadWarning(UserWarning):
    """Loading went through, but something the user should know happened (skips, empty file)."""


@dataclass
class LoadReport:
    """Collects rejected records; raises at the first one unless skipping was asked for."""

    skip: bool
    """True for ``errors="skip"``: keep going and remember what was rejected."""
    rejected: list[tuple[Place, str | None, str]] = field(default_factory=list)
    """(place, field, reason) of every record left out."""

    def reject(self, place: Place, reason: str, field: str | None = None) -> None:
        """Record a bad record, or raise :class:`TraceLoadError` when not skipping."""
        if not self.skip:
            raise TraceLoadError(place, reason, field)
        self.rejected.append((place, field, reason))

    def frame(self) -> pd.DataFrame:
        """The rejected records as a table: source, record, line, field, error."""
        return pd.DataFrame(
            [
                {
                    "source": p.source,
                    "record": p.row,
                    "line": p.line,
                    "field": f,
                    "error": reason,
                }
                for p, f, reason in self.rejected
            ],
            columns=["source", "record", "line", "field", "error"],
        )
