"""MiniLM's encoding speed after UMAP has run, with numba on each threading layer.

Usage::

    python benchmarks/bench_threads.py            # 512 sample texts per case
    python benchmarks/bench_threads.py --texts 2000

Each case runs in a fresh Python process, as a notebook kernel would: UMAP first (numba
starts its thread pool), then the model loads and encodes the sample traces' texts. With
numba on OpenMP (its default order when TBB is missing), numba's ``libgomp`` takes over
PyTorch's OpenMP calls; :func:`workbench.reduce.keep_numba_off_openmp` avoids it. The
"model first" case loads PyTorch before numba starts, which is never slow.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CASE = """
import os, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {repo!r})
import numpy as np
import workbench as wb
from workbench.embed import SentenceTransformerEmbedder
from workbench.reduce import UMAPReducer
from workbench.views import text_view

texts = text_view(wb.load_traces({sample!r}), "assistant_turns").tolist()[:{n}]
embedder = SentenceTransformerEmbedder(show_progress=False)
if {model_first}:
    embedder.encode(["load the model"])
UMAPReducer(5).fit_transform(np.random.default_rng(0).normal(size=(2000, 32)))
embedder.encode(["load the model"])
start = time.perf_counter()
embedder.encode(texts)
seconds = time.perf_counter() - start
import numba
print(numba.threading_layer(), len(texts) / seconds)
"""

CASES = {
    "UMAP first, workbench's default": ({}, False),
    "UMAP first, numba on OpenMP (numba's default)": (
        {"NUMBA_THREADING_LAYER_PRIORITY": "tbb omp workqueue"},
        False,
    ),
    "model first, numba on OpenMP": ({"NUMBA_THREADING_LAYER_PRIORITY": "tbb omp workqueue"}, True),
}


def run(n: int, env: dict[str, str], model_first: bool) -> tuple[str, float]:
    code = CASE.format(
        repo=str(REPO),
        sample=str(REPO / "sample_data" / "traces.jsonl"),
        n=n,
        model_first=model_first,
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING")}
    environ |= {"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"} | env
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        check=True,
    )
    layer, rate = done.stdout.split()[-2:]
    return layer, float(rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    args = parser.parse_args()
    print(f"{'case':<48} {'layer':<10} texts/s")
    for name, (env, model_first) in CASES.items():
        layer, rate = run(args.texts, env, model_first)
        print(f"{name:<48} {layer:<10} {rate:7.1f}", flush=True)


if __name__ == "__main__":
    main()
