"""Sandbox speed, per backend: session start, call round trips, map throughput.

Run: python3 bench/sandbox.py [--backend process|docker|all] [--calls N]
Targets (issue 3): process start < 150 ms and round trip < 100 us; Docker warm acquire
< 50 ms, cold start < 1 s, round trip < 300 us.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.base import Sandbox, SandboxUnavailable  # noqa: E402

ECHO = {"echo.py": "def echo(x):\n    return x\n"}
SMALL = {"job": 17, "weights": [0.5, 1.5, 2.5], "name": "small"}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * 0.99))]


def cold_starts(box: Sandbox, repeat: int) -> list[float]:
    def start_and_close() -> None:
        box.open(ECHO, "echo", ["echo"]).close()

    return timed(start_and_close, repeat)


def warm_acquires(box: Sandbox, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        deadline = time.monotonic() + 30
        while getattr(box, "warm", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.perf_counter()
        session = box.open(ECHO, "echo", ["echo"])
        samples.append(time.perf_counter() - start)
        assert getattr(session, "warm", False), "the pool did not refill in time"
        session.close()
    return samples


def measure(kind: str, calls: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    ms, us = 1e3, 1e6
    if kind == "process":
        from sandbox.process import ProcessSandbox

        box: Sandbox = ProcessSandbox()
        starts = cold_starts(box, 20)
    else:
        from sandbox.docker import DockerSandbox

        cold_box = DockerSandbox(pool_size=0)
        starts = cold_starts(cold_box, 5)
        cold_box.close()
        box = DockerSandbox(pool_size=2)
        warm = warm_acquires(box, 10)
    rows.append(("cold session start", f"{statistics.median(starts) * ms:.1f} ms", f"{p99(starts) * ms:.1f} ms"))  # fmt: skip
    if kind == "docker":
        rows.append(("warm-pool acquire", f"{statistics.median(warm) * ms:.1f} ms", f"{p99(warm) * ms:.1f} ms"))  # fmt: skip
    array = np.random.default_rng(0).standard_normal(131_072)  # 1 MB of float64
    with box.open(ECHO, "echo", ["echo"]) as session:
        small = timed(lambda: session.call("echo", SMALL), calls)
        big = timed(lambda: session.call("echo", array), max(20, calls // 20))
        batch = [(i,) for i in range(1000)]
        maps = timed(lambda: session.map("echo", batch), 20)
        overhead = getattr(session, "overhead_seconds", float("nan"))
    box.close()
    for label, samples in (("round trip, small payload", small), ("round trip, 1 MB array", big)):
        rows.append((label, f"{statistics.median(samples) * us:.0f} us", f"{p99(samples) * us:.0f} us"))  # fmt: skip
    rate = 1000 / statistics.median(maps)
    rows.append(("map, 1,000 small calls", f"{rate:,.0f} calls/s", f"{statistics.median(maps) * ms:.1f} ms/map"))  # fmt: skip
    rows.append(("calibrated overhead", f"{overhead * us:.0f} us", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["process", "docker", "all"], default="all")
    parser.add_argument("--calls", type=int, default=2000, help="round trips per measurement")
    args = parser.parse_args()
    kinds = ["process", "docker"] if args.backend == "all" else [args.backend]
    for kind in kinds:
        try:
            rows = measure(kind, args.calls)
        except SandboxUnavailable as exc:
            print(f"\n{kind}: unavailable ({exc})")
            continue
        print(f"\n{kind} backend")
        print(f"| {'measure':<28} | {'median':>16} | {'p99 / detail':>14} |")
        print(f"|{'-' * 30}|{'-' * 18}|{'-' * 16}|")
        for label, median, tail in rows:
            print(f"| {label:<28} | {median:>16} | {tail:>14} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
