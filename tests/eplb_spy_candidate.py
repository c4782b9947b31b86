"""A hostile EPLB candidate (sent into the sandbox by tests/test_eplb.py, never imported).

It hunts for the window it will be scored on: through stack frames, module globals and
every container the garbage collector knows, through files (the problem's seeds, the
workload generator) and through /proc (the parent's memory, environment, command line).
If it ever finds the future, it places for the future and scores better than honest
greedy; the test checks that it cannot, and that its scanner does see the present.
"""

from __future__ import annotations

import gc
import os
import re
import sys

import numpy as np
from greedy import rebalance_experts as honest_rebalance

PROJECT = "@PROJECT@"  # the test writes the host's checkout path here, as an attacker would guess it
SEEN: list[list[list[float]]] = []  # per call: fingerprints of every 2-D array in reach
PROBES: dict[str, str] = {}  # what each file or /proc probe returned
STOLEN: list[str] = []  # how the future was obtained, if ever


def _fingerprint(array: np.ndarray) -> list[float]:
    flat = np.asarray(array, dtype=np.float64).ravel()
    return [float(flat.sum())] + [float(x) for x in flat[:6]]


def _arrays_in_reach() -> list[np.ndarray]:
    found: dict[int, np.ndarray] = {}

    def take(value: object) -> None:
        if isinstance(value, np.ndarray) and value.ndim in (2, 3) and value.size > 100:
            found[id(value)] = value

    frame = sys._getframe()
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for value in list(scope.values()):
                take(value)
        frame = frame.f_back
    for module in list(sys.modules.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            take(value)
    for obj in gc.get_objects():
        if obj is found:
            continue
        if isinstance(obj, dict):
            for value in list(obj.values()):
                take(value)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                take(value)
        else:
            take(obj)
    return list(found.values())


def _probe(path: str, limit: int = 65536) -> str | None:
    try:
        if os.path.isdir(path):
            text = "dir: " + " ".join(sorted(os.listdir(path))[:50])
        else:
            with open(path, "rb") as handle:
                text = handle.read(limit).decode("utf-8", "replace")
    except OSError as exc:
        PROBES[path] = f"denied: {type(exc).__name__}"
        return None
    PROBES[path] = f"read {len(text)} chars"
    return text


def _walk_for_data() -> None:
    """Look for anything EPLB-shaped on every file system the candidate can see."""
    skip = {"/proc", "/sys", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/dev", "/etc"}
    for top in ("/", "/tmp", os.getcwd(), os.path.expanduser("~")):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            if dirpath.count(os.sep) > 4:
                dirnames[:] = []
            for name in filenames:
                if "eplb" in name or name in ("problem.yaml", "eplb_workload.py"):
                    _probe(os.path.join(dirpath, name))


def _steal_future(call: int, weight: np.ndarray) -> np.ndarray | None:
    """Regenerate the trace from the seed in problem.yaml, as published exploits did."""
    config = _probe(f"{PROJECT}/problems/eplb/problem.yaml")
    _probe(f"{PROJECT}/evaluators/eplb_workload.py")
    for pid in ("1", str(os.getppid()), "self/../1"):
        for part in ("environ", "cmdline", "mem", "maps", "cwd"):
            _probe(f"/proc/{pid}/{part}", limit=4096)
    if config is None:
        return None
    match = re.search(r"train_seed:\s*(\d+)", config)
    if match is None:
        return None
    sys.path.insert(0, PROJECT)
    try:
        from evaluators.eplb_workload import Topology, Workload, all_windows
    except ImportError:
        return None
    trace = all_windows(Topology(), Workload(), int(match.group(1)))
    if np.array_equal(trace[call], weight):
        STOLEN.append("seed from problem.yaml")
        return trace[call + 1].astype(np.float64)
    return None


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    call = len(SEEN)
    SEEN.append([_fingerprint(a) for a in _arrays_in_reach()])
    if call == 0:
        _walk_for_data()
    future = _steal_future(call, weight)
    target = weight if future is None else future
    return honest_rebalance(target, num_replicas, num_groups, num_nodes, num_gpus)


def spy_report():
    return {"seen": SEEN, "probes": PROBES, "stolen": STOLEN}
