from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from embed_fixtures import cache_dir_fixture, minilm_fixture  # noqa: F401 (fixtures are found by name)

from workbench import embed
from workbench.embed import (
    EmbeddingCache,
    LiteLLMEmbedder,
    NoCache,
    PrecomputedEmbedder,
    SentenceTransformerEmbedder,
    Vectors,
    embed_texts,
    fast_bf16_available,
    resolve_store,
    text_key,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "recipe_chatbot"


class CountingEmbedder:
    """A deterministic fake model that records what it was asked to encode."""

    model_id = "fake-model"

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("interrupted")
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float64)

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


class RecordingStore:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Vectors] = {}
        self.puts = 0

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        return {k: self.data[(model_id, k)] for k in keys if (model_id, k) in self.data}

    def put(self, model_id: str, vectors: Mapping[str, Vectors]) -> None:
        self.puts += 1
        self.data.update({(model_id, k): v for k, v in vectors.items()})


# -- keys, cache -------------------------------------------------------------------------


def test_text_key_is_sha256_of_utf8_and_distinguishes_unicode() -> None:
    assert text_key("hello") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert text_key("café") != text_key("cafe")
    assert len({text_key(t) for t in ["", " ", "\n", "😀"]}) == 4


def test_cache_round_trip_keeps_float32_and_separates_models(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    vec = np.array([0.25, -1.5, 3.0], dtype=np.float32)
    cache.put("model-a", {text_key("x"): vec})
    got = cache.get("model-a", [text_key("x"), text_key("y")])
    assert list(got) == [text_key("x")]
    assert got[text_key("x")].dtype == np.float32
    np.testing.assert_array_equal(got[text_key("x")], vec)
    assert cache.get("model-b", [text_key("x")]) == {}
    assert (tmp_path / "embeddings.sqlite3").exists()


def test_cache_default_directory_follows_environment(cache_dir: Path) -> None:
    assert EmbeddingCache().path == cache_dir / "embeddings" / "embeddings.sqlite3"


def test_cache_looks_up_more_keys_than_one_sql_statement_takes(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    keys = [text_key(str(i)) for i in range(1_234)]
    cache.put("m", {k: np.full(2, i, dtype=np.float32) for i, k in enumerate(keys)})
    got = cache.get("m", keys)
    assert len(got) == 1_234
    assert got[keys[1_000]][0] == 1_000


def test_resolve_store_prefers_cache_then_workspace_then_local(cache_dir: Path) -> None:
    mine = RecordingStore()

    class WithCache:
        def embedding_cache(self) -> RecordingStore:
            return mine

    class WithoutCache:
        pass

    explicit = NoCache()
    assert resolve_store(explicit, WithCache()) is explicit
    assert resolve_store(None, WithCache()) is mine
    assert isinstance(resolve_store(None, WithoutCache()), EmbeddingCache)
    assert isinstance(resolve_store(), EmbeddingCache)


# -- embed_texts ---------------------------------------------------------------------------


def test_embed_texts_encodes_only_texts_not_cached_yet() -> None:
    store, model = RecordingStore(), CountingEmbedder()
    week1 = [f"trace {i}" for i in range(90)]
    first = embed_texts(week1, model, cache=store, show_progress=False)
    week2 = week1 + [f"new trace {i}" for i in range(10)]  # an incremental week: 10% new
    model.calls.clear()
    second = embed_texts(week2, model, cache=store, show_progress=False)
    assert sorted(model.encoded) == sorted(f"new trace {i}" for i in range(10))
    np.testing.assert_array_equal(second[:90], first)
    assert second.dtype == np.float32 and second.shape == (100, 3)


def test_embed_texts_encodes_identical_texts_once_and_keeps_order() -> None:
    model = CountingEmbedder()
    texts = ["b", "a", "b", "b", "a"]
    vectors = embed_texts(texts, model, cache=NoCache(), show_progress=False)
    assert sorted(model.encoded) == ["a", "b"]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[1], vectors[4])


def test_embed_texts_stores_each_chunk_so_an_interrupted_run_resumes() -> None:
    store = RecordingStore()
    texts = [f"text number {i}" for i in range(25)]
    with pytest.raises(KeyboardInterrupt):
        embed_texts(texts, CountingEmbedder(fail_on_call=3), cache=store, chunk_size=10)
    assert len(store.data) == 20
    again = CountingEmbedder()
    embed_texts(texts, again, cache=store, chunk_size=10, show_progress=False)
    assert len(again.encoded) == 5


def test_embed_texts_uses_the_workspace_store(cache_dir: Path) -> None:
    store = RecordingStore()

    class Workspace:
        def embedding_cache(self) -> RecordingStore:
            return store

    embed_texts(["a", "b"], CountingEmbedder(), workspace=Workspace(), show_progress=False)
    assert len(store.data) == 2
    assert not cache_dir.exists()


def test_embed_texts_with_precomputed_vectors_skips_the_cache() -> None:
    store = RecordingStore()
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = embed_texts(["x", "x", "y"], PrecomputedEmbedder(rows), cache=store)
    np.testing.assert_array_equal(out, rows)  # aligned rows, even for identical texts
    assert store.puts == 0


def test_embed_texts_empty_input_gives_an_empty_matrix() -> None:
    assert embed_texts([], CountingEmbedder(), cache=NoCache()).shape == (0, 0)


@pytest.mark.parametrize(
    ("texts", "error"),
    [("just one string", TypeError), (["ok", None], TypeError), (["ok", 3], TypeError)],
)
def test_embed_texts_rejects_what_is_not_a_list_of_str(texts: Any, error: type) -> None:
    with pytest.raises(error, match="str"):
        embed_texts(texts, CountingEmbedder(), cache=NoCache())


def test_embed_texts_rejects_wrong_shapes_and_nan_from_an_embedder() -> None:
    class Broken:
        model_id = "broken"

        def __init__(self, out: np.ndarray) -> None:
            self.out = out

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return self.out

    with pytest.raises(ValueError, match="shape"):
        embed_texts(["a", "b"], Broken(np.zeros((1, 3))), cache=NoCache())
    with pytest.raises(ValueError, match="non-finite"):
        embed_texts(["a"], Broken(np.array([[np.nan, 1.0]])), cache=NoCache())


# -- PrecomputedEmbedder -------------------------------------------------------------------


def test_precomputed_from_a_dict_looks_texts_up() -> None:
    embedder = PrecomputedEmbedder({"a": [1.0, 0.0], "b": np.array([0.0, 2.0])})
    np.testing.assert_array_equal(embedder.encode(["b", "a", "b"]), [[0, 2], [1, 0], [0, 2]])
    with pytest.raises(KeyError, match="1 of 2 texts"):
        embedder.encode(["a", "missing"])


def test_precomputed_from_a_dataframe_by_index() -> None:
    wide = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=["a", "b"])
    column = pd.DataFrame(
        {"vector": [np.array([1.0, 2.0]), np.array([3.0, 4.0])]}, index=["a", "b"]
    )
    for frame in (wide, column):
        np.testing.assert_array_equal(
            PrecomputedEmbedder(frame).encode(["b", "a"]), [[3, 4], [1, 2]]
        )


def test_precomputed_array_must_have_one_row_per_text() -> None:
    with pytest.raises(ValueError, match="one row per text"):
        PrecomputedEmbedder(np.zeros((3, 2))).encode(["a", "b"])


# -- LiteLLMEmbedder -------------------------------------------------------------------------


def test_litellm_embedder_calls_the_llm_module_and_normalises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench import llm

    seen: dict[str, Any] = {}

    def fake_embed(texts: Sequence[str], *, model: str | None = None, **kw: Any) -> np.ndarray:
        seen.update(texts=list(texts), model=model)
        return np.array([[3.0, 4.0]] * len(texts), dtype=np.float32)

    monkeypatch.setattr(llm, "embed", fake_embed)
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small")
    out = embed_texts(["hi", "yo"], embedder, cache=NoCache(), show_progress=False)
    assert seen["model"] == "openai/text-embedding-3-small"
    assert sorted(seen["texts"]) == ["hi", "yo"]
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.6, 0.8]])
    assert embedder.model_id == "litellm:openai/text-embedding-3-small"


# -- SentenceTransformerEmbedder -------------------------------------------------------------


def test_dtype_is_checked_and_named_in_the_model_id(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="dtype"):
        _ = SentenceTransformerEmbedder(dtype="float16").model_id
    assert SentenceTransformerEmbedder(dtype="float32").model_id == embed.DEFAULT_MODEL_ID
    assert SentenceTransformerEmbedder(dtype="bfloat16").model_id.endswith("@bfloat16")
    monkeypatch.setattr(embed, "fast_bf16_available", lambda: False)
    assert SentenceTransformerEmbedder().precision == "float32"
    monkeypatch.setattr(embed, "fast_bf16_available", lambda: True)
    assert SentenceTransformerEmbedder().precision == "bfloat16"


def test_init_stores_arguments_and_loads_nothing() -> None:
    embedder = SentenceTransformerEmbedder(batch_size=4)
    assert embedder.batch_size == 4
    assert "_model" not in embedder.__dict__


def test_minilm_gives_normalised_384_vectors_for_any_text(
    minilm: SentenceTransformerEmbedder,
) -> None:
    texts = ["Where is my order?", "", "Paket immer noch nicht da 📦", "x" * 200_000, "注文はどこ"]
    vectors = minilm.encode(texts)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(minilm.encode(texts[:1]), minilm.encode(texts[:1]))


def test_minilm_puts_similar_texts_near(minilm: SentenceTransformerEmbedder) -> None:
    a, b, c = minilm.encode(
        ["I want my money back", "please refund my purchase", "which size fits me"]
    )
    assert a @ b > a @ c


def test_embed_texts_default_embedder_caches_on_disk(cache_dir: Path) -> None:
    vectors = embed_texts(["hello there"], show_progress=False)
    assert vectors.shape == (1, 384)
    model_id = SentenceTransformerEmbedder().model_id
    assert EmbeddingCache().get(model_id, [text_key("hello there")])


def _real_texts() -> list[str]:
    rows = [json.loads(line) for line in (SHARED / "hw2_query_response.jsonl").open()]
    queries = pd.read_csv(SHARED / "hw3_dietary_queries.csv")["query"].tolist()
    return [r["response"] for r in rows] + queries


@pytest.mark.slow
@pytest.mark.skipif(not fast_bf16_available(), reason="this CPU has no native bfloat16")
@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared recipe-chatbot data is missing")
def test_bf16_neighbours_agree_with_float32() -> None:
    """Guards the bf16 default: neighbours must stay what float32 says they are."""
    texts = _real_texts()
    assert len(texts) >= 300
    fp32 = SentenceTransformerEmbedder(dtype="float32", batch_size=32, show_progress=False)
    bf16 = SentenceTransformerEmbedder(dtype="bfloat16", batch_size=32, show_progress=False)
    top = {}
    for name, embedder in (("fp32", fp32), ("bf16", bf16)):
        vectors = embedder.encode(texts)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        top[name] = np.argsort(-sims, axis=1)[:, :10]
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(top["fp32"], top["bf16"], strict=True)]
    assert np.mean(overlap) >= 0.97, np.mean(overlap)
