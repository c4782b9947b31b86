"""Per-session control groups for the process backend (root only): a CPU quota and a pids cap.

rlimits are per process (CPU time, address space) or per uid (processes); only a cgroup caps
what a whole process tree takes from the machine, so 64 busy-looping forks of one candidate
share ``Limits.cpus`` cores instead of starving everyone else. cgroup v1 (``cpu`` and ``pids``
hierarchies) and v2 (unified) are both handled; elsewhere ``create`` returns None and the
caller falls back to a lower scheduling priority.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sandbox.base import Limits

CGROUP_FS = Path("/sys/fs/cgroup")
GROUP = "evolve-sandbox"
PERIOD_US = 100_000


class SessionCgroup:
    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @property
    def procs_files(self) -> list[str]:
        """Files the runner writes its pid to, so that all it starts stays inside."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    @classmethod
    def create(cls, name: str, limits: Limits, fs: Path = CGROUP_FS) -> SessionCgroup | None:
        if os.geteuid() != 0:
            return None
        quota = max(1000, int(limits.cpus * PERIOD_US))
        try:
            if (fs / "cpu" / "cpu.cfs_quota_us").exists() and (fs / "pids").is_dir():
                cpu, pids = _make(fs / "cpu" / GROUP / name), _make(fs / "pids" / GROUP / name)
                (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota))
                (pids / "pids.max").write_text(str(limits.pids))
                return cls([cpu, pids])
            if (fs / "cgroup.controllers").exists():
                parent = _make(fs / GROUP)
                (parent / "cgroup.subtree_control").write_text("+cpu +pids")
                group = _make(parent / name)
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                (group / "pids.max").write_text(str(limits.pids))
                return cls([group])
        except OSError:
            return None  # read-only or delegated elsewhere: the caller falls back
        return None

    def remove(self, wait: float = 1.0) -> None:
        """Remove the groups once the killed processes have left them."""
        deadline = time.monotonic() + wait
        for d in self.dirs:
            while d.exists():
                try:
                    d.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break  # swept by remove_stale later
                    time.sleep(0.01)


def _make(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_stale(fs: Path = CGROUP_FS) -> None:
    """Remove empty session groups left by host processes that died without cleaning up."""
    for parent in (fs / "cpu" / GROUP, fs / "pids" / GROUP, fs / GROUP):
        if not parent.is_dir():
            continue
        for d in parent.iterdir():
            owner = d.name.split("-", 1)[0]
            if d.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
                try:
                    d.rmdir()
                except OSError:
                    pass  # still has processes; they are killed by their session's jail
