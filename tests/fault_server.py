"""A small OpenAI-compatible HTTP server on 127.0.0.1 that injects faults on request.

Tests queue faults (``server.script(status(429, retry_after="1"), ok("hi"))``); each incoming
POST takes the next one, and an empty queue answers normally. Every request is recorded
(path, parsed JSON body, arrival time) so tests can check what actually left the client, e.g.
that redaction happened before the request was sent.

Speaks just enough of the API for litellm's ``openai/<alias>`` provider:
``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /health``.

The faults, one constructor each: :func:`ok` (optionally with chosen text, e.g. valid JSON of
the wrong shape: :func:`wrong_json`), :func:`status` (an HTTP error, with ``Retry-After``),
:func:`slow` (answers late), :func:`hang` (never answers while the client waits),
:func:`truncated` (a JSON body cut short), :func:`invalid_json`, :func:`empty` (content
``""``), :func:`null_content` (content ``null``), :func:`no_choices` (``choices: []``),
:func:`truncated_stream` (server-sent events cut mid-chunk, no ``[DONE]``), :func:`html`
(HTTP 200 with an HTML error page) and :func:`connection_reset` (a TCP reset mid-body).
On ``/v1/embeddings`` the answer faults have their embedding twins: ``data: []`` (empty),
``embedding: null`` (null_content), no ``data`` at all (no_choices), a JSON body of the wrong
shape (wrong_json).

Besides the queue, :meth:`FaultServer.always` gives every request whose text contains a
marker the same fault (one item that never gets an answer, however often it is retried), and
:attr:`FaultServer.default` is what the rest get (a normal answer with chosen text, so each
caller can be sent what it expects from a healthy model).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
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
    """One of ok, status, slow, hang, truncated, invalid_json, empty, null_content,
    no_choices, wrong_json, truncated_stream, html, connection_reset."""
    content: str | None = None
    """Assistant text for ok, slow and wrong_json replies; None echoes the last message."""
    status: int = 200
    """HTTP status for kind=status."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. Retry-After)."""
    delay: float = 0.0
    """Seconds to wait before answering (kind=slow)."""


def ok(content: str | None = None) -> Fault:
    """A normal answer: ``content``, or an echo of the last message when None."""
    return Fault("ok", content=content)


WRONG_JSON = '{"answer": 42, "note": "valid JSON, but not what was asked for"}'
"""The text of :func:`wrong_json`: parses, but matches no schema the workbench asks for."""


def wrong_json() -> Fault:
    """A normal answer whose content is valid JSON of the wrong shape.

    On ``/v1/embeddings`` the whole body is that JSON instead.
    """
    return Fault("wrong_json", content=WRONG_JSON)


def status(code: int, retry_after: str | None = None) -> Fault:
    """An HTTP error ``code`` with an OpenAI-style error body, optionally ``Retry-After``."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Fault("status", status=code, headers=headers)


def slow(delay: float, content: str | None = None) -> Fault:
    """A normal answer after ``delay`` seconds."""
    return Fault("slow", content=content, delay=delay)


def hang() -> Fault:
    """No answer at all until the client hangs up (its timeout) or the server stops."""
    return Fault("hang")


def truncated() -> Fault:
    """A JSON body that stops half-way although Content-Length promised all of it."""
    return Fault("truncated")


def invalid_json() -> Fault:
    """HTTP 200 whose JSON body is malformed."""
    return Fault("invalid_json")


def empty() -> Fault:
    """A well-formed answer whose assistant content is the empty string."""
    return Fault("empty")


def null_content() -> Fault:
    """A well-formed answer whose assistant content is ``null``."""
    return Fault("null_content")


def no_choices() -> Fault:
    """A well-formed answer with ``choices: []``."""
    return Fault("no_choices")


def truncated_stream() -> Fault:
    """Server-sent ``data:`` chunks, the last cut mid-way, no ``[DONE]``, then a close.

    Sent whether or not the request asked to stream: a client that did not ask gets an
    event stream where it expected JSON; one that did gets a stream that ends too early.
    """
    return Fault("truncated_stream")


def html() -> Fault:
    """HTTP 200 with an HTML error page, as a misconfigured proxy or gateway sends."""
    return Fault("html")


def connection_reset() -> Fault:
    """Headers and part of the body, then a TCP reset (RST) instead of the rest."""
    return Fault("connection_reset")


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


def _odd_chat_body(request: dict[str, Any], kind: str) -> dict[str, Any]:
    """A well-formed chat answer with empty content, null content or no choices."""
    body = _chat_body(request, "")
    if kind == "null_content":
        body["choices"][0]["message"]["content"] = None
    elif kind == "no_choices":
        body["choices"] = []
    return body


def _stream_chunks(request: dict[str, Any]) -> bytes:
    """An event stream of three chunks, the last cut in the middle of its JSON, no [DONE]."""
    chunks = []
    for piece in ("The reply ", "looks fine.\nVERDICT: ", "PASS"):
        chunk = {
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.get("model", "fault"),
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        chunks.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    chunks[-1] = chunks[-1][: len(chunks[-1]) // 2]
    return b"".join(chunks)


_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server did not answer.</p>"
    b"<hr><address>nginx</address></body></html>\n"
)


def _odd_embedding_body(request: dict[str, Any], kind: str) -> Any:
    """The embedding twin of an answer fault: no vectors, null vectors, no data, wrong JSON."""
    if kind == "wrong_json":
        return json.loads(WRONG_JSON)
    body = _embedding_body(request)
    if kind == "empty":
        body["data"] = []
    elif kind == "null_content":
        for item in body["data"]:
            item["embedding"] = None
    else:
        del body["data"]
    return body


def request_text(body: dict[str, Any]) -> str:
    """The text a request carries: its messages' contents, or the texts to embed."""
    texts = body.get("input", [])
    parts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
    parts += [str(m.get("content", "")) for m in body.get("messages", [])]
    return "\n".join(parts)


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
        if fault.kind == "hang":
            self._wait_for_hang_up()
        elif fault.kind in _BROKEN:
            _BROKEN[fault.kind](self, body)
        elif fault.kind == "status":
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
            odd = fault.kind in ("empty", "null_content", "no_choices", "wrong_json")
            self._send(200, _odd_embedding_body(body, fault.kind) if odd else _embedding_body(body))
        elif fault.kind in ("empty", "null_content", "no_choices"):
            self._send(200, _odd_chat_body(body, fault.kind))
        else:
            self._send(200, _chat_body(body, fault.content))

    def _wait_for_hang_up(self) -> None:
        """Say nothing until the client closes its end or the server stops."""
        stopping = self.server.owner._stopping
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(self.connection, select.POLLIN | select.POLLHUP)
        while not stopping.wait(0.05):
            if poller.poll(0) and not self.connection.recv(1, socket.MSG_PEEK):
                break  # the client gave up
        self.close_connection = True

    def _truncated_stream(self, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(_stream_chunks(body))
        self.wfile.flush()
        self.close_connection = True

    def _html_page(self, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_HTML_PAGE)))
        self.end_headers()
        self.wfile.write(_HTML_PAGE)

    def _reset(self, body: dict[str, Any]) -> None:
        payload = json.dumps(_chat_body(body, "about to be cut")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 3])
        self.wfile.flush()
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        linger = struct.pack("ii", 1, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.connection.close()
        self.close_connection = True

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


_BROKEN = {
    "truncated_stream": _Handler._truncated_stream,
    "html": _Handler._html_page,
    "connection_reset": _Handler._reset,
}
"""Faults that write their own response, by kind."""


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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (killed, timed out) is normal here: no traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

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
        self._rules: list[tuple[str, Fault]] = []
        self.default = ok()
        """What a request gets when no rule matches and the queue is empty."""
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

    @property
    def pending(self) -> int:
        """Queued faults not handed out yet."""
        with self._lock:
            return len(self._faults)

    def always(self, fault: Fault, when: str) -> None:
        """Answer every request whose text contains ``when`` with ``fault`` (queue untouched).

        The text is what :func:`request_text` returns; the first matching rule wins.
        """
        with self._lock:
            self._rules.append((when, fault))

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rules.clear()
            self.default = ok()
            self.requests.clear()
            self.max_in_flight = 0

    def _arrive(self, path: str, body: dict[str, Any]) -> Fault:
        text = request_text(body)
        with self._lock:
            self.requests.append(Recorded(path, body, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            for marker, fault in self._rules:
                if marker in text:
                    return fault
            return self._faults.popleft() if self._faults else self.default

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
