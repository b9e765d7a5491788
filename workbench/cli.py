"""The ``workbench`` command: the demo, importing traces, and (as they land) eval runs.

Examples:
    $ workbench demo
    $ workbench import sample_data/traces.jsonl --workspace analysis
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from workbench.suite.cli import add_commands
from workbench.traces import TraceLoadError, TraceLoadWarning, load_traces, overview, skipped
from workbench.traces.show import printable


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except TraceLoadError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench", description="Error analysis of LLM applications."
    )
    commands = parser.add_subparsers(title="commands")
    demo = commands.add_parser(
        "demo", help="run the whole weekly loop on the sample data, headless"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo-workspace"), help="where to write everything"
    )
    demo.set_defaults(run=_demo)
    summary = commands.add_parser("summary", help="load a trace file and summarise it")
    summary.add_argument("traces", help="a trace file, glob or export")
    summary.add_argument("--format", default=None, help="force a format (default: sniffed)")
    summary.add_argument("--skip-bad", action="store_true", help="skip bad records, list them")
    summary.set_defaults(run=_summary)
    add_commands(commands)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from workbench.demo import run_demo

    run_demo(args.out)
    return 0


def _summary(args: argparse.Namespace) -> int:
    return _show(args.traces, args.format, skip=args.skip_bad)


def _show(source: str, format: str | None, *, skip: bool) -> int:
    started = time.perf_counter()
    with warnings.catch_warnings():  # the skipped records are printed below in full
        warnings.simplefilter("ignore", TraceLoadWarning)
        traces = load_traces(source, format=format, errors="skip" if skip else "raise")
    seconds = time.perf_counter() - started
    print(f"Loaded {len(traces):,} traces from {source} in {seconds:.2f} s\n")
    print(printable(overview(traces).to_string()))  # model names etc. are trace text
    left_out = skipped(traces)
    if len(left_out):
        print(f"\nSkipped {len(left_out)} bad record(s):")
        print(printable(left_out.to_string(index=False)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
