"""Shared fixtures and helpers for the workspace and store tests.

Import the fixtures into a test module to use them. The database backend is a fixture
parameter: SQLite always; PostgreSQL when WORKBENCH_TEST_PG_URL is set (each test then gets
a schema of its own, dropped afterwards). With CI set and no URL, the PostgreSQL variants
fail instead of skipping, so a CI run can not silently test less.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import pytest

from workbench.workspace import Workspace, open_workspace

PG_ENV = "WORKBENCH_TEST_PG_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    """Return the test server URL, or skip (fail under CI) when it is not configured."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    how = f'start one with: eval "$(bash scripts/postgres.sh)" (sets {PG_ENV})'
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {PG_ENV} is not: the PostgreSQL tests need a server; {how}")
    pytest.skip(f"PostgreSQL tests need {PG_ENV}; {how}")


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture(name="db_url", params=BACKENDS)
def db_url_fixture(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the workspace's own file), or a URL to a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    import psycopg

    base = postgres_url()
    schema = f"wbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_search_path(base, schema)
    finally:
        with psycopg.connect(_libpq_url(base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(name="make_ws")
def make_ws_fixture(tmp_path: Path, db_url: str | None) -> Iterator[Callable[..., Workspace]]:
    """Open (or reopen) the test's workspace; every one opened is closed at teardown."""
    opened: list[Workspace] = []

    def make(name: str = "analysis") -> Workspace:
        ws = open_workspace(tmp_path / name, db=db_url)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


@pytest.fixture(name="ws")
def ws_fixture(make_ws: Callable[..., Workspace], monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh workspace with five traces t0..t4, and no annotator in the environment."""
    monkeypatch.delenv("WORKBENCH_ANNOTATOR", raising=False)
    ws = make_ws()
    ws.add_traces(make_traces(5))
    return ws


def make_traces(count: int, *, start: int = 0, prefix: str = "t") -> pd.DataFrame:
    """Return a canonical trace table of synthetic traces ``{prefix}{start}`` and on."""
    ids = [f"{prefix}{i}" for i in range(start, start + count)]
    return pd.DataFrame(
        {
            "trace_id": ids,
            "input": [f"question {i}: where is my refund?" for i in range(start, start + count)],
            "output": [f"answer {i}: it is on its way" for i in range(start, start + count)],
            "messages": [
                [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
                for i in range(start, start + count)
            ],
            "metadata": [{"shard": i % 7, "tags": ["a", "b"]} for i in range(start, start + count)],
            "timestamp": pd.date_range("2025-01-01", periods=count, freq="min", tz="UTC"),
            "latency_ms": [float(100 + i) for i in range(count)],
        }
    )


def subprocess_env() -> dict[str, str]:
    """Environment for a child Python that must import this checkout's ``workbench``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


PYTHON = sys.executable


# Workers for multiprocessing tests (module level, so a spawned child can import them).


def tag_worker(root: str, db: str | None, worker: int, count: int) -> None:
    """Append ``count`` tag events as annotator ``w{worker}``."""
    ws = open_workspace(root, db=db)
    try:
        for i in range(count):
            ws.tag(f"t{i % 5}", f"mode_{worker}_{i % 3}", annotator=f"w{worker}")
    finally:
        ws.close()


def add_traces_worker(root: str, db: str | None, count: int) -> int:
    """Open the workspace (maybe first) and add the same ``count`` traces; return how many."""
    ws = open_workspace(root, db=db)
    try:
        return ws.add_traces(make_traces(count, prefix="shared-"))
    finally:
        ws.close()


def run_sql(ws_path: Path, db_url: str | None, sql: str) -> list[tuple[object, ...]]:
    """Run raw SQL on a workspace's database (bypassing the store); return rows, if any."""
    if db_url is None:
        import sqlite3

        with sqlite3.connect(ws_path / "workbench.db") as conn:
            rows = conn.execute(sql).fetchall()
        conn.close()
        return rows
    import psycopg

    with psycopg.connect(_libpq_url(db_url), autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []
