"""How well do clusters find the seeded failure modes? Views and pipelines, against the answer key.

Usage::

    python benchmarks/bench_bertopic.py                       # every view, both pipelines
    python benchmarks/bench_bertopic.py --views output tools  # some views
    python benchmarks/bench_bertopic.py --views tools --seeds 10   # mean and spread of 10 seeds
    python benchmarks/bench_bertopic.py --views tools --n 10000    # perturbed copies
    python benchmarks/bench_bertopic.py --sweep tools         # min_cluster_size / noise options

Reads ``sample_data/traces.jsonl`` and its answer key ``sample_data/ground_truth.csv``; with
``--n``, the perturbed copies of ``benchmarks/bench_cluster.py`` (each keeps the failure
modes of the sample trace it copies). For each view, the same embeddings (all-MiniLM-L6-v2,
cached) go through

- ``workbench``: :func:`workbench.cluster.cluster` with its defaults;
- ``bertopic``: BERTopic 0.17's default pipeline, run by ``BERTopic`` itself on the
  precomputed embeddings: UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine")
  and HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom"). The
  only change is a ``random_state`` on UMAP, so that runs repeat.

Both pipelines run once per seed (``--seeds``, UMAP's ``random_state`` 0, 1, ...): one seed
can merge or split a failure mode's two halves and move the index by 0.05, so the table shows
the mean of the seeds and, for the index, their standard deviation.

Measures, among the 1,200 traces (317 failing, nine modes):

- ``ARI``: adjusted Rand index between clusters and failure modes, over the failing traces
  with one mode (noise counts as one cluster);
- per mode, its *best cluster* (the one holding most of its traces): ``purity`` (share of that
  cluster's traces with the mode) and ``coverage`` (share of the mode's traces in it);
- ``found``: modes whose best cluster is at least half that mode (purity >= 0.5);
- ``noise``: share of traces the clusterer left unclustered (``is_noise``) and, for
  workbench, the share still unclustered after noise points joined a cluster (``-1``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench as wb  # noqa: E402
from workbench.cluster import HDBSCANClusterer, attach_noise, cluster  # noqa: E402
from workbench.embed import embed_texts  # noqa: E402
from workbench.views import VIEWS, text_view  # noqa: E402

warnings.simplefilter("ignore")


def answer_key() -> pd.DataFrame:
    truth = pd.read_csv(REPO / "sample_data" / "ground_truth.csv", dtype={"failure_modes": str})
    truth["modes"] = truth["failure_modes"].fillna("").map(lambda s: [m for m in s.split(";") if m])
    return truth.set_index("trace_id")


def traces_and_truth(n: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample traces (or ``n`` perturbed copies) and the answer key row of each."""
    if n is None:
        traces = wb.load_traces(REPO / "sample_data" / "traces.jsonl")
        return traces, answer_key().loc[traces["trace_id"]]
    from bench_cluster import synthesize

    traces = wb.load_traces(synthesize(n))
    copied = traces["metadata"].map(lambda m: (m or {}).get("copy_of"))
    return traces, answer_key().loc[copied.fillna(traces["trace_id"])]


def score(labels: np.ndarray, noise: np.ndarray, truth: pd.DataFrame) -> dict[str, object]:
    """ARI, per-mode purity and coverage, and noise share of one clustering."""
    from sklearn.metrics import adjusted_rand_score

    frame = truth.assign(cluster=labels)
    single = frame[frame["modes"].map(len) == 1]
    ari = adjusted_rand_score(single["modes"].map(lambda m: m[0]), single["cluster"])
    sizes = frame[frame["cluster"] >= 0]["cluster"].value_counts()
    per_mode = {}
    for mode in sorted({m for ms in truth["modes"] for m in ms}):
        has = frame[frame["modes"].map(lambda ms, m=mode: m in ms)]
        held = has[has["cluster"] >= 0]["cluster"].value_counts()
        if held.empty:
            per_mode[mode] = (0.0, 0.0)
            continue
        best = held.index[0]
        per_mode[mode] = (held.iloc[0] / sizes[best], held.iloc[0] / len(has))
    purity = np.mean([p for p, _ in per_mode.values()])
    coverage = np.mean([c for _, c in per_mode.values()])
    return {
        "ARI": ari,
        "purity": purity,
        "coverage": coverage,
        "found": sum(p >= 0.5 for p, _ in per_mode.values()),
        "clusters": int(labels.max() + 1),
        "noise": float(noise.mean()),
        "unclustered": float((labels == -1).mean()),
        "per_mode": per_mode,
    }


def bertopic_labels(vectors: np.ndarray, texts: list[str], seed: int = 0) -> np.ndarray:
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    )
    model = BERTopic(umap_model=umap_model, embedding_model=None)
    topics, _ = model.fit_transform(texts, embeddings=vectors)
    return np.asarray(topics)


def run_view(
    traces: pd.DataFrame, truth: pd.DataFrame, view: str, pipelines: list[str], seed: int
) -> list:
    texts = text_view(traces, view).tolist()
    vectors = embed_texts(texts)
    rows = []
    for pipeline in pipelines:
        start = time.perf_counter()
        if pipeline == "bertopic":
            labels = bertopic_labels(vectors, texts, seed)
            noise = labels == -1
        else:
            found = cluster(traces, text=view, random_state=seed, show_progress=False)
            labels, noise = found["cluster"].to_numpy(), found["is_noise"].to_numpy()
        result = score(labels, noise, truth)
        result |= {"view": view, "pipeline": pipeline, "seed": seed}
        rows.append(result | {"seconds": time.perf_counter() - start})
    return rows


def sweep(traces: pd.DataFrame, truth: pd.DataFrame, view: str) -> pd.DataFrame:
    """Our clusterer's options on one view (UMAP once, HDBSCAN for each option)."""
    run = cluster(traces, text=view, show_progress=False).attrs["cluster_run"]
    rows = []
    for size in (5, 8, 10, 12, 15, 20, 30):
        for samples in (None, 1, 3, 5, size):
            for method in ("eom", "leaf"):
                for small in (False, True):
                    clusterer = HDBSCANClusterer(size, samples, method, small_clusters=small)
                    raw = clusterer.fit_predict(run.reduced)
                    for attach in (None, 0.5, 0.3):
                        labels = attach_noise(run.reduced, raw, attach) if attach else raw
                        result = score(labels, raw == -1, truth)
                        result.pop("per_mode")
                        options = {"size": size, "samples": samples, "method": method}
                        rows.append(options | {"small": small, "attach": attach} | result)
    return pd.DataFrame(rows)


def summary(rows: list[dict]) -> pd.DataFrame:
    """Mean of the seeds per view and pipeline, with the spread of the index."""
    table = pd.DataFrame(rows)
    groups = table.groupby(["view", "pipeline"], sort=False)
    columns = ["ARI", "purity", "coverage", "found", "clusters", "noise", "unclustered"]
    means = groups[[*columns, "seconds"]].mean()
    means.insert(1, "ARI sd", groups["ARI"].std().fillna(0.0))
    return means.reset_index()


def per_mode(rows: list[dict]) -> pd.DataFrame:
    """Per failure mode and pipeline: purity / coverage of its best cluster, mean of seeds."""
    cells: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in rows:
        key = f"{row['view']}/{row['pipeline']}"
        for mode, pair in row["per_mode"].items():
            cells.setdefault(mode, {}).setdefault(key, []).append(pair)
    shown = {
        mode: {key: "{:.2f}/{:.2f}".format(*np.mean(pairs, axis=0)) for key, pairs in by.items()}
        for mode, by in cells.items()
    }
    return pd.DataFrame(shown).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", nargs="*", default=list(VIEWS))
    parser.add_argument("--pipelines", nargs="*", default=["workbench", "bertopic"])
    parser.add_argument("--seeds", type=int, default=5, help="UMAP seeds per pipeline")
    parser.add_argument("--n", type=int, help="perturbed copies instead of the sample")
    parser.add_argument("--sweep", metavar="VIEW", help="sweep our options on this view")
    args = parser.parse_args()
    traces, truth = traces_and_truth(args.n)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if args.sweep:
        table = sweep(traces, truth, args.sweep)
        print(table.sort_values("ARI", ascending=False).round(3).to_string(index=False))
        return
    rows = [
        r
        for view in args.views
        if view != "note"
        for seed in range(args.seeds)
        for r in run_view(traces, truth, view, args.pipelines, seed)
    ]
    print(f"{len(traces)} traces, {args.seeds} seeds; means of the seeds")
    print(summary(rows).round(3).to_string(index=False))
    print("\nper mode (purity / coverage of its best cluster):")
    print(per_mode(rows).to_string())


if __name__ == "__main__":
    main()
