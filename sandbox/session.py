"""The host side of a sandbox session, shared by the process and Docker backends.

A backend supplies a ``Transport`` (bytes in and out of the sandbox, the candidate's output
streams, kill); ``RpcSession`` turns it into calls with deadlines, typed errors and host-side
timing. The timing is taken here, around the round trip, minus the median of empty round
trips measured when the session opens; nothing the candidate reports is trusted.
"""

from __future__ import annotations

import os
import statistics
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NoReturn

from sandbox import wire
from sandbox.base import (
    CandidateCrashed,
    CandidateError,
    CandidateOutput,
    CandidateTimeout,
    Limits,
    ProtocolError,
    SandboxError,
)

CALIBRATION_PINGS = 21


class TransportTimeout(Exception):
    """The deadline passed before the sandbox answered."""


class TransportClosed(Exception):
    """The sandbox closed the channel: its process ended."""


class OutputTail:
    """Keeps the last ``limit`` bytes of a stream and whether anything was dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.total = 0

    def append(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]

    def remove(self, token: bytes) -> None:
        at = self.data.rfind(token)
        if at >= 0:
            del self.data[at : at + len(token)]
            self.total -= len(token)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Transport(ABC):
    """Bytes to and from one sandbox; reading also collects the candidate's output."""

    def __init__(self, limits: Limits) -> None:
        self.stdout = OutputTail(limits.output_bytes)
        self.stderr = OutputTail(limits.output_bytes)

    @abstractmethod
    def write(self, data: bytes, deadline: float) -> None:
        """Send all of ``data``; raise TransportTimeout or TransportClosed."""

    @abstractmethod
    def read(self, deadline: float) -> bytes:
        """Return some channel bytes (never empty); raise TransportTimeout or TransportClosed."""

    @abstractmethod
    def wait_for_stderr(self, token: bytes, deadline: float) -> None:
        """Collect output until ``token`` has arrived on stderr or the deadline passes."""

    @abstractmethod
    def drain(self) -> None:
        """Collect whatever output is ready without blocking (after a crash or kill)."""

    @abstractmethod
    def kill(self, grace: float = 0.0) -> int | None:
        """Kill the sandbox and everything in it; return its exit code when known.

        ``grace`` seconds are first given to a sandbox that is already ending by itself,
        so that its own exit code is reported rather than our SIGKILL."""


class RpcSession:
    """A ``sandbox.base.Session`` over any transport."""

    def __init__(self, transport: Transport, limits: Limits, backend: str) -> None:
        self.transport = transport
        self.limits = limits
        self.backend = backend
        self.last_call_seconds = 0.0
        self.overhead_seconds = 0.0
        self._buffer = bytearray()
        self._ended: SandboxError | None = None
        self._closed = False

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Wait for the candidate to load, then calibrate the empty round trip."""
        deadline = time.monotonic() + self.limits.start_timeout
        try:
            hello = self._receive(deadline, "loading the candidate")
        except SandboxError:
            self.close()
            raise
        if "load_error" in hello:
            self.close()
            raise _candidate_error(hello["load_error"], "the candidate failed to load: ")
        if hello.get("ready") is not True:
            self._end(ProtocolError(f"expected a ready message, got {str(hello)[:200]}"))
        samples = []
        for _ in range(CALIBRATION_PINGS):
            self._round_trip({"op": "ping"}, self.limits.start_timeout, "ping")
            samples.append(self.last_call_seconds)
        self.overhead_seconds = statistics.median(samples[1:])
        self.last_call_seconds = 0.0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.transport.kill()
        if self._ended is None:
            self._ended = CandidateCrashed("the session was closed")

    def __enter__(self) -> RpcSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._ended is None

    # -- calls ------------------------------------------------------------------------
    def call(self, fn: str, *args: Any, timeout: float | None = None) -> Any:
        reply = self._round_trip({"op": "call", "fn": fn, "args": list(args)}, timeout, fn)
        return _unwrap(reply)

    def map(
        self, fn: str, calls: Sequence[tuple[Any, ...]], timeout: float | None = None
    ) -> list[Any]:
        message = {"op": "map", "fn": fn, "calls": [list(args) for args in calls]}
        result = _unwrap(self._round_trip(message, timeout, fn))
        if not isinstance(result, list) or len(result) != len(calls):
            self._end(ProtocolError(f"map of {len(calls)} calls got a malformed reply"))
        return result

    def output(self) -> CandidateOutput:
        if self._ended is None:
            try:
                self._sync_output()
            except SandboxError:
                pass  # a candidate too busy to answer ends its session; report what arrived
        self.transport.drain()
        out, err = self.transport.stdout, self.transport.stderr
        return CandidateOutput(out.text(), err.text(), out.truncated or err.truncated)

    # -- internals --------------------------------------------------------------------
    def _sync_output(self) -> None:
        """Output travels apart from replies (and in Docker through extra hops), so a reply
        can overtake what was printed before it; a marker on stderr says "all is here"."""
        token = f"\n<evolve-sync-{os.urandom(8).hex()}>".encode()
        timed = self.last_call_seconds
        self._round_trip({"op": "mark", "token": token.decode()}, None, "output")
        self.last_call_seconds = timed
        self.transport.wait_for_stderr(token, time.monotonic() + 2.0)
        self.transport.stderr.remove(token)

    def _round_trip(self, message: dict[str, Any], timeout: float | None, what: str) -> Any:
        if self._ended is not None:
            raise type(self._ended)(f"the session already ended: {self._ended}")
        data = wire.dumps(message)  # a WireError here is the caller's bug, not the candidate's
        limit = self.limits.call_timeout if timeout is None else timeout
        start = time.perf_counter()
        deadline = time.monotonic() + limit
        try:
            self.transport.write(data, deadline)
        except TransportTimeout:
            self._end(CandidateTimeout(f"{what} did not read its input within {limit:g} s"))
        except TransportClosed:
            self._crashed(what)
        reply = self._receive(deadline, what, limit)
        self.last_call_seconds = max(0.0, time.perf_counter() - start - self.overhead_seconds)
        return reply

    def _receive(self, deadline: float, what: str, limit: float | None = None) -> Any:
        buffer = self._buffer
        try:
            while len(buffer) < wire.HEADER.size:
                buffer += self.transport.read(deadline)
            size = wire.frame_length(bytes(buffer[: wire.HEADER.size])) + wire.HEADER.size
            while len(buffer) < size:
                buffer += self.transport.read(deadline)
            body = bytes(buffer[wire.HEADER.size : size])
            del buffer[:size]
            message = wire.loads(body)
        except TransportTimeout:
            seconds = self.limits.start_timeout if limit is None else limit
            self._end(CandidateTimeout(f"{what} did not answer within {seconds:g} s"))
        except TransportClosed:
            self._crashed(what)
        except wire.WireError as exc:
            self._end(ProtocolError(f"garbage on the sandbox channel: {exc}"))
        if not isinstance(message, dict):
            self._end(ProtocolError(f"garbage on the sandbox channel: {str(message)[:200]}"))
        return message

    def _crashed(self, what: str) -> NoReturn:
        code = self.transport.kill(grace=2.0)
        tail = self.transport.stderr.text()[-2000:]
        if code is not None and code < 0:
            how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        last = tail.strip().splitlines()[-1:] if tail.strip() else []
        detail = f": {last[0][:300]}" if last else ""
        self._end(CandidateCrashed(f"the candidate {how} during {what}{detail}", code, tail))

    def _end(self, error: SandboxError) -> NoReturn:
        """Kill the sandbox, remember why, and raise ``error``; the session is over."""
        self._ended = error
        self.close()
        raise error


def _candidate_error(err: Any, prefix: str = "") -> CandidateError:
    if not isinstance(err, dict):
        return CandidateError("ProtocolError", f"malformed error reply {str(err)[:200]}")
    return CandidateError(
        str(err.get("type", "Exception")),
        prefix + str(err.get("message", "")),
        str(err.get("tb", "")),
        err.get("index") if isinstance(err.get("index"), int) else None,
    )


def _unwrap(reply: dict[str, Any]) -> Any:
    if "ok" in reply:
        return reply["ok"]
    if "err" in reply:
        raise _candidate_error(reply["err"])
    raise ProtocolError(f"garbage on the sandbox channel: {str(reply)[:200]}")
