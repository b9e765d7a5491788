"""Crash durability, measured: 100 SIGKILLs at random moments on one workspace, per backend.

The loop (tests/kill_loop.py, children in tests/kill_worker.py) kills a child while it tags
traces, accepts validated evals into the suite or runs the suite against a fault-injecting
LLM server, and checks after every kill that the workspace opens, every acknowledged event,
eval and judge result is there, nothing in evals/ is half-written, and the killed run,
resumed, repeats no call whose result was stored. The smaller tests show the checks do fail
on damage, and guard the crash-safe replacement of an eval's labelled trace list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import llm_fixtures
import pytest
from fault_server import FaultServer
from forked_children import ForkServer
from kill_loop import OPS, WORKER, KillLoop
from kill_worker import MODE, judge
from workspace_fixtures import db_url_fixture  # noqa: F401 (fixtures are found by name)

from workbench.evalgen import Candidate, Provenance
from workbench.suite import Suite
from workbench.suite.loading import load_suite

isolated_llm = llm_fixtures.isolated_llm
fault_server = llm_fixtures.fault_server

ITERATIONS = 100


@pytest.fixture(scope="module")
def fork_server() -> Iterator[ForkServer]:
    """One fork server for both backends: it takes seconds to import everything."""
    forks = ForkServer(WORKER)
    yield forks
    forks.close()


@pytest.mark.slow
def test_a_hundred_kills_lose_no_acknowledged_work(
    db_url: str | None,
    tmp_path: Path,
    isolated_llm: Path,
    fault_server: FaultServer,
    fork_server: ForkServer,
) -> None:
    ws = tmp_path / "ws"
    with KillLoop(ws, db_url, fault_server, isolated_llm, seed=0, forks=fork_server) as loop:
        figures = loop.run(ITERATIONS)
    print(figures.report())  # shown with -s
    assert figures.problems == []
    assert figures.damage == dict.fromkeys(figures.damage, 0)
    assert figures.iterations == ITERATIONS
    # The kills landed where they should, and there was work to lose.
    assert min(figures.kills[op] for op in OPS) >= 20, figures.kills
    assert min(figures.mid_call[op] for op in OPS) >= 10, figures.mid_call
    assert figures.events_acknowledged >= 300
    assert figures.evals_acknowledged >= 10
    assert figures.results_acknowledged >= 100
    assert figures.runs_resumed >= 15
    assert figures.stored_before_resume >= 20, "some killed runs had stored results to keep"


@pytest.fixture
def loop(tmp_path: Path, isolated_llm: Path, fault_server: FaultServer) -> Iterator[KillLoop]:
    """A kill loop on a fresh SQLite workspace, not yet started (no fork server)."""
    with KillLoop(tmp_path / "ws", None, fault_server, isolated_llm) as made:
        yield made


def test_the_checks_find_a_lost_event_and_a_half_written_file(loop: KillLoop) -> None:
    loop.check([])
    assert loop.figures.problems == []
    lost = {"kind": "event", "id": 10_000, "event": "tag", "trace": "t001", "who": "k000",
            "payload": {"failure_mode": "mode_1"}}  # fmt: skip
    loop.check([lost])
    assert loop.figures.events_lost == 1
    judge_file = loop.root / "evals" / "judges" / "kj-alpha.md"
    judge_file.write_bytes(judge_file.read_bytes()[:40])  # as a torn write would leave it
    loop.check([])
    assert loop.figures.half_written == 1
    assert any("the suite does not load" in p for p in loop.figures.problems)


def test_the_checks_find_a_lost_result_and_a_changed_eval(loop: KillLoop) -> None:
    plan = {"kind": "plan", "run": 0, "ids": ["t001"], "model": "openai/m", "repeats": 1,
            "evals": ["kj-alpha"]}  # fmt: skip
    loop.check([plan, {"kind": "run", "run": 0, "rows": 1, "failed": []}])
    assert loop.figures.results_lost == 1  # acknowledged, never stored
    Suite(loop.root / "evals").set_threshold("kj-beta", 0.5)
    loop.check([])
    assert loop.figures.evals_lost == 1
    assert any("eval kj-beta: acknowledged" in p for p in loop.figures.problems)


def _with_ids(count: int) -> Candidate:
    """A judge whose provenance lists ``count`` labelled traces."""
    ids = tuple(f"t{i:03d}" for i in range(count))
    provenance = Provenance(MODE, "llm:x", "2026-11-20T10:00:00Z", ids, ("ana",), 0)
    return dataclasses.replace(judge("long-list"), provenance=provenance)


def test_a_replacement_cut_before_suite_yaml_leaves_a_readable_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against a crash between the labels file and suite.yaml breaking the suite."""
    suite = Suite(tmp_path / "evals")
    suite.add(_with_ids(30))

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies here, after the new files were written

    monkeypatch.setattr("workbench.suite.suite.save_document", crash)
    with pytest.raises(KeyboardInterrupt):
        suite.add(_with_ids(45), replace=True)
    monkeypatch.undo()
    kept = load_suite(suite.path).evals[0].candidate.provenance.labelled_trace_ids
    assert len(kept) == 30
    suite.add(_with_ids(45), replace=True)
    assert len(suite.get("long-list").provenance.labelled_trace_ids) == 45
    assert len(list((suite.path / "labels").iterdir())) == 1, "the old list was removed"


def test_a_list_shrunk_below_the_inline_limit_leaves_no_labels_file(tmp_path: Path) -> None:
    """Guards against a replaced eval leaving its old labels file behind."""
    suite = Suite(tmp_path / "evals")
    suite.add(_with_ids(30))
    suite.add(_with_ids(5), replace=True)
    assert len(suite.get("long-list").provenance.labelled_trace_ids) == 5
    assert list((suite.path / "labels").iterdir()) == []
