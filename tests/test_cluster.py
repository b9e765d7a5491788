from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from embed_fixtures import (  # noqa: F401 (fixtures are found by name)
    blobs,
    cache_dir_fixture,
    minilm_fixture,
    topic_traces,
)
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from workbench import keywords, views
from workbench.cluster import (
    NOISE_NAME,
    ClusteringWarning,
    ClusterRun,
    HDBSCANClusterer,
    NoReduction,
    UMAPReducer,
    attach_noise,
    cluster,
    cluster_summary,
    default_min_cluster_size,
    nearest_neighbours,
    warm_up,
)
from workbench.embed import NoCache, PrecomputedEmbedder, SentenceTransformerEmbedder


@pytest.fixture(name="warm", scope="module")
def warm_fixture() -> None:
    """UMAP's numba code compiles once (about 5 s); do it in set-up, not in a test."""
    warm_up()


def frame(n: int, texts: list[str] | None = None) -> pd.DataFrame:
    texts = texts if texts is not None else [f"reply {i}" for i in range(n)]
    return pd.DataFrame({"trace_id": [f"t{i}" for i in range(n)], "output": texts})


def cluster_blobs(sizes: list[int], **kw: Any) -> pd.DataFrame:
    traces = frame(sum(sizes))
    return cluster(traces, text="output", embedder=PrecomputedEmbedder(blobs(sizes)), **kw)


def agent_trace(**extra: Any) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup_order"}}
    call["function"]["arguments"] = '{"order_id": "A-1"}'
    messages = [
        {"role": "system", "content": "You are a helpful agent. " * 50},
        {"role": "user", "content": "Where is <b>my</b> order?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped", "eta": "Fri"}'},
        {"role": "assistant", "content": "It ships Friday."},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "You're welcome!"},
    ]
    tool_calls = [
        {"id": "c1", "name": "lookup_order", "arguments": '{"order_id": "A-1"}', "result": None}
    ]
    tool_calls[0]["result"] = '{"status": "shipped", "eta": "Fri"}'
    row = {"trace_id": "a1", "input": "thanks", "output": "You're welcome!", "messages": messages}
    return row | {"tool_calls": tool_calls} | extra


# -- views -------------------------------------------------------------------------------------


def test_views_read_the_right_parts_of_an_agent_trace() -> None:
    traces = pd.DataFrame([agent_trace(note="made up the date", error="timeout")])
    text = {name: views.text_view(traces, name).iloc[0] for name in views.VIEWS}
    assert text["output"] == "You're welcome!"
    assert text["input"] == "thanks"
    assert text["assistant_turns"] == "It ships Friday.\nYou're welcome!"
    assert text["user_turns"] == "Where is <b>my</b> order?\nthanks"
    assert text["tools"] == "lookup_order(order_id A-1) -> status shipped, eta Fri\nerror: timeout"
    assert text["tool_errors"] == "error: timeout"
    assert text["note"] == "made up the date"
    assert "helpful agent" not in text["conversation"]  # the system prompt is left out
    assert "tool: status shipped" in text["conversation"]
    assert "lookup_order(order_id A-1)" in text["conversation"]


def test_auto_view_is_tools_for_agents_and_assistant_turns_otherwise() -> None:
    agents = pd.DataFrame([agent_trace(trace_id=f"a{i}") for i in range(3)])
    assert views.resolve_view(agents) == "tools"
    assert views.text_view(agents).name == "tools"
    chat = frame(3)
    assert views.resolve_view(chat) == "assistant_turns"
    assert views.text_view(chat).tolist() == ["reply 0", "reply 1", "reply 2"]


def test_views_without_messages_fall_back_on_input_and_output() -> None:
    traces = pd.DataFrame({"trace_id": ["a"], "input": ["hi"], "output": ["hello"]})
    assert views.text_view(traces, "conversation").iloc[0] == "user: hi\nassistant: hello"
    with pytest.raises(ValueError, match="tool_calls"):
        views.text_view(traces, "tools")
    with_messages = traces.assign(messages=[[{"role": "user", "content": "hi"}]])
    assert views.text_view(with_messages, "tools").iloc[0] == views.NO_TOOL_CALLS


def test_a_view_needing_a_missing_column_names_it() -> None:
    with pytest.raises(ValueError, match="'note'"):
        views.text_view(frame(2), "note")
    with pytest.raises(ValueError, match="unknown view 'outputs'"):
        views.text_view(frame(2), "outputs")


def test_function_views_get_a_dict_row_and_must_return_str() -> None:
    traces = frame(2)
    upper = views.text_view(traces, lambda row: row["output"].upper())
    assert upper.tolist() == ["REPLY 0", "REPLY 1"]
    with pytest.raises(TypeError, match="trace 't0'"):
        views.text_view(traces, lambda row: 3)  # type: ignore[arg-type, return-value]


def test_long_texts_keep_head_and_tail() -> None:
    text = "START " + "x" * 5_000 + " END"
    cut = views.text_view(frame(1, [text]), "output").iloc[0]
    assert len(cut) <= views.MAX_CHARS + 10
    assert cut.startswith("START") and cut.endswith("END") and " [...] " in cut
    assert views.truncate("abc", 3) == "abc"
    with pytest.raises(ValueError):
        views.truncate("abc", 0)


def test_compact_json_flattens_valid_json_and_keeps_malformed_json() -> None:
    assert views.compact_json('{"a": {"b": [1, 2]}, "c": null}') == "a b 1; 2, c null"
    assert views.compact_json('{"a": 1,}') == '{"a": 1,}'
    assert views.compact_json({"k": "v"}) == "k v"


def test_check_trace_ids_names_repeated_ids() -> None:
    with pytest.raises(ValueError, match="'t1'"):
        views.check_trace_ids(pd.DataFrame({"trace_id": ["t1", "t2", "t1"]}))
    with pytest.raises(ValueError, match="empty"):
        views.check_trace_ids(pd.DataFrame({"trace_id": []}))


# -- parts -----------------------------------------------------------------------------------


def test_exact_neighbours_match_brute_force() -> None:
    X = np.random.default_rng(1).normal(size=(300, 12))
    idx, dist = nearest_neighbours(X, 6, "cosine")
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.testing.assert_array_equal(idx[:, 0], np.arange(300))
    np.testing.assert_array_equal(idx, np.argsort(-sims, axis=1, kind="stable")[:, :6])
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, axis=1), atol=1e-5)
    _, e_dist = nearest_neighbours(X, 4, "euclidean")
    full = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.testing.assert_allclose(e_dist, np.sort(full, axis=1)[:, :4], atol=1e-4)


def test_attach_noise_needs_a_clear_majority() -> None:
    points = np.array([[0.0], [0.1], [0.2], [0.15], [5.0], [5.1], [2.6]])
    labels = np.array([0, 0, 0, -1, 1, 1, -1])
    attached = attach_noise(points, labels, share=0.5, k=3)
    assert attached.tolist() == [0, 0, 0, 0, 1, 1, -1]
    assert labels.tolist() == [0, 0, 0, -1, 1, 1, -1]  # the input is left alone


def test_default_min_cluster_size_scales_with_n() -> None:
    sizes = [default_min_cluster_size(n) for n in (10, 1_200, 10_000, 1_000_000)]
    assert sizes == [8, 12, 100, 200]


def test_components_store_their_arguments_only() -> None:
    reducer = UMAPReducer(n_components=3, random_state=7)
    clusterer = HDBSCANClusterer(min_cluster_size=4)
    assert vars(reducer)["n_components"] == 3 and not hasattr(reducer, "embedding_")
    assert not hasattr(clusterer, "labels_")


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_umap_reducer_handles_tiny_inputs(n: int, warm: None) -> None:
    out = UMAPReducer(n_components=2).fit_transform(np.random.default_rng(0).normal(size=(n, 8)))
    assert out.shape == (n, 2) and np.isfinite(out).all()


# -- cluster ---------------------------------------------------------------------------------


def test_cluster_finds_separate_groups_and_keeps_trace_order(warm: None) -> None:
    found = cluster_blobs([40, 30, 20], show_progress=False)
    assert list(found.columns) == ["trace_id", "cluster", "x", "y", "is_noise", "keywords"]
    assert found["trace_id"].tolist() == [f"t{i}" for i in range(90)]
    truth = [0] * 40 + [1] * 30 + [2] * 20
    assert adjusted_rand_score(truth, found["cluster"]) > 0.95
    assert found["cluster"].value_counts().index[0] == 0  # cluster 0 is the largest
    assert found["cluster"].dtype == np.int64 and found["is_noise"].dtype == bool


def test_cluster_is_reproducible_with_the_same_random_state(warm: None) -> None:
    first = cluster_blobs([30, 30], random_state=3, show_progress=False)
    again = cluster_blobs([30, 30], random_state=3, show_progress=False)
    pd.testing.assert_frame_equal(first, again)


def test_cluster_keeps_the_run_in_attrs_shared_not_copied(warm: None) -> None:
    found = cluster_blobs([30, 30], show_progress=False)
    run = found.attrs["cluster_run"]
    assert isinstance(run, ClusterRun)
    assert run.embeddings.shape == (60, 16) and not run.embeddings.flags.writeable
    assert run.trace_ids[0] == "t0" and run.view == "output" and run.model_id == "precomputed"
    assert copy.deepcopy(found).attrs["cluster_run"] is run
    assert found[found["cluster"] == 0].attrs["cluster_run"] is run
    assert pd.concat([found, found]).attrs["cluster_run"] is run


class FixedLabels:
    """A clusterer that returns given labels (some noise), to test what cluster() does next."""

    def __init__(self, labels: list[int]) -> None:
        self.labels = labels

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return np.array(self.labels)


def test_noise_keeps_is_noise_after_joining_a_cluster() -> None:
    vectors = blobs([20, 20])
    central = [int(np.argmax(vectors[:20, 0])), 20 + int(np.argmax(vectors[20:, 1]))]
    labels = [0] * 20 + [1] * 20
    for point in central:  # the most central point of each blob, called noise
        labels[point] = -1
    kw: dict[str, Any] = {
        "text": "output",
        "embedder": PrecomputedEmbedder(vectors),
        "reducer": NoReduction(),
        "map_reducer": NoReduction(),
        "clusterer": FixedLabels(labels),
        "show_progress": False,
    }
    raw = cluster(frame(40), attach=None, **kw)
    attached = cluster(frame(40), **kw)
    assert (raw["cluster"] == -1).sum() == 2 and raw["is_noise"].sum() == 2
    assert attached["is_noise"].tolist() == raw["is_noise"].tolist()
    assert (attached["cluster"] == -1).sum() == 0  # inside their blobs: they join
    assert attached["cluster"][central].tolist() == [0, 1]


def test_cluster_accepts_other_reducers_and_clusterers(warm: None) -> None:
    traces, vectors = frame(60), blobs([30, 30])
    found = cluster(
        traces,
        text="output",
        embedder=PrecomputedEmbedder(vectors),
        reducer=NoReduction(),
        clusterer=KMeans(n_clusters=2, n_init=3, random_state=0),
        map_reducer=NoReduction(),
        show_progress=False,
    )
    assert sorted(found["cluster"].unique()) == [0, 1] and not found["is_noise"].any()
    np.testing.assert_allclose(found["x"], vectors[:, 0])


def test_min_cluster_size_goes_to_the_default_clusterer_only() -> None:
    with pytest.raises(ValueError, match="min_cluster_size"):
        cluster(frame(3), clusterer=KMeans(2), min_cluster_size=5)


@pytest.mark.parametrize(
    ("traces", "message"),
    [
        (frame(0), "empty"),
        (pd.DataFrame({"trace_id": ["a", "b", "a"], "output": ["x", "y", "z"]}), "'a'"),
        (pd.DataFrame({"output": ["x"]}), "trace_id"),
    ],
)
def test_cluster_rejects_empty_tables_and_repeated_ids(traces: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cluster(traces, text="output", embedder=PrecomputedEmbedder({}))


def test_fewer_traces_than_a_cluster_are_all_noise_said_plainly(warm: None) -> None:
    with pytest.warns(ClusteringWarning, match="fewer than min_cluster_size"):
        found = cluster_blobs([3, 2], show_progress=False)
    assert (found["cluster"] == -1).all() and found["is_noise"].all()
    assert np.isfinite(found[["x", "y"]].to_numpy()).all()


def test_identical_texts_make_one_cluster(warm: None) -> None:
    traces = frame(40, ["same reply"] * 40)
    embedder = PrecomputedEmbedder({"same reply": np.ones(8)})
    found = cluster(traces, text="output", embedder=embedder, show_progress=False)
    assert (found["cluster"] == 0).all()
    assert found[["x", "y"]].drop_duplicates().shape[0] == 1


@pytest.fixture(name="topics", scope="module")
def topics_fixture(minilm: SentenceTransformerEmbedder, warm: None) -> tuple[pd.DataFrame, Any]:
    """Three topics (and a one-off multilingual reply) clustered with the real model, once."""
    traces = topic_traces(per_topic=30, extra=["Ciao! 😀 ¿Dónde está mi pedido? 注文"])
    return traces, cluster(traces, embedder=minilm, cache=NoCache(), show_progress=False)


def test_cluster_with_minilm_separates_topics(topics: tuple[pd.DataFrame, Any]) -> None:
    traces, found = topics
    clustered = found["cluster"] >= 0
    assert homogeneity_score(traces["topic"][clustered], found["cluster"][clustered]) > 0.95
    assert found["is_noise"].mean() < 0.2


# -- summary and keywords --------------------------------------------------------------------


def test_ctfidf_ranks_words_distinctive_of_each_cluster() -> None:
    texts = ["refund my money", "refund it now", "the size chart", "size help please", "zzz"]
    words = keywords.ctfidf(texts, [0, 0, 1, 1, -1], n_words=1)
    assert words == {-1: ["zzz"], 0: ["refund"], 1: ["size"]}
    assert keywords.ctfidf(["the and", "of"], [0, 1]) == {0: [], 1: []}  # stop words only
    assert "12345" not in keywords.ctfidf(["order 12345 late"] * 2, [0, 0])[0]


def test_summary_has_noise_first_and_cluster_rows(topics: tuple[pd.DataFrame, Any]) -> None:
    traces, found = topics
    summary = cluster_summary(found, traces)
    assert summary["size"].sum() == len(traces)
    assert summary["share"].sum() == pytest.approx(1.0)
    clusters = summary[summary["cluster"] >= 0]
    assert clusters["size"].is_monotonic_decreasing
    if (found["cluster"] == -1).any():
        assert summary.iloc[0]["name"] == NOISE_NAME
    for row in clusters.itertuples():
        members = set(found.loc[found["cluster"] == row.cluster, "trace_id"])
        assert len(row.representatives) == 3 and set(row.representatives) <= members
        topic = traces.set_index("trace_id").loc[row.representatives[0], "topic"]
        if topic == "refund":
            assert "refund" in row.keywords
    assert "failure_rate" not in summary


def test_summary_failure_rates_from_verdicts(warm: None) -> None:
    found = cluster_blobs([30, 20], show_progress=False)
    traces = frame(50).assign(verdict=["fail"] * 15 + ["pass"] * 15 + [None] * 20)
    summary = cluster_summary(found, traces).set_index("cluster")
    assert summary.loc[0, "labelled"] == 30 and summary.loc[0, "failure_rate"] == 0.5
    assert summary.loc[1, "labelled"] == 0 and np.isnan(summary.loc[1, "failure_rate"])
    labels = pd.DataFrame(
        {
            "trace_id": ["t30", "t30", "t31"],
            "verdict": ["pass", "fail", "fail"],
            "labelled_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01"]),
        }
    )
    by_labels = cluster_summary(found, traces, labels=labels).set_index("cluster")
    assert by_labels.loc[1, "labelled"] == 2 and by_labels.loc[1, "failure_rate"] == 1.0


def test_summary_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        cluster_summary(pd.DataFrame({"trace_id": [], "cluster": [], "x": [], "y": []}))


def test_summary_without_attrs_needs_the_traces(warm: None) -> None:
    found = cluster_blobs([30, 20], show_progress=False)
    plain = pd.DataFrame(found.to_dict("list"))  # as if read back from a file
    with pytest.raises(ValueError, match="pass the traces"):
        cluster_summary(plain)
    assert cluster_summary(plain, frame(50))["size"].sum() == 50


def test_summary_titles_ask_the_llm(monkeypatch: pytest.MonkeyPatch, warm: None) -> None:
    from workbench import llm

    prompts: list[str] = []

    class Answer:
        text = "Order lookups\nextra line"

    def fake_complete(prompt: str, **kw: Any) -> Answer:
        prompts.append(prompt)
        return Answer()

    monkeypatch.setattr(llm, "complete", fake_complete)
    found = cluster_blobs([30, 20], show_progress=False)
    summary = cluster_summary(found, titles=True, model="openai/gpt-4o-mini")
    assert (summary.loc[summary["cluster"] >= 0, "title"] == "Order lookups").all()
    assert len(prompts) == 2 and "[BEGIN DATA]" in prompts[0] and "reply" in prompts[0]


def test_summary_titles_without_a_model_raise_the_llm_error(
    monkeypatch: pytest.MonkeyPatch, warm: None
) -> None:
    from workbench import llm

    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    found = cluster_blobs([30, 20], show_progress=False)
    with llm.configured(model=None), pytest.raises(llm.ModelNotConfigured):
        cluster_summary(found, titles=True)


def test_cluster_on_sample_agent_traces_uses_the_tools_view(
    cache_dir: Any, minilm: SentenceTransformerEmbedder, warm: None
) -> None:
    rows = [agent_trace(trace_id=f"a{i}") for i in range(12)]
    for i, row in enumerate(rows):
        row["tool_calls"] = [dict(row["tool_calls"][0], arguments=json.dumps({"order_id": i}))]
    traces = pd.DataFrame(rows)
    with pytest.warns(ClusteringWarning):
        found = cluster(traces, embedder=minilm, min_cluster_size=20, show_progress=False)
    assert found.attrs["cluster_run"].view == "tools"
