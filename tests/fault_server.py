"""A small OpenAI-compatible HTTP server on 127.0.0.1 that injects faults on request.

Tests queue faults (``server.script(status(429, retry_after="1"), ok("hi"))``); each incoming
POST takes the next one, and an empty queue answers normally. Every request is recorded
(path, parsed JSON body, arrival time) so tests can check what actually left the client, e.g.
that redaction happened before the request was sent.

Speaks just enough of the API for litellm's ``openai/<alias>`` provider:
``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /health``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What the server does with one request."""

    kind: str
    """One of ok, status, slow, truncated, invalid_json."""
    content: str | None = None
    """Assistant text for ok and slow replies; None echoes the last message's content."""
    status: int = 200
    """HTTP status for kind=status."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. Retry-After)."""
    delay: float = 0.0
    """Seconds to wait before answering (kind=slow)."""


def ok(content: str | None = None) -> Fault:
    return Fault("ok", content=content)


def status(code: int, retry_after: str | None = None) -> Fault:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Fault("status", status=code, headers=headers)


def slow(delay: float, content: str | None = None) -> Fault:
    return Fault("slow", content=content, delay=delay)


def truncated() -> Fault:
    return Fault("truncated")


def invalid_json() -> Fault:
    return Fault("invalid_json")


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    path: str
    body: dict[str, Any]
    at: float


def _chat_body(request: dict[str, Any], content: str | None) -> dict[str, Any]:
    if content is None:
        messages = request.get("messages") or [{}]
        content = f"echo: {messages[-1].get('content', '')}"
    prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fault"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(content.split()),
            "total_tokens": len(prompt.split()) + len(content.split()),
        },
    }


def _embedding_body(request: dict[str, Any]) -> dict[str, Any]:
    texts = request.get("input", [])
    texts = [texts] if isinstance(texts, str) else texts
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0]}
        for i, t in enumerate(texts)
    ]
    n = sum(len(str(t).split()) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": request.get("model", "fault"),
        "usage": {"prompt_tokens": n, "total_tokens": n},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._send(200, {"status": "ok"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        body = json.loads(raw or b"{}")
        owner = self.server.owner
        fault = owner._arrive(self.path, body)
        try:
            self._answer(fault, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing left to tell it
        finally:
            owner._leave()

    def _answer(self, fault: Fault, body: dict[str, Any]) -> None:
        if fault.kind == "slow" and self.server.owner._stopping.wait(fault.delay):
            return
        if fault.kind == "status":
            error = {"error": {"message": f"injected {fault.status}", "type": "fault"}}
            self._send(fault.status, error, fault.headers)
        elif fault.kind == "truncated":
            payload = json.dumps(_chat_body(body, "cut")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        elif fault.kind == "invalid_json":
            self._send_raw(200, b'{"id": "x", "choices": [ this is not json')
        elif self.path.rstrip("/").endswith("embeddings"):
            self._send(200, _embedding_body(body))
        else:
            self._send(200, _chat_body(body, fault.content))

    def _send(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(code, json.dumps(obj).encode(), headers)

    def _send_raw(self, code: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    """Tracks its connections and their threads, so closing it leaves nothing running.

    Clients keep connections alive in a pool, so a handler thread would otherwise sit in a
    blocking read after the test; closing shuts those sockets down and joins the threads.
    """

    daemon_threads = True
    owner: FaultServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._open: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._guard = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fault-server-connection",
            daemon=True,
        )
        with self._guard:
            self._open.add(request)
            self._workers.append(worker)
        worker.start()

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._guard:
            sockets, workers = list(self._open), list(self._workers)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout=10)


class FaultServer:
    """The fault-injecting server; use as a context manager so it always stops."""

    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = _Server(("127.0.0.1", 0))
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server"
        )

    @property
    def api_base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.max_in_flight = 0

    def _arrive(self, path: str, body: dict[str, Any]) -> Fault:
        with self._lock:
            self.requests.append(Recorded(path, body, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._faults.popleft() if self._faults else ok()

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(timeout=10)
