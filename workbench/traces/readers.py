"""Read a source into items: the records of a file, with where each one came from.

The container (JSON Lines, JSON, CSV, Parquet, YAML) is sniffed from the bytes,
never from the file name, because exports are often misnamed (a JSON Lines file
saved as ``.json`` is common). What the records *mean* is decided later by an
adapter.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.traces.errors import LoadReport, Place, TraceLoadError, TraceLoadWarning

CONTAINERS = ("jsonl", "json", "csv", "parquet", "yaml", "dataframe")
"""Container names accepted by ``load_traces(format=...)``."""

_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Item:
    """One parsed record of a source and its place, for error messages."""

    data: Any
    """The parsed record: usually a dict, but adapters decide what is valid."""
    place: Place
    """Where it came from."""


def read_items(
    source: str | Path | pd.DataFrame,
    container: str | None,
    report: LoadReport,
    encoding: str = "utf-8",
) -> tuple[str, list[Item]]:
    """Parse ``source`` into items; returns the container used and the items.

    Raises:
        TraceLoadError: the source cannot be read as the container at all.
    """
    if isinstance(source, pd.DataFrame):
        return "dataframe", list(_frame_items(source, "DataFrame"))
    path = Path(source)
    name = path.name
    if not path.exists():
        raise TraceLoadError(str(path), "file not found")
    if path.is_dir():
        raise TraceLoadError(str(path), "is a folder; pass a file, a glob or a list of files")
    raw = path.read_bytes()
    container = container or sniff_container(raw)
    if container == "parquet":
        return container, list(_parquet_items(path, name))
    if container == "jsonl":
        return container, list(_jsonl_items(raw, name, report, encoding))
    text = _decode(raw, name, encoding)
    if container == "json":
        return container, _json_items(text, name)
    if container == "yaml":
        return container, _yaml_items(text, name)
    if container == "csv":
        return container, list(_csv_items(text, name))
    raise TraceLoadError(name, f"unknown container {container!r}; expected one of {CONTAINERS}")


def sniff_container(raw: bytes) -> str:
    """Guess the container from the first bytes of a file."""
    if raw.startswith(_PARQUET_MAGIC):
        return "parquet"
    head = raw[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl" if _first_line_is_whole_object(head) else "json"
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"#") or (first.endswith(b":") and b"," not in first):
        return "yaml"
    if first[:1].isalpha() and b":" in first and b"," not in first:
        return "yaml"
    return "csv"


def _first_line_is_whole_object(head: bytes) -> bool:
    """True when the first line parses as a JSON value and more content follows."""
    first, _, rest = head.partition(b"\n")
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return bool(rest.strip())


def _decode(raw: bytes, name: str, encoding: str) -> str:
    """Decode a whole file, naming the line of the first undecodable byte."""
    try:
        return raw.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TraceLoadError(
            Place(name, line=line),
            f"bytes that are not valid {encoding} at offset {exc.start} "
            f"({raw[exc.start : exc.start + 4]!r}); pass encoding='cp1252' (or the file's "
            "encoding) to load_traces",
        ) from None


def _jsonl_items(raw: bytes, name: str, report: LoadReport, encoding: str) -> Iterator[Item]:
    """One item per non-blank line; a bad line is rejected on its own."""
    codec = "utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        place = Place(name, line=number)
        try:
            text = line.decode(codec if number == 1 else encoding)
        except UnicodeDecodeError as exc:
            report.reject(
                place,
                f"bytes that are not valid {encoding} at column {exc.start + 1}; "
                "pass encoding= to load_traces",
            )
            continue
        try:
            yield Item(json.loads(text), place)
        except json.JSONDecodeError as exc:
            report.reject(place, f"invalid JSON ({exc.msg}, column {exc.colno})")
        except ValueError as exc:  # a number too long for int()
            report.reject(place, f"unreadable JSON ({exc})")
        except RecursionError:
            report.reject(place, "JSON nested too deeply to parse")


def _json_items(text: str, name: str) -> list[Item]:
    """A JSON array gives one item per element; any other document is one item."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceLoadError(
            Place(name, line=exc.lineno), f"invalid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # a number too long for int()
        raise TraceLoadError(name, f"unreadable JSON ({exc})") from None
    except RecursionError:
        raise TraceLoadError(name, "JSON nested too deeply to parse") from None
    if isinstance(doc, list):
        return [Item(value, Place(name, row=i)) for i, value in enumerate(doc, start=1)]
    return [Item(doc, Place(name))]


def _yaml_items(text: str, name: str) -> list[Item]:
    """A YAML document (e.g. a recorded HTTP cassette) is one item; a list gives one per entry."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise TraceLoadError(Place(name, line=line), f"invalid YAML ({exc})") from None
    except ValueError as exc:  # a number too long for int()
        raise TraceLoadError(name, f"unreadable YAML ({exc})") from None
    except RecursionError:
        raise TraceLoadError(name, "YAML nested too deeply to parse") from None
    if isinstance(doc, list):
        return [Item(value, Place(name, row=i)) for i, value in enumerate(doc, start=1)]
    return [Item(doc, Place(name))]


def _csv_items(text: str, name: str) -> Iterator[Item]:
    """One item per CSV row; empty cells are missing values, JSON-looking cells are parsed."""
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = _unique_header([h.strip() for h in header], name)
    start = reader.line_num + 1
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TraceLoadError(Place(name, line=start), f"malformed CSV ({exc})") from None
        number += 1
        place = Place(name, row=number, line=start)
        start = reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise TraceLoadError(
                place, f"has {len(cells)} cells but the header names {len(header)} columns"
            )
        yield Item({h: _cell(c) for h, c in zip(header, cells, strict=True) if c != ""}, place)


def _unique_header(header: list[str], name: str) -> list[str]:
    """Keep every column of a header that repeats a name: the repeats become ``name.1``..."""
    seen: dict[str, int] = {}
    unique = []
    for column in header:
        count = seen.get(column, 0)
        seen[column] = count + 1
        unique.append(column if count == 0 else f"{column}.{count}")
    repeated = sorted(c for c, n in seen.items() if n > 1)
    if repeated:
        warnings.warn(
            f"{name} line 1: column(s) {repeated} appear more than once; the repeats are kept "
            f"as {[u for u in unique if u not in seen]}",
            TraceLoadWarning,
            stacklevel=6,
        )
    return unique


def _cell(text: str) -> Any:
    """Parse a CSV cell that holds a JSON object or array; leave anything else as text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return text
    return text


def _parquet_items(path: Path, name: str) -> Iterator[Item]:
    """One item per Parquet row, read in batches to bound memory."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise TraceLoadError(name, f"unreadable Parquet file ({exc})") from None
    number = 0
    batches = parquet.iter_batches(batch_size=10_000)
    while True:
        try:
            batch = next(batches, None)
            rows = [] if batch is None else batch.to_pylist()
        except Exception as exc:  # corrupt pages surface only when read, as several types
            raise TraceLoadError(
                name, f"unreadable Parquet data after row {number} ({exc})"
            ) from None
        if batch is None:
            return
        for row in rows:
            number += 1
            yield Item(_drop_missing(row), Place(name, row=number))


def _frame_items(frame: pd.DataFrame, name: str) -> Iterator[Item]:
    """One item per DataFrame row (row numbers are 1-based positions)."""
    columns = [str(c) for c in frame.columns]
    for number, values in enumerate(frame.itertuples(index=False, name=None), start=1):
        row = dict(zip(columns, values, strict=True))
        yield Item(_drop_missing(row), Place(name, row=number))


def _drop_missing(row: dict[str, Any]) -> dict[str, Any]:
    """Remove None/NaN/NaT cells so a missing value looks the same from every container."""
    return {k: v for k, v in row.items() if not _is_missing(v)}


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return False
