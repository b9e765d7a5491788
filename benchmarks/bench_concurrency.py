"""Measure many processes writing annotation events to one workspace at once.

Usage:
    python benchmarks/bench_concurrency.py --backend sqlite --writers 8 --events 500
    python benchmarks/bench_concurrency.py --backend postgres --writers 16 --events 250
    python benchmarks/bench_concurrency.py --backend sqlite --writers 1 --events 500

PostgreSQL uses ``--db`` or else ``$WORKBENCH_TEST_PG_URL``, in a schema of its own that is
dropped afterwards; SQLite uses a workspace in a temporary folder.

Each writer is a process of its own that opens the workspace, waits for a common start and
then appends ``--events`` events (a label with a note, a note, a tag, in turn, over 20
shared traces), each carrying a key unique to it. Printed afterwards:

    events      how many the writers were told to write, in total
    stored      how many the log holds
    lost        events written (acknowledged) but not in the log
    duplicated  events in the log more than once (by key), beyond the first
    errors      writers that stopped on an error (e.g. "database is locked")
    wall_s      from the start signal to the last writer done
    events/s    events / wall_s
    p50/p95_ms  per event, from the call (ws.label, ws.note, ws.tag) to its return,
                i.e. until the event is committed; over all writers' events
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.workspace import open_workspace

TRACES = 20
PG_ENV = "WORKBENCH_TEST_PG_URL"


def traces() -> pd.DataFrame:
    ids = [f"t{i}" for i in range(TRACES)]
    return pd.DataFrame(
        {
            "trace_id": ids,
            "input": [f"where is my refund? ({i})" for i in range(TRACES)],
            "output": [f"it is on its way ({i})" for i in range(TRACES)],
        }
    )


def write(root: str, db: str | None, writer: int, count: int, ready: Any, go: Any) -> None:
    """One writer process: append ``count`` events; save each key, id and latency."""
    who = f"w{writer:03d}"
    ws = open_workspace(root, db=db)
    done: list[tuple[str, int, float]] = []
    try:
        ready.put(writer)
        go.wait()
        for step in range(count):
            key, trace_id = f"{who}-e{step:06d}", f"t{(writer + step) % TRACES}"
            start = time.perf_counter()
            if step % 3 == 0:
                event = ws.label(trace_id, ("pass", "fail")[step % 2], note=key, annotator=who)
            elif step % 3 == 1:
                event = ws.note(trace_id, key, annotator=who)
            else:
                event = ws.tag(trace_id, key, annotator=who)
            done.append((key, event.id, time.perf_counter() - start))
    finally:
        Path(root, f"writer-{writer}.json").write_text(json.dumps(done))
        ws.close()


@contextmanager
def database(backend: str, db: str | None) -> Iterator[str | None]:
    """Yield the database URL for the workspace (None: its own SQLite file)."""
    if backend == "sqlite":
        yield None
        return
    base = db or os.environ.get(PG_ENV)
    if not base:
        raise SystemExit(f"--backend postgres needs --db URL or ${PG_ENV}")
    import psycopg

    libpq = base.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"wb_bench_conc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    parts = urlsplit(base)
    query = urlencode([*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")])
    try:
        yield urlunsplit(parts._replace(query=query))
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(root: Path, db: str | None, writers: int, count: int) -> tuple[float, list[int | None]]:
    """Run the writers from a common start; return the wall time and their exit codes."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Queue(), context.Event()
    procs = [
        context.Process(target=write, args=(str(root), db, w, count, ready, go))
        for w in range(writers)
    ]
    for process in procs:
        process.start()
    for _ in range(writers):
        ready.get(timeout=300)
    start = time.perf_counter()
    go.set()
    for process in procs:
        process.join()
    return time.perf_counter() - start, [p.exitcode for p in procs]


def tally(root: Path, db: str | None, writers: int, count: int, wall: float) -> dict[str, Any]:
    """Count the log against what the writers were acknowledged."""
    acked = []
    for writer in range(writers):
        saved = root / f"writer-{writer}.json"
        acked += json.loads(saved.read_text()) if saved.exists() else []
    with open_workspace(root, db=db) as ws:
        history = ws.history()
    keys = Counter(
        str(p["failure_mode"] if k == "tag" else p["note"])
        for k, p in zip(history["kind"], history["payload"], strict=True)
    )
    latencies = sorted(1000 * seconds for _, _, seconds in acked)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {
        "events": writers * count,
        "stored": len(history),
        "lost": sum(1 for key, _, _ in acked if key not in keys),
        "duplicated": sum(n - 1 for n in keys.values()),
        "ids_unique": bool(history["id"].is_unique),
        "wall_s": round(wall, 2),
        "events/s": round(len(acked) / wall, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(p95, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events", type=int, default=500, help="events per writer")
    parser.add_argument("--db", default=None, help=f"PostgreSQL URL (default: ${PG_ENV})")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="wb-bench-conc-") as folder,
        database(args.backend, args.db) as db,
    ):
        root = Path(folder) / "ws"
        with open_workspace(root, db=db) as ws:
            ws.add_traces(traces())
        wall, codes = run(root, db, args.writers, args.events)
        result = tally(root, db, args.writers, args.events, wall)
    result["errors"] = sum(1 for code in codes if code != 0)
    print(
        f"concurrent writers ({args.backend}; {args.writers} processes x {args.events} events; "
        f"{os.cpu_count()} cores)"
    )
    for name, value in result.items():
        print(f"  {name:<11} {value}")


if __name__ == "__main__":
    main()
