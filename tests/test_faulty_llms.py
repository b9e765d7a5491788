"""Every path that asks an LLM, against a server that fails in every way we know of.

Paths: ``llm.complete``, ``llm.complete_json``, ``llm.complete_many`` (with a schema),
``llm.embed``, judge validation (``wb.validate`` + ``disagreements``), drafted python checks
(``draft_check``), ``wb.suggest_failure_modes``, cluster titles (``cluster_summary``) and a
suite run of a judge with repeats. Faults (tests/fault_server.py): 429 with Retry-After,
500, a hang past the timeout, a cut JSON body, a cut event stream, invalid JSON, an HTML
page, a connection reset, ``choices: []``, empty content, null content, valid JSON of the
wrong shape.

Each case is one scripted run. One item of the path (the *victim*) gets the fault on every
request; for faults the path can recover from, one other request gets it once too. The run
must end without an unhandled exception; the other items must be graded (after retries or a
JSON repair); the victim must be "could not grade" with a reason that says what went wrong,
unless the fault is an answer the path can not tell from a real one (an empty completion
from ``llm.complete`` is an answer). For the single-answer calls (complete, complete_json,
embed, draft_check, suggest_failure_modes) "could not grade" is the typed error they
document (a :class:`~workbench.llm.WorkbenchLLMError`, or ``UnsafeCheckError`` for a draft);
batch paths keep the reason per item. The workbench never streams (``stream=`` is refused
at the door), so a cut event stream reaches it as a broken body, and is retried as one.

``benchmarks/bench_faults.py`` runs the same scenes many times with random fault mixes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llm_fixtures
import pandas as pd
import pytest
from fault_server import (
    WRONG_JSON,
    Fault,
    FaultServer,
    connection_reset,
    empty,
    hang,
    html,
    invalid_json,
    no_choices,
    null_content,
    ok,
    request_text,
    status,
    truncated,
    truncated_stream,
    wrong_json,
)
from suite_fixtures import candidate

import workbench as wb
from workbench import llm
from workbench.evalgen.alignment import LabelSet, LowLabelCountWarning, SplitPlan, disagreements
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.drafts import draft_check
from workbench.evalgen.propose import DraftRefusedWarning, label_set
from workbench.evalgen.sandbox import UnsafeCheckError
from workbench.keywords import cluster_summary
from workbench.suite import Suite
from workbench.workspace import Workspace

isolated_llm = llm_fixtures.isolated_llm
fault_server = llm_fixtures.fault_server

MODEL = "openai/fault-model"
EMBEDDER = "openai/fault-embedder"
MODE = "promised_date"
MAX_ATTEMPTS = 2
TIMEOUT_S = 0.5
SPLIT_SEED = 7  # the seed suite_fixtures.candidate records in provenance
RETRIED = r"call failed after \d+ attempts"
"""What the reason says when the door gave up on a transport or server fault."""


# ---------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultKind:
    """A way for the server to fail, and whether the LLM door treats it as transport."""

    name: str
    make: Callable[[], Fault]
    transport: bool
    """True: no usable response came back, so the door retries it; False: an answer came."""


FAULTS = (
    FaultKind("429-retry-after", lambda: status(429, retry_after="1"), True),
    FaultKind("500", lambda: status(500), True),
    FaultKind("timeout", hang, True),
    FaultKind("truncated-body", truncated, True),
    FaultKind("truncated-stream", truncated_stream, True),
    FaultKind("invalid-json", invalid_json, True),
    FaultKind("html-page", html, True),
    FaultKind("connection-reset", connection_reset, True),
    FaultKind("no-choices", no_choices, True),
    FaultKind("empty-content", empty, False),
    FaultKind("null-content", null_content, False),
    FaultKind("wrong-json", wrong_json, False),
)


# ---------------------------------------------------------------- what the paths work on


@dataclass(frozen=True)
class Result:
    """What became of one item of a path."""

    graded: bool
    reason: str = ""


@dataclass(frozen=True)
class Stage:
    """A labelled workspace and the inputs of every path, built once per module."""

    ws: Workspace
    labels: LabelSet
    judge: Candidate
    traces: pd.DataFrame
    clusters: pd.DataFrame
    cluster_traces: pd.DataFrame
    size: int
    """Items per batch path (suite traces, complete_many prompts, sequential calls)."""


def shop_traces(n: int) -> pd.DataFrame:
    """Parcel questions; odd ones promise a delivery date (the failure mode)."""
    ids = range(n)
    return pd.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in ids],
            "input": [f"Where is my parcel P{i:03d}?" for i in ids],
            "output": [
                f"Parcel P{i:03d} arrives tomorrow, guaranteed."
                if i % 2
                else f"Parcel P{i:03d} is with the carrier; I will share the scan."
                for i in ids
            ],
            "messages": [None] * n,
            "metadata": [{} for _ in ids],
            "timestamp": pd.Timestamp("2026-11-20", tz="UTC"),
        }
    )


SUGGEST_VICTIM = "[oldest note]"


def two_clusters() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cluster table without attrs (as read from a file) and its traces: parcels, refunds."""
    replies = ["Your parcel is in transit."] * 3 + ["Refunds take five days."] * 3
    traces = pd.DataFrame(
        {
            "trace_id": [f"c{i}" for i in range(6)],
            "input": ["Where is it?"] * 3 + ["I want my money back"] * 3,
            "output": replies,
            "messages": [None] * 6,
            "metadata": [{} for _ in range(6)],
            "timestamp": pd.Timestamp("2026-11-20", tz="UTC"),
        }
    )
    clusters = pd.DataFrame(
        {
            "trace_id": traces["trace_id"],
            "cluster": [0, 0, 0, 1, 1, 1],
            "x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2],
            "y": [0.0, 0.1, 0.0, 5.0, 5.1, 5.0],
        }
    )
    return clusters, traces


def build_stage(folder: Path, size: int = 3, n_traces: int = 20) -> Stage:
    """The workspace (``n_traces`` labelled traces, notes on the failing ones) and inputs."""
    traces = shop_traces(n_traces)
    ws = wb.open_workspace(folder / "ws")
    ws.add_traces(traces)
    for i, trace_id in enumerate(traces["trace_id"]):
        if i % 2:
            marker = f" {SUGGEST_VICTIM}" if i == 1 else ""
            ws.label(
                trace_id, "fail", note=f"promised a date it cannot know{marker}", annotator="ana"
            )
            ws.tag(trace_id, MODE, annotator="ana")
        else:
            ws.label(trace_id, "pass", annotator="ana")
    spec = {
        "type": "judge",
        "prompt": "Does the reply promise a delivery date it cannot know?\n\n$trace\n\n"
        "Reason first, then end with one line: VERDICT: PASS or VERDICT: FAIL.\n",
        "params": {"temperature": 0},
    }  # no model: the configured one is used
    clusters, cluster_traces = two_clusters()
    return Stage(
        ws=ws,
        labels=label_set(ws, MODE, SplitPlan(seed=SPLIT_SEED)),
        judge=candidate(f"{MODE}-judge", spec, MODE),
        traces=traces,
        clusters=clusters,
        cluster_traces=cluster_traces,
        size=size,
    )


def _marker(i: int) -> str:
    return f"[item {i:03d}]"


def _typed(call: Callable[[], object]) -> Result:
    """A single-answer call: graded when it returns, ungraded with its documented error."""
    try:
        call()
    except (llm.ModelNotConfigured, llm.BudgetExceeded):
        raise  # configuration, not a fault of the server
    except (llm.WorkbenchLLMError, UnsafeCheckError) as exc:
        return Result(False, f"{type(exc).__name__}: {exc}")
    return Result(True)


Items = list[tuple[bool, Result]]
"""(is the victim, result) per item of a run."""


# ---------------------------------------------------------------- the paths

VERDICT_SCHEMA = {
    "type": "object",
    "required": ["verdict"],
    "properties": {"verdict": {"type": "string", "enum": ["PASS", "FAIL"]}},
}


HELLO = "Hello there."


def run_complete(stage: Stage, scratch: Path) -> Items:
    def one(i: int) -> Result:
        def call() -> None:
            text = llm.complete(f"Say hello {_marker(i)}").text
            if text not in (HELLO, "", WRONG_JSON):  # what the server may send as content
                raise AssertionError(f"a broken response became the answer {text!r}")

        return _typed(call)

    return [(i == 0, one(i)) for i in range(stage.size)]


def run_complete_json(stage: Stage, scratch: Path) -> Items:
    def one(i: int) -> Result:
        return _typed(lambda: llm.complete_json(f"Judge {_marker(i)}", VERDICT_SCHEMA))

    return [(i == 0, one(i)) for i in range(stage.size)]


def run_complete_many(stage: Stage, scratch: Path) -> Items:
    prompts = [f"Judge {_marker(i)}" for i in range(stage.size)]
    done = llm.complete_many(prompts, schema=VERDICT_SCHEMA, progress=False)
    return [
        (
            i == 0,
            Result(True)
            if isinstance(d, llm.Completion) and d.parsed == {"verdict": "PASS"}
            else Result(False, f"{type(d).__name__}: {d}"),
        )
        for i, d in enumerate(done)
    ]


def run_embed(stage: Stage, scratch: Path) -> Items:
    def one(i: int) -> Result:
        def call() -> None:
            vectors = llm.embed([f"text {_marker(i)}"])
            assert vectors.shape == (1, 3), vectors.shape

        return _typed(call)

    return [(i == 0, one(i)) for i in range(stage.size)]


def run_validate(stage: Stage, scratch: Path) -> Items:
    """``wb.validate`` on dev, then the per-trace reasons from ``disagreements``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowLabelCountWarning)  # a small split, on purpose
        checked = wb.validate(stage.judge, stage.ws, "dev")
        table = disagreements(checked, stage.labels.traces, stage.labels, "dev")
    ungraded = table[table["disagreement"] == "ungraded"].set_index("trace_id")["reason"]
    if checked.metrics["dev"].ungraded != len(ungraded):
        raise AssertionError(f"validate and disagreements differ: {checked.metrics['dev']}")
    victim = stage.labels.split.dev[0]
    return [
        (t == victim, Result(False, str(ungraded[t])) if t in ungraded.index else Result(True))
        for t in stage.labels.split.dev
    ]


def _draft(stage: Stage, marker: str) -> Result:
    provenance = Provenance(MODE, "", "2026-11-20T00:00:00+00:00", split_seed=SPLIT_SEED)
    return _typed(
        lambda: draft_check(
            stage.labels,
            f"Promises a delivery date it cannot know {marker}",
            model=llm.require_model("drafted checks"),
            provenance=provenance,
        )
    )


def run_draft(stage: Stage, scratch: Path) -> Items:
    return [(i == 0, _draft(stage, _marker(i))) for i in range(stage.size)]


def run_suggest(stage: Stage, scratch: Path) -> Items:
    """All notes (the victim: they include the oldest) and all but the oldest."""
    n = int(stage.labels.failing.sum())

    def one(max_notes: int) -> Result:
        return _typed(lambda: wb.suggest_failure_modes(stage.ws, max_notes=max_notes))

    return [(True, one(n)), (False, one(n - 1))]


def run_titles(stage: Stage, scratch: Path) -> Items:
    table = cluster_summary(stage.clusters, stage.cluster_traces, titles=True)
    titled = table[table["cluster"] >= 0].set_index("cluster")["title"]
    said = {"Parcel tracking questions", WRONG_JSON}  # a title or the wrong-JSON content
    strays = [t for t in titled if not t.startswith("(no title") and t not in said]
    if strays:
        raise AssertionError(f"a broken response became a title: {strays}")
    return [
        (label == 0, Result(False, title) if title.startswith("(no title") else Result(True))
        for label, title in titled.items()
    ]


def run_suite(stage: Stage, scratch: Path) -> Items:
    suite = Suite(scratch / "evals")
    suite.add(stage.judge)
    results = suite.run(stage.traces.head(stage.size), repeats=2, progress=False)
    if not set(results["status"]) <= {"pass", "fail", "ungraded"}:
        raise AssertionError(f"unexpected statuses: {set(results['status'])}")
    if len(results) != 2 * stage.size:
        raise AssertionError(f"{len(results)} rows for {stage.size} traces x 2 repeats")
    if (results["status"] == "fail").any():
        raise AssertionError("a FAIL verdict, but the server only ever says PASS")
    victim = stage.traces["trace_id"].iloc[0]
    return [
        (row.trace_id == victim, Result(row.status == "pass", str(row.reason)))
        for row in results.itertuples()
    ]


@dataclass(frozen=True)
class LLMPath:
    """A path that asks an LLM: how to run it, what a healthy model answers, what to expect."""

    name: str
    run: Callable[[Stage, Path], Items]
    answer: str | None
    """What the server answers everything else with (None: an echo / embeddings)."""
    victim: str | Callable[[Stage], str]
    """Text found only in the victim's requests."""
    answers: Mapping[str, str | None] = field(default_factory=dict)
    """Faults this path receives as an answer: the victim's reason (a regex), or None when
    the path can not tell it from a real answer (the victim is graded)."""
    repairs: bool = False
    """A bad answer gets one repair request, so a single one is recovered from."""
    victim_calls: int = 1
    """Calls the run makes for the victim (each gets ``MAX_ATTEMPTS`` requests when retried)."""

    def victim_text(self, stage: Stage) -> str:
        return self.victim if isinstance(self.victim, str) else self.victim(stage)

    def expected_reason(self, fault: FaultKind) -> str | None:
        """The regex the victim's reasons must match; None: the victim is graded."""
        if fault.name in self.answers:
            return self.answers[fault.name]
        return RETRIED

    def retries(self, fault: FaultKind) -> bool:
        """Whether the door retries this fault on this path."""
        return fault.transport and fault.name not in self.answers

    def recovers(self, fault: FaultKind) -> bool:
        """Whether one occurrence of the fault still ends graded (retry or repair)."""
        return self.retries(fault) or (self.repairs and fault.name in self.answers)


NOT_JSON = r"did not return valid JSON after one repair attempt"
JUDGE_ANSWER = "It only reports the carrier scan.\nVERDICT: PASS"
JUDGE_REASONS = {
    "empty-content": r"empty answer",
    "null-content": r"empty answer",
    "wrong-json": r"no final verdict line",
}
JSON_REASONS = dict.fromkeys(("empty-content", "null-content", "wrong-json"), NOT_JSON)
DRAFT_ANSWER = "```python\ndef check(trace):\n    return 'tomorrow' not in trace['output']\n```"
SUGGEST_ANSWER = (
    '{"failure_modes": [{"name": "promised date", "definition": "Promises a delivery date.",'
    ' "note_ids": [0, 1]}]}'
)

PATHS = (
    LLMPath(
        "complete",
        run_complete,
        HELLO,
        _marker(0),
        answers=dict.fromkeys(("empty-content", "null-content", "wrong-json")),
    ),
    LLMPath(
        "complete_json",
        run_complete_json,
        '{"verdict": "PASS"}',
        _marker(0),
        JSON_REASONS,
        repairs=True,
    ),
    LLMPath(
        "complete_many",
        run_complete_many,
        '{"verdict": "PASS"}',
        _marker(0),
        JSON_REASONS,
        repairs=True,
    ),
    LLMPath(
        "embed",
        run_embed,
        None,
        _marker(0),
        dict.fromkeys(
            ("no-choices", "empty-content", "null-content", "wrong-json"), r"usable embeddings"
        ),
    ),
    LLMPath(
        "judge_validate",
        run_validate,
        JUDGE_ANSWER,
        lambda stage: f"P{stage.labels.split.dev[0][1:]}",  # t005 asks about parcel P005
        JUDGE_REASONS,
        victim_calls=2,  # validate, then disagreements asks again for what failed
    ),
    LLMPath(
        "draft_check",
        run_draft,
        DRAFT_ANSWER,
        _marker(0),
        dict.fromkeys(("empty-content", "null-content", "wrong-json"), r"refused python check"),
    ),
    LLMPath(
        "suggest_failure_modes",
        run_suggest,
        SUGGEST_ANSWER,
        SUGGEST_VICTIM,
        JSON_REASONS,
        repairs=True,
    ),
    LLMPath(
        "cluster_titles",
        run_titles,
        "Parcel tracking questions",
        "parcel",
        {"empty-content": r"empty answer", "null-content": r"empty answer", "wrong-json": None},
    ),
    LLMPath("suite_run", run_suite, JUDGE_ANSWER, "P000", JUDGE_REASONS, victim_calls=2),
)


# ---------------------------------------------------------------- one scripted run


@dataclass(frozen=True)
class Played:
    """What one scripted run gave."""

    items: Items
    victim_requests: int
    """Requests that carried the victim's text."""
    pending: int
    """Queued faults nobody asked for."""


def play(
    server: FaultServer,
    stage: Stage,
    path: LLMPath,
    fault: FaultKind,
    scratch: Path,
    extra: Sequence[Fault] = (),
) -> Played:
    """Script the server for (path, fault) and run the path once.

    The victim gets ``fault`` on every request; when the path can recover from a single
    occurrence, the first other request gets it too; ``extra`` faults are queued after it.
    """
    server.reset()
    server.default = ok(path.answer)
    victim = path.victim_text(stage)
    server.always(fault.make(), when=victim)
    if path.recovers(fault):
        server.script(fault.make())
    server.script(*extra)
    items = path.run(stage, scratch)
    asked = sum(victim in request_text(r.body) for r in server.requests)
    return Played(items, asked, server.pending)


def configure_for(server: FaultServer, cache_dir: Path | None = None) -> None:
    """Point the LLM door at the fault server with small retry waits and a short timeout."""
    llm.configure(
        model=MODEL,
        embedding_model=EMBEDDER,
        api_base=server.api_base,
        timeout=TIMEOUT_S,
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=0.01,
        max_wait_s=0.05,
        max_concurrency=4,
        **({"cache_dir": cache_dir} if cache_dir is not None else {}),
    )


def problems(played: Played, path: LLMPath, fault: FaultKind) -> list[str]:
    """How a run broke the contract (empty when it kept it)."""
    out = []
    victims = [r for v, r in played.items if v]
    others = [r for v, r in played.items if not v]
    if not victims or not others:
        out.append(f"the run gave {len(victims)} victim and {len(others)} other items")
    out += [f"another item was not graded: {r.reason}" for r in others if not r.graded]
    expected = path.expected_reason(fault)
    for r in victims:
        if expected is None and not r.graded:
            out.append(f"the victim was not graded: {r.reason}")
        elif expected is not None and r.graded:
            out.append("the victim was graded although its every answer was broken")
        elif expected is not None and not re.search(expected, r.reason, re.I):
            out.append(f"the victim's reason {r.reason[:300]!r} does not match {expected!r}")
    if path.retries(fault) and played.victim_requests != MAX_ATTEMPTS * path.victim_calls:
        out.append(f"{played.victim_requests} victim requests: not {MAX_ATTEMPTS} per call")
    if played.pending:
        out.append(f"{played.pending} queued faults were never asked for")
    return out


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    built = build_stage(tmp_path_factory.mktemp("faulty-llms"))
    yield built
    built.ws.close()


@pytest.fixture
def server(fault_server: FaultServer, isolated_llm: Path) -> FaultServer:
    configure_for(fault_server)
    return fault_server


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_path_grades_or_says_why_under_every_fault(
    server: FaultServer, stage: Stage, path: LLMPath, fault: FaultKind, tmp_path: Path
) -> None:
    played = play(server, stage, path, fault, tmp_path)
    assert problems(played, path, fault) == []


def test_streaming_is_refused_at_the_door(server: FaultServer) -> None:
    with pytest.raises(TypeError, match="streaming is not supported"):
        llm.complete("hi", stream=True)
    done = llm.complete_many(["a", "b"], stream=True, progress=False)
    assert all(isinstance(d, TypeError) for d in done)
    assert server.requests == [], "nothing was sent"


def test_a_streamed_body_is_never_read_as_an_answer(server: FaultServer) -> None:
    """Regression: a cut event stream where JSON was expected must not become a Completion."""
    server.script(truncated_stream(), truncated_stream())
    with pytest.raises(llm.LLMCallError, match="Empty or invalid response"):
        llm.complete("hi")
    assert len(server.requests) == MAX_ATTEMPTS


def test_no_choices_is_retried_and_then_reported(server: FaultServer) -> None:
    """Regression: ``choices: []`` raised IndexError out of the door (and crashed suite runs)."""
    server.script(no_choices(), ok("back"))
    assert llm.complete("hi").text == "back"
    server.script(no_choices(), no_choices())
    with pytest.raises(llm.LLMCallError, match="without any choices"):
        llm.complete("again")


def test_embed_sends_only_the_doors_retries(server: FaultServer) -> None:
    """Regression: the OpenAI client retried embeddings twice more per attempt, uncapped."""
    server.script(status(503), status(503))
    with pytest.raises(llm.LLMCallError, match="after 2 attempts"):
        llm.embed(["x"])
    assert len(server.requests) == MAX_ATTEMPTS


def test_embed_null_vectors_are_an_output_error(server: FaultServer) -> None:
    """Regression: null vectors or a body without ``data`` raised TypeError out of embed."""
    for fault in (null_content(), no_choices(), wrong_json()):
        server.script(fault)
        with pytest.raises(llm.LLMOutputError, match="0 usable embeddings for 1 texts"):
            llm.embed(["x"])


def test_one_cluster_without_a_title_keeps_the_others(server: FaultServer, stage: Stage) -> None:
    """Regression: one failed title call lost the whole cluster summary."""
    server.default = ok("Refund questions")
    server.always(status(500), when="parcel")
    table = cluster_summary(stage.clusters, stage.cluster_traces, titles=True)
    titles = table.set_index("cluster")["title"]
    assert titles[1] == "Refund questions"
    assert titles[0].startswith("(no title: openai/fault-model call failed after 2 attempts")


def test_a_judge_in_json_mode_with_no_json_leaves_rows_ungraded(
    server: FaultServer, stage: Stage, tmp_path: Path
) -> None:
    """Regression: a judge whose params ask for JSON crashed the run on a non-JSON answer."""
    params = {"temperature": 0, "response_format": {"type": "json_object"}}
    judge = candidate("json-judge", {**stage.judge.spec, "params": params}, MODE)
    suite = Suite(tmp_path / "evals")
    suite.add(judge)
    server.default = empty()
    results = suite.run(stage.traces.head(3), progress=False)
    assert list(results["status"]) == ["ungraded"] * 3
    assert results["reason"].str.contains("did not return valid JSON").all()


def test_a_refused_draft_leaves_the_mined_candidates(server: FaultServer, stage: Stage) -> None:
    server.always(status(500), when="Write a Python function")
    with warnings.catch_warnings(), pytest.warns(DraftRefusedWarning, match=RETRIED):
        warnings.filterwarnings("ignore", category=LowLabelCountWarning)
        found = wb.propose_evals(stage.ws, MODE, kinds=("assertion",))
    assert found and all(c.spec["type"] != "python" for c in found)
    assert server.requests, "the draft was asked for"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_without_a_model_each_path_says_how_to_set_one(
    server: FaultServer, stage: Stage, path: LLMPath, tmp_path: Path
) -> None:
    llm.configure(model=None, embedding_model=None)
    with pytest.raises(llm.ModelNotConfigured, match="configure"):
        path.run(stage, tmp_path)
    assert server.requests == []
