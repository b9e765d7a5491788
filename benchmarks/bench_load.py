"""Load time and peak memory of ``load_traces`` on the sample data and on larger files.

Each measurement runs in a fresh subprocess so peak memory (max RSS) belongs to that
load alone. Larger files are made by repeating the sample traces with new ids.

Run:
    .venv/bin/python benchmarks/bench_load.py                 # sample, 10k, 100k (JSONL)
    .venv/bin/python benchmarks/bench_load.py --sizes 100000 --formats jsonl csv parquet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "traces.jsonl"

_MEASURE = """
import json, resource, sys, time
t0 = time.perf_counter()
import workbench as wb
t1 = time.perf_counter()
traces = wb.load_traces(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"rows": len(traces), "import_s": t1 - t0, "load_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_file(n: int, fmt: str, folder: Path) -> Path:
    """Write ``n`` traces (the sample repeated with fresh ids) in the given format."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    out = []
    for i in range(n):
        record = dict(records[i % len(records)])
        record["trace_id"] = f"{record['trace_id']}-{i}"
        out.append(record)
    path = folder / f"traces_{n}.{fmt}"
    if fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in out) + "\n", encoding="utf-8")
    else:
        frame = pd.DataFrame(out)
        if fmt == "csv":
            for column in frame.columns:
                if frame[column].map(lambda v: isinstance(v, dict | list)).any():
                    frame[column] = frame[column].map(json.dumps)
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)
    return path


def measure(path: Path) -> dict[str, float]:
    """Load ``path`` in a fresh interpreter and return its timings and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="*", default=["jsonl"])
    args = parser.parse_args()
    rows = [
        {"file": "sample_data/traces.jsonl", "MB": SAMPLE.stat().st_size / 1e6, **measure(SAMPLE)}
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            for n in args.sizes:
                path = make_file(n, fmt, Path(tmp))
                rows.append({"file": path.name, "MB": path.stat().st_size / 1e6, **measure(path)})
    table = pd.DataFrame(rows)
    table["traces/s"] = table["rows"] / table["load_s"]
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
