"""The mutation fuzzer's runs: seed files, and cases made and checked one by one.

Seeds are the real exports of the shared data folder, the first 300 traces of
``sample_data/traces.jsonl`` (and 40 of them as Parquet), and generated files in the
formats that have no real sample (OTLP, MLflow, Phoenix span tables...). Case ``N`` of
run ``S`` mutates seed ``N mod len(seeds)`` with ``random.Random(f"{S}:{N}")`` alone,
so any one case can be replayed without the ones before it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fuzz_documents as docs
from fuzz_contract import Verdict, check_file
from fuzz_mutations import mutate

SHARED_EXPORTS: dict[str, str] = {
    "langfuse/openai-agents-2025-09-30.trace.json": "langfuse",
    "langsmith/recipe_bot_hw2_runs.json": "langsmith",
    "openai/openai_chat_completions_tool_calls.yaml": "cassette",
    "otel/any_agent_OPENAI_trace.json": "otel-any-agent",
    "otel/phoenix_pxi_turn_trace.json": "openinference",
    "recipe_chatbot/annotation_trace_example.json": "openai-request-response",
    "recipe_chatbot/hw2_query_response.jsonl": "records-jsonl",
    "recipe_chatbot/hw3_labeled_traces.jsonl": "records-jsonl",
    "recipe_chatbot/hw5_raw_traces.jsonl": "chat-jsonl",
    "recipe_chatbot/hw5_labeled_traces.jsonl": "chat-jsonl",
    "recipe_chatbot/nurtureboss_traces_labeled.json": "chat-json",
    "recipe_chatbot/hw3_dietary_queries.csv": "records-csv",
    "recipe_chatbot/hw3_judge_run_hamel_test_set.csv": "records-csv",
    "recipe_chatbot/sample_queries.csv": "records-csv",
    "recipe_chatbot/nurtureboss_logs.csv": "chat-csv",
}
"""The trace exports of the shared data folder (its README) and the format each is in."""


@dataclass(frozen=True)
class Seed:
    """A file to mutate."""

    name: str
    """Where it came from."""
    format: str
    """The format it is in, for reports and corpus file names."""
    container: str
    """``json``, ``jsonl``, ``csv``, ``yaml`` or ``parquet``."""
    data: bytes
    """Its bytes."""

    @property
    def suffix(self) -> str:
        """The file suffix a case of this seed is written with."""
        return "." + self.container


def shared_seeds(folder: Path) -> list[Seed]:
    """Every trace export of the shared data folder, whole."""
    seeds = []
    for relative, fmt in SHARED_EXPORTS.items():
        path = folder / relative
        container = {".yaml": "yaml", ".jsonl": "jsonl", ".csv": "csv"}.get(path.suffix, "json")
        seeds.append(Seed(relative, fmt, container, path.read_bytes()))
    return seeds


def sample_seeds(repo: Path, lines: int = 300) -> list[Seed]:
    """The first ``lines`` traces of ``sample_data/traces.jsonl``, as JSON Lines and as Parquet."""
    with (repo / "sample_data" / "traces.jsonl").open("rb") as handle:
        head = [next(handle) for _ in range(lines)]
    rows = [json.loads(line) for line in head[:40]]
    return [
        Seed("sample_data/traces.jsonl", "chat-jsonl", "jsonl", b"".join(head)),
        Seed(
            "sample_data/traces.jsonl (40 rows)",
            "chat-parquet",
            "parquet",
            docs.parquet_bytes(rows),
        ),
    ]


FOREST = [
    docs.SpanSpec(0, 0, None, "AGENT", "Where is order 1234?", "It shipped on Monday.", 0, 40),
    docs.SpanSpec(0, 1, 0, "LLM", "Where is order 1234?", "Let me look it up.", 1, 10),
    docs.SpanSpec(0, 2, 0, "TOOL", '{"order": "1234"}', '{"status": "shipped"}', 12, 3),
    docs.SpanSpec(0, 3, 0, "LLM", "status: shipped", "It shipped on Monday.", 16, 20),
    docs.SpanSpec(1, 4, None, "CHAIN", "Can I return boots?", "Yes, within 30 days.", 50, 30),
    docs.SpanSpec(1, 5, 4, "LLM", "Can I return boots?", "Yes, within 30 days.", 51, 25),
]
"""Two small agent traces, rendered in every span format for the formats without a sample."""


def synthetic_seeds() -> list[Seed]:
    """Valid files in the formats that have no real sample, and in other containers."""
    seeds = []
    for fmt, build in docs.SPAN_FORMATS.items():
        built = build(FOREST)
        seeds.append(Seed(f"generated {fmt}", fmt, built.container, _bytes(built)))
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    calls = [
        {"request": {"model": "m", "messages": chat[:1]}, "response": {"choices": [{"message": m}]}}
        for m in chat[1:]
    ]
    seeds.append(
        Seed("generated request/response", "openai-request-response", "jsonl", _lines(calls))
    )
    exports = docs.langfuse(FOREST).documents
    page = {"data": [dict(d["trace"], observations=d["observations"]) for d in exports]}
    seeds.append(Seed("generated langfuse api page", "langfuse", "json", json.dumps(page).encode()))
    runs = docs.langsmith(FOREST).documents
    root = dict(runs[0], child_runs=[r for r in runs[1:4]])
    seeds.append(Seed("generated langsmith child_runs", "langsmith", "jsonl", _lines([root])))
    return seeds


def all_seeds(repo: Path, shared: Path | None) -> list[Seed]:
    """The sample, the generated seeds and, when the folder is there, the shared exports."""
    found = sample_seeds(repo) + synthetic_seeds()
    return found + (shared_seeds(shared) if shared is not None and shared.is_dir() else [])


def _lines(documents: list[Any]) -> bytes:
    return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents).encode()


def _bytes(built: docs.Built) -> bytes:
    if built.container == "parquet":
        return docs.parquet_bytes(built.documents)
    if built.container == "csv":
        return docs.csv_bytes(built.documents)
    if built.container == "jsonl":
        return _lines(built.documents)
    return json.dumps(built.documents, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Case:
    """One mutated file and what loading it came to."""

    number: int
    """Its number in the run: ``random.Random(f"{seed}:{number}")`` made it."""
    seed: Seed
    """The file it was made from."""
    mutations: tuple[str, ...]
    """The mutations applied, in order."""
    data: bytes
    """The mutated bytes."""
    verdict: Verdict
    """What loading it came to."""


def run_cases(
    seeds: list[Seed], cases: int, seed: int, folder: Path, seconds: float = 10.0, start: int = 0
) -> Iterator[Case]:
    """Mutate the seeds in turn and check each mutated file; yields every case."""
    for number in range(start, start + cases):
        rng = random.Random(f"{seed}:{number}")
        origin = seeds[number % len(seeds)]
        data, names = mutate(origin.data, origin.container, rng)
        path = folder / f"case-{number}{origin.suffix}"
        path.write_bytes(data)
        try:
            verdict = check_file(path, seconds)
        finally:
            path.unlink()
        yield Case(number, origin, tuple(names), data, verdict)
