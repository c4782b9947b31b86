"""Routing verifier costs: the simulator alone on the host and a whole `evolve eval`.

``rows()`` is imported by ``bench/verifiers.py``; ``python3 bench/routing_bench.py``
prints the same rows on its own, and ``--baselines`` adds every baseline's score against
round robin (each evaluated in the process sandbox exactly as `evolve eval` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.routing_sim import ClusterSim, EngineParams  # noqa: E402
from evaluators.routing_workload import generate_workload  # noqa: E402

PROBLEM = ROOT / "problems" / "llm_routing"


def host_seconds(load: float, requests: int = 10_000, instances: int = 8) -> float:
    """One simulation with the observation built for every arrival, router time excluded
    (the router is round robin, whose cost is a modulo)."""
    engine = EngineParams()
    reqs = generate_workload(
        seed=7, requests=requests, instances=instances, load=load, engine=engine
    )
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sim = ClusterSim(reqs, instances, engine, "bench")
        k = 0
        while (req := sim.next_arrival()) is not None:
            req.view()
            sim.instance_views()
            sim.assign(k % instances)
            k += 1
        best = min(best, time.perf_counter() - t0)
    return best


def _cli_eval(program: Path | None = None, split: str = "train") -> tuple[float, dict[str, object]]:
    cmd = [sys.executable, "-m", "evolve.cli.main", "eval", "llm_routing", "--sandbox", "process"]
    cmd += [str(program)] if program is not None else []
    t0 = time.perf_counter()
    out = subprocess.run(
        [*cmd, "--split", split, "--json"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if out.returncode not in (0, 2):
        raise RuntimeError(f"evolve eval llm_routing failed: {out.stderr.strip()[-300:]}")
    result: dict[str, object] = json.loads(out.stdout)
    return wall, result


def rows() -> list[tuple[str, str, str]]:
    out = [
        (
            f"routing: 10,000 requests x 8 instances, host, load {load:g}",
            f"{host_seconds(load):.2f} s",
            "< 1 s",
        )
        for load in (0.6, 0.9, 1.1)
    ]
    wall, result = _cli_eval()
    out.append(("routing: evolve eval llm_routing, seed, process, wall", f"{wall:.2f} s", "-"))
    out.append(
        (
            "routing:   of which evaluation (4000 round trips)",
            f"{float(str(result['seconds'])):.2f} s",
            "-",
        )
    )
    return out


def baseline_rows() -> list[tuple[str, str, str]]:
    out = []
    for program in sorted((PROBLEM / "baselines").glob("*.py")):
        for split in ("train", "test"):
            _, result = _cli_eval(program, split)
            metrics = result["metrics"]
            assert isinstance(metrics, dict)
            out.append(
                (
                    f"routing baseline {program.stem} ({split})",
                    f"{metrics['improvement_vs_round_robin_pct']:+.1f}%",
                    f"vs round robin; p99 {metrics['p99_e2e_s']:.1f} s, "
                    f"TTFT {metrics['mean_ttft_s']:.2f} s",
                )
            )
    return out


def main(argv: list[str]) -> None:
    from bench.tables import print_measurements

    print_measurements(rows() + (baseline_rows() if "--baselines" in argv else []))


if __name__ == "__main__":
    main(sys.argv[1:])
