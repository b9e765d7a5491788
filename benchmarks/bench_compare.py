"""Seconds of each step of ``compare_periods`` without the clustering, at 1k to 100k traces.

Usage::

    python benchmarks/bench_compare.py --n 1000 10000 100000

Larger tables are the sample traces repeated under new ids (the structure measurements do
not care about duplicate texts). Split in two by position, the halves stand for last and
this week. Stages: ``last_and_this`` (ISO weeks), the per-trace measurements, the structure
table, label rates and the taxonomy on a labels table with one reviewed trace in four.
The clustering is :func:`workbench.cluster` on both periods; ``bench_cluster.py`` times it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import workbench as wb  # noqa: E402 (after the path is set)
from workbench.compare.features import trace_features  # noqa: E402
from workbench.compare.periods import last_and_this  # noqa: E402
from workbench.compare.rates import label_rates  # noqa: E402
from workbench.compare.structure import structure_table  # noqa: E402
from workbench.compare.taxonomy import taxonomy_diff  # noqa: E402
from workbench.demo import ground_truth  # noqa: E402


def grown(base: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` traces: the sample repeated, each copy under new ids, in time order."""
    copies = -(-n // len(base))
    frame = pd.concat([base] * copies, ignore_index=True).iloc[:n].copy()
    frame["trace_id"] = [f"syn_{i:07d}" for i in range(n)]
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def labels_for(traces: pd.DataFrame) -> pd.DataFrame:
    """One label per fourth trace, carrying the seeded failure modes of its original."""
    truth = ground_truth()
    modes = (truth["failure_modes"].tolist() * (len(traces) // len(truth) + 1))[: len(traces)]
    frame = pd.DataFrame({"trace_id": traces["trace_id"], "failure_modes": modes})
    frame["verdict"] = ["fail" if m else "pass" for m in frame["failure_modes"]]
    return frame.iloc[::4].reset_index(drop=True)


def run(base: pd.DataFrame, n: int) -> dict[str, float]:
    traces = grown(base, n)
    times: dict[str, float] = {"n": n}
    start = time.perf_counter()
    last, this = last_and_this(traces)
    times["split_s"] = time.perf_counter() - start
    start = time.perf_counter()
    trace_features(traces)
    times["features_s"] = time.perf_counter() - start
    start = time.perf_counter()
    structure_table(last, this)
    times["structure_s"] = time.perf_counter() - start
    labels = labels_for(traces)
    ids = list(last["trace_id"]), list(this["trace_id"])
    start = time.perf_counter()
    label_rates(labels, ids[0], ids[1], 0.05)
    history = pd.DataFrame(columns=["id", "kind", "trace_id", "payload", "created_at"])
    taxonomy_diff(history, labels, ids[0], ids[1])
    times["rates_taxonomy_s"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    base = wb.load_traces(REPO / "sample_data" / "traces.jsonl")
    rows = [run(base, n) for n in args.n]
    print(pd.DataFrame(rows).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
