"""Latency of the reviewer on a large workspace: a key press to a committed event, and next.

Builds (once, then reuses) a workspace of synthetic multi-turn traces with tool calls, opens
a :class:`Reviewer` with its widget attached (so every action also computes and sets the
view state the browser would receive), and times:

- ``press("f")``: from the key to the ``label`` event committed and the view state pushed;
- ``press("n")``: from the key to the next trace's view model ready and pushed;
- opening the reviewer (building the queue of unreviewed traces).

Run:
    .venv/bin/python benchmarks/bench_reviewer.py                  # 100k traces
    .venv/bin/python benchmarks/bench_reviewer.py --n 10000 --repeat 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.widgets.reviewer import Reviewer
from workbench.workspace import Workspace, open_workspace


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
    args = parser.parse_args()
    ws = workspace(args.dir / f"reviewer-{args.n}", args.n)
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
    print(f"workspace: {args.n:,} traces, {len(ws.history()):,} events")
    print(f"{'open reviewer (queue)':<28} {opened:7.1f} ms")
    print(summary('press("f") -> committed', marks))
    print(summary('press("n") -> next shown', nexts))


if __name__ == "__main__":
    main()
