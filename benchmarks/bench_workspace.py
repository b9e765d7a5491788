"""Measure the workspace at 1k / 10k / 100k traces: adding, labelling, reading.

Usage:
    python benchmarks/bench_workspace.py                      # SQLite in a temporary folder
    python benchmarks/bench_workspace.py --sizes 1000 10000
    python benchmarks/bench_workspace.py --db "$WORKBENCH_TEST_PG_URL"   # PostgreSQL
    python benchmarks/bench_workspace.py --sizes 100000 --events 10000   # a long log

For PostgreSQL each size runs in a schema of its own, dropped afterwards.

What is timed, per size:
    add        ws.add_traces(frame) of that many new synthetic traces (one call)
    re-add     the same call again (nothing new: the idempotent path)
    (then, with --events N, other annotators fill the log with N events, untimed)
    label      ws.label(...) from call to committed event, 200 calls on random traces (p50/p95)
    tag        ws.tag(...), likewise
    relabel    ws.label(...) then ws.labels() (a key press: the event, then the labels
               that show it; the labels are derived from the whole log), likewise
    traces     ws.traces() with those labels: first call in a fresh process-like state
               (cold: decodes every trace) and the next one (warm: cached traces)
    trace      ws.trace(trace_id) for 200 random ids (p50/p95)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.workspace import Workspace, open_workspace

CALLS = 200
MODES = [f"mode_{i:02d}" for i in range(12)]


def synthetic_traces(count: int) -> pd.DataFrame:
    """Traces shaped like a support bot's: ~1 KB of text, two messages, some metadata."""
    rng = random.Random(0)
    words = ["refund", "order", "policy", "shipping", "delay", "account", "invoice", "tracking"]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    inputs = [text(30) for _ in range(count)]
    outputs = [text(90) for _ in range(count)]
    return pd.DataFrame(
        {
            "trace_id": [f"trace-{i:07d}" for i in range(count)],
            "input": inputs,
            "output": outputs,
            "messages": [
                [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                for q, a in zip(inputs, outputs, strict=True)
            ],
            "metadata": [{"user": f"u{i % 997}", "channel": "chat"} for i in range(count)],
            "timestamp": pd.date_range("2025-01-01", periods=count, freq="s", tz="UTC"),
            "model": "gpt-4o-mini",
            "latency_ms": [float(rng.randint(200, 4000)) for _ in range(count)],
        }
    )


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


@contextmanager
def workspace(db: str | None, size: int) -> Iterator[Callable[[], Workspace]]:
    """Yield a function opening one fresh workspace (reopenable) for this size."""
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as folder:
        if db is None:
            yield lambda: open_workspace(Path(folder) / "ws")
            return
        import psycopg

        libpq = db.replace("postgresql+psycopg://", "postgresql://", 1)
        schema = f"wb_bench_{size}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        parts = urlsplit(db)
        query = urlencode([*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")])
        url = urlunsplit(parts._replace(query=query))
        try:
            yield lambda: open_workspace(Path(folder) / "ws", db=url)
        finally:
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def fill_log(ws: Workspace, ids: list[str], events: int) -> None:
    """Append ``events`` verdicts, tags and notes by four other annotators."""
    rng = random.Random(2)
    for i in range(events):
        who, trace_id, roll = f"filler-{i % 4}", rng.choice(ids), rng.random()
        if roll < 0.5:
            ws.label(trace_id, rng.choice(["pass", "fail"]), annotator=who)
        elif roll < 0.9:
            ws.tag(trace_id, rng.choice(MODES), annotator=who)
        else:
            ws.note(trace_id, f"note {i}", annotator=who)


def relabel(ws: Workspace, trace_id: str) -> None:
    ws.label(trace_id, "fail", annotator="ana")
    ws.labels()


def bench_size(db: str | None, size: int, events: int = 0) -> dict[str, float]:
    frame = synthetic_traces(size)
    ids = frame["trace_id"].tolist()
    rng = random.Random(1)
    result: dict[str, float] = {}
    with workspace(db, size) as opener:
        ws = opener()
        result["add_s"] = timed(lambda: ws.add_traces(frame))
        result["readd_s"] = timed(lambda: ws.add_traces(frame))
        fill_log(ws, ids, events)
        ws.labels()  # the first fold of the filled log is not a key press
        labels = [timed(lambda: ws.label(rng.choice(ids), "fail", annotator="ana"))
                  for _ in range(CALLS)]  # fmt: skip
        result["label_p50_ms"], result["label_p95_ms"] = (1000 * x for x in percentiles(labels))
        tags = [timed(lambda: ws.tag(rng.choice(ids), "invented_policy", annotator="ana"))
                for _ in range(CALLS)]  # fmt: skip
        result["tag_p50_ms"], result["tag_p95_ms"] = (1000 * x for x in percentiles(tags))
        presses = [timed(lambda: relabel(ws, rng.choice(ids))) for _ in range(CALLS)]
        result["relabel_p50_ms"], result["relabel_p95_ms"] = (
            1000 * x for x in percentiles(presses)
        )
        ws.close()
        fresh = opener()
        result["traces_cold_s"] = timed(fresh.traces)
        result["traces_warm_s"] = timed(fresh.traces)
        lookups = [timed(lambda: fresh.trace(rng.choice(ids))) for _ in range(CALLS)]
        result["trace_p50_ms"], result["trace_p95_ms"] = (1000 * x for x in percentiles(lookups))
        result["failure_modes_s"] = timed(fresh.failure_modes)
        fresh.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--events", type=int, default=0, help="events in the log beforehand")
    args = parser.parse_args()
    rows = {size: bench_size(args.db, size, args.events) for size in args.sizes}
    table = pd.DataFrame(rows).T
    table.index.name = "traces"
    backend = "postgresql" if args.db else "sqlite"
    print(
        f"workspace benchmark ({backend}; {args.events:,} events filled in the log; "
        f"{CALLS} calls per latency figure)"
    )
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
