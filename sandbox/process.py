"""The process backend: the candidate runs in a restricted subprocess on this machine.

Always: its own session and process group, rlimits (CPU, address space, file size, open
files, no core dumps), a fresh temporary directory, an environment reduced to a short
allow-list. When the host runs as root, the runner also jails itself (``sandbox/jail.py``):
new pid, mount, network, IPC and UTS namespaces, a chroot holding only read-only system
directories, a per-session unprivileged uid with its own process limit, no new privileges.
Without root the filesystem and network stay visible: use Docker for untrusted code there.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.base import Limits, SandboxUnavailable
from sandbox.cgroup import SessionCgroup
from sandbox.cgroup import remove_stale as remove_stale_cgroups
from sandbox.session import RpcSession, Transport, TransportClosed, TransportTimeout

SANDBOX_DIR = Path(__file__).resolve().parent
RUNNER_FILES = ("runner.py", "wire.py", "jail.py")
# Candidates' uids: far above any real account, unique per host process and session, so
# RLIMIT_NPROC (counted per uid) is a per-session budget and sessions cannot signal each other.
UID_BASE = 1_500_000_000
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc")
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# Without a cgroup CPU quota, candidates run at low priority so that a busy-looping fork
# bomb cannot starve the machine.
NICENESS = 10
_session_counter = itertools.count()
WORKSPACE_PREFIX = "evolve-sandbox-"


def candidate_env(home: str) -> dict[str, str]:
    """The whole environment a candidate sees: nothing from the host's."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": home,
        "TMPDIR": "/tmp" if home == "/work" else home,
    }
    env.update(dict.fromkeys(THREAD_ENV, "1"))  # numpy's BLAS must not spawn a thread per core
    return env


def rlimits(limits: Limits, per_uid: bool) -> dict[str, list[int]]:
    mb = 1024 * 1024
    values = {
        "CPU": [limits.cpu_seconds, limits.cpu_seconds + 1],
        "AS": [limits.memory_mb * mb] * 2,
        "FSIZE": [limits.disk_mb * mb] * 2,
        "NOFILE": [limits.open_files] * 2,
        "CORE": [0, 0],
    }
    if per_uid:  # without a uid of its own, NPROC would count every process of the host user
        values["NPROC"] = [limits.pids] * 2
    return values


class PipeTransport(Transport):
    def __init__(
        self, proc: subprocess.Popen[bytes], req_w: int, resp_r: int, limits: Limits, jailed: bool
    ) -> None:
        super().__init__(limits)
        self.jailed = jailed
        assert proc.stdout is not None and proc.stderr is not None
        self.proc, self.req_w, self.resp_r = proc, req_w, resp_r
        self.out_fd, self.err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        self.tails = {self.out_fd: self.stdout, self.err_fd: self.stderr}
        for fd in (req_w, resp_r, self.out_fd, self.err_fd):
            os.set_blocking(fd, False)
        self.poller = select.poll()
        for fd in (resp_r, self.out_fd, self.err_fd):
            self.poller.register(fd, select.POLLIN)
        self.exit_code: int | None = None

    def _collect(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if chunk:
            self.tails[fd].append(chunk)
        else:
            self.poller.unregister(fd)
            self.tails.pop(fd)

    def _poll(self, deadline: float) -> list[tuple[int, int]]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportTimeout
        return self.poller.poll(remaining * 1000 + 1)

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.req_w, view) :]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                raise TransportClosed from None
            self.poller.register(self.req_w, select.POLLOUT)
            try:
                for fd, _ in self._poll(deadline):
                    if fd in self.tails:
                        self._collect(fd)
            finally:
                self.poller.unregister(self.req_w)

    def read(self, deadline: float) -> bytes:
        while True:
            try:
                chunk = os.read(self.resp_r, 1 << 20)
                if not chunk:
                    raise TransportClosed
                return chunk
            except BlockingIOError:
                pass
            for fd, _ in self._poll(deadline):
                if fd in self.tails:
                    self._collect(fd)

    def wait_for_stderr(self, token: bytes, deadline: float) -> None:
        while token not in self.stderr.data and self.err_fd in self.tails:
            try:
                events = self._poll(deadline)
            except TransportTimeout:
                return
            for fd, _ in events:
                if fd in self.tails:
                    self._collect(fd)

    def drain(self) -> None:
        for fd in list(self.tails):
            for _ in range(64):  # bounded: a live candidate may keep printing
                if fd not in self.tails or not select.select([fd], [], [], 0)[0]:
                    break
                self._collect(fd)

    def _end_jail(self) -> int | None:
        try:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, grace: float = 0.0) -> int | None:
        if self.exit_code is None:
            code: int | None = None
            if grace > 0:
                try:
                    code = self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            if self.jailed and code is None:
                code = self._end_jail()
            try:  # the group may outlive its leader: always sweep it
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.exit_code = self.proc.wait() if code is None else code
            self.drain()
            for fd in (self.req_w, self.resp_r):
                os.close(fd)
            assert self.proc.stdout is not None and self.proc.stderr is not None
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.exit_code


class ProcessSession(RpcSession):
    def __init__(
        self,
        transport: PipeTransport,
        limits: Limits,
        workspace: Path,
        isolation: str,
        cgroup: SessionCgroup | None,
    ) -> None:
        super().__init__(transport, limits, "process")
        self.workspace = workspace
        self.isolation = isolation
        self.pid = transport.proc.pid
        # A session dropped without close() (or left open at exit) is still cleaned up.
        self._cleanup = weakref.finalize(self, _release, transport, workspace, cgroup)

    def close(self) -> None:
        super().close()
        self._cleanup()


def _release(transport: PipeTransport, workspace: Path, cgroup: SessionCgroup | None) -> None:
    transport.kill()
    shutil.rmtree(workspace, ignore_errors=True)
    if cgroup is not None:
        cgroup.remove()


class ProcessSandbox:
    """Opens sessions as restricted subprocesses; jailed when the host runs as root."""

    name = "process"

    def __init__(self, *, python: str | None = None, jail: bool | None = None) -> None:
        self.python = python or sys.executable
        self.jail = os.geteuid() == 0 if jail is None else jail
        if self.jail and os.geteuid() != 0:
            raise SandboxUnavailable("the process jail needs root; run as root or use docker")
        remove_stale_workspaces()
        self.cgroups = False
        if self.jail:
            remove_stale_cgroups()
            probe = SessionCgroup.create(f"{os.getpid()}-probe", Limits())
            if probe is not None:
                probe.remove()
                self.cgroups = True
        if not self.jail:
            self.isolation = "rlimits, own process group (not root: no jail)"
        elif self.cgroups:
            self.isolation = "namespaces, chroot, own uid, rlimits, cgroup cpu+pids"
        else:
            self.isolation = "namespaces, chroot, own uid, rlimits (no cgroup: nice 10)"

    def open(
        self,
        files: Mapping[str, str],
        module: str,
        functions: Sequence[str],
        limits: Limits | None = None,
    ) -> ProcessSession:
        limits = limits or Limits()
        workspace = Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{os.getpid()}-"))
        cgroup = None
        try:
            number = next(_session_counter)
            if self.cgroups:
                cgroup = SessionCgroup.create(f"{os.getpid()}-{number}", limits)
            spec = self._prepare(workspace, files, module, functions, limits, number)
            spec["cgroups"] = cgroup.procs_files if cgroup else []
            spec["nice"] = 0 if cgroup else NICENESS
            session = self._spawn(workspace, spec, limits, cgroup)
        except BaseException:
            shutil.rmtree(workspace, ignore_errors=True)
            if cgroup is not None:
                cgroup.remove()
            raise
        session.start()
        return session

    def close(self) -> None:
        """Nothing is pooled: every session owns its process and directory."""

    def _prepare(
        self,
        workspace: Path,
        files: Mapping[str, str],
        module: str,
        functions: Sequence[str],
        limits: Limits,
        number: int,
    ) -> dict[str, Any]:
        rpc = workspace / "rpc"
        rpc.mkdir()
        for name in RUNNER_FILES:
            shutil.copyfile(SANDBOX_DIR / name, rpc / name)
        src = workspace / ("src" if self.jail else "work")
        write_files(src, files)
        spec: dict[str, Any] = {
            "module": module,
            "functions": list(functions),
            "rlimits": rlimits(limits, per_uid=self.jail),
            "workdir": str(src),
            # -S skips site (and its .pth hooks, ~50 ms); the runner adds these paths itself.
            "site_paths": site.getsitepackages(),
        }
        if self.jail:
            uid = UID_BASE + (os.getpid() % 100_000) * 1000 + number % 1000
            (workspace / "root").mkdir()
            binds = [d for d in SYSTEM_DIRS if os.path.exists(d)]
            binds += [p for p in {sys.prefix, sys.base_prefix} if not p.startswith(SYSTEM_DIRS)]
            spec["jail"] = {
                "root": str(workspace / "root"),
                "src": str(src),
                "uid": uid,
                "gid": uid,
                "size_mb": limits.disk_mb,
                "binds": binds,
            }
        return spec

    def _spawn(
        self, workspace: Path, spec: dict[str, Any], limits: Limits, cgroup: SessionCgroup | None
    ) -> ProcessSession:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        spec["rfd"], spec["wfd"] = req_r, resp_w
        home = "/work" if self.jail else spec["workdir"]
        runner = str(workspace / "rpc" / "runner.py")
        try:
            proc = subprocess.Popen(
                [self.python, "-S", "-B", runner, json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(req_r, resp_w),
                cwd=str(workspace),
                env=candidate_env(home),
                start_new_session=True,
            )
        finally:
            os.close(req_r)
            os.close(resp_w)
        transport = PipeTransport(proc, req_w, resp_r, limits, self.jail)
        return ProcessSession(transport, limits, workspace, self.isolation, cgroup)


def remove_stale_workspaces() -> None:
    """Workspaces of host processes that died without closing their sessions."""
    for path in Path(tempfile.gettempdir()).glob(WORKSPACE_PREFIX + "*"):
        owner = path.name[len(WORKSPACE_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


def write_files(directory: Path, files: Mapping[str, str]) -> None:
    """Write the candidate's files, refusing names that would escape ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = (directory / name).resolve()
        if directory.resolve() not in target.parents:
            raise ValueError(f"candidate file name {name!r} escapes the sandbox directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
