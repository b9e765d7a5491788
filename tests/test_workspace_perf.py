"""The incremental fold: the same labels as folding the whole log, at the cost of new events."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    ws_fixture,
)

from workbench import coding, labels_view
from workbench.coding import Coding, LogFold
from workbench.store import EVENT_COLUMNS, NewEvent, undo_of
from workbench.workspace import Workspace

MakeWs = Callable[..., Workspace]

TRACES = ["t0", "t1", "t2", "t3"]
PEOPLE = ["ana", "bob", "lea"]
MODES = ["m0", "m1", "m2", "m3"]
START = pd.Timestamp("2026-01-01", tz="UTC")


def assert_same(got: Coding, want: Coding) -> None:
    """Two derived states are equal: modes in order, and both label frames exactly."""
    assert list(got.modes.items()) == list(want.modes.items())
    pd.testing.assert_frame_equal(got.labels, want.labels)
    pd.testing.assert_frame_equal(got.adjudications, want.adjudications)
    on_labels = {
        m for f in (got.labels, got.adjudications) for ms in f["failure_modes"] for m in ms
    }
    assert on_labels <= set(got.modes)  # the invariant that lets result() copy the modes as-is


# The fold on its own: any log, including ones the workspace API would refuse ----------------

_trace, _who, _mode = st.sampled_from(TRACES), st.sampled_from(PEOPLE), st.sampled_from(MODES)
_note = st.one_of(st.none(), st.sampled_from(["", "made up a rule", "ünïcode ✓"]))
_verdict = st.sampled_from(["pass", "fail", None])
ACTIONS = st.one_of(
    st.tuples(st.just("label"), _trace, _who, _verdict, _note),
    st.tuples(st.just("adjudicate"), _trace, _who, st.sampled_from(["pass", "fail"]),
              st.lists(_mode, max_size=2), _note),
    st.tuples(st.just("note"), _trace, _who, st.sampled_from(["n1", "n2"])),
    st.tuples(st.just("tag"), _trace, _who, _mode),
    st.tuples(st.just("untag"), _trace, _who, _mode),
    st.tuples(st.just("define"), _who, _mode, st.sampled_from(["", "def a", "def b"])),
    st.tuples(st.just("rename"), _who, _mode, _mode),
    st.tuples(st.just("merge"), _who, st.lists(_mode, min_size=1, max_size=3), _mode),
    st.tuples(st.just("split"), _who, _mode, st.dictionaries(_mode, st.lists(_trace, max_size=2),
                                                             min_size=1, max_size=2)),
    st.tuples(st.just("undo"), _who),
    st.tuples(st.just("undo_any"), _who, st.integers(0, 60)),
    st.tuples(st.just("late"), st.integers(0, 60), _trace, _who, _mode),
)  # fmt: skip


def _event(action: tuple[Any, ...], log: pd.DataFrame) -> NewEvent | None:
    """The event an action appends (None: nothing to undo), as the workspace would shape it."""
    kind, *rest = action
    if kind == "label":
        trace, who, verdict, note = rest
        payload = {"verdict": verdict} | ({} if note is None else {"note": note})
        return NewEvent("label", who, trace, payload)
    if kind == "adjudicate":
        trace, who, verdict, modes, note = rest
        modes = [] if verdict == "pass" else modes
        return NewEvent("label", who, trace, coding.adjudication(trace, verdict, modes, note))
    if kind in ("note", "tag", "untag"):
        trace, who, value = rest
        return NewEvent(kind, who, trace, {"note" if kind == "note" else "failure_mode": value})
    if kind == "define":
        who, mode, text = rest
        return NewEvent("define", who, None, {"failure_mode": mode, "definition": text})
    if kind == "rename":
        who, old, new = rest
        return NewEvent("rename", who, None, {"old": old, "new": new})
    if kind == "merge":
        who, sources, into = rest
        return NewEvent("merge", who, None, {"sources": sources, "into": into, "definition": ""})
    if kind == "split":
        who, mode, parts = rest
        return NewEvent("split", who, None, {"failure_mode": mode, "parts": parts})
    if kind == "undo":
        return undo_of(log, rest[0])
    who, pick = rest  # undo_any: cancel any earlier event, whoever appended it
    if log.empty:
        return None
    target = log.iloc[pick % len(log)]
    return NewEvent("undo", who, None, {"event_id": int(target["id"]), "kind": target["kind"]})


def _row(event_id: int, event: NewEvent) -> dict[str, Any]:
    values = (event.kind, event.trace_id, event.annotator, dict(event.payload))
    created_at = START + pd.Timedelta(seconds=event_id)
    return dict(zip(EVENT_COLUMNS, (event_id, *values, created_at), strict=True))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The log as the store returns it: a new frame, sorted by id."""
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame = frame.astype({"id": "int64"}).sort_values("id", kind="stable")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame.reset_index(drop=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ACTIONS, st.booleans()), max_size=30))
def test_incremental_fold_equals_a_full_fold_at_every_step(
    steps: list[tuple[tuple[Any, ...], bool]],
) -> None:
    """Guards the incremental fold against drifting from derive() on any log.

    After each event, or after a few at once (``look`` is False meanwhile), as a reader
    that refreshes now and then sees them.
    """
    fold, rows = LogFold(), []
    assert_same(fold.update(_frame(rows)), coding.derive(_frame(rows)))
    for number, (action, look) in enumerate(steps, start=1):
        log = _frame(rows)
        if action[0] == "late":  # commits after others under a lower id, as PostgreSQL may
            pick, trace, who, mode = action[1:]
            taken = {row["id"] for row in rows}
            free = [i for i in range(1, 2 * len(rows) + 1, 2) if i not in taken]
            if not free:
                continue
            rows.append(
                _row(free[pick % len(free)], NewEvent("tag", who, trace, {"failure_mode": mode}))
            )
        else:
            event = _event(action, log)
            if event is None:
                continue
            rows.append(_row(2 * (len(rows) + 1) + 10_000, event))
        log = _frame(rows)
        if look or number == len(steps):
            assert_same(fold.update(log), coding.derive(log))
            assert fold.update(log) is fold.update(log)  # an unchanged log is not folded again


def test_an_unchanged_log_given_as_a_new_frame_keeps_the_result() -> None:
    fold = LogFold()
    rows = [_row(1, NewEvent("tag", "ana", "t0", {"failure_mode": "m0"}))]
    first = fold.update(_frame(rows))
    assert fold.update(_frame(rows)) is first


# Through the workspace, on SQLite and PostgreSQL --------------------------------------------


def _random_call(ws: Workspace, rng: random.Random) -> None:
    """Make one random annotation call; a call the workspace refuses changes nothing."""
    trace, who, mode = rng.choice(TRACES), rng.choice(PEOPLE), rng.choice(MODES)
    calls: list[Callable[[], Any]] = [
        lambda: ws.label(trace, rng.choice(["pass", "fail", None]), annotator=who),
        lambda: ws.note(trace, rng.choice(["n1", "n2"]), annotator=who),
        lambda: ws.tag(trace, mode, annotator=who),
        lambda: ws.tag(trace, mode, annotator=who),
        lambda: ws.untag(trace, mode, annotator=who),
        lambda: ws.undo(who),
        lambda: ws.define(mode, f"definition of {mode}", annotator=who),
        lambda: ws.rename(mode, rng.choice(MODES), annotator=who),
        lambda: ws.merge([mode], into=rng.choice(MODES), annotator=who),
        lambda: ws.split(mode, {rng.choice(MODES): [trace]}, annotator=who),
        lambda: ws.adjudicate(trace, "fail", [mode], note="settled", annotator="lea"),
    ]
    with contextlib.suppress(KeyError, ValueError):  # e.g. renaming a mode that is not there
        rng.choice(calls)()


@pytest.mark.parametrize("seed", [0, 1])
def test_workspace_answers_equal_a_full_fold_whenever_read(ws: Workspace, seed: int) -> None:
    """Guards ws.labels / failure_modes / traces against the incremental fold going stale."""
    ws.add_traces(make_traces(4))
    rng = random.Random(seed)
    for _ in range(150):
        _random_call(ws, rng)
        if rng.random() < 0.5:
            continue  # read after one call or after several
        full = coding.derive(ws.history())
        pd.testing.assert_frame_equal(ws.labels(), full.labels)
        want = labels_view.mode_table(full.modes, full.view())
        pd.testing.assert_frame_equal(ws.failure_modes(), want)
    columns = ["trace_id", "verdict", "note", "failure_modes", "annotator"]
    traces, full = ws.traces(), coding.derive(ws.history())
    want_traces = labels_view.with_labels(traces[["trace_id"]], full.view())
    pd.testing.assert_frame_equal(traces[columns], want_traces[columns])


def test_a_new_event_is_folded_alone_and_an_undo_folds_again(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against a key press refolding the whole log (its cost grew with the log)."""
    for i in range(300):
        ws.tag(f"t{i % 5}", f"mode_{i % 7}", annotator=f"a{i % 3}")
    ws.labels()
    applied: list[str] = []
    original = coding._Fold.apply

    def counting(self: Any, event: Any) -> None:
        applied.append(event.kind)
        original(self, event)

    monkeypatch.setattr(coding._Fold, "apply", counting)
    ws.label("t1", "fail", annotator="ana")
    assert ws.labels().iloc[-1][["trace_id", "annotator", "verdict"]].tolist() == [
        "t1",
        "ana",
        "fail",
    ]
    assert applied == ["label"]
    applied.clear()
    ws.undo("ana")
    assert "ana" not in set(ws.labels()["annotator"])
    assert len(applied) == 300  # the whole log again, less the undone label


def test_an_event_committed_late_under_a_lower_id_is_folded_in_its_place(
    make_ws: MakeWs, db_url: str | None
) -> None:
    """Guards the incremental fold against PostgreSQL committing ids out of order."""
    if db_url is None:
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    from workbench.store import tables

    ws = make_ws()
    ws.add_traces(make_traces(3))
    ws.label("t0", "pass", annotator="ana")
    slow = ws._store._engine.connect()
    transaction = slow.begin()
    late = {"kind": "label", "trace_id": "t1", "annotator": "bob", "payload": '{"verdict": "fail"}'}
    slow.execute(tables.events.insert().values(**late, created_at=dt.datetime.now(dt.UTC)))
    ws.label("t2", "fail", annotator="ana")  # a higher id, committed first
    assert ws.labels()["trace_id"].tolist() == ["t0", "t2"]  # folded up to the higher id
    transaction.commit()
    slow.close()
    labels = ws.labels()
    assert labels["trace_id"].tolist() == ["t0", "t1", "t2"]  # the late one in its place
    pd.testing.assert_frame_equal(labels, coding.derive(ws.history()).labels)
