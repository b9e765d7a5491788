"""Source formats: what the records of a file mean, and which format a file is.

An adapter turns the items of one source into canonical rows. Adapters are tried
in registration order and the first whose ``sniff`` accepts the items wins, so
specific formats (exports with a recognisable shape) come before the generic
``records`` adapter, which accepts anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.traces import chat
from workbench.traces.errors import LoadReport, Place, RecordError
from workbench.traces.readers import Item
from workbench.traces.records import Row, record_to_row


@dataclass(frozen=True)
class Context:
    """What an adapter needs besides the items."""

    mapping: dict[str, str]
    """The user's ``{source_field: canonical_column}`` mapping."""
    report: LoadReport
    """Where bad records go (raises unless ``errors="skip"``)."""


@dataclass(frozen=True)
class Adapter:
    """A source format: a sniffer and a converter."""

    name: str
    """The name users pass as ``load_traces(format=...)``."""
    sniff: Callable[[Sequence[Item]], bool]
    """True when the items are unmistakably in this format."""
    convert: Callable[[Sequence[Item], Context], list[tuple[Row, Place]]]
    """Canonical rows with the place each came from; bad records go to the report."""
    aliases: tuple[str, ...] = ()
    """Other names for the same format."""


_REGISTRY: list[Adapter] = []


def register(adapter: Adapter, *, before: str | None = "records") -> None:
    """Add a format; by default ahead of the generic ``records`` adapter."""
    names = [a.name for a in _REGISTRY]
    position = names.index(before) if before in names else len(_REGISTRY)
    _REGISTRY.insert(position, adapter)


def adapters() -> list[Adapter]:
    """The registered formats, in sniffing order."""
    return list(_REGISTRY)


def find(name: str) -> Adapter | None:
    """The adapter called ``name`` (or one of its aliases), if any."""
    for adapter in _REGISTRY:
        if name == adapter.name or name in adapter.aliases:
            return adapter
    return None


def choose(items: Sequence[Item]) -> Adapter:
    """The first adapter that recognises the items."""
    for adapter in _REGISTRY:
        if adapter.sniff(items):
            return adapter
    raise AssertionError("the records adapter accepts everything")


def convert_each(
    items: Sequence[Item], context: Context, to_row: Callable[[Any, dict[str, str]], Row]
) -> list[tuple[Row, Place]]:
    """Convert items one by one; a bad item is reported with its place and field."""
    rows = []
    for item in items:
        try:
            rows.append((to_row(item.data, context.mapping), item.place))
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
        except RecursionError:  # a field nested deeper than the readers' recursion reaches
            context.report.reject(item.place, "a field is nested too deeply to read")
    return rows


def _convert_records(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    return convert_each(items, context, record_to_row)


def _sniff_cassette(items: Sequence[Item]) -> bool:
    return (
        len(items) == 1
        and isinstance(items[0].data, dict)
        and isinstance(items[0].data.get("interactions"), list)
    )


def _convert_cassette(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    rows: list[tuple[Row, Place]] = []
    for item in items:
        try:
            records = chat.cassette_records(item.data)
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
            continue
        for number, record in enumerate(records, start=1):
            place = Place(item.place.source, row=number)
            rows.extend(convert_each([Item(record, place)], context, record_to_row))
    return rows


register(
    Adapter(
        "records",
        sniff=lambda items: True,
        convert=_convert_records,
        aliases=("openai", "chat", "messages"),
    ),
    before=None,
)
register(Adapter("cassette", sniff=_sniff_cassette, convert=_convert_cassette, aliases=("vcr",)))
