"""The done-when table of eval generation on the sample data: best mined check per mode.

A temporary workspace is labelled from ``sample_data/ground_truth.csv`` (every trace gets a
pass/fail verdict, every failing trace its tags), then for each of the nine seeded failure
modes ``propose_evals`` mines assertion candidates from the train split, ranks them on
train + dev, and the best one is measured once on the test split.

Run:
    .venv/bin/python benchmarks/bench_evalgen.py
    .venv/bin/python benchmarks/bench_evalgen.py --modes overlong_reply wrong_language
    .venv/bin/python benchmarks/bench_evalgen.py --model openai/gpt-4o-mini   # adds judges
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import workbench as wb  # noqa: E402 (after the path is set)
from workbench.evalgen import kappa, propose_evals, validate  # noqa: E402
from workbench.evalgen.runtime import describe  # noqa: E402

CODE_MODES = {
    "leaked_internal_id",
    "malformed_tool_args",
    "missing_tool_call",
    "overlong_reply",
    "wrong_language",
}


def build_workspace(folder: Path) -> wb.Workspace:
    truth = pd.read_csv(REPO / "sample_data" / "ground_truth.csv", keep_default_na=False)
    ws = wb.open_workspace(folder)
    ws.add_traces(wb.load_traces(REPO / "sample_data" / "traces.jsonl"))
    for row in truth.itertuples():
        ws.label(row.trace_id, "fail" if row.failed else "pass", annotator="truth")
        for mode in filter(None, row.failure_modes.split(";")):
            ws.tag(row.trace_id, mode, annotator="truth")
    return ws


def rule(spec: dict[str, object]) -> str:
    if spec.get("type") in ("python", "judge"):
        return f"<{spec['type']}>"
    text = describe(spec).removeprefix("passes when ")
    return text if len(text) <= 70 else text[:67] + "..."


def measure_mode(ws: wb.Workspace, mode: str, kinds: tuple[str, ...]) -> list[dict[str, object]]:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        candidates = propose_evals(ws, mode, kinds=kinds)
        seconds = time.perf_counter() - start
        kinds_found = dict.fromkeys(c.kind for c in candidates)
        tested = [
            validate(next(c for c in candidates if c.kind == kind), ws, split="test")
            for kind in kinds_found
        ]
    notes = sorted({type(w.message).__name__ for w in caught})
    rows = []
    for best in tested:
        m = best.metrics
        rows.append(
            {
                "mode": mode,
                "seeded as": "code" if mode in CODE_MODES else "judge",
                "best candidate": best.id,
                "rule": rule(best.spec),
                "train TPR/TNR": f"{m['train'].tpr:.2f}/{m['train'].tnr:.3f}",
                "dev TPR/TNR": f"{m['dev'].tpr:.2f}/{m['dev'].tnr:.3f}",
                "test TPR": round(m["test"].tpr, 3),
                "test TNR": round(m["test"].tnr, 3),
                "test kappa": round(kappa(m["test"]), 3),
                "test fail/clean": f"{m['test'].tp + m['test'].fn}/{m['test'].tn + m['test'].fp}",
                "seconds": round(seconds, 2),
                "warnings": ", ".join(notes),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="*", help="failure modes (default: all nine)")
    parser.add_argument("--model", help="an LLM for judge candidates (litellm model name)")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    args = parser.parse_args()
    kinds: tuple[str, ...] = ("assertion",)
    if args.model:
        wb.llm.configure(model=args.model, api_base=args.api_base)
        kinds = ("assertion", "judge")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        ws = build_workspace(Path(folder))
        print(f"labelled workspace built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        modes = args.modes or sorted(ws.failure_modes()["name"])
        rows = [row for mode in modes for row in measure_mode(ws, mode, kinds)]
        ws.close()
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80):
        print(table.drop(columns=["rule"]).to_string(index=False))
        print()
        print(table[["mode", "rule"]].to_string(index=False))
    caught = table[table["seeded as"] == "code"]
    ok = (caught["test TPR"] >= 0.9) & (caught["test TNR"] >= 0.95)
    print(f"\ncode-checkable modes with TPR >= 0.9, TNR >= 0.95 on test: {ok.sum()}/{len(ok)}")


if __name__ == "__main__":
    main()
