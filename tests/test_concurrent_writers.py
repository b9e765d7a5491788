"""Many writer processes on one workspace: every acknowledged event is stored exactly once.

Eight processes write to one SQLite workspace and sixteen to one PostgreSQL workspace,
each a fixed script of labels, notes and tags whose payloads carry a key unique to the
event. Afterwards each writer's keys are counted in the log (none lost, none twice), and
the labels a long-running reader folded bit by bit equal a fold of the whole log. While the
writers write, a reader process keeps folding ``ws.labels()`` and must never see an event
and later lose it.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    run_sql,
)

from workbench.coding import derive
from workbench.workspace import Workspace, open_workspace

MakeWs = Callable[..., Workspace]
TRACES = [f"t{i}" for i in range(6)]
WRITERS = {"sqlite": 8, "postgres": 16}
EVENTS_EACH = {"sqlite": 150, "postgres": 60}
READER_PAUSE_S = 0.1

SLOW_COMMIT_SQL = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(random() * 0.02);
    RETURN NULL;
END $$;
CREATE TRIGGER slow_commit AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""
"""Widens the gap between an event taking its id and committing, so that on PostgreSQL
events often commit out of id order, the case a reader's incremental refresh must handle."""

Step = tuple[str, str, str, str | None]
"""(kind, trace_id, key, verdict): one event a writer makes; ``key`` is unique to it."""


def annotator(writer: int) -> str:
    return f"w{writer:02d}"


def script(writer: int, count: int) -> Iterator[Step]:
    """The writer's events: label (with a note), note and tag in turn, over shared traces."""
    for step in range(count):
        key = f"{annotator(writer)}-e{step:05d}"
        trace_id = TRACES[(writer + step) % len(TRACES)]
        kind = ("label", "note", "tag")[step % 3]
        verdict = ("pass", "fail")[step // 3 % 2] if kind == "label" else None
        yield kind, trace_id, key, verdict


def event_key(kind: str, payload: dict[str, Any]) -> str:
    """The unique key an event carries: the note of a label or note, the name of a tag."""
    return str(payload["failure_mode"] if kind == "tag" else payload["note"])


def note_step(note: object) -> int:
    """Which step of its writer wrote a note (-1 for no note)."""
    return int(str(note).rsplit("-e", 1)[1]) if isinstance(note, str) else -1


def write(root: str, db: str | None, writer: int, count: int, ready: Any, go: Any) -> None:
    """Worker: open the workspace, wait for the start, write the script, record the ids."""
    ws = open_workspace(root, db=db)
    try:
        ready.put(writer)
        if not go.wait(120):
            raise TimeoutError("the start signal never came")
        acked = []
        for kind, trace_id, key, verdict in script(writer, count):
            who = annotator(writer)
            if kind == "label":
                event = ws.label(trace_id, verdict, note=key, annotator=who)
            elif kind == "note":
                event = ws.note(trace_id, key, annotator=who)
            else:
                event = ws.tag(trace_id, key, annotator=who)
            acked.append([key, event.id])
        Path(root, f"acked-{writer}.json").write_text(json.dumps(acked))
    finally:
        ws.close()


def label_rows(labels: pd.DataFrame) -> list[list[Any]]:
    """A label table as JSON-ready rows, in its order."""
    return [
        [r.trace_id, r.annotator, r.verdict, r.note, list(r.failure_modes), str(r.labelled_at)]
        for r in labels.itertuples()
    ]


def _look(ws: Workspace, seen: dict[str, Any], problems: list[str]) -> None:
    """Take one look at the log and the labels; note anything seen before and now gone."""
    history = ws.history()
    logged = list(zip(history["kind"], history["payload"], strict=True))
    keys = {event_key(kind, payload) for kind, payload in logged}
    if gone := seen["keys"] - keys:
        problems.append(f"log lost {sorted(gone)[:5]} after showing them")
    labels = ws.labels()
    tags = {mode for modes in labels["failure_modes"] for mode in modes}
    logged_tags = {event_key(kind, payload) for kind, payload in logged if kind == "tag"}
    if gone := (seen["tags"] | logged_tags) - tags:
        problems.append(f"labels lost tags {sorted(gone)[:5]} already seen or logged")
    notes = {f"{r.trace_id}/{r.annotator}": note_step(r.note) for r in labels.itertuples()}
    for pair, step in seen["notes"].items():
        if notes.get(pair, -1) < step:
            problems.append(f"note of {pair} went back from step {step} to {notes.get(pair)}")
    seen["keys"], seen["tags"], seen["notes"] = keys, tags, notes
    seen["sizes"].append(len(history))


def read(root: str, db: str | None, done: Any) -> None:
    """Worker: fold the labels again and again while the writers write; report what it saw."""
    ws = open_workspace(root, db=db)
    try:
        seen: dict[str, Any] = {"keys": set(), "tags": set(), "notes": {}, "sizes": []}
        problems: list[str] = []
        while not done.wait(READER_PAUSE_S):
            _look(ws, seen, problems)
        _look(ws, seen, problems)  # once more, after the last write
        report = {"sizes": seen["sizes"], "problems": problems, "labels": label_rows(ws.labels())}
        Path(root, "reader.json").write_text(json.dumps(report))
    finally:
        ws.close()


def expected_labels(writers: int, count: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(trace, annotator) -> (verdict, note, failure modes), folding each script by hand."""
    labels: dict[tuple[str, str], dict[str, Any]] = {}
    for writer in range(writers):
        for kind, trace_id, key, verdict in script(writer, count):
            label = labels.setdefault((trace_id, annotator(writer)), {"modes": []})
            if kind == "label":
                label["verdict"] = verdict
            if kind in ("label", "note"):
                label["note"] = key
            if kind == "tag":
                label["modes"].append(key)
    return {k: (v.get("verdict"), v.get("note"), v["modes"]) for k, v in labels.items()}


def run_writers(root: Path, db: str | None, writers: int, count: int) -> dict[str, Any]:
    """Start the writers and the reader, let them run to the end, return the reader's report."""
    context = multiprocessing.get_context("forkserver")
    # Each worker is forked from one server process that has imported this module (and so
    # the workbench) once: seventeen fresh interpreters importing it would cost far more.
    context.set_forkserver_preload([__name__])
    ready, go, done = context.Queue(), context.Event(), context.Event()
    procs = [
        context.Process(target=write, args=(str(root), db, w, count, ready, go))
        for w in range(writers)
    ]
    reader = context.Process(target=read, args=(str(root), db, done))
    try:
        for process in [*procs, reader]:
            process.start()
        for _ in range(writers):
            ready.get(timeout=120)
        go.set()
        for process in procs:
            process.join(timeout=300)
        done.set()
        reader.join(timeout=120)
    except queue.Empty:
        pytest.fail(f"writers did not start; exit codes {[p.exitcode for p in procs]}")
    finally:
        for process in [*procs, reader]:
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in procs] == [0] * writers
    assert reader.exitcode == 0
    report: dict[str, Any] = json.loads((root / "reader.json").read_text())
    return report


@pytest.mark.slow
def test_many_writers_lose_nothing_and_duplicate_nothing(
    make_ws: MakeWs, db_url: str | None
) -> None:
    backend = "sqlite" if db_url is None else "postgres"
    writers, count = WRITERS[backend], EVENTS_EACH[backend]
    ws = make_ws()
    ws.add_traces(make_traces(len(TRACES)))
    if db_url is not None:
        run_sql(ws.path, db_url, SLOW_COMMIT_SQL)
    report = run_writers(ws.path, db_url, writers, count)

    history = ws.history()
    assert history["id"].is_unique
    assert len(history) == writers * count
    stored = Counter(
        (who, event_key(kind, payload))
        for who, kind, payload in zip(
            history["annotator"], history["kind"], history["payload"], strict=True
        )
    )
    ids = {
        event_key(kind, payload): event_id
        for kind, payload, event_id in zip(
            history["kind"], history["payload"], history["id"], strict=True
        )
    }
    tally: dict[str, dict[str, int]] = {}
    for writer in range(writers):
        who = annotator(writer)
        acked = json.loads((ws.path / f"acked-{writer}.json").read_text())
        written = [key for _, _, key, _ in script(writer, count)]
        assert [key for key, _ in acked] == written
        assert {key: ids.get(key) for key, _ in acked} == dict(acked)  # the ids it was given
        assert [i for _, i in acked] == sorted(i for _, i in acked)  # in the order written
        mine = {key: n for (w, key), n in stored.items() if w == who}
        tally[who] = {
            "lost": sum(1 for key in written if key not in mine),
            "duplicated": sum(n - 1 for n in mine.values()),
            "unknown": len(set(mine) - set(written)),
        }
    clean = {"lost": 0, "duplicated": 0, "unknown": 0}
    assert tally == {annotator(w): clean for w in range(writers)}

    assert report["problems"] == []
    sizes = report["sizes"]
    assert any(0 < size < writers * count for size in sizes)  # it read while they wrote
    assert sizes == sorted(sizes)
    full = label_rows(derive(history).labels)
    assert report["labels"] == full  # the reader's step-by-step fold equals a full refold
    assert label_rows(ws.labels()) == full
    expected = expected_labels(writers, count)
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in full}
    assert got == expected
