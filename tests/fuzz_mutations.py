"""Reproducible mutations of trace files, on bytes and lines and on the JSON they hold.

Byte flips and insertions, truncation, line deletion and duplication, line-ending,
BOM and encoding changes; and mutations that know JSON: delete a key, swap a value's
type, put in a huge string or a huge number, nest a value deeper, point an id at
another one (repeated ids, self-parents, cycles). JSON held inside strings (CSV
cells, MLflow attributes, recorded HTTP bodies) is mutated too. Every mutation draws
only from the ``random.Random`` it is given.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fuzz_documents as docs
import yaml

# --- text spliced in after writing ---------------------------------------------------------

_MARKED = re.compile(r"""(?:\\*["'])*@@(deep|digits)(\d+)@@(?:\\*["'])*""")


@dataclass(frozen=True)
class Raw:
    """Text too awkward to build as a value, spliced in after the document is written.

    ``deep``: arrays nested ``size`` levels (``json.dumps`` itself would fail on them);
    ``digits``: an integer of ``size`` digits (longer than Python converts by default).
    """

    kind: str
    """``"deep"`` or ``"digits"``."""
    size: int
    """Levels of nesting, or digits."""

    @property
    def marker(self) -> str:
        """The placeholder text that :func:`splice` expands."""
        return f"@@{self.kind}{self.size}@@"


def splice(text: str) -> str:
    """Expand each marker, dropping the quotes (escaped or not) that made it a string."""

    def expand(match: re.Match[str]) -> str:
        size = int(match.group(2))
        return "[" * size + "1" + "]" * size if match.group(1) == "deep" else "1" + "0" * size

    return _MARKED.sub(expand, text)


def mark(value: Any) -> Any:
    """``value`` with each :class:`Raw` replaced by its marker."""
    if isinstance(value, Raw):
        return value.marker
    if isinstance(value, list):
        return [mark(v) for v in value]
    if isinstance(value, dict):
        return {k: mark(v) for k, v in value.items()}
    return value


# --- values and keys that trip readers ------------------------------------------------------

NASTY_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 1.5, -0.0,
    10**400, -(10**400), Raw("digits", 5000), 1e308, -1e308, float("nan"), float("inf"),
    float("-inf"), 5e-324, "", " ", "0", "-1", "1e400",
    "NaN", "null", "true", "[]", "{}", '{"a":', "\u0000", "\ud800", "\u202e\u0301e\U0001f642",
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00", "2026-01-01T00:00:00.123456789Z",
    "2026-13-45", "1767225600",
    "17672256000000000000000", "0x", "==", "AAAAAAAAAAA=", "line\r\nbreak", [], {}, [[]], [{}],
    {"": None}, ["a", 1, None], {"role": "user"}, {"content": None}, {"type": "tool_call"},
)  # fmt: skip
"""Values of every JSON type that readers tend to get wrong."""

NASTY_KEYS: tuple[str, ...] = (
    "", "id", "trace_id", "parent_id", "span_id", "messages", "input", "output", "role",
    "content", "context.span_id", "attributes.llm.input_messages.0.message.role",
    "llm.input_messages.0.message", "a.b", "." * 400, "0", "__proto__", "\u00e9",
)  # fmt: skip
"""Keys that readers look for, and keys shaped to confuse dotted-key handling."""

NASTY_BYTES: tuple[bytes, ...] = (
    b"\xef\xbb\xbf", b"\r\n", b"\n\n", b"\x00", b"\xc3", b"\xed\xa0\x80", b"\xff\xfe", b'"',
    b"NaN", b"Infinity", b"-1e999", b"null", b"{", b"[", b"]", b"}", b",", b"\\u0000",
    b"\\ud800", "\u00e9\U0001f642\u202e".encode(),
)  # fmt: skip
"""Byte strings to splice in: BOMs, line ends, bad UTF-8, JSON punctuation."""


# --- byte and line mutations ----------------------------------------------------------------


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    """Flip one to eight random bits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def splice_bytes(data: bytes, rng: random.Random) -> bytes:
    """Insert, or overwrite with, a byte string that readers handle specially."""
    token = rng.choice(NASTY_BYTES)
    at = rng.randint(0, len(data))
    end = at + (len(token) if rng.random() < 0.5 else 0)
    return data[:at] + token + data[end:]


def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the file at a random offset (sometimes to nothing)."""
    return data[: rng.randint(0, len(data))] if rng.random() < 0.95 else b""


def cut_or_copy_chunk(data: bytes, rng: random.Random) -> bytes:
    """Delete or duplicate a random stretch of bytes."""
    if not data:
        return data
    at = rng.randrange(len(data))
    end = min(len(data), at + rng.randint(1, 64))
    return data[:at] + data[end:] if rng.random() < 0.5 else data[:end] + data[at:]


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    """Delete, duplicate, swap or blank out whole lines."""
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    choice = rng.randrange(4)
    if choice == 0:
        del lines[i]
    elif choice == 1:
        lines.insert(i, lines[j])
    elif choice == 2:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines.insert(i, rng.choice([b"", b"   ", b"\r", b"\t \t"]))
    return b"\n".join(lines)


def recode(data: bytes, rng: random.Random) -> bytes:
    """CRLF line ends, a BOM, or the whole file in another encoding."""
    choice = rng.randrange(4)
    if choice == 0:
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if choice == 1:
        return b"\xef\xbb\xbf" + data
    text = data.decode("utf-8", errors="replace")
    return text.encode("utf-16" if choice == 2 else "latin-1", errors="replace")


BYTE_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip_bits": flip_bits,
    "splice_bytes": splice_bytes,
    "truncate": truncate,
    "cut_or_copy_chunk": cut_or_copy_chunk,
    "shuffle_lines": shuffle_lines,
    "recode": recode,
}
"""Mutations that know nothing of the container."""


# --- mutations that know JSON -----------------------------------------------------------------

_DEPTHS = (3, 100, 900, 990, 3000, 100_000)


def _slots(root: list[Any]) -> list[tuple[Any, Any]]:
    """Every (container, key) pair under ``root``, the document's own slot first."""
    slots: list[tuple[Any, Any]] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            slots.append((node, key))
            if isinstance(node[key], dict | list):
                stack.append(node[key])
    return slots


def _json_text(value: Any) -> Any:
    """The object or array a string holds as JSON, or ``None``."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            inner = json.loads(value)
        except (ValueError, RecursionError):
            return None
        return inner if isinstance(inner, dict | list) else None
    return None


def mutate_tree(holder: list[Any], rng: random.Random) -> str:
    """Mutate the document in ``holder[0]`` once, at a random place; returns the mutation's name.

    The document sits in a one-element list so that it can be replaced as a whole.
    """
    slots = _slots(holder)
    parent, key = rng.choice(slots)
    value = parent[key]
    inner = _json_text(value)
    if inner is not None and rng.random() < 0.7:  # JSON held in a string: mutate inside it
        nested = [inner]
        name = mutate_tree(nested, rng)
        parent[key] = json.dumps(nested[0], ensure_ascii=False, allow_nan=True)
        return "in_string/" + name
    operation = rng.choice(_TREE_OPERATIONS)
    operation(holder, slots, parent, key, rng)
    return operation.__name__.lstrip("_")


def _delete(holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random) -> None:
    if parent is holder:
        parent[key] = {}
    else:
        del parent[key]


def _nasty_value(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    value = rng.choice(NASTY_VALUES)
    parent[key] = value.marker if isinstance(value, Raw) else json.loads(json.dumps(value))


def _huge_string(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    parent[key] = rng.choice(["x", "\u00e9", "\U0001f642", "\u0000", " ", "{"]) * rng.choice(
        [10_000, 200_000, 2_000_000]
    )


def _nest_deeper(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    depth = rng.choice(_DEPTHS)
    if rng.random() < 0.5:
        parent[key] = Raw("deep", depth).marker
        return
    value = parent[key]
    for _ in range(min(depth, 50)):
        value = [value] if rng.random() < 0.5 else {"a": value}
    parent[key] = value


def _wrap(holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random) -> None:
    value = parent[key]
    wrapped = [[value], {"value": value}, {"messages": value}, {"message": value}]
    if not isinstance(value, str):
        wrapped.append(json.dumps(value, allow_nan=True))
    parent[key] = rng.choice(wrapped)


def _rename_key(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    if not isinstance(parent, dict):
        parent[key] = {rng.choice(NASTY_KEYS): parent[key]}
        return
    others = [k for p, k in slots if isinstance(p, dict)]
    parent[rng.choice([*NASTY_KEYS, *rng.sample(others, min(5, len(others)))])] = parent.pop(key)


def _copy_other(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    source, name = rng.choice(slots)
    if source[name] is not parent:
        parent[key] = json.loads(json.dumps(source[name], allow_nan=True))


def _link_ids(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    """Point an id field at another id: repeated ids, self-parents, cycles, cross-trace links."""
    ids = [
        (p, k)
        for p, k in slots
        if isinstance(k, str) and "id" in k.lower() and isinstance(p[k], str | int)
    ]
    if len(ids) >= 2:
        (target, field), (source, name) = rng.choice(ids), rng.choice(ids)
        target[field] = source[name]


def _duplicate(
    holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random
) -> None:
    copy = json.loads(json.dumps(parent[key], allow_nan=True))
    if isinstance(parent, list) and parent is not holder:
        parent.insert(key, copy)
    elif isinstance(parent, dict):
        parent[rng.choice(NASTY_KEYS)] = copy


def _empty(holder: list[Any], slots: list[Any], parent: Any, key: Any, rng: random.Random) -> None:
    value = parent[key]
    parent[key] = type(value)() if isinstance(value, dict | list | str) else None


_TREE_OPERATIONS = (
    _delete, _nasty_value, _nasty_value, _huge_string, _nest_deeper, _wrap, _rename_key,
    _copy_other, _link_ids, _link_ids, _duplicate, _empty,
)  # fmt: skip


# --- containers ---------------------------------------------------------------------------------


def _dump(value: Any, rng: random.Random, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True, indent=indent)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def mutate_json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A JSON document, parsed, mutated and written again."""
    holder = [json.loads(data.decode("utf-8-sig"))]
    name = mutate_tree(holder, rng)
    return _encode(splice(_dump(holder[0], rng, rng.choice([None, 2])))), name


def mutate_jsonl(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One line of a JSON Lines file, parsed, mutated and written again."""
    lines = data.split(b"\n")
    index = rng.choice([i for i, line in enumerate(lines) if line.strip()])
    holder = [json.loads(lines[index].decode("utf-8-sig"))]
    name = mutate_tree(holder, rng)
    lines[index] = _encode(splice(_dump(holder[0], rng)))
    return b"\n".join(lines), name


def mutate_yaml(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A YAML document, parsed, mutated and written again."""
    holder = [yaml.safe_load(data.decode("utf-8"))]
    name = mutate_tree(holder, rng)
    return _encode(splice(yaml.safe_dump(holder[0], allow_unicode=True))), name


def mutate_csv(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A CSV table: one cell mutated (inside its JSON when it holds some), or a row or column."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    row = rng.randrange(len(rows))
    cells = rows[row]
    column = rng.randrange(len(cells)) if cells else 0
    choice = rng.randrange(5)
    if choice == 0 and cells:
        holder: list[Any] = [{"cell": _json_text(cells[column]) or cells[column]}]
        name = mutate_tree(holder, rng)
        value = holder[0].get("cell") if isinstance(holder[0], dict) else holder[0]
        cells[column] = value if isinstance(value, str) else _dump(value, rng)
        name = "cell/" + name
    elif choice == 1:
        cells.insert(column, rng.choice(["", "x", '{"a": 1}', rows[0][column] if rows[0] else ""]))
        name = "add_cell"
    elif choice == 2 and cells:
        del cells[column]
        name = "delete_cell"
    elif choice == 3:
        rows.insert(row, list(rows[rng.randrange(len(rows))]))
        name = "duplicate_row"
    else:
        del rows[row]
        name = "delete_row"
    out = io.StringIO()
    csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
    return _encode(splice(out.getvalue())), name


def mutate_parquet(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """The rows of a Parquet file, mutated as JSON and written again."""
    import pyarrow.parquet as pq

    holder = [pq.read_table(io.BytesIO(data)).to_pylist()]
    name = mutate_tree(holder, rng)
    rows = holder[0] if isinstance(holder[0], list) else [holder[0]]
    return docs.parquet_bytes([r if isinstance(r, dict) else {"value": r} for r in rows]), name


STRUCTURE_MUTATIONS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "json": mutate_json,
    "jsonl": mutate_jsonl,
    "yaml": mutate_yaml,
    "csv": mutate_csv,
    "parquet": mutate_parquet,
}
"""Container-aware mutations; they need a file that still parses."""


def mutate(data: bytes, container: str, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations; mostly JSON-aware ones, the rest on bytes and lines."""
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.65:
            try:
                data, name = STRUCTURE_MUTATIONS[container](data, rng)
                names.append(name)
                continue
            except Exception:  # a file earlier mutations made unparseable: mutate its bytes
                pass
        name = rng.choice(sorted(BYTE_MUTATIONS))
        data = BYTE_MUTATIONS[name](data, rng)
        names.append(name)
    return data, names
