"""Crash durability, measured: SIGKILL at random moments while tagging, accepting evals, running.

Usage:
    python benchmarks/bench_kill.py --iterations 100 --backend sqlite
    python benchmarks/bench_kill.py --iterations 100 --backend postgres  # WORKBENCH_TEST_PG_URL
    python benchmarks/bench_kill.py --iterations 30 --spawn-cost  # and a fresh interpreter's

The fault server reports each connection a killed child left half-open on stderr; add
``2>/dev/null`` to see only the figures.

What is done: the kill loop of tests/test_kill_loop.py (see tests/kill_loop.py). Each
iteration forks a child on one shared workspace (from a fork server that imported the
workbench once), lets it tag traces, accept validated evals into the suite or run the suite
(two judges against a fault-injecting LLM server on 127.0.0.1, plus assertions) for a random
50-800 ms after it is ready, kills it with SIGKILL, and checks the workspace: every
acknowledged event, eval and judge result is there, no file in evals/ is half-written, and the
killed run, resumed, repeats no call whose result was stored. Prints the figures; damage
counts other than 0 make the exit status 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fault_server import FaultServer  # noqa: E402 (the paths above come first)
from kill_loop import KillLoop  # noqa: E402

PG_ENV = "WORKBENCH_TEST_PG_URL"


def main() -> int:
    """Run the loop and print its figures; 1 when anything was damaged."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--spawn-cost",
        action="store_true",
        help="also time a fresh interpreter importing the workbench and litellm (why the "
        "loop forks its children from a server that imported them once)",
    )
    args = parser.parse_args()
    if args.spawn_cost:
        _spawn_cost()
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as folder:
        if args.backend == "sqlite":
            return _loop(Path(folder), None, args.iterations, args.seed)
        base = os.environ.get(PG_ENV)
        if not base:
            parser.error(f"--backend postgres needs {PG_ENV} (see scripts/postgres.sh)")
        with _schema(base) as url:
            return _loop(Path(folder), url, args.iterations, args.seed)


def _loop(folder: Path, url: str | None, iterations: int, seed: int) -> int:
    with (
        FaultServer() as server,
        KillLoop(folder / "ws", url, server, folder / "llm-cache", seed=seed) as loop,
    ):
        figures = loop.run(iterations)
    print(figures.report())
    for problem in figures.problems[:20]:
        print("  " + problem)
    return 1 if any(figures.damage.values()) or figures.problems else 0


def _spawn_cost() -> None:
    code = "import workbench.workspace, workbench.suite, litellm, openai.resources"
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    print(
        f"a fresh interpreter importing the workbench and litellm: {min(times):.2f} s "
        "(best of 3); forked from the server, a child is ready in the median shown below"
    )


class _schema:
    """A fresh PostgreSQL schema for the run, dropped afterwards; yields its URL."""

    def __init__(self, base: str) -> None:
        self.base, self.name = base, f"wbkill_{uuid.uuid4().hex[:12]}"

    def _admin(self, sql: str) -> None:
        import psycopg

        plain = self.base.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql)

    def __enter__(self) -> str:
        self._admin(f'CREATE SCHEMA "{self.name}"')
        joiner = "&" if "?" in self.base else "?"
        return f"{self.base}{joiner}options=-csearch_path%3D{self.name}"

    def __exit__(self, *exc: object) -> None:
        self._admin(f'DROP SCHEMA "{self.name}" CASCADE')


if __name__ == "__main__":
    raise SystemExit(main())
