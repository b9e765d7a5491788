"""The store keeps every acknowledged event: migrations, concurrency, crashes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from workspace_fixtures import (  # noqa: F401 (fixtures are found by name)
    PYTHON,
    add_traces_worker,
    db_url_fixture,
    make_traces,
    make_ws_fixture,
    run_sql,
    subprocess_env,
    tag_worker,
)

from workbench.store import LATEST_VERSION, NotAWorkspaceError, SchemaTooNewError, migrations
from workbench.workspace import Workspace, open_workspace

MakeWs = Callable[..., Workspace]

V1_SQL = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    applied_at DATETIME NOT NULL
);
CREATE TABLE traces (
    seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL UNIQUE,
    content_hash VARCHAR(64) NOT NULL,
    payload TEXT NOT NULL,
    added_at DATETIME NOT NULL
);
CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind VARCHAR(16) NOT NULL,
    trace_id TEXT REFERENCES traces (trace_id),
    annotator TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DATETIME NOT NULL
);
INSERT INTO schema_version VALUES (1, '2025-01-01 00:00:00.000000');
"""
V1_TRACE = '{"input":"hi","output":"hello","trace_id":"old-1"}'


def make_v1_workspace(folder: Path) -> None:
    """Write a version-1 workspace by hand, as the first release laid it out."""
    folder.mkdir()
    digest = hashlib.sha256(V1_TRACE.encode()).hexdigest()
    conn = sqlite3.connect(folder / "workbench.db")
    conn.executescript(V1_SQL)
    conn.execute(
        "INSERT INTO traces (trace_id, content_hash, payload, added_at) VALUES (?, ?, ?, ?)",
        ("old-1", digest, V1_TRACE, "2025-01-01 00:00:00.000000"),
    )
    conn.executemany(
        "INSERT INTO events (kind, trace_id, annotator, payload, created_at) VALUES (?,?,?,?,?)",
        [
            ("label", "old-1", "ana", '{"note":"from v1","verdict":"fail"}', "2025-01-01 00:01:00"),
            ("tag", "old-1", "ana", '{"failure_mode":"legacy"}', "2025-01-01 00:02:00"),
        ],
    )
    conn.commit()
    conn.close()


# Migrations ---------------------------------------------------------------------------------


def test_version_1_workspace_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    make_v1_workspace(folder)
    with open_workspace(folder) as ws:
        row = ws.traces().iloc[0]
        assert (row["trace_id"], row["verdict"], row["note"]) == ("old-1", "fail", "from v1")
        assert row["failure_modes"] == ["legacy"]
        assert row["labelled_at"] == pd.Timestamp("2025-01-01 00:02:00Z")
        frame = pd.DataFrame({"trace_id": ["old-1"], "input": ["hi"], "output": ["hello"]})
        assert ws.add_traces(frame) == 0  # same content hash as the v1 row: no conflict
        ws.set("model", "m")  # the settings table came with version 2
        assert ws.tag("old-1", "new", annotator="bob").id == 3
    versions = run_sql(folder, None, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(1,), (2,)]
    indexes = run_sql(folder, None, "SELECT name FROM sqlite_master WHERE type = 'index'")
    assert {"ix_events_trace_id", "ix_events_annotator"} <= {name for (name,) in indexes}


def test_database_schema_matches_the_table_definitions(make_ws: MakeWs, tmp_path: Path) -> None:
    """Guards against a migration and tables.py drifting apart."""
    from sqlalchemy import inspect

    from workbench.store import tables

    make_v1_workspace(tmp_path / "old")
    with open_workspace(tmp_path / "old") as migrated:
        for ws in (make_ws(), migrated):
            inspector = inspect(ws._store._engine)
            for table in tables.metadata.sorted_tables:
                columns = [c["name"] for c in inspector.get_columns(table.name)]
                assert columns == [c.name for c in table.columns], table.name
                indexes = {i["name"] for i in inspector.get_indexes(table.name)}
                assert {i.name for i in table.indexes} <= indexes, table.name


def test_newer_database_is_refused(make_ws: MakeWs, db_url: str | None) -> None:
    ws = make_ws()
    ws.close()
    run_sql(
        ws.path,
        db_url,
        "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01 00:00:00')",
    )
    with pytest.raises(SchemaTooNewError, match=rf"version 99.*up to {LATEST_VERSION}.*upgrade"):
        make_ws()


def test_a_database_of_something_else_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    sqlite3.connect(folder / "workbench.db").execute("CREATE TABLE traces (x INTEGER)").close()
    with pytest.raises(NotAWorkspaceError, match=r"\['traces'\]"):
        open_workspace(folder)


def test_a_failing_migration_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "old"
    make_v1_workspace(folder)

    def broken(conn: object) -> None:
        raise RuntimeError("step 3 failed")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "LATEST_VERSION", LATEST_VERSION + 1)
    with pytest.raises(RuntimeError, match="step 3 failed"):
        open_workspace(folder)
    assert run_sql(folder, None, "SELECT max(version) FROM schema_version") == [(1,)]
    tables = run_sql(folder, None, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert "settings" not in {name for (name,) in tables}  # step 2 was rolled back too


def test_sqlite_runs_in_wal_mode_with_full_sync(make_ws: MakeWs, db_url: str | None) -> None:
    if db_url is not None:
        pytest.skip("SQLite only")
    ws = make_ws()
    assert run_sql(ws.path, None, "PRAGMA journal_mode") == [("wal",)]
    with ws._store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


# Concurrency --------------------------------------------------------------------------------


@pytest.mark.slow
def test_four_processes_tagging_at_once_lose_nothing(make_ws: MakeWs, db_url: str | None) -> None:
    ws = make_ws()
    ws.add_traces(make_traces(5))
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=tag_worker, args=(str(ws.path), db_url, worker, 200))
        for worker in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    history = ws.history()
    assert len(history) == 800
    assert history["id"].is_unique
    assert history["annotator"].value_counts().to_dict() == {f"w{w}": 200 for w in range(4)}
    assert len(ws.failure_modes()) == 12


@pytest.mark.slow
def test_concurrent_first_opens_and_adds_store_each_trace_once(
    tmp_path: Path, db_url: str | None
) -> None:
    folder = str(tmp_path / "fresh")
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        added = pool.starmap(add_traces_worker, [(folder, db_url, 300)] * 4)
    assert sum(added) == 300
    with open_workspace(folder, db=db_url) as ws:
        assert len(ws.traces()) == 300
    versions = run_sql(Path(folder), db_url, "SELECT version FROM schema_version")
    assert sorted(v for (v,) in versions) == list(range(1, LATEST_VERSION + 1))


# Crashes ------------------------------------------------------------------------------------

TAG_FOREVER = """
import sys
from workbench.workspace import open_workspace
ws = open_workspace(sys.argv[1], db=sys.argv[2] or None)
print("ready", flush=True)
i = 0
while True:
    event = ws.tag(f"t{i % 5}", f"mode{i % 3}", annotator="doomed")
    sys.stdout.write(f"{event.id}\\n")
    sys.stdout.flush()
    i += 1
"""


def _start(script: str, ws: Workspace, db_url: str | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-c", script, str(ws.path), db_url or ""],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


@pytest.mark.slow
def test_sigkill_mid_burst_keeps_every_acknowledged_event(
    make_ws: MakeWs, db_url: str | None
) -> None:
    ws = make_ws()
    ws.add_traces(make_traces(5))
    child = _start(TAG_FOREVER, ws, db_url)
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    acknowledged = []
    deadline = time.monotonic() + 120
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        acknowledged.append(int(child.stdout.readline()))
    os.kill(child.pid, signal.SIGKILL)
    rest = child.stdout.read()
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    acknowledged += [int(line) for line in rest.split("\n")[:-1]]  # the last may be cut
    assert len(acknowledged) >= 150
    stored = set(make_ws().history()["id"])
    assert set(acknowledged) <= stored
    if db_url is None:
        assert run_sql(ws.path, None, "PRAGMA integrity_check") == [("ok",)]


ADD_MANY = """
import sys
import pandas as pd
import workbench.store.store as store_module
from workbench.workspace import open_workspace

add_chunk = store_module._add_chunk


def add_chunk_and_say_so(*args):
    result = add_chunk(*args)
    print("chunk", flush=True)
    return result


store_module._add_chunk = add_chunk_and_say_so
ws = open_workspace(sys.argv[1], db=sys.argv[2] or None)
frame = pd.DataFrame({"trace_id": [f"bulk-{i}" for i in range(200_000)], "input": "x" * 200})
ws.add_traces(frame)
print("done", flush=True)
"""


@pytest.mark.slow
def test_a_bulk_add_killed_midway_stores_nothing(make_ws: MakeWs, db_url: str | None) -> None:
    """Guards against a crash leaving half of a batch of traces behind."""
    ws = make_ws()
    ws.add_traces(make_traces(5))
    child = _start(ADD_MANY, ws, db_url)
    assert child.stdout is not None
    for _ in range(3):  # three of the 100 chunks are in the open transaction
        assert child.stdout.readline() == "chunk\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert len(make_ws().traces()) == 5
    assert make_ws().add_traces(make_traces(5)) == 0


def test_an_event_committed_late_under_a_lower_id_is_not_missed(
    make_ws: MakeWs, db_url: str | None
) -> None:
    """Guards the incremental read against PostgreSQL committing ids out of order."""
    if db_url is None:
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    import datetime as dt

    from workbench.store import tables

    ws = make_ws()
    ws.add_traces(make_traces(5))
    ws.tag("t0", "first", annotator="ana")
    slow = ws._store._engine.connect()
    transaction = slow.begin()
    slow.execute(
        tables.events.insert().values(
            kind="tag",
            trace_id="t1",
            annotator="slow",
            payload='{"failure_mode": "late"}',
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    ws.tag("t2", "fast", annotator="ana")  # a higher id, committed first
    assert ws.history()["annotator"].tolist() == ["ana", "ana"]
    transaction.commit()
    slow.close()
    history = ws.history()
    assert history["annotator"].tolist() == ["ana", "slow", "ana"]
    assert history["id"].is_monotonic_increasing
    assert sorted(ws.failure_modes()["name"]) == ["fast", "first", "late"]
