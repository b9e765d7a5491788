"""Fuzz every trace loader for a long run and count what each format's mutated files came to.

The mutation fuzzer of the tests (``tests/fuzz_runs.py``), run from the command
line: seeds are the real exports of the shared data folder, the first 300 lines of
``sample_data/traces.jsonl`` (and 40 of them as Parquet), and generated files in the
formats that have no real sample. Each case is checked by ``tests/fuzz_contract.py``:
it must load, or raise a ``TraceLoadError`` naming the file, in both ``errors=``
modes, within the time limit, with every record accounted for.

A case that breaks the promise is shrunk (lines, then stretches of bytes, are dropped
while it still fails the same way) and written to ``tests/fuzz_corpus/`` as
``<format>-seed<S>-case<N>-<outcome>.<ext>``; ``tests/test_fuzz_corpus.py`` loads every
file there. Cases are numbered and case ``N`` of seed ``S`` is made from
``random.Random(f"{S}:{N}")`` alone, so any one can be replayed.

Run:
    .venv/bin/python benchmarks/fuzz_loaders.py --cases 20000 --seed 1
    .venv/bin/python benchmarks/fuzz_loaders.py --minutes 10 --seed 7
    .venv/bin/python benchmarks/fuzz_loaders.py --seed 3 --start 918 --cases 1   # one case
    .venv/bin/python benchmarks/fuzz_loaders.py --seeds local --seed 1 --start 40 --cases 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import fuzz_runs as runs  # noqa: E402 (after the path is set)
from fuzz_contract import Verdict, check_file  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
CORPUS = REPO / "tests" / "fuzz_corpus"
COLUMNS = ("loaded", "trace_load_error", "other_exception", "timeout", "broken_other")
"""Table columns; ``broken_other`` sums partial loads, mode disagreements, unnamed errors..."""


def signature(verdict: Verdict) -> str:
    """What kind of failure a verdict is: the outcome and, for an exception, its type."""
    last = (verdict.detail.strip().splitlines() or [""])[-1]
    kind = last.split(":", 1)[0] if verdict.outcome == "other_exception" else ""
    return f"{verdict.outcome}:{kind}"


def shrink(data: bytes, suffix: str, wanted: str, seconds: float, budget: float = 60.0) -> bytes:
    """Drop lines, then stretches of bytes, while the file still fails with ``wanted``."""
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory(prefix="fuzz-shrink-") as folder:
        path = Path(folder) / f"case{suffix}"

        def fails(candidate: bytes) -> bool:
            if time.monotonic() > deadline:
                return False
            path.write_bytes(candidate)
            return signature(check_file(path, seconds)) == wanted

        lines = data.split(b"\n")
        lines = _drop_chunks(lines, lambda kept: fails(b"\n".join(kept)))
        raw = b"\n".join(lines)
        pieces = [raw[i : i + 64] for i in range(0, len(raw), 64)]
        pieces = _drop_chunks(pieces, lambda kept: fails(b"".join(kept)))
        return b"".join(pieces)


def _drop_chunks(parts: list[bytes], fails: Callable[[list[bytes]], bool]) -> list[bytes]:
    """Delta debugging: remove ever smaller runs of parts as long as the failure remains."""
    size = max(len(parts) // 2, 1)
    while size >= 1 and len(parts) > 1:
        start, removed = 0, False
        while start < len(parts):
            kept = parts[:start] + parts[start + size :]
            if kept and fails(kept):
                parts, removed = kept, True
            else:
                start += size
        if not removed:
            size //= 2
    return parts


def save(case: runs.Case, args: argparse.Namespace, minimise: bool) -> Path:
    """Write a failing case to the corpus, shrunk unless it is a timeout."""
    data = case.data
    if minimise and case.verdict.outcome != "timeout":
        data = shrink(data, case.seed.suffix, signature(case.verdict), args.time_limit)
    name = f"{case.seed.format}-seed{args.seed}-case{case.number}-{case.verdict.outcome}"
    folder: Path = args.corpus
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{case.seed.suffix}"
    path.write_bytes(data)
    return path


def tell(case: runs.Case, saved: Path | None) -> None:
    """One line for a case that broke the promise, with where its input was saved."""
    last = (case.verdict.detail.splitlines() or [""])[-1][:160]
    where = f" -> {saved}" if saved is not None else ""
    print(
        f"case {case.number} ({case.seed.name}, {', '.join(case.mutations)}): "
        f"{case.verdict.outcome}: {last}{where}",
        flush=True,
    )


def report(table: dict[str, Counter[str]], guarded: Counter[str], elapsed: float) -> None:
    """Print cases per format and what they came to."""
    width = max(len(f) for f in table) + 2
    print(f"\n{'format':<{width}}{'cases':>7}" + "".join(f"{c:>18}" for c in COLUMNS))
    total: Counter[str] = Counter()
    for fmt in sorted(table):
        counts = table[fmt]
        total.update(counts)
        cases = sum(counts.values())
        print(f"{fmt:<{width}}{cases:>7}" + "".join(f"{counts[c]:>18}" for c in COLUMNS))
    cases = sum(total.values())
    print(f"{'all':<{width}}{cases:>7}" + "".join(f"{total[c]:>18}" for c in COLUMNS))
    print(
        f"\n{cases} cases in {elapsed:.0f} s ({cases / max(elapsed, 1e-9):.1f} cases/s); "
        f"TraceLoadErrors from a catch-all guard (no field named): {sum(guarded.values())}"
    )
    for fmt, count in guarded.most_common():
        print(f"  {fmt}: {count}")


def main() -> None:
    """Parse the options, run the cases, print the table and save failing inputs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="number of cases to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run")
    parser.add_argument("--start", type=int, default=0, help="number of the first case")
    parser.add_argument(
        "--seeds",
        choices=("all", "local", "shared"),
        default="all",
        help="seed files: all, the sample and generated ones (local), or the shared exports",
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per load")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="where failing inputs go")
    parser.add_argument("--no-save", action="store_true", help="do not write failing inputs")
    parser.add_argument("--no-shrink", action="store_true", help="save failing inputs whole")
    args = parser.parse_args()

    shared = SHARED if SHARED.is_dir() and args.seeds != "local" else None
    seeds = runs.shared_seeds(SHARED) if args.seeds == "shared" else runs.all_seeds(REPO, shared)
    print(f"{len(seeds)} seeds: {', '.join(sorted({s.format for s in seeds}))}")
    table: dict[str, Counter[str]] = defaultdict(Counter)
    guarded: Counter[str] = Counter()
    broken = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-loaders-") as folder:
        run = runs.run_cases(
            seeds, args.cases, args.seed, Path(folder), args.time_limit, args.start
        )
        for case in run:
            outcome = case.verdict.outcome
            table[case.seed.format][outcome if outcome in COLUMNS else "broken_other"] += 1
            if outcome == "trace_load_error" and "unexpected value (" in case.verdict.detail:
                guarded[case.seed.format] += 1
            if case.verdict.failed:
                broken += 1
                tell(case, None if args.no_save else save(case, args, not args.no_shrink))
            if args.minutes is not None and time.monotonic() - started > args.minutes * 60:
                break
    report(table, guarded, time.monotonic() - started)
    print(f"broken promises: {broken}")


if __name__ == "__main__":
    main()
