"""The program that runs inside a sandbox: loads the candidate and serves the RPC.

Stdlib-only and standalone: it is copied, with ``wire.py`` next to it, into every sandbox
(a temporary directory or a container) where the project is not installed. It is started
as ``python3 -s runner.py SPEC_JSON``; SPEC says where the channel is, which module and
functions to serve, the rlimits, and (process backend running as root) how to jail itself.

The channel is a pair of file descriptors that the candidate's ``print`` never reaches, so
text printed on stdout cannot be mistaken for a reply. Requests are ``{"op": "call"|"map"|
"ping", ...}``; replies are ``{"ok": value}`` or ``{"err": {...}}``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_sibling(name: str) -> ModuleType:
    # Loaded by path under a private name, so a candidate file called wire.py is its own.
    path = os.path.join(HERE, name + ".py")
    spec = importlib.util.spec_from_file_location("_evolve_" + name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wire = _load_sibling("wire")


class Channel:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def _read_exact(self, n: int) -> bytes | None:
        chunks: list[bytes] = []
        while n:
            chunk = os.read(self.rfd, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> Any:
        header = self._read_exact(wire.HEADER.size)
        if header is None:
            return None
        body = self._read_exact(wire.frame_length(header))
        return None if body is None else wire.loads(body)

    def send(self, message: Any) -> None:
        try:
            data = wire.dumps(message)
        except (wire.WireError, TypeError, ValueError) as exc:
            data = wire.dumps({"err": {"type": "WireError", "message": str(exc), "tb": ""}})
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view) :]


def describe(exc: BaseException, workdir: str, index: int | None = None) -> dict[str, Any]:
    """An exception as plain data, with the traceback trimmed to the candidate's files."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(workdir + "/")
    ]
    for f in frames:
        f.filename = os.path.relpath(f.filename, workdir)
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "tb": "".join(lines)[-8000:],
        "index": index,
    }


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a candidate may have replaced or closed the stream
            pass


def serve(chan: Channel, functions: dict[str, Callable[..., Any]], workdir: str) -> None:
    while True:
        request = chan.recv()
        if request is None:
            return  # the host closed the channel
        op = request.get("op")
        if op == "ping":
            chan.send({"ok": None})
            continue
        if op == "mark":  # lets the host know when it has all output printed so far
            flush_output()
            os.write(2, str(request["token"]).encode())
            chan.send({"ok": None})
            continue
        fn = functions.get(request.get("fn", ""))
        if fn is None:
            message = f"{request.get('fn')!r} is not one of the callable functions"
            chan.send({"err": {"type": "NameError", "message": message, "tb": "", "index": None}})
            continue
        reply: dict[str, Any]
        index: int | None = None
        try:
            if op == "call":
                reply = {"ok": fn(*request["args"])}
            else:
                results: list[Any] = []
                for args in request["calls"]:
                    index = len(results)
                    results.append(fn(*args))
                reply = {"ok": results}
        except BaseException as exc:  # SystemExit and friends are candidate errors too
            reply = {"err": describe(exc, workdir, index)}
        flush_output()
        chan.send(reply)


def load(
    workdir: str, module: str, names: list[str]
) -> tuple[dict[str, Callable[..., Any]] | None, dict[str, Any] | None]:
    sys.path.insert(0, workdir)
    try:
        mod = importlib.import_module(module)
        functions = {}
        for name in names:
            fn = getattr(mod, name, None)
            if not callable(fn):
                raise AttributeError(f"module {module!r} has no function {name!r}")
            functions[name] = fn
    except BaseException as exc:
        flush_output()
        return None, describe(exc, workdir)
    flush_output()
    return functions, None


def set_rlimits(limits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in limits.items():
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))


def private_channel_from_stdio() -> tuple[int, int]:
    """Docker: the channel is the attach stdin/stdout; the candidate's fd 1 joins stderr."""
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return rfd, wfd


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    if spec.get("stdio"):
        rfd, wfd = private_channel_from_stdio()
    else:
        rfd, wfd = spec["rfd"], spec["wfd"]
    # The candidate's own subprocesses must not inherit the channel.
    os.set_inheritable(rfd, False)
    os.set_inheritable(wfd, False)
    workdir = spec["workdir"]
    for procs in spec.get("cgroups", []):  # before the jail forks: children stay inside
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if spec.get("jail"):
        workdir = _load_sibling("jail").enter(spec["jail"], (rfd, wfd))
    sys.path.extend(spec.get("site_paths", []))
    os.environ.update(spec.get("env", {}))
    os.nice(spec.get("nice", 0))
    set_rlimits(spec.get("rlimits", {}))
    os.chdir(workdir)
    chan = Channel(rfd, wfd)
    functions, error = load(workdir, spec["module"], spec["functions"])
    if functions is None:
        chan.send({"load_error": error})
        return 0
    chan.send({"ready": True})
    serve(chan, functions, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
