"""EPLB verifier costs on the host: trace generation and scoring of every window.

``rows()`` is imported by ``bench/verifiers.py``; ``python3 bench/eplb_bench.py`` prints
the same rows on its own, and ``--baselines`` adds each baseline's `evolve eval` figures
(train split, process sandbox): GPU balancedness and host-timed median runtime.
Placements for the scoring rows are built here with plain numpy (no candidate code runs in
this process): the cost of validating and scoring does not depend on placement quality.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.eplb_scoring import Balance, measure, validate  # noqa: E402
from evaluators.eplb_workload import IntArray, Topology, Workload, all_windows  # noqa: E402

REPEATS = 7


def _placement(load: IntArray, topo: Topology) -> tuple[IntArray, IntArray]:
    """Every expert once, the spare slots to the hottest experts, slots in that order."""
    layers = load.shape[0]
    spare = topo.num_replicas - topo.num_experts
    hottest = np.argsort(-load, axis=1)[:, :spare]
    phy2log = np.concatenate([np.tile(np.arange(topo.num_experts), (layers, 1)), hottest], 1)
    logcnt = np.ones((layers, topo.num_experts), dtype=np.int64)
    np.put_along_axis(logcnt, hottest, 2, axis=1)
    return phy2log.astype(np.int64), logcnt


def _median_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rows() -> list[tuple[str, str, str]]:
    topo, workload = Topology(), Workload()
    trace = all_windows(topo, workload, seed=20251)
    answers = [_placement(trace[i], topo) for i in range(trace.shape[0] - 1)]

    def score_all() -> Balance:
        total = Balance()
        for i, answer in enumerate(answers):
            phy2log, logcnt = validate(answer, topo, topo.num_layers)
            total = total + measure(trace[i + 1], phy2log, logcnt, topo)
        return total

    generate = _median_time(lambda: all_windows(topo, workload, seed=1))
    score = _median_time(score_all)
    one = score / len(answers)
    shape = f"{topo.num_layers}x{topo.num_experts}"
    return [
        (f"eplb: generate {workload.windows} windows ({shape})", f"{generate * 1e3:.1f} ms",
         "-"),
        (f"eplb: validate + score all {len(answers)} placements", f"{score * 1e3:.1f} ms",
         "< 100 ms"),
        ("eplb: validate + score one placement", f"{one * 1e3:.2f} ms", "-"),
    ]


def baseline_rows() -> list[tuple[str, str, str]]:
    """`evolve eval eplb BASELINE --json` for every baseline, in a subprocess each."""
    out = []
    for path in sorted((ROOT / "problems" / "eplb" / "baselines").glob("*.py")):
        cmd = [sys.executable, "-m", "evolve.cli.main", "eval", "eplb", str(path),
               "--sandbox", "process", "--json"]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if not done.stdout.strip():
            out.append((f"eplb eval {path.stem}", "failed", done.stderr.strip()[-80:]))
            continue
        metrics = json.loads(done.stdout)["metrics"]
        expected = "~0.68 (issue)" if path.stem == "deepseek" else "-"
        out.append((f"eplb eval {path.stem}: GPU balancedness",
                    f"{metrics['gpu_balancedness']:.4f}", expected))
        out.append((f"eplb eval {path.stem}: median runtime",
                    f"{metrics['runtime_ms']:.1f} ms", "budget 20 ms"))
    return out


def main(argv: list[str]) -> None:
    from bench.tables import print_measurements

    print_measurements(rows() + (baseline_rows() if "--baselines" in argv else []))


if __name__ == "__main__":
    main(sys.argv[1:])
