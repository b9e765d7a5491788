"""Latency of the reviewer on a large workspace: a key press to a committed event, and next.

Builds (once, then reuses) a workspace of synthetic multi-turn traces with tool calls, opens
a :class:`Reviewer` with its widget attached (so every action also computes and sets the
view state the browser would receive), and times:

- ``press("f")``: from the key to the ``label`` event committed and the view state pushed;
- ``press("n")``: from the key to the next trace's view model ready and pushed;
- opening the reviewer (building the queue of unreviewed traces).

The traces are built once and kept (``--dir``); each run times a fresh copy of that
workspace whose log other annotators first fill with ``--events`` events (verdicts, notes,
tags, untags, definitions), as deriving the labels could grow with the log.

Run:
    .venv/bin/python benchmarks/bench_reviewer.py                  # 100k traces
    .venv/bin/python benchmarks/bench_reviewer.py --n 10000 --repeat 200
    .venv/bin/python benchmarks/bench_reviewer.py --events 10000   # 100k traces, 10k events
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.widgets.reviewer import Reviewer
from workbench.workspace import DB_FILENAME, Workspace, open_workspace

FILL_MODES = [f"mode_{i:02d}" for i in range(12)]
"""The failure modes the filling annotators use."""


def synthetic(start: int, count: int) -> pd.DataFrame:
    rows = []
    for i in range(start, start + count):
        function = {"name": "lookup_order", "arguments": json.dumps({"order": i})}
        call: dict[str, Any] = {"id": f"c{i}", "type": "function", "function": function}
        question, answer = (
            f"Where is order A{i}? It was due on Monday.",
            f"Order A{i} ships Friday.",
        )
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are the support agent of Summit Outfitters."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": '{"status": "shipped"}'},
            {"role": "assistant", "content": answer},
        ]
        rows.append(
            {
                "trace_id": f"t-{i:06d}",
                "input": question,
                "output": answer,
                "messages": messages,
                "metadata": {"channel": "chat", "locale": "en-US"},
                "timestamp": pd.Timestamp("2026-11-02T00:00:00Z") + pd.Timedelta(seconds=i),
                "latency_ms": 900 + i % 700,
            }
        )
    return pd.DataFrame(rows)


def workspace(folder: Path, n: int) -> Workspace:
    ws = open_workspace(folder)
    have = len(ws.traces())
    started = time.perf_counter()
    for start in range(have, n, 10_000):
        ws.add_traces(synthetic(start, min(10_000, n - start)))
    if have < n:
        print(f"added {n - have:,} traces in {time.perf_counter() - started:.1f} s")
    return ws


def fill_log(ws: Workspace, n: int, events: int) -> None:
    """Append events by other annotators until the log holds ``events`` of them."""
    rng = random.Random(0)
    annotators = [f"filler-{i}" for i in range(4)]
    started, have = time.perf_counter(), len(ws.history())
    for i in range(have, events):
        who, trace_id = rng.choice(annotators), f"t-{rng.randrange(n):06d}"
        roll = rng.random()
        if i % 500 == 0:
            ws.define(rng.choice(FILL_MODES), f"definition {i}", annotator=who)
        elif roll < 0.5:
            ws.label(trace_id, rng.choice(["pass", "fail"]), annotator=who)
        elif roll < 0.8:
            ws.tag(trace_id, rng.choice(FILL_MODES), annotator=who)
        elif roll < 0.9:
            ws.note(trace_id, f"note {i}", annotator=who)
        else:
            ws.untag(trace_id, rng.choice(FILL_MODES), annotator=who)
    if have < events:
        seconds = time.perf_counter() - started
        print(f"filled the log with {events - have:,} events in {seconds:.1f} s")


def timings(action: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(name: str, ms: list[float]) -> str:
    ranked = sorted(ms)
    p95 = ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))]
    return f"{name:<28} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="traces in the workspace")
    parser.add_argument("--repeat", type=int, default=300, help="timed presses of each key")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "wb-bench")
    parser.add_argument("--events", type=int, default=0, help="events in the log beforehand")
    args = parser.parse_args()
    base = workspace(args.dir / f"traces-{args.n}", args.n)
    base.close()  # the copy below must not see a half-written file
    copy = Path(tempfile.mkdtemp(prefix="wb-bench-reviewer-"))
    shutil.copy(base.path / DB_FILENAME, copy / DB_FILENAME)
    ws = open_workspace(copy)
    fill_log(ws, args.n, args.events)
    annotator = f"bench-{int(time.time())}"  # a fresh annotator: a full unreviewed queue
    started = time.perf_counter()
    r = Reviewer(ws, annotator=annotator)
    opened = (time.perf_counter() - started) * 1000
    r.widget  # noqa: B018 - attach the synced widget: actions push view state as in a notebook
    before = len(ws.history())
    marks, nexts = [], []
    for _ in range(args.repeat):
        marks += timings(lambda: r.press("f"), 1)
        nexts += timings(lambda: r.press("n"), 1)
    assert len(ws.history()) == before + args.repeat, "one event per press of f"
    print(f"workspace: {args.n:,} traces, {before:,} events in the log before timing")
    print(f"{'open reviewer (queue)':<28} {opened:7.1f} ms")
    print(summary('press("f") -> committed', marks))
    print(summary('press("n") -> next shown', nexts))
    ws.close()
    shutil.rmtree(copy)


if __name__ == "__main__":
    main()
