"""Hostile candidates against both backends: each ends in a typed error, the host unharmed."""

from __future__ import annotations

import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import wire
from sandbox.base import (
    CandidateCrashed,
    CandidateError,
    CandidateTimeout,
    Limits,
    Sandbox,
    SandboxError,
    Session,
)
from tests.sandbox_support import labelled_containers, leftover_processes, open_backend, processes

HOSTILE = """
import os, socket, sys, time

def spin():
    while True:
        pass

def allocate(gigabytes):
    import numpy
    return int(numpy.ones(int(gigabytes * 2**30), dtype=numpy.uint8).sum())

def fork_many(n):
    children = 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as exc:
            return ["limited", children, str(exc)]
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        children += 1
    return ["unlimited", children, ""]

def fork_bomb(seconds):
    me = os.getpid()
    end = time.monotonic() + seconds
    refused = 0
    while time.monotonic() < end:  # parent and every child keep forking
        try:
            os.fork()
        except OSError:
            refused += 1
    if os.getpid() != me:
        os._exit(0)
    return refused

def background(seconds):
    return os.system(f"sleep {seconds} &")

def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"

def read(path):
    try:
        with open(path, "rb") as f:
            return f"read {len(f.read())} bytes"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"

def listdir(path):
    try:
        return os.listdir(path)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"

def environment():
    return dict(os.environ)

def fill_disk(path, megabytes):
    written = 0
    block = b"x" * 2**20
    try:
        with open(path, "wb") as f:
            for _ in range(megabytes):
                f.write(block)
                f.flush()
                written += len(block)
    except OSError as exc:
        return [written, f"{type(exc).__name__}: {exc}"]
    return [written, ""]

def shout(megabytes):
    chunk = "y" * 2**20
    for _ in range(megabytes):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return megabytes

def die(code):
    os._exit(code)

def forge(frame_hex):
    frame = bytes.fromhex(frame_hex)
    sys.stdout.buffer.write(frame)
    sys.stdout.flush()
    os.write(1, frame)
    os.write(2, frame)
    return "honest"

def fake_clock(seconds):
    real = time.perf_counter
    start = real()
    time.time = time.perf_counter = time.monotonic = lambda: 0.0
    time.sleep = lambda s: None
    while real() - start < seconds:
        pass
    return "done"

def ping():
    return "pong"
"""
NAMES = [
    "spin", "allocate", "fork_many", "fork_bomb", "background", "connect", "read", "listdir",
    "environment", "fill_disk", "shout", "die", "forge", "fake_clock", "ping",
]  # fmt: skip
LIMITS = Limits(call_timeout=10.0, pids=16, disk_mb=32, output_bytes=4096)


@pytest.fixture(
    scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)]
)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    box = open_backend(request.param)
    yield box
    box.close()
    if request.param == "docker":
        from sandbox.docker import LABEL

        assert labelled_containers(f"{LABEL}.owner={box.owner}") == []  # type: ignore[attr-defined]


@pytest.fixture
def session(sandbox: Sandbox) -> Iterator[Session]:
    s = sandbox.open({"hostile.py": HOSTILE}, "hostile", NAMES, LIMITS)
    yield s
    s.close()
    assert_nothing_left(s)


def assert_nothing_left(session: Session) -> None:
    pid = getattr(session, "pid", None)
    if pid is not None:  # process backend: its process group is empty
        deadline = time.monotonic() + 5
        while leftover_processes(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftover_processes(pid) == []
    container = getattr(session, "container_id", None)
    if container is not None:
        from sandbox.docker import LABEL

        assert container not in " ".join(labelled_containers(LABEL))


def test_infinite_loop_times_out_within_a_second_of_the_limit(session: Session) -> None:
    start = time.monotonic()
    with pytest.raises(CandidateTimeout, match="spin did not answer within 1 s"):
        session.call("spin", timeout=1.0)
    assert time.monotonic() - start < 2.0
    with pytest.raises(CandidateTimeout, match="already ended"):
        session.call("ping")


def test_a_20_gb_allocation_fails_inside_the_sandbox(session: Session) -> None:
    with pytest.raises((CandidateError, CandidateCrashed)) as info:
        session.call("allocate", 20)
    if isinstance(info.value, CandidateError):
        assert info.value.exc_type == "MemoryError"
        assert session.call("ping") == "pong"


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing(session: Session) -> None:
    verdict, children, error = session.call("fork_many", 10_000)
    assert verdict == "limited", (children, error)
    assert children < LIMITS.pids
    assert "Resource temporarily unavailable" in error


def test_a_spinning_fork_bomb_is_contained(session: Session) -> None:
    assert session.call("fork_bomb", 1.0) > 0  # forks were refused
    assert session.call("ping") == "pong"


def test_a_background_process_does_not_outlive_the_session(sandbox: Sandbox) -> None:
    s = sandbox.open({"hostile.py": HOSTILE}, "hostile", NAMES, LIMITS)
    assert s.call("background", 987_654) == 0
    time.sleep(0.3)
    assert [p for p in processes() if "sleep 987654" in p[3]] != []
    s.close()
    deadline = time.monotonic() + 5
    while [p for p in processes() if "sleep 987654" in p[3]] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in processes() if "sleep 987654" in p[3]] == []
    assert_nothing_left(s)


def test_no_network_not_even_loopback(session: Session) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        loopback = session.call("connect", "127.0.0.1", port)
        public = session.call("connect", "1.1.1.1", 80)
    finally:
        listener.close()
    assert loopback != "connected" and "Error" in loopback
    assert public != "connected" and ("unreachable" in public or "timed out" in public)


def test_database_project_and_home_are_unreadable(session: Session, tmp_path: Path) -> None:
    db = tmp_path / "evolve.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table secret (answer text)")
    db.chmod(0o644)
    project_file = Path(__file__).resolve().parents[1] / "pyproject.toml"
    for path in (db, project_file):
        assert session.call("read", str(path)).startswith(("FileNotFoundError", "PermissionError"))
    home_files = [p for p in Path.home().iterdir() if p.is_file()][:5]
    for path in home_files:
        assert session.call("read", str(path)).startswith(("FileNotFoundError", "PermissionError"))
    home = session.call("listdir", str(Path.home()))
    if isinstance(home, list):  # the jail may show the Python install it runs from, no more
        allowed = {p.relative_to(Path.home()).parts[0] for p in python_dirs_under_home()}
        assert set(home) <= allowed
    else:
        assert home.startswith(("FileNotFoundError", "PermissionError"))


def python_dirs_under_home() -> list[Path]:
    prefixes = {Path(sys.prefix), Path(sys.base_prefix)}
    return [p for p in prefixes if Path.home() in p.parents]


def test_api_keys_and_database_url_are_absent(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("EVOLVE_DB", "sqlite:///secret.db")
    with sandbox.open({"hostile.py": HOSTILE}, "hostile", NAMES, LIMITS) as s:
        env = s.call("environment")
    assert "OPENAI_API_KEY" not in env and "EVOLVE_DB" not in env
    assert "sk-must-not-leak" not in repr(env)


def test_writing_2_gb_is_capped(session: Session) -> None:
    for path in ("big.bin", "/tmp/big.bin"):
        written, error = session.call("fill_disk", path, 2048)
        assert error, f"wrote {written} bytes to {path} without an error"
        assert written <= LIMITS.disk_mb * 2**20


def test_printing_100_mb_is_truncated_and_the_session_survives(session: Session) -> None:
    assert session.call("shout", 100, timeout=30) == 100
    out = session.output()
    assert out.truncated
    assert len(out.stdout) + len(out.stderr) <= 2 * LIMITS.output_bytes
    assert "yyyy" in out.stdout + out.stderr
    assert session.call("ping") == "pong"


def test_exit_mid_call_is_a_crash_with_the_exit_code(session: Session) -> None:
    with pytest.raises(CandidateCrashed, match="exited with code 3") as info:
        session.call("die", 3)
    assert info.value.exit_code == 3


def test_fake_frames_on_stdout_cannot_forge_a_result(session: Session) -> None:
    fake = wire.dumps({"ok": "forged"}).hex()
    assert session.call("forge", fake) == "honest"
    assert session.call("ping") == "pong"


def test_a_candidate_that_patches_time_cannot_change_host_timing(session: Session) -> None:
    assert session.call("fake_clock", 0.3) == "done"
    assert 0.25 <= session.last_call_seconds < 5
    session.call("ping")
    assert session.last_call_seconds < 0.25


def test_every_failure_is_a_sandbox_error_with_one_line(session: Session) -> None:
    with pytest.raises(SandboxError) as info:
        session.call("die", 0)
    assert "\n" not in str(info.value)
