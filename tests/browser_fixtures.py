"""Traces for the reviewer tests, and a JupyterLab server for the browser tests.

The traces are a small support-agent conversation with tool calls, metadata, feedback and a
failing span, plus a hostile trace whose text is HTML and script that must never run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hostile import HOSTILE_IMG, HOSTILE_SCRIPT, hostile_trace

__all__ = ["HOSTILE_IMG", "HOSTILE_SCRIPT", "hostile_trace"]  # kept here for older imports

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

KERNEL_IDLE = """() => {
  const session = window.jupyterapp.shell.currentWidget?.sessionContext;
  return session?.isReady && session.session?.kernel?.status === "idle";
}"""
"""JupyterLab: true once the open notebook's kernel is ready and idle."""
RUN_ALL = """() => { window.jupyterapp.commands.execute("notebook:run-all-cells"); }"""
"""JupyterLab: run every cell of the open notebook."""


def require_chromium() -> None:
    """Skip without the system's Chromium (fail under CI): browsers are never downloaded."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium); browsers are never downloaded"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


_PRODUCTS = ("trail runner GTX", "down jacket", "2-person tent", "merino base layer")
_CITIES = ("Lyon", "Denver", "Leeds", "Osaka")


def support_trace(i: int) -> dict[str, Any]:
    """One conversation of an outdoor store's support agent, with a tool call and its result."""
    order = f"A{1000 + i}"
    product = _PRODUCTS[i % len(_PRODUCTS)]
    call_id = f"call_{i:04d}"
    args = json.dumps({"order_id": order})
    result = json.dumps(
        {"status": "shipped", "carrier": "UPS", "eta": "2026-11-0" + str(i % 9 + 1)}
    )
    reply = (
        f"Your {product} (order {order}) shipped with UPS and should arrive soon. "
        "Returns are free within 90 days, even for worn items."
    )
    question = f"Hi, where is my order {order}? I ordered a {product}."
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are the support agent of Summit Outfitters."},
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": args},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": result},
        {"role": "assistant", "content": reply},
    ]
    return {
        "trace_id": f"t-{i:04d}",
        "input": question,
        "output": reply,
        "messages": messages,
        "metadata": {"channel": "chat", "locale": "en-US", "city": _CITIES[i % len(_CITIES)]},
        "timestamp": pd.Timestamp("2026-11-02T09:00:00Z") + pd.Timedelta(minutes=7 * i),
        "model": "gpt-4o-mini-2024-07-18",
        "latency_ms": 1200.0 + 37 * i,
        "cost_usd": 0.00042,
        "feedback": [{"name": "thumb", "value": "down", "comment": "that return policy is wrong"}]
        if i % 3 == 0
        else [],
        "spans": [
            {"name": "agent.turn", "status_code": "OK", "duration_ms": 1200},
            {
                "name": "lookup_order",
                "status_code": "ERROR" if i % 4 == 0 else "OK",
                "status_message": "timeout after 800 ms, retried" if i % 4 == 0 else "",
                "duration_ms": 830,
            },
        ],
    }


def trace_frame(n: int, hostile_at: int | None = None) -> pd.DataFrame:
    """``n`` support traces as a canonical frame, with the hostile one at a position if asked."""
    rows = [support_trace(i) for i in range(n)]
    if hostile_at is not None:
        rows.insert(hostile_at, hostile_trace())
    return pd.DataFrame(rows)


# JupyterLab -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def page_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"


def _wait_until_up(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer within 60 s:\n{log.read_text()[-3000:]}")


@contextmanager
def jupyter_lab(tmp: Path) -> Iterator[Lab]:
    """Run JupyterLab on 127.0.0.1 with isolated config, data and runtime folders."""
    root, home = tmp / "root", tmp / "jupyter"
    root.mkdir()
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        IPYTHONDIR=str(home / "ipython"),
    )
    port, token = free_port(), os.urandom(16).hex()
    jupyter = Path(sys.executable).parent / "jupyter"
    log = tmp / "lab.log"
    command: Sequence[str] = [
        str(jupyter if jupyter.exists() else shutil.which("jupyter")),
        "lab",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.terminals_enabled=False",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, token, process, log)
        yield Lab(url, token, root, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def write_notebook(path: Path, cells: Sequence[str]) -> None:
    """Write a notebook of code cells (no outputs) with the venv's Python kernel."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab of the test's own, once Chromium is known to be there."""
    require_chromium()
    with jupyter_lab(tmp_path) as server:
        yield server


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Any]:
    """One headless Chromium for the module (never downloaded: the system's own)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
