"""A team at work: eight processes annotate their review queues at once; nothing is lost."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
)

from workbench.review import agreement, open_review_session, review_session
from workbench.workspace import Workspace, open_workspace

MakeWs = Callable[..., Workspace]
PEOPLE = [f"reviewer{i}" for i in range(8)]
EVENTS_EACH = 500
MODES = ["invented_policy", "wrong_tool", "tone"]

Action = tuple[str, str, Any]
"""(kind, trace_id, argument): what one annotator does in one step."""


def script(annotator: str, queue: list[str], count: int) -> Iterator[Action]:
    """The annotator's actions, the same in the worker and in the test's expectation."""
    rng = random.Random(annotator)
    for i in range(count):
        trace_id = queue[i % len(queue)]
        roll = rng.random()
        if roll < 0.35:
            yield ("label", trace_id, rng.choice(["pass", "fail"]))
        elif roll < 0.65:
            yield ("tag", trace_id, rng.choice(MODES))
        elif roll < 0.85:
            yield ("untag", trace_id, rng.choice(MODES))
        else:
            yield ("note", trace_id, f"{annotator} step {i}")


def annotate(root: str, db: str | None, annotator: str, go: Any, count: int) -> None:
    """Worker: open the shared workspace, find its queue, wait for the start, annotate."""
    ws = open_workspace(root, db=db)
    try:
        queue = open_review_session(ws, "team").queue(annotator)
        go.wait(120)
        for kind, trace_id, argument in script(annotator, queue, count):
            if kind == "label":
                ws.label(trace_id, argument, annotator=annotator)
            elif kind == "tag":
                ws.tag(trace_id, argument, annotator=annotator)
            elif kind == "untag":
                ws.untag(trace_id, argument, annotator=annotator)
            else:
                ws.note(trace_id, argument, annotator=annotator)
    finally:
        ws.close()


def expected_labels(queues: dict[str, list[str]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(trace, annotator) -> (verdict, note, failure modes), folding each script by hand."""
    labels: dict[tuple[str, str], dict[str, Any]] = {}
    for annotator, queue in queues.items():
        for kind, trace_id, argument in script(annotator, queue, EVENTS_EACH):
            label = labels.setdefault(
                (trace_id, annotator), {"verdict": None, "note": None, "modes": []}
            )
            if kind == "label":
                label["verdict"] = argument
            elif kind == "note":
                label["note"] = argument
            elif kind == "tag" and argument not in label["modes"]:
                label["modes"].append(argument)
            elif kind == "untag":
                label["modes"] = [m for m in label["modes"] if m != argument]
    return {k: (v["verdict"], v["note"], v["modes"]) for k, v in labels.items()}


def _watch(ws: Workspace, workers: list[Any]) -> list[int]:
    """Read the log while the workers write, as a colleague's notebook refreshing would."""
    seen = []
    while any(p.is_alive() for p in workers):
        seen.append(len(ws.history()))
        ws.labels()
        time.sleep(0.3)
    return seen


@pytest.mark.slow
def test_eight_annotators_at_once_lose_nothing(make_ws: MakeWs, db_url: str | None) -> None:
    ws = make_ws()
    ws.add_traces(make_traces(60))
    session = review_session(ws, ws.traces(), PEOPLE, overlap=0.25, name="team", seed=1)
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    workers = [
        context.Process(target=annotate, args=(str(ws.path), db_url, who, go, EVENTS_EACH))
        for who in PEOPLE
    ]
    for process in workers:
        process.start()
    time.sleep(2)  # let every worker open the workspace and read its queue
    go.set()
    seen = _watch(ws, workers)
    for process in workers:
        process.join(timeout=600)
    assert [p.exitcode for p in workers] == [0] * 8
    assert seen == sorted(seen)  # a reader never saw the log shrink

    history = ws.history()
    assert len(history) == 8 * EVENTS_EACH
    assert history["id"].is_unique and history["id"].is_monotonic_increasing
    assert history["annotator"].value_counts().to_dict() == dict.fromkeys(PEOPLE, EVENTS_EACH)
    queues = {who: session.queue(who) for who in PEOPLE}
    for who in PEOPLE:  # each person's events are there in the order they were made
        mine = history[history["annotator"] == who]
        made = [(k, t) for k, t, _ in script(who, queues[who], EVENTS_EACH)]
        assert list(zip(mine["kind"], mine["trace_id"], strict=True)) == made

    expected = expected_labels(queues)
    for reader in (ws, make_ws()):  # the long-open workspace and a fresh one agree
        labels = reader.labels()
        got = {
            (r.trace_id, r.annotator): (r.verdict, r.note, list(r.failure_modes))
            for r in labels.itertuples()
        }
        assert got == expected
    progress = session.progress().set_index("annotator")
    for who in PEOPLE:
        reviewed = sum(1 for t in set(queues[who]) if expected[(t, who)][0] is not None)
        assert progress.loc[who, "reviewed"] == reviewed
    table = agreement(ws, traces=session.shared)
    assert table.loc["verdict", "n_annotators"] == 8
    assert table.loc["verdict", "n_overlap"] == len(session.shared)
