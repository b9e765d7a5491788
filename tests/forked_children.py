"""Children forked from a server that imported the heavy modules once, and their reports.

A fresh Python that imports the workbench and litellm takes seconds; a fork of a process
that already did takes milliseconds. A *fork server* is a script that imports what its
children need (creating no thread, no event loop and no database engine, which a fork must
not inherit), prints ``ready`` and then serves one JSON command per line on stdin:

``{"cmd": "fork", "job": {...}}``
    fork a child that runs ``job``; answers ``{"pid": <pid>}``.
``{"cmd": "reap", "pid": <pid>}``
    wait for that child; answers ``{"signal": <n or 0>, "code": <exit code or None>}``.

A child writes its log (stdout and stderr) to ``job["log"]`` and its reports, one JSON
object per line, to the FIFO ``job["fifo"]``, which the parent opened first. The parent
side is :class:`ForkServer` (starts the script) and :class:`Child` (one child and its
reports); the server side is :func:`serve`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Say = Callable[..., None]
"""How a child reports: ``say(kind="ready")``, one JSON line per call."""


# The server side ----------------------------------------------------------------------------


def serve(run: Callable[[dict[str, Any], Say], None], warm: Iterable[str] = ()) -> None:
    """The fork server's loop: import ``warm``, then fork and reap children on command.

    Args:
        run: What a child does with its job; returning ends the child with code 0, an
            exception with code 1 (its traceback in the log).
        warm: Modules to import before any fork (a missing one is skipped).
    """
    for name in warm:
        with contextlib.suppress(ImportError):  # warm-up only: a missing one costs time
            importlib.import_module(name)
    answer = sys.stdout
    answer.write("ready\n")
    answer.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "fork":
            pid = os.fork()
            if pid == 0:
                _child(command["job"], run)
            reply: dict[str, Any] = {"pid": pid}
        else:
            _, status = os.waitpid(command["pid"], 0)
            signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            reply = {"signal": signal_number, "code": code}
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


def _child(job: dict[str, Any], run: Callable[[dict[str, Any], Say], None]) -> None:
    """Run one job in a freshly forked child; never returns."""
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)  # fd 1 is the fork server's answer channel: keep the child off it
    os.dup2(log, 2)
    code = 1
    try:
        reports = os.open(job["fifo"], os.O_WRONLY)

        def say(**report: Any) -> None:
            os.write(reports, (json.dumps(report) + "\n").encode())  # one write: one line

        run(job, say)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


# The parent side ----------------------------------------------------------------------------


class ForkServer:
    """A fork server process running ``script`` (which calls :func:`serve`).

    Args:
        script: The server script.
    """

    def __init__(self, script: Path) -> None:
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._line(120) == "ready", f"the fork server {script.name} did not start"

    def _line(self, timeout: float) -> str:
        assert self._proc.stdout is not None
        readable, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not readable:
            raise TimeoutError(f"fork server silent for {timeout} s")
        return self._proc.stdout.readline().strip()

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line(60))
        return answer

    def fork(self, job: dict[str, Any]) -> int:
        """Fork a child running ``job``; its pid."""
        return int(self._ask({"cmd": "fork", "job": job})["pid"])

    def reap(self, pid: int) -> dict[str, Any]:
        """Wait for a child: ``{"signal": n, "code": c}``."""
        return self._ask({"cmd": "reap", "pid": pid})

    def close(self) -> None:
        """Stop the fork server (it leaves when its stdin closes)."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


class Reports:
    """The JSON lines a child writes on its FIFO, read without blocking the clock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.items: list[dict[str, Any]] = []
        self.ended = False
        self._buffer = b""

    def pull(self, timeout: float) -> None:
        """Read what arrives within ``timeout`` seconds."""
        readable, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not readable:
            return
        data = os.read(self.fd, 1 << 16)
        self.ended = not data
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        self.items += [json.loads(line) for line in lines]

    def ready(self) -> bool:
        """Whether the child said ready."""
        return any(r["kind"] == "ready" for r in self.items)


class Child:
    """A forked child: its job, its report FIFO (held open here until it is gone) and log.

    Args:
        forks: The fork server to fork it.
        job: Its job (``fifo`` and ``log`` are added).
        stem: Path of its FIFO and log, without suffix.
    """

    def __init__(self, forks: ForkServer, job: dict[str, Any], stem: Path) -> None:
        self.name, self._forks = stem.name, forks
        self._fifo, self._log = stem.with_suffix(".fifo"), stem.with_suffix(".log")
        os.mkfifo(self._fifo)
        self._read = os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before it dies
        self.reports = Reports(self._read)
        self.started = time.monotonic()
        self.pid = forks.fork({**job, "fifo": str(self._fifo), "log": str(self._log)})

    def wait(self, timeout: float, *, until_ready: bool) -> bool:
        """Read reports until the child is ready (or, without ``until_ready``, has exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(self.pid):
            if until_ready and self.reports.ready():
                return True
            self.reports.pull(0.02)
        return self.reports.ready() if until_ready else not _alive(self.pid)

    def listen(self, seconds: float) -> None:
        """Read reports for ``seconds``."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.reports.pull(until - time.monotonic())

    def end(self, *, kill: bool) -> dict[str, Any]:
        """SIGKILL (or just reap) the child, read the rest of its reports; how it ended."""
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        died = self._forks.reap(self.pid)
        os.close(self._keep)
        while not self.reports.ended:
            self.reports.pull(10)
        os.close(self._read)
        self._fifo.unlink()
        return died

    def tail(self, lines: int = 30) -> str:
        """The end of the child's log (its traceback, when it failed)."""
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _alive(pid: int) -> bool:
    """Whether a process (not ours to wait for) runs: it exists and is no zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
