"""The Docker backend: one throwaway container per session (the only module importing docker).

Each container: no network, read-only root, a size-limited tmpfs on /tmp, memory without
swap, a CPU quota, a pids limit, every capability dropped, no-new-privileges, uid 65534,
nothing from the host environment, a cleanup label. Nothing is bind-mounted: the runner and
the candidate's files arrive as the first frame on the attach stream, which afterwards
carries the RPC (container stdin/stdout); the candidate's own fd 1 is joined to stderr.

A warm pool keeps ``pool_size`` started containers waiting in that bootstrap, each used
for one session and then removed. Containers left by dead host processes are removed when a
sandbox starts; a sandbox removes its own at close and at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox import wire
from sandbox.base import Limits, SandboxUnavailable
from sandbox.image.build_offline import image_tag
from sandbox.process import rlimits
from sandbox.session import RpcSession, Transport, TransportClosed, TransportTimeout

LABEL = "evolve.sandbox"
SANDBOX_DIR = Path(__file__).resolve().parent
WORKDIR = "/tmp/.evolve/work"
# Runs first in every container: imports what the runner needs, says it is ready (one byte),
# reads one frame (runner sources, candidate files, spec), writes them under /tmp (the only
# writable place) and hands the process to the runner.
READY = b"R"
BOOTSTRAP = """
import importlib.util, json, os, resource, runpy, struct, sys, traceback
os.write(1, b"R")
def take(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
body = take(struct.unpack(">I", take(4))[0])
m = json.loads(body[4 : 4 + struct.unpack(">I", body[:4])[0]])
for base, files in (("/tmp/.evolve", m["rpc"]), ("/tmp/.evolve/work", m["files"])):
    for name, text in files.items():
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
sys.argv = ["/tmp/.evolve/runner.py", json.dumps(m["spec"])]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _client(timeout: int = 30) -> Any:
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable(
            "the docker Python package is missing: pip install docker"
        ) from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise SandboxUnavailable(
            f"the Docker engine does not answer ({type(exc).__name__}); "
            "start it: scripts/setup-sandbox"
        ) from None
    return client


def resource_key(limits: Limits) -> tuple[Any, ...]:
    """The limits baked into a container at creation; pooled containers must match them."""
    return (limits.memory_mb, limits.cpus, limits.pids, limits.disk_mb, limits.open_files)


class AttachTransport(Transport):
    """The container's multiplexed attach stream: stdout frames are RPC, stderr is output."""

    def __init__(self, api: Any, container_id: str, sock: socket.socket, limits: Limits):
        super().__init__(limits)
        self.api, self.container_id, self.sock = api, container_id, sock
        self.sock.setblocking(False)
        self.raw = bytearray()  # multiplexed bytes not yet split into streams
        self.pending = bytearray()  # channel bytes that arrived while waiting for output
        self.eof = False
        self.exit_code: int | None = None
        self.removed = False

    def _demux(self) -> bytes:
        out = bytearray()
        raw, pos = self.raw, 0
        while len(raw) - pos >= 8:
            size = int.from_bytes(raw[pos + 4 : pos + 8], "big")
            end = pos + 8 + size
            if len(raw) < end:
                break
            if raw[pos] == 1:
                out += raw[pos + 8 : end]
            else:
                self.stderr.append(bytes(raw[pos + 8 : end]))
            pos = end
        del raw[:pos]  # once: deleting per frame would move the rest of a large reply each time
        return bytes(out)

    def _fill(self, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout
            if not select.select([self.sock], [], [], remaining)[0]:
                raise TransportTimeout
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.raw += chunk

    def read(self, deadline: float) -> bytes:
        while True:
            data = bytes(self.pending) + self._demux()
            self.pending.clear()
            if data:
                return data
            if self.eof:
                raise TransportClosed
            self._fill(deadline)

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise TransportClosed from None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self.sock], [], remaining)[1]:
                raise TransportTimeout

    def wait_for_stderr(self, token: bytes, deadline: float) -> None:
        while True:
            self.pending += self._demux()  # channel bytes are not expected here; keep them
            if token in self.stderr.data or self.eof:
                return
            try:
                self._fill(deadline)
            except TransportTimeout:
                return

    def drain(self) -> None:
        for _ in range(64):  # bounded: a live candidate may keep printing
            if self.eof or not select.select([self.sock], [], [], 0)[0]:
                break
            self._fill(None)
        self._demux_stderr_only()

    def _demux_stderr_only(self) -> None:
        stray = self._demux()  # channel bytes after the end are of no use; output is kept
        del stray

    def kill(self, grace: float = 0.0) -> int | None:
        if self.removed:
            return self.exit_code
        if grace > 0:
            try:
                code = int(self.api.wait(self.container_id, timeout=grace)["StatusCode"])
                self.exit_code = -(code - 128) if 128 < code < 160 else code
                self.drain()
            except Exception:  # still running after the grace period: it is killed below
                pass
        self.removed = True
        _remove(self.api, self.container_id)
        self.sock.close()
        return self.exit_code


class DockerSession(RpcSession):
    def __init__(self, transport: AttachTransport, limits: Limits, warm: bool) -> None:
        super().__init__(transport, limits, "docker")
        self.container_id = transport.container_id
        self.warm = warm


class DockerSandbox:
    """Opens each session in its own container; keeps a few started ones warm."""

    name = "docker"

    def __init__(
        self, *, image: str | None = None, pool_size: int = 2, limits: Limits | None = None
    ) -> None:
        import docker.errors

        self.client = _client()
        self.image = image or image_tag()
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise SandboxUnavailable(
                f"the sandbox image {self.image} is missing; build it: evolve sandbox build --offline"
            ) from None
        self.api = self.client.api
        self.owner = f"{os.getpid()}"
        self.pool_limits = limits or Limits()
        self.pool_size = pool_size
        self._pool: list[AttachTransport] = []
        self._lock = threading.Lock()
        self._closed = False
        self._refilling = False
        self.remove_leftovers()
        atexit.register(self.close)
        self._refill()

    @property
    def warm(self) -> int:
        """How many started containers are waiting in the pool right now."""
        with self._lock:
            return len(self._pool)

    # -- containers -------------------------------------------------------------------
    def _create(self, limits: Limits) -> AttachTransport:
        from docker.types import Ulimit

        host_config = self.api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={limits.disk_mb}m,mode=1777"},
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            ipc_mode="private",
        )
        created = self.api.create_container(
            self.image,
            command=["python3", "-s", "-B", "-c", BOOTSTRAP],
            user="65534:65534",
            stdin_open=True,
            environment={},
            working_dir="/tmp",
            network_disabled=True,
            labels={LABEL: "1", f"{LABEL}.owner": self.owner},
            host_config=host_config,
        )
        cid = created["Id"]
        try:
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = self.api.attach_socket(cid, params=params)
            self.api.start(cid)
        except Exception:
            _remove(self.api, cid)
            raise
        transport = AttachTransport(self.api, cid, getattr(sock, "_sock", sock), limits)
        try:
            ready = transport.read(time.monotonic() + limits.start_timeout)
        except (TransportTimeout, TransportClosed):
            ready = b""
        if ready != READY:
            transport.kill()
            raise SandboxUnavailable(
                f"a sandbox container of {self.image} did not start; check: evolve sandbox check"
            )
        return transport

    def _refill(self) -> None:
        with self._lock:
            if self._closed or self._refilling or len(self._pool) >= self.pool_size:
                return
            self._refilling = True
        threading.Thread(target=self._refill_loop, name="sandbox-pool", daemon=True).start()

    def _refill_loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._pool) >= self.pool_size:
                        return
                transport = self._create(self.pool_limits)
                with self._lock:
                    if self._closed:
                        transport.kill()
                        return
                    self._pool.append(transport)
        except Exception:
            return  # the pool stays short; open() creates containers cold meanwhile
        finally:
            with self._lock:
                self._refilling = False

    def acquire(self, limits: Limits) -> tuple[AttachTransport, bool]:
        """A started container for ``limits``: from the pool when it matches, else cold."""
        transport = None
        if resource_key(limits) == resource_key(self.pool_limits):
            with self._lock:
                transport = self._pool.pop(0) if self._pool else None
            self._refill()
        if transport is None:
            return self._create(limits), False
        transport.stdout.limit = transport.stderr.limit = limits.output_bytes
        return transport, True

    # -- Sandbox protocol -------------------------------------------------------------
    def open(
        self,
        files: Mapping[str, str],
        module: str,
        functions: Sequence[str],
        limits: Limits | None = None,
    ) -> DockerSession:
        limits = limits or Limits()
        for name in files:
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"candidate file name {name!r} escapes the sandbox directory")
        if self._closed:
            raise SandboxUnavailable("this Docker sandbox is closed; make a new one")
        transport, warm = self.acquire(limits)
        spec = {
            "stdio": True,
            "workdir": WORKDIR,
            "module": module,
            "functions": list(functions),
            "rlimits": rlimits(limits, per_uid=False),
        }
        rpc = {name: (SANDBOX_DIR / name).read_text() for name in ("runner.py", "wire.py")}
        session = DockerSession(transport, limits, warm)
        try:
            deadline = time.monotonic() + limits.start_timeout
            transport.write(wire.dumps({"rpc": rpc, "files": dict(files), "spec": spec}), deadline)
        except (TransportTimeout, TransportClosed):
            session.close()
            raise SandboxUnavailable("a sandbox container did not accept the candidate") from None
        session.start()
        return session

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool, self._pool = self._pool, []
        for transport in pool:
            transport.kill()
        self.remove_owned()

    # -- cleanup ----------------------------------------------------------------------
    def _labelled(self, label: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api.containers(all=True, filters={"label": label})
        return found

    def remove_owned(self) -> None:
        for info in self._labelled(f"{LABEL}.owner={self.owner}"):
            _remove(self.api, info["Id"])

    def remove_leftovers(self) -> int:
        """Remove labelled containers whose host process is gone; returns how many."""
        removed = 0
        for info in self._labelled(LABEL):
            owner = info.get("Labels", {}).get(f"{LABEL}.owner", "")
            if owner.isdigit() and _alive(int(owner)):
                continue
            _remove(self.api, info["Id"])
            removed += 1
        return removed


def _remove(api: Any, container_id: str) -> None:
    """Force-remove; a container already gone or being removed by someone else is fine."""
    import docker.errors

    try:
        api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: removal already in progress
            raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
