"""Helpers shared by the sandbox tests: opening a backend, and checking for leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.base import Sandbox, SandboxUnavailable


def open_backend(kind: str) -> Sandbox:
    """The named backend, or a skip (locally) / failure (CI=true) when Docker is missing."""
    if kind == "process":
        from sandbox.process import ProcessSandbox

        return ProcessSandbox()
    try:
        from sandbox.docker import DockerSandbox

        return DockerSandbox(pool_size=1)
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Docker is required when CI=true: {exc}")
        pytest.skip(f"Docker is not usable here: {exc}")


def processes() -> list[tuple[int, int, int, str]]:
    """(pid, pgid, uid, command line) of every process on the machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            uid = int((entry / "status").read_text().split("\nUid:")[1].split()[0])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
        pgid = int(stat.rsplit(")", 1)[1].split()[3])
        found.append((int(entry.name), pgid, uid, cmdline))
    return found


def leftover_processes(pgid: int) -> list[tuple[int, int, int, str]]:
    return [p for p in processes() if p[1] == pgid]


def labelled_containers(label: str) -> list[str]:
    if shutil.which("docker") is None:
        return []
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.split()
