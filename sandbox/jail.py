"""Linux namespaces jail for the process backend when the host runs as root.

Stdlib-only (ctypes), copied next to ``runner.py``. ``enter`` turns the calling runner into:

- a supervisor outside the namespaces that waits for the jail and mirrors its exit status;
- pid 1 of a new pid namespace that only reaps zombies: when it exits, the kernel kills
  every process left in the namespace, so ``os.system("sleep 1000 &")`` cannot outlive
  the session, even after ``setsid``;
- the worker, which returns from ``enter`` chrooted into a size-limited tmpfs that holds
  only read-only system directories and the candidate's files, with a network namespace
  whose loopback is down, no capabilities, an unprivileged per-session uid, no new privileges.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
DEVICES = ("null", "zero", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data or None)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def _bind_readonly(path: str, target: str, extra: int = MS_NODEV) -> None:
    _mount(path, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | extra)


def _build_root(spec: dict[str, Any]) -> None:
    root = spec["root"]
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['size_mb']}m,mode=755")
    for path in spec["binds"]:
        target = root + path
        if os.path.islink(path):  # merged-/usr systems: /bin -> usr/bin
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
            _bind_readonly(path, target)
    # exist_ok: a bound folder (a virtualenv under /tmp, say) may have created these already.
    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        _bind_readonly(f"/dev/{name}", f"{root}/dev/{name}", extra=0)
    os.makedirs(root + "/proc", exist_ok=True)
    os.makedirs(root + "/tmp", mode=0o1777, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    shutil.copytree(spec["src"], root + "/work")
    for dirpath, _, filenames in os.walk(root + "/work"):
        os.chown(dirpath, spec["uid"], spec["gid"])
        for name in filenames:
            os.chown(os.path.join(dirpath, name), spec["uid"], spec["gid"])


def _detach_stdio(keep: tuple[int, ...]) -> None:
    """A process that only waits must not hold the channel or the output pipes open."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for fd in keep:
        os.close(fd)
    os.close(devnull)


def _exit_code(status: int) -> int:
    # pid 1 cannot kill itself with a signal, so a death by signal travels as 128 + signal.
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _exit_like(code: int) -> None:
    """The supervisor dies the way the worker did, so the host sees the real signal."""
    if 128 < code < 128 + signal.NSIG and code - 128 not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(code - 128, signal.SIG_DFL)
    if 128 < code < 128 + signal.NSIG:
        os.kill(os.getpid(), code - 128)
    os._exit(code)


def enter(spec: dict[str, Any], channel: tuple[int, ...]) -> str:
    """Jail the calling process; returns (in the worker only) the candidate's directory."""
    _die_with_parent()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _build_root(spec)
    init = os.fork()
    if init:
        _detach_stdio(channel)
        # SIGTERM from the host ends the jail and this process reaps its pid 1 itself:
        # killed from outside instead, pid 1 would linger as a zombie of the machine's init.
        signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
        _, status = os.waitpid(init, 0)
        _exit_like(_exit_code(status))
    _die_with_parent()
    _mount("proc", spec["root"] + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    worker = os.fork()
    if worker:
        _detach_stdio(channel)
        while True:  # pid 1 reaps orphans until the worker itself ends
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(1)
            if pid == worker:
                os._exit(_exit_code(status))
    _die_with_parent()
    os.chroot(spec["root"])
    os.chdir("/work")
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    return "/work"
