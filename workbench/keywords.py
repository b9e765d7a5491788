"""Describe clusters: c-TF-IDF keywords, representative traces, failure rates, LLM titles.

:func:`cluster_summary` (also ``workbench.cluster_summary``) puts them in one table.

c-TF-IDF treats all texts of a cluster as one document and weighs each word by how much
more often it appears there than in the other clusters: the weight of word ``w`` in
cluster ``c`` is ``tf(w, c) * log(1 + A / f(w))``, where ``tf`` is the word's share of the
cluster's words, ``f(w)`` its count over all clusters and ``A`` the average number of
words per cluster. Noise is a cluster of its own here, so its row is described too.

Examples:
    >>> ctfidf(["refund late", "refund again", "size chart", "size help"], [0, 0, 1, 1], 1)
    {0: ['refund'], 1: ['size']}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.data_fence import defuse
from workbench.llm_json import prompt
from workbench.traces.show import printable, reveal_bidi
from workbench.views import DEFAULT_VIEW, text_view

NOISE_NAME = "unclustered / novel"
"""The name of the traces no cluster claims: a stratum of its own, never hidden."""

TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W_]+\b"
"""Words of two or more characters starting with a letter: drops numbers and ids like 12345."""

TITLE_CHARS = 80
"""The longest title kept from a model's answer; a longer one is cut, ending in ``…``."""


def ctfidf(
    texts: Sequence[str], labels: Sequence[int] | npt.NDArray[Any], n_words: int = 8
) -> dict[int, list[str]]:
    """Return the top ``n_words`` c-TF-IDF keywords of each cluster label (noise included).

    English stop words are left out. A label whose texts have no words gets ``[]``.

    Examples:
        >>> ctfidf(["where is my parcel", "parcel late", "hello"], [0, 0, -1], 1)
        {-1: ['hello'], 0: ['parcel']}
    """
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    classes = [int(c) for c in np.unique(labels)]
    if len(texts) == 0:
        return {}
    min_df = 2 if len(texts) >= 50 else 1
    vectorizer = CountVectorizer(stop_words="english", token_pattern=TOKEN_PATTERN, min_df=min_df)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no words at all (empty texts, or only stop words)
        return {c: [] for c in classes}
    words = vectorizer.get_feature_names_out()
    onehot = np.equal.outer(np.asarray(classes), labels).astype(np.float64)
    per_class = np.asarray(onehot @ counts)  # classes x vocabulary
    totals = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.where(totals > 0, totals, 1.0)
    idf = np.log(1.0 + totals.mean() / np.maximum(per_class.sum(axis=0), 1.0))
    weights = tf * idf
    top: dict[int, list[str]] = {}
    for row, label in enumerate(classes):
        best = np.argsort(-weights[row], kind="stable")[:n_words]
        top[label] = [str(words[i]) for i in best if weights[row, i] > 0]
    return top


def representatives(
    vectors: npt.NDArray[Any], labels: npt.NDArray[Any], ids: Sequence[str], n: int = 3
) -> dict[int, list[str]]:
    """The ``n`` trace ids closest to each cluster's centroid (noise: to the noise centroid).

    Examples:
        >>> vecs = np.array([[0.0], [1.0], [2.0], [10.0]])
        >>> representatives(vecs, np.array([0, 0, 0, 1]), ["a", "b", "c", "d"], n=1)
        {0: ['b'], 1: ['d']}
    """
    out: dict[int, list[str]] = {}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centre = vectors[members].mean(axis=0)
        distance = np.linalg.norm(vectors[members] - centre, axis=1)
        nearest = members[np.argsort(distance, kind="stable")[:n]]
        out[int(label)] = [ids[i] for i in nearest]
    return out


def verdicts(traces: pd.DataFrame | None, labels: pd.DataFrame | None) -> pd.Series | None:
    """Each labelled trace's verdict (``"pass"``/``"fail"``), indexed by trace id.

    From ``labels`` (``trace_id``, ``verdict``; with several rows per trace, the last one, by
    ``labelled_at`` when present) or else a ``verdict`` column of ``traces``. None when
    neither has verdicts.
    """
    source = labels if labels is not None else traces
    if source is None or "verdict" not in source.columns:
        if labels is not None:
            raise ValueError(f"labels need a 'verdict' column (columns: {list(labels.columns)})")
        return None
    table = source[["trace_id", "verdict"] + (["labelled_at"] if "labelled_at" in source else [])]
    if "labelled_at" in table:
        table = table.sort_values("labelled_at", kind="stable")
    table = table.dropna(subset=["verdict"]).drop_duplicates("trace_id", keep="last")
    values = table["verdict"].astype(str).str.lower()
    return pd.Series(values.to_numpy(), index=table["trace_id"].astype(str), name="verdict")


def failure_rates(
    ids: Sequence[str], labels: npt.NDArray[Any], verdict: pd.Series
) -> tuple[dict[int, int], dict[int, float]]:
    """Labelled traces and the share of them that fail, per cluster."""
    frame = pd.DataFrame({"cluster": labels, "verdict": verdict.reindex(list(ids)).to_numpy()})
    judged = frame[frame["verdict"].isin(["pass", "fail"])]
    count = judged.groupby("cluster").size()
    rate = judged.assign(fail=judged["verdict"] == "fail").groupby("cluster")["fail"].mean()
    return (
        {int(str(k)): int(v) for k, v in count.items()},
        {int(str(k)): float(v) for k, v in rate.items()},
    )


def llm_titles(
    words: dict[int, list[str]],
    examples: dict[int, list[str]],
    model: str | None = None,
) -> dict[int, str]:
    """Ask an LLM for a short title per cluster (noise excluded), through ``workbench.llm``.

    The prompt is ``workbench/prompts/cluster_title.md``; the keywords and example texts
    fill its data fence, with fence markers in them defused, so trace text can not pose as
    instructions. The answer is read by :func:`clean_title`. A cluster whose call fails
    (after the door's retries) or whose answer is empty gets ``"(no title: <why>)"``
    instead, so one bad answer does not cost the whole summary.

    Raises:
        workbench.llm.ModelNotConfigured: no model is given or configured.
    """
    from workbench import llm

    model = model or llm.require_model("cluster titles (cluster_summary(titles=True))")
    clusters = [c for c in sorted(words) if c >= 0]
    template = prompt("cluster_title.md")
    prompts = [
        template.substitute(
            keywords=defuse(", ".join(words[c])),
            examples="\n\n".join(
                f"Conversation {i + 1}:\n{defuse(t)}" for i, t in enumerate(examples[c])
            ),
        )
        for c in clusters
    ]
    titles = {}
    for label, text in zip(clusters, prompts, strict=True):
        try:  # one cluster the model can not title leaves the others their titles
            answer = llm.complete(text, model=model, temperature=0).text
        except llm.LLMCallError as exc:
            titles[label] = f"(no title: {str(exc).splitlines()[0][:200]})"
            continue
        titles[label] = clean_title(answer) or "(no title: the model gave an empty answer)"
    return titles


def clean_title(answer: str, limit: int = TITLE_CHARS) -> str:
    r"""A title from a model's answer: its first line, cut to ``limit`` characters, inert.

    Titles are shown in the map legend, summaries and terminals, so bidi controls become
    ``[U+202E]`` marks and other unprintable characters (ANSI escapes, NUL) ``\x1b``-style
    escapes; quotes, ``*`` and ``#`` around the line are dropped. Empty when the answer is.

    Examples:
        >>> clean_title('"Refund questions"\nThese ask about refunds.')
        'Refund questions'
        >>> clean_title("\x1b[31mLate\u202e parcels\x1b[0m")
        '\\x1b[31mLate[U+202E] parcels\\x1b[0m'
    """
    lines = answer.strip().splitlines()
    first = lines[0].strip(" \t\"'*#") if lines else ""
    shown = " ".join(printable(reveal_bidi(first)).split())
    return shown if len(shown) <= limit else shown[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, eq=False)
class ClusterRun:
    """What :func:`workbench.cluster` computed besides the table.

    Kept in ``clusters.attrs["cluster_run"]``, and shared, not copied, by the frames pandas
    derives from the table (the arrays are read-only).
    """

    trace_ids: tuple[str, ...]
    """Trace ids, in the order of the rows below."""
    texts: tuple[str, ...]
    """The embedded text of each trace (the view, truncated)."""
    view: str
    """The view's name (a function's name for a custom view)."""
    model_id: str
    """The embedding model."""
    embeddings: npt.NDArray[np.float32]
    """One vector per trace."""
    reduced: npt.NDArray[Any]
    """The reduced vectors that were clustered."""
    raw_noise_share: float
    """Share of traces the clusterer left as noise, before :func:`attach_noise`."""
    min_cluster_size: int | None
    """The clusterer's min_cluster_size, where it has one."""

    def __deepcopy__(self, memo: dict[int, Any]) -> ClusterRun:
        return self

    @classmethod
    def of(
        cls,
        ids: list[str],
        texts: pd.Series,
        model_id: str,
        vectors: npt.NDArray[Any],
        reduced: npt.NDArray[Any],
        raw_labels: npt.NDArray[Any],
        clusterer: Any,
    ) -> ClusterRun:
        """Record a run (``texts`` is the view's output, named after the view)."""
        embeddings = np.asarray(vectors, dtype=np.float32)
        embeddings.flags.writeable = False
        return cls(
            trace_ids=tuple(ids),
            texts=tuple(texts.tolist()),
            view=str(texts.name),
            model_id=model_id,
            embeddings=embeddings,
            reduced=reduced,
            raw_noise_share=float(np.mean(raw_labels == -1)),
            min_cluster_size=getattr(clusterer, "min_cluster_size_", None),
        )

    def rows(self, trace_ids: Any) -> npt.NDArray[np.int64]:
        """Positions of these trace ids in the arrays."""
        where = {t: i for i, t in enumerate(self.trace_ids)}
        return np.array([where[t] for t in trace_ids], dtype=np.int64)


def cluster_summary(
    clusters: pd.DataFrame,
    traces: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    titles: bool = False,
    model: str | None = None,
    n_keywords: int = 8,
) -> pd.DataFrame:
    """One row per cluster: size, share, keywords, representative traces, failure rate.

    Args:
        clusters: the result of :func:`workbench.cluster` (or rows of it).
        traces: the trace table; its ``verdict`` column gives failure rates, and its text
            the keywords when ``clusters`` has lost its ``attrs`` (e.g. read from a file).
        labels: verdicts (``trace_id``, ``verdict`` pass/fail), e.g. ``ws.labels()``.
        titles: ask an LLM (:func:`workbench.llm.complete`) for a short title per cluster.
        model: the LLM for titles; default the configured one.
        n_keywords: keywords per cluster.

    Returns:
        ``cluster``, ``name``, ``size``, ``share``, ``keywords`` (list), ``representatives``
        (3 trace ids closest to the centroid), then ``labelled`` and ``failure_rate`` when
        verdicts exist, and ``title`` when asked. The noise row (``cluster`` -1) comes first,
        named :data:`NOISE_NAME`; the clusters follow, largest first.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")
        >>> summary = wb.cluster_summary(wb.cluster(traces), traces)
        >>> summary.loc[0, "name"]
        'unclustered / novel'
    """
    if len(clusters) == 0:
        raise ValueError("there are no clustered traces to summarise (the table is empty)")
    ids = clusters["trace_id"].astype(str).tolist()
    found = clusters["cluster"].to_numpy(dtype=np.int64)
    run = clusters.attrs.get("cluster_run")
    run = run if isinstance(run, ClusterRun) and set(ids) <= set(run.trace_ids) else None
    texts = _texts_for(ids, traces, run)
    where = run.embeddings[run.rows(ids)] if run else clusters[["x", "y"]].to_numpy()
    words = ctfidf(texts, found, n_keywords)
    examples = representatives(where, found, ids)
    sizes = pd.Series(found).value_counts()
    order = [c for c in [-1, *range(int(found.max()) + 1)] if c in sizes.index]
    table = pd.DataFrame(
        {
            "cluster": order,
            "name": [_name(c, words.get(c, [])) for c in order],
            "size": [int(sizes[c]) for c in order],
            "share": [float(sizes[c]) / len(found) for c in order],
            "keywords": [words.get(c, []) for c in order],
            "representatives": [examples[c] for c in order],
        }
    )
    verdict = verdicts(traces, labels)
    if verdict is not None:
        counts, rates = failure_rates(ids, found, verdict)
        table["labelled"] = [counts.get(c, 0) for c in order]
        table["failure_rate"] = [rates.get(c, np.nan) for c in order]
    if titles:
        text_of = dict(zip(ids, texts, strict=True))
        samples = {c: [text_of[t][:600] for t in examples[c]] for c in order}
        named = llm_titles(words, samples, model=model)
        table["title"] = [named.get(c, NOISE_NAME) for c in order]
    return table


def _name(label: int, words: list[str]) -> str:
    if label == -1:
        return NOISE_NAME
    return f"{label}: {', '.join(words[:3])}" if words else f"cluster {label}"


def _texts_for(ids: list[str], traces: pd.DataFrame | None, run: ClusterRun | None) -> list[str]:
    """The embedded texts when the run is at hand, else the default view of the traces."""
    if run is not None:
        return [run.texts[i] for i in run.rows(ids)]
    if traces is None:
        raise ValueError(
            "these clusters carry no texts (their attrs were lost, e.g. saved to a file): "
            "pass the traces too"
        )
    view = text_view(traces, DEFAULT_VIEW)
    by_id = dict(zip(traces["trace_id"].astype(str), view, strict=True))
    missing = [t for t in ids if t not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} clustered traces are not in traces, e.g. {missing[0]!r}")
    return [by_id[t] for t in ids]
