"""Fuzzing every trace loader: whatever the file, it loads whole or fails naming the place.

Two sources of files. Hypothesis draws plain records, OpenAI chat logs and span
exports (OTLP, OpenInference/Phoenix, OTel SDK, any-agent, Langfuse, LangSmith,
MLflow) in JSON Lines, JSON, CSV and Parquet, valid or broken on purpose. The
mutation fuzzer (``fuzz_runs``) mutates the real exports and the sample data.
Every file is checked by ``fuzz_contract.check_file``: both ``errors=`` modes, a
time limit per load, and every record accounted for.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import fuzz_documents as docs
import fuzz_mutations as fm
import fuzz_runs as runs
import pandas as pd
import pytest
from fuzz_contract import Verdict, check_file
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench.traces import TraceLoadWarning

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
"""Reproducible in CI: hypothesis draws the same examples on every run."""


@pytest.fixture
def folder() -> Iterator[Path]:
    """A fresh folder per test (hypothesis examples reuse it, one file at a time)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


def assert_kept(verdict: Verdict, path: Path) -> None:
    """The promise held; on failure the message shows the file's start."""
    head = path.read_bytes()[:300] if path.exists() else b""
    assert not verdict.failed, f"{verdict.outcome}: {verdict.detail}\nfile starts: {head!r}"


def load_quietly(path: Path, errors: str = "raise") -> pd.DataFrame:
    """``wb.load_traces`` without the skip and empty-file warnings (checked elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceLoadWarning)
        return wb.load_traces(path, errors=errors)


# --- values ----------------------------------------------------------------------------------

ODD_STRINGS = (
    "", " ", "\ufeff", "\u202e", "e\u0301", "\U0001f642", "\r\n", "\x00", "\ud800", "NaN",
    "null", "0", "-1", "1e400", "2026-01-01T00:00:00Z", "9999-12-31", "[1]", '{"a": 1}',
)  # fmt: skip
"""Strings that look like something else, or hold BOMs, bidi marks, NULs and surrogates."""

ODD_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
)
"""Text that readers mishandle: BOMs, bidi marks, combining marks, surrogates, lookalikes."""

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 2**64]),
    st.floats(),
    ODD_TEXT,
)
"""Every JSON scalar, with huge and negative numbers, NaN and infinities."""

VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=8,
)
"""Any JSON value, a few levels deep."""

RAW = st.one_of(
    st.sampled_from([50, 900, 990, 3000]).map(lambda depth: fm.Raw("deep", depth)),
    st.just(fm.Raw("digits", 5000)),
)
"""Nesting too deep for recursive readers, or an integer too long for ``int()``."""


def is_utf8(value: Any) -> bool:
    """True when ``value`` written as JSON is valid UTF-8 (no unpaired surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def span_counts(traces: pd.DataFrame) -> dict[str, int]:
    """Trace id -> number of spans loaded for it."""
    if traces.empty:
        return {}
    return {
        str(t): len(spans) for t, spans in zip(traces["trace_id"], traces["spans"], strict=True)
    }


# --- writing files ---------------------------------------------------------------------------


def write(path: Path, container: str, records: list[Any], style: str = "plain") -> Path:
    """Records in a container; ``style`` adds a BOM, CRLF line ends or blank lines."""
    records = fm.mark(records)
    if container == "parquet":
        rows = [r if isinstance(r, dict) else {"value": r} for r in records]
        try:
            docs.write_parquet(rows, path)
        except Exception:  # pyarrow cannot write this (say, unpaired surrogates): write JSON
            container = "jsonl"
        else:
            return path
    if container == "csv":
        rows = [r if isinstance(r, dict) else {"value": r} for r in records]
        text = docs.csv_text(rows)
    elif container == "json":
        text = json.dumps(records, ensure_ascii=False, allow_nan=True)
    else:
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=True) + "\n" for r in records)
    text = fm.splice(text)
    if style == "crlf":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    elif style == "blank_lines" and container != "json":
        text = text.replace("\n", "\n \n\n")
    data = text.encode("utf-8", errors="surrogatepass")
    path.write_bytes(b"\xef\xbb\xbf" + data if style == "bom" else data)
    return path


CONTAINERS = st.sampled_from(["jsonl", "json", "csv", "parquet"])
STYLES = st.sampled_from(["plain", "bom", "crlf", "blank_lines"])


# --- plain records ---------------------------------------------------------------------------

FIELD_NAMES = (
    "id", "trace_id", "query", "input", "prompt", "response", "output", "answer", "messages",
    "metadata", "timestamp", "created_at", "model", "latency_ms", "latency_s", "cost",
    "tokens", "usage", "feedback", "rating", "error", "spans", "tool_calls", "extra", "",
)  # fmt: skip
FIELDS = st.sampled_from(FIELD_NAMES)
"""Field names the records reader recognises (and a few it does not)."""


TIMES = (
    "2026-01-02T03:04:05Z",
    "2026-01-02 03:04:05+02:00",
    "2026-01-02T03:04:05.123456789Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    1767225600,
    1767225600123,
)
"""Times a record may carry: ISO with offsets or nanoseconds, epochs, Go's zero time."""


@st.composite
def valid_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records the loader must take whole: distinct ids, text in and out, a good time."""
    count = draw(st.integers(1, 6))
    records = []
    for index in range(count):
        record: dict[str, Any] = {
            "id": f"r{index}-{draw(st.text('abc', max_size=3))}",
            "query": draw(st.text(min_size=1, max_size=20).filter(lambda t: t.strip())),
            "response": draw(st.text(max_size=20)),
        }
        if draw(st.booleans()):
            record["timestamp"] = draw(st.sampled_from(TIMES))
        if draw(st.booleans()):
            record["latency_ms"] = draw(st.floats(0, 1e6))
        if draw(st.booleans()):
            record["notes"] = draw(VALUES.filter(is_utf8))
        records.append(record)
    return records


@st.composite
def any_records(draw: st.DrawFn) -> list[Any]:
    """Records of any shape: wrong types, missing keys, nulls, deep nesting, repeated ids."""
    record = st.dictionaries(FIELDS, VALUES | RAW, max_size=6)
    repeat = draw(st.booleans())
    records: list[Any] = draw(st.lists(record | VALUES, max_size=6))
    if records and repeat:
        records.append(records[0])  # the same record twice: a repeated content id
    return records


@SETTINGS
@given(records=valid_records(), container=CONTAINERS, style=STYLES)
def test_valid_records_load_whole_in_every_container(
    folder: Path, records: list[dict[str, Any]], container: str, style: str
) -> None:
    path = write(folder / f"valid.{container}", container, records, style)
    verdict = check_file(path)
    assert_kept(verdict, path)
    assert verdict.outcome == "loaded", verdict.detail
    traces = load_quietly(path)
    assert traces["trace_id"].tolist() == [r["id"] for r in records]
    if container in ("json", "jsonl"):
        assert traces["input"].tolist() == [r["query"] for r in records]


@SETTINGS
@given(records=any_records(), container=CONTAINERS, style=STYLES)
def test_any_records_load_or_fail_naming_the_file(
    folder: Path, records: list[Any], container: str, style: str
) -> None:
    path = write(folder / f"records.{container}", container, records, style)
    assert_kept(check_file(path), path)


# --- OpenAI chat logs ------------------------------------------------------------------------

TOOL_CALL = st.fixed_dictionaries(
    {"id": ODD_TEXT | SCALARS, "type": st.just("function")},
    optional={
        "function": st.fixed_dictionaries(
            {"name": ODD_TEXT}, optional={"arguments": ODD_TEXT | VALUES}
        )
        | VALUES,
    },
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "agent", ""]) | SCALARS},
    optional={
        "content": ODD_TEXT
        | st.none()
        | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": ODD_TEXT}) | VALUES)
        | VALUES,
        "tool_calls": st.lists(TOOL_CALL | VALUES, max_size=3) | VALUES,
        "tool_call_id": ODD_TEXT | VALUES,
        "type": st.sampled_from(["human", "ai", "tool"]),
    },
)
"""Chat messages with odd roles, content parts, tool calls and tool results."""


@st.composite
def chat_logs(draw: st.DrawFn) -> list[Any]:
    """Chat-log records: ``messages`` lists, message-shaped input, request/response pairs."""
    records: list[Any] = []
    for index in range(draw(st.integers(1, 4))):
        messages = draw(st.lists(MESSAGE | VALUES, max_size=5) | VALUES)
        shape = draw(st.sampled_from(["messages", "input", "request"]))
        record: dict[str, Any]
        if shape == "messages":
            record = {"conversation_id": f"c{index}", "messages": messages}
        elif shape == "input":
            record = {"input": {"messages": messages}, "output": draw(MESSAGE | VALUES)}
        else:
            response = {
                "id": draw(ODD_TEXT),
                "model": draw(ODD_TEXT | VALUES),
                "created": draw(SCALARS),
                "choices": draw(st.lists(st.fixed_dictionaries({"message": MESSAGE}) | VALUES)),
                "usage": draw(VALUES),
            }
            record = {"request": {"model": "m", "messages": messages}, "response": response}
        records.append(record)
    return records


@SETTINGS
@given(records=chat_logs(), container=CONTAINERS, style=STYLES)
def test_chat_logs_load_or_fail_naming_the_file(
    folder: Path, records: list[Any], container: str, style: str
) -> None:
    path = write(folder / f"chat.{container}", container, records, style)
    assert_kept(check_file(path), path)


# --- span exports ----------------------------------------------------------------------------


@st.composite
def forests(draw: st.DrawFn) -> list[docs.SpanSpec]:
    """One to three traces of one to five spans each; every non-root span has an earlier parent."""
    specs = []
    number = 0
    for trace in range(draw(st.integers(1, 3))):
        first = number
        for index in range(draw(st.integers(1, 5))):
            parent = None if index == 0 else draw(st.integers(first, number - 1))
            kind = "AGENT" if index == 0 else draw(st.sampled_from(["LLM", "TOOL", "CHAIN"]))
            start = draw(st.integers(0, 10_000))
            specs.append(
                docs.SpanSpec(
                    trace,
                    number,
                    parent,
                    kind,
                    draw(st.text(max_size=10)),
                    draw(st.text(max_size=10)),
                    start,
                    draw(st.integers(0, 5_000)),
                )
            )
            number += 1
    return specs


FORMATS = st.sampled_from(sorted(docs.SPAN_FORMATS))


@SETTINGS
@given(forest=forests(), fmt=FORMATS)
def test_valid_span_exports_load_every_trace_with_all_its_spans(
    folder: Path, forest: list[docs.SpanSpec], fmt: str
) -> None:
    built = docs.SPAN_FORMATS[fmt](forest)
    path = docs.render(built, folder / f"spans.{built.container}")
    assert_kept(verdict := check_file(path), path)
    assert verdict.outcome == "loaded", verdict.detail
    traces = load_quietly(path, errors="skip")
    assert span_counts(traces) == built.traces


@SETTINGS
@given(forest=forests(), fmt=FORMATS, rng=st.randoms(use_true_random=False))
def test_broken_span_exports_load_or_fail_naming_the_file(
    folder: Path, forest: list[docs.SpanSpec], fmt: str, rng: Any
) -> None:
    built = docs.SPAN_FORMATS[fmt](forest)
    holder = [built.documents]
    for _ in range(rng.randint(1, 3)):
        fm.mutate_tree(holder, rng)
    broken = holder[0]
    if built.container in ("jsonl", "csv") and not isinstance(broken, list):
        broken = [broken]
    path = write(folder / f"spans.{built.container}", built.container, broken)
    assert_kept(check_file(path), path)


@SETTINGS
@given(forest=forests(), link=st.sampled_from(["self", "cycle", "missing", "repeat"]))
def test_bad_parent_links_reject_the_trace_or_keep_it_flagged(
    folder: Path, forest: list[docs.SpanSpec], link: str
) -> None:
    """Cycles and repeated span ids leave the trace out, reported; a missing parent is kept."""
    last = forest[-1]
    members = [s for s in forest if s.trace == last.trace]
    if link == "self":
        bad = [*forest[:-1], replace(last, parent=last.span)]
    elif link == "cycle":
        bad = [replace(s, parent=last.span) if s is members[0] else s for s in forest]
    elif link == "missing":
        bad = [*forest[:-1], replace(last, parent=10_000)]
    else:
        bad = [*forest, replace(last, text_out="again")]
    built = docs.phoenix(bad)
    path = docs.render(built, folder / "links.json")
    assert_kept(check_file(path), path)
    traces = load_quietly(path, errors="skip")
    loaded = span_counts(traces)
    name = f"trace-{last.trace}"
    if link == "missing":
        assert loaded[name] == len(members)
    else:
        assert name not in loaded and not wb.skipped(traces).empty


def span_lists(fmt: str, documents: Any) -> list[list[Any]]:
    """The lists of a built file whose entries are spans (runs, observations)."""
    if fmt == "otlp":
        return [documents["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    if fmt == "otel-any-agent":
        return [documents["spans"]]
    if fmt == "langfuse":
        return [doc["observations"] for doc in documents]
    if fmt == "langsmith-nested":
        return [doc["child_runs"] for doc in documents if doc["child_runs"]]
    if fmt == "mlflow":
        return [doc["data"]["spans"] for doc in documents]
    return [documents]  # one span per record: Phoenix span JSON, OTel SDK lines, LangSmith runs


@SETTINGS
@given(
    forest=forests(),
    fmt=st.sampled_from(sorted(set(docs.SPAN_FORMATS) - {"openinference-table"})),
    junk=SCALARS | st.lists(SCALARS, max_size=2),
    data=st.data(),
)
def test_a_span_that_is_not_an_object_is_refused_never_dropped(
    folder: Path, forest: list[docs.SpanSpec], fmt: str, junk: Any, data: st.DataObject
) -> None:
    built = docs.SPAN_FORMATS[fmt](forest)
    lists = [spans for spans in span_lists(fmt, built.documents) if spans]
    assume(lists and not (fmt == "otel-sdk" and len(forest) == 1))  # junk alone is no span file
    spans = data.draw(st.sampled_from(lists))
    spans[data.draw(st.integers(0, len(spans) - 1))] = junk
    path = write(folder / f"junk.{built.container}", built.container, built.documents)
    assert_kept(verdict := check_file(path), path)
    assert verdict.outcome == "trace_load_error", "a span that is not an object went unreported"


# --- files with nothing, or nothing readable --------------------------------------------------

EDGE_FILES = {
    "empty.jsonl": b"",
    "bom_only.jsonl": b"\xef\xbb\xbf",
    "blank.jsonl": b"\n \r\n\t\n",
    "null.json": b"null",
    "empty_array.json": b"[]",
    "empty_object.json": b"{}",
    "number.json": b"42",
    "nan.json": b"NaN",
    "header_only.csv": b"input,output\n",
    "utf16.jsonl": '{"input": "hi"}\n'.encode("utf-16"),
    "nul_bytes.jsonl": b'{"input": "a\x00b"}\n\x00\x00\n',
    "lone_cr.csv": b"input,output\rhi,there\r",
    "yaml_list.yaml": b"# trace\n- input: hi\n- 3\n",
    "parquet_magic.parquet": b"PAR1 not really",
}


@pytest.mark.parametrize("name", sorted(EDGE_FILES))
def test_edge_files_load_or_fail_naming_the_file(folder: Path, name: str) -> None:
    path = folder / name
    path.write_bytes(EDGE_FILES[name])
    assert_kept(check_file(path), path)


# --- the mutation fuzzer on real exports -----------------------------------------------------


def run_mutations(
    seeds: list[runs.Seed], cases: int, seed: int, folder: Path, which: str = "all"
) -> None:
    """Run the mutation fuzzer and fail listing the first broken promises, with how to replay."""
    failures = [c for c in runs.run_cases(seeds, cases, seed, folder) if c.verdict.failed]
    shown = "\n".join(
        f"case {c.number} ({c.seed.name}, {', '.join(c.mutations)}): "
        f"{c.verdict.outcome}: {(c.verdict.detail.splitlines() or [''])[-1][:200]}"
        for c in failures[:5]
    )
    replay = (
        "replay case N: .venv/bin/python benchmarks/fuzz_loaders.py "
        f"--seeds {which} --seed {seed} --start N --cases 1"
    )
    assert not failures, f"{len(failures)} of {cases} cases broke the promise:\n{shown}\n{replay}"


def test_mutated_sample_and_generated_files(folder: Path, repo: Path) -> None:
    run_mutations(runs.all_seeds(repo, None), 120, seed=1, folder=folder, which="local")


def test_mutated_shared_exports(folder: Path, shared_data: Path) -> None:
    run_mutations(runs.shared_seeds(shared_data), 60, seed=2, folder=folder, which="shared")


@pytest.mark.slow
def test_many_mutated_exports(folder: Path, repo: Path, shared_data: Path) -> None:
    run_mutations(runs.all_seeds(repo, shared_data), 2000, seed=3, folder=folder)
