r"""The ``workbench eval run``, ``workbench eval export`` and ``workbench report`` commands.

Mount them on the main parser's subparsers with :func:`add_commands`; each sets
``run=<function>`` taking the parsed arguments and returning the exit code::

    commands = parser.add_subparsers(title="commands")
    add_commands(commands)
    args = parser.parse_args(argv)
    return args.run(args)

Exit codes of ``eval run``: 0 every gate passed; 1 a gate failed (the failing evals and
traces are printed); 2 the suite, traces or arguments are invalid; 3 the run stopped early
at ``--max-cost`` (what finished is written, the rest is marked skipped).

Examples:
    $ workbench eval run analysis/evals --traces week47.jsonl --out week47.parquet
    $ workbench eval run analysis/evals --traces week47.jsonl --out fresh.parquet \
          --app myapp.bot:answer --repeats 3
    $ workbench eval export analysis/evals --format promptfoo --out promptfooconfig.yaml
    $ workbench report week47.parquet --previous week46.parquet --suite analysis/evals \
          --out week47.html
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.suite.export import FORMATS, export
from workbench.suite.format import SuiteFormatError, atomic_write_bytes
from workbench.suite.report import report
from workbench.suite.suite import Suite
from workbench.traces.show import printable

EXIT_GATE = 1
"""A gate failed."""
EXIT_INVALID = 2
"""The suite, traces or arguments are invalid."""
EXIT_INCOMPLETE = 3
"""The run stopped early at ``--max-cost``."""


def add_commands(subparsers: Any) -> None:
    """Add ``eval run``, ``eval export`` and ``report`` to an argparse subparsers object.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    evals = subparsers.add_parser("eval", help="run an eval suite on traces, or export it")
    inner = evals.add_subparsers(title="eval commands")
    run = inner.add_parser("run", help="run the suite on traces; non-zero exit on a gate failure")
    run.add_argument("evals_dir", metavar="EVALS_DIR", type=Path, help="the suite folder")
    run.add_argument("--traces", required=True, help="trace file, glob or export to grade")
    run.add_argument("--out", required=True, type=Path, help="results file (.parquet)")
    run.add_argument("--max-cost", type=float, default=None, help="stop judges at this USD")
    run.add_argument("--model", default=None, help="model for every judge (litellm name)")
    run.add_argument("--repeats", type=int, default=1, help="judge each trace this many times")
    run.add_argument("--no-cache", action="store_true", help="ask again, ignoring stored verdicts")
    run.add_argument(
        "--app", default=None, metavar="MODULE:FUNCTION",
        help="grade fresh answers from your app (e.g. myapp.bot:answer) instead of the logged ones",
    )  # fmt: skip
    run.add_argument(
        "--app-input", default="input", choices=("input", "messages", "trace"),
        help="what --app is called with (default: the trace's input text)",
    )  # fmt: skip
    run.set_defaults(run=eval_run)
    exp = inner.add_parser("export", help="write the suite for promptfoo, pytest or Inspect")
    exp.add_argument("evals_dir", metavar="EVALS_DIR", type=Path, help="the suite folder")
    exp.add_argument("--format", required=True, choices=FORMATS, help="the target tool")
    exp.add_argument("--out", required=True, type=Path, help="file to write")
    exp.add_argument("--traces", default=None, help="promptfoo: also write these as its tests")
    exp.set_defaults(run=eval_export)
    rep = subparsers.add_parser("report", help="summarise results as HTML and in the terminal")
    rep.add_argument("results", metavar="RESULTS", type=Path, help="results of `eval run`")
    rep.add_argument("--previous", type=Path, default=None, help="earlier results to compare")
    rep.add_argument("--suite", type=Path, default=None, help="suite folder (thresholds etc.)")
    rep.add_argument("--traces", default=None, help="traces, to show failing examples' text")
    rep.add_argument("--out", required=True, type=Path, help="HTML file to write")
    rep.set_defaults(run=report_command)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID


def _load_traces(source: str) -> pd.DataFrame:
    from workbench.traces import load_traces

    return load_traces(source)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a results table as parquet, atomically."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


def eval_run(args: argparse.Namespace) -> int:
    """``workbench eval run``: grade traces, write the results, print the summary and gates."""
    from workbench.traces import TraceLoadError

    suite = Suite(args.evals_dir)
    try:
        suite.load()
        app = _import_app(args.app) if args.app else None
        traces = _load_traces(args.traces)
        results = suite.run(
            traces,
            repeats=args.repeats,
            max_cost=args.max_cost,
            cache=not args.no_cache,
            model=args.model,
            app=app,
            app_input=args.app_input,
        )
    except (SuiteFormatError, TraceLoadError, ValueError, KeyError) as exc:
        return _error(str(exc))
    write_parquet(results, args.out)
    summary = report(results, suite=suite)
    print(summary)
    print(f"\nResults written to {args.out}")
    if summary.gates:
        for failure in summary.gates:
            print(f"gate failed: {printable(str(failure))}", file=sys.stderr)
        return EXIT_GATE
    skipped = int((results["status"] == "skipped").sum())
    if skipped:
        print(f"stopped early: {skipped} judge call(s) not made (--max-cost)", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _import_app(target: str) -> Any:
    """The function ``module:function`` names, imported from the current folder or sys.path.

    Raises:
        ValueError: The target is malformed, or its module or function cannot be found.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must look like module:function, got {target!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--app {target}: cannot import {module_name!r} ({exc})") from exc
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"--app {target}: {module_name!r} has no {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise ValueError(f"--app {target}: {attribute!r} is not a function")
    return found


def eval_export(args: argparse.Namespace) -> int:
    """``workbench eval export``: write the suite in another tool's format."""
    from workbench.traces import TraceLoadError

    try:
        traces = _load_traces(args.traces) if args.traces else None
        written = export(Suite(args.evals_dir), args.format, args.out, traces=traces)
    except (SuiteFormatError, TraceLoadError, ValueError) as exc:
        return _error(str(exc))
    print(f"Wrote {args.format} export to {written}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """``workbench report``: the report of a results file as HTML, and in the terminal."""
    from workbench.traces import TraceLoadError

    try:
        results = pd.read_parquet(args.results)
        previous = pd.read_parquet(args.previous) if args.previous else None
        suite = Suite(args.suite) if args.suite else None
        traces = _load_traces(args.traces) if args.traces else None
        rep = report(results, previous=previous, suite=suite, traces=traces)
    except (OSError, SuiteFormatError, TraceLoadError, ValueError) as exc:
        return _error(str(exc))
    rep.to_html(args.out)
    print(rep)
    print(f"\nReport written to {args.out}")
    return 0
