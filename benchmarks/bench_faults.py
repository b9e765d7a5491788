"""Run every LLM path against the fault server many times, with random fault mixes.

Usage:
    python benchmarks/bench_faults.py                      # >= 200 graded items per path
    python benchmarks/bench_faults.py --calls 50 --paths suite_run judge_validate

Each run is a scene of tests/test_faulty_llms.py: one item of the path (the victim) gets one
fault kind on every request, one other request gets it once when the path can recover from
it, and on top of that a random mix of faults of every kind is queued for ``--mix`` of the
run's items. Scenes cycle through the fault kinds in a seeded random order until the path has
produced ``--calls`` items. For each path x fault the table gives:

    runs       scripted runs
    items      items they produced (judge verdicts, answers, titles, vectors, ...)
    graded     items with a result
    no-grade   items "could not grade", each with a reason
    no-reason  items ungraded without a reason (must be 0)
    crashes    runs that ended in an exception the path does not document (must be 0)

and last the count of fault-server runs completed (ended without a crash).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the fault server and the path runners live there

from fault_server import Fault, FaultServer  # noqa: E402
from test_faulty_llms import (  # noqa: E402
    FAULTS,
    PATHS,
    FaultKind,
    LLMPath,
    Stage,
    build_stage,
    configure_for,
    play,
)

from workbench import llm  # noqa: E402
from workbench.llm_cache import ResponseCache  # noqa: E402


@dataclass
class Tally:
    """Counts for one path x fault."""

    runs: int = 0
    items: int = 0
    graded: int = 0
    ungraded: int = 0
    unexplained: int = 0
    crashes: int = 0
    requests: int = 0
    crash_notes: list[str] = field(default_factory=list)


def one_run(
    server: FaultServer,
    stage: Stage,
    path: LLMPath,
    fault: FaultKind,
    work: Path,
    extra: list[Fault],
    tally: Tally,
) -> int:
    """Play one scene with extra faults, add what it gave to ``tally``; return its items."""
    work.mkdir(parents=True)
    tally.runs += 1
    try:
        played = play(server, stage, path, fault, work, extra)
    except Exception as exc:  # counted, shown at the end: a crash is what this measures
        tally.crashes += 1
        tally.crash_notes.append("".join(traceback.format_exception_only(exc)).strip())
        return 0
    finally:
        tally.requests += len(server.requests)
    for _, result in played.items:
        tally.items += 1
        if result.graded:
            tally.graded += 1
        elif result.reason.strip():
            tally.ungraded += 1
        else:
            tally.unexplained += 1
    return len(played.items)


def bench_path(
    server: FaultServer,
    stage: Stage,
    path: LLMPath,
    args: argparse.Namespace,
    work: Path,
    cache: ResponseCache,
) -> dict[str, Tally]:
    """Scenes for one path until it has given ``args.calls`` items, every fault at least once."""
    rng = random.Random(args.seed)
    tallies = {f.name: Tally() for f in FAULTS}
    order: list[FaultKind] = []
    run, per_run = 0, stage.size  # items of the last run, to size the random mix
    while sum(t.items for t in tallies.values()) < args.calls or any(
        t.runs == 0 for t in tallies.values()
    ):
        if not order:
            order = rng.sample(FAULTS, len(FAULTS))
        fault = order.pop()
        extra = [rng.choice(FAULTS).make() for _ in range(math.ceil(args.mix * per_run))]
        cache.clear()  # every run asks afresh
        where = work / f"{path.name}-{run}"
        per_run = one_run(server, stage, path, fault, where, extra, tallies[fault.name]) or per_run
        run += 1
    return tallies


def show(path: str, tallies: dict[str, Tally], seconds: float) -> None:
    requests = sum(t.requests for t in tallies.values())
    print(f"\n{path}  ({seconds:.1f} s, {requests} requests to the fault server)")
    head = ("fault", "runs", "items", "graded", "no-grade", "no-reason", "crashes")
    print(f"  {head[0]:<18}" + "".join(f"{h:>10}" for h in head[1:]))
    total = Tally()
    for name, t in tallies.items():
        row = (t.runs, t.items, t.graded, t.ungraded, t.unexplained, t.crashes)
        print(f"  {name:<18}" + "".join(f"{v:>10}" for v in row))
        for attr in ("runs", "items", "graded", "ungraded", "unexplained", "crashes"):
            setattr(total, attr, getattr(total, attr) + getattr(t, attr))
    row = (total.runs, total.items, total.graded, total.ungraded, total.unexplained, total.crashes)
    print(f"  {'all':<18}" + "".join(f"{v:>10}" for v in row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="items per path, at least")
    parser.add_argument("--size", type=int, default=6, help="items per run of a batch path")
    parser.add_argument("--mix", type=float, default=0.3, help="random faults per item")
    parser.add_argument("--attempts", type=int, default=3, help="the LLM door's max_attempts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", nargs="*", default=[p.name for p in PATHS])
    args = parser.parse_args()
    chosen = [p for p in PATHS if p.name in set(args.paths)]
    completed = crashes = 0
    notes: Counter[str] = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FaultServer() as server:
        work = Path(tmp)
        configure_for(server, work / "llm-cache")
        llm.configure(max_attempts=args.attempts)
        cache = ResponseCache(work / "llm-cache")  # the door's cache, emptied before each run
        stage = build_stage(work, size=args.size, n_traces=max(20, 4 * args.size))
        print(
            f"fault server at {server.api_base}; timeout {llm.settings().timeout} s, "
            f"{llm.settings().retry.max_attempts} attempts, mix {args.mix}, seed {args.seed}"
        )
        for path in chosen:
            path_started = time.perf_counter()
            tallies = bench_path(server, stage, path, args, work, cache)
            show(path.name, tallies, time.perf_counter() - path_started)
            for t in tallies.values():
                completed += t.runs - t.crashes
                crashes += t.crashes
                notes.update(t.crash_notes)
        stage.ws.close()
        cache.close()
    print(
        f"\nfault-server runs completed: {completed} of {completed + crashes} "
        f"(crashes: {crashes}) in {time.perf_counter() - started:.0f} s"
    )
    for note, count in notes.most_common(10):
        print(f"  crash x{count}: {note[:300]}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
