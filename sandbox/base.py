"""Sandbox and Session protocols, resource limits, and the typed errors of a candidate.

A ``Sandbox`` opens one ``Session`` per evaluation: a fresh isolated process that loads
the candidate's source and answers RPC calls for the functions the verifier may use.
Only JSON-compatible values (and numpy arrays as dtype+shape+bytes) cross the boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from evolve.errors import EvolveError


@dataclass(frozen=True)
class Limits:
    """Resource limits of one session. Problems override these in problem.yaml ``limits:``."""

    call_timeout: float = 10.0  # default wall-clock seconds for one call/map round trip
    cpu_seconds: int = 600  # CPU time of the whole session (rlimit / cgroup)
    memory_mb: int = 1024  # address space (process) or memory limit, no swap (docker)
    pids: int = 64  # processes/threads the candidate may have
    disk_mb: int = 64  # largest file it may write / size of its /tmp
    open_files: int = 64
    cpus: float = 1.0  # docker CPU quota
    output_bytes: int = 64 * 1024  # captured stdout/stderr kept per stream (tail)
    start_timeout: float = 20.0  # seconds for the runner to load the candidate


@dataclass(frozen=True)
class CandidateOutput:
    stdout: str
    stderr: str
    truncated: bool


class SandboxError(EvolveError):
    """Base of everything that can go wrong with a candidate or its sandbox."""


class CandidateTimeout(SandboxError):
    """The candidate did not answer within the timeout; the session was killed."""


class CandidateCrashed(SandboxError):
    """The candidate's process died (exit code, killed by a signal, out of memory)."""

    def __init__(self, message: str, exit_code: int | None = None, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class CandidateError(SandboxError):
    """The candidate raised an exception; the session stays usable."""

    def __init__(self, exc_type: str, message: str, traceback: str = "", index: int | None = None):
        where = f" (call {index})" if index is not None else ""
        super().__init__(f"{exc_type}: {message}{where}")
        self.exc_type = exc_type
        self.exc_message = message
        self.traceback = traceback  # trimmed to frames of the candidate's own file
        self.index = index  # which call of a map() raised


class ProtocolError(SandboxError):
    """Garbage on the RPC channel: the sandbox did not speak the protocol."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run here; the message carries the command that fixes it."""


@runtime_checkable
class Session(Protocol):
    """One sandboxed candidate process serving one evaluation."""

    last_call_seconds: float  # host-timed duration of the last call/map, overhead subtracted

    def call(self, fn: str, *args: Any, timeout: float | None = None) -> Any:
        """Call ``fn(*args)`` in the sandbox and return its (plain-data) result."""
        ...

    def map(
        self, fn: str, calls: Sequence[tuple[Any, ...]], timeout: float | None = None
    ) -> list[Any]:
        """Call ``fn`` once per argument tuple, all in one round trip, results in order.

        The first call that raises aborts the batch with ``CandidateError(index=i)``.
        """
        ...

    def output(self) -> CandidateOutput:
        """What the candidate printed so far (tails, truncated to Limits.output_bytes)."""
        ...

    def close(self) -> None:
        """Kill the candidate and everything it started. Idempotent."""
        ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Sandbox(Protocol):
    name: str  # "process" or "docker"

    def open(
        self,
        files: Mapping[str, str],
        module: str,
        functions: Sequence[str],
        limits: Limits | None = None,
    ) -> Session:
        """Start a session: write ``files`` (name -> source) into a fresh workspace,
        import ``module`` (a file name without .py) and allow calls to ``functions`` only
        (a dotted ``Class.method`` style is not allowed; classes are reached through
        factory functions in the candidate)."""
        ...

    def close(self) -> None:
        """Release pooled resources (warm containers). Idempotent."""
        ...
