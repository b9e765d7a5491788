"""A source span's fields as exports spell them, read into what a ``SpanRecord`` holds.

Every format spells the same things differently: span kinds (``llm``, ``GENERATION``,
``CHAT_MODEL``...), statuses (``STATUS_CODE_ERROR``, ``2``, ``success``), times (ISO
strings, epoch seconds to nanoseconds), ids (text or numbers), JSON objects held in
strings. The adapters share these readers so that one spelling reads the same way
whatever the format; :func:`to_time` and :func:`text_id` raise :class:`RecordError`
naming the field for a value they cannot read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from workbench.traces import fields
from workbench.traces.errors import Place, RecordError
from workbench.traces.spans import EPOCH, Notes


def classify(
    raw: Any, table: Mapping[str, str], notes: Notes, place: Place, field: str
) -> tuple[str, tuple[str, ...]]:
    """A source's span kind as one of :data:`~workbench.traces.spans.KINDS` (looked up upper-case).

    A missing kind is a plain ``SPAN``; an unrecognised one is kept as ``UNKNOWN``,
    flagged ``"unknown_kind"`` and reported as a warning (its raw value stays in the
    span's attributes).
    """
    if raw is None or raw == "":
        return "SPAN", ()
    kind = table.get(str(raw).upper())
    if kind is not None:
        return kind, ()
    notes.add("have a kind this loader does not know", place, field, f"{raw!r} kept as 'UNKNOWN'")
    return "UNKNOWN", ("unknown_kind",)


def status_of(value: Any) -> str:
    """``OK``/``ERROR``/``UNSET`` from the ways exports spell a status (codes 0-2 included)."""
    if value is None:
        return "UNSET"
    text = str(value).upper().rsplit("_", 1)[-1].rsplit(".", 1)[-1]
    return {"1": "OK", "2": "ERROR", "OK": "OK", "ERROR": "ERROR", "SUCCESS": "OK"}.get(
        text, "UNSET"
    )


def to_time(value: Any, field: str) -> datetime | None:
    """A time as an aware UTC datetime: ISO strings, epoch numbers (s to ns), datetimes.

    Integer epochs (and integer strings, as OTLP writes nanoseconds) are converted
    exactly; their size tells the unit, as in :func:`workbench.traces.fields.to_timestamp`.

    Raises:
        RecordError: the value is not a readable time; names ``field``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _epoch(value, field)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _utc(value, field)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return _utc(value, field)


def _epoch(number: int, field: str) -> datetime:
    for scale in (1, 10**3, 10**6, 10**9):
        if abs(number) < 10**11 * scale:
            seconds, rest = divmod(number, scale)
            try:
                return EPOCH + timedelta(seconds=seconds, microseconds=rest * 10**6 // scale)
            except OverflowError:
                break
    raise RecordError(f"unreadable time {number!r}", field)


def _utc(value: Any, field: str) -> datetime:
    """The loader's own time parsing, to the microsecond."""
    return fields.to_timestamp(value, field).floor("us").to_pydatetime()


def text_id(value: Any, field: str) -> str | None:
    """An id as text (numbers too); empty is ``None``; any other value is a bad field."""
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"expected an id, got {type(value).__name__}", field)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one (for optional nested fields)."""
    return value if isinstance(value, dict) else {}


def parse_json(value: Any) -> Any:
    """A JSON object or array held in a string, parsed; anything else as it is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def dumps(value: Any) -> str:
    """``value`` as JSON text, unicode kept and unknown types as their ``str``."""
    return json.dumps(value, ensure_ascii=False, default=str)
