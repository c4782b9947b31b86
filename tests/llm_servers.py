"""Loopback LLM servers speaking the OpenAI and Anthropic wire protocols.

No LLM API is reachable from the test machines, so the real SDK clients (openai,
anthropic, and litellm on top of them) are pointed at these servers instead. Replies are
scripted one request at a time and can inject the faults a real endpoint shows: 429 with
Retry-After, 500, a reply slower than the caller's deadline, malformed JSON and empty choices.

``no_network`` refuses every connection that is not to the loopback interface, so a test
that would reach the internet fails loudly instead of hanging or leaking a request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

ReplyKind = Literal["ok", "rate_limit", "server_error", "slow", "malformed", "empty", "status"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``delay`` applies to every kind; ``slow`` is ``ok`` after it."""

    kind: ReplyKind = "ok"
    text: str = "hello"
    input_tokens: int = 120
    output_tokens: int = 30
    retry_after: float | None = None
    delay: float = 0.0
    status: int = 400  # for kind "status": any error code (401 bad key, 404 no model, ...)


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (its deadline fired, its loop closed) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedLLMServer:
    """A threaded HTTP server on 127.0.0.1 with an ephemeral port.

    Requests take replies from ``script`` in order, then ``default``; a ``responder`` (if
    given) decides instead, from the decoded request body.
    """

    def __init__(
        self,
        script: list[Reply] | None = None,
        default: Reply | None = None,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self.script: deque[Reply] = deque(script or [])
        self.default = default or Reply()
        self.responder = responder
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.responder is not None:
                return self.responder(body)
            return self.script.popleft() if self.script else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # keep pytest output clean

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                path = self.path.split("?")[0]
                with server._lock:
                    server.seen.append(Seen(path, body, dict(self.headers.items())))
                reply = server._next_reply(body)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._serve(path, body, reply)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _serve(self, path: str, body: dict[str, Any], reply: Reply) -> None:
                delay = reply.delay or (5.0 if reply.kind == "slow" else 0.0)
                if delay and server._stopping.wait(delay):
                    return
                try:
                    if path.endswith("/chat/completions"):
                        self._answer(*_openai_reply(reply, body))
                    elif path.endswith("/messages"):
                        self._answer(*_anthropic_reply(reply, body))
                    else:
                        self._answer(404, {}, b'{"error": {"message": "no such route"}}')
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its deadline fired): expected

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _error_reply(reply: Reply, kind: str) -> tuple[int, dict[str, str], bytes] | None:
    if reply.kind == "rate_limit":
        headers = {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
        body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
        return 429, headers, json.dumps(body).encode()
    if reply.kind == "server_error":
        body = {"type": "error", "error": {"type": kind, "message": "internal failure"}}
        return 500, {}, json.dumps(body).encode()
    if reply.kind == "status":
        body = {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}}
        return reply.status, {}, json.dumps(body).encode()
    if reply.kind == "malformed":
        return 200, {}, b'{"id": "cut-off", "choices": [{"message": '
    return None


def _openai_reply(reply: Reply, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    failure = _error_reply(reply, "server_error")
    if failure is not None:
        return failure
    choices = (
        []
        if reply.kind == "empty"
        else [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ]
    )
    payload = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": choices,
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }
    return 200, {}, json.dumps(payload).encode()


def _anthropic_reply(reply: Reply, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    failure = _error_reply(reply, "api_error")
    if failure is not None:
        return failure
    content = [] if reply.kind == "empty" else [{"type": "text", "text": reply.text}]
    payload = {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "unknown"),
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }
    return 200, {}, json.dumps(payload).encode()


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    text = host.decode() if isinstance(host, bytes) else str(host)
    return text in _LOOPBACK_NAMES or text.startswith("127.")


FAKE_KEYS = {"OPENAI_API_KEY": "sk-test-loopback", "ANTHROPIC_API_KEY": "sk-ant-test-loopback"}


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fake keys, no proxy or base-URL variables that could send a client elsewhere, litellm
    on its bundled price map, and every non-loopback connection refused.

    Yields the list of refused attempts; the test fails if any is left in it at the end
    (an SDK that quietly swallowed a refused request would otherwise go unnoticed)."""
    for var in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, value in FAKE_KEYS.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with no_network() as refused:
        yield refused
    assert not refused, f"the test tried to reach the network: {refused}"


@contextlib.contextmanager
def no_network() -> Iterator[list[str]]:
    """Refuse name lookups and connections to anything but loopback, for the block;
    yields the list of what was refused."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            refused.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"test tried to reach {address!r}: network is off")

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            refused.append(f"resolve {host!r}")
            raise socket.gaierror(f"test tried to resolve {host!r}: network is off")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
