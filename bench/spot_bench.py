"""Spot verifier costs: host simulation of the grid and a whole `evolve eval spot`.

``rows()`` is imported by ``bench/verifiers.py``; ``python3 bench/spot_bench.py`` prints
the same rows on its own, and ``--baselines`` adds the mean cost of every baseline
program (each evaluated in the process sandbox exactly as `evolve eval` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.spot import SpotScheduling, reference_cost  # noqa: E402
from evaluators.spot_sim import Greedy, run_host  # noqa: E402

PROBLEM = ROOT / "problems" / "spot"


def _cli_eval(program: Path | None = None) -> tuple[float, dict[str, object]]:
    cmd = [sys.executable, "-m", "evolve.cli.main", "eval", "spot", "--sandbox", "process"]
    cmd += [str(program)] if program is not None else []
    t0 = time.perf_counter()
    out = subprocess.run([*cmd, "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode not in (0, 2):
        raise RuntimeError(f"evolve eval spot failed: {out.stderr.strip()[-300:]}")
    result: dict[str, object] = json.loads(out.stdout)
    return wall, result


def rows() -> list[tuple[str, str, str]]:
    verifier = SpotScheduling({}, PROBLEM)
    jobs = verifier.train
    t0 = time.perf_counter()
    for inst in jobs:
        run_host(inst, Greedy())
    host = time.perf_counter() - t0
    reference_cost.cache_clear()
    t0 = time.perf_counter()
    for inst in jobs:
        reference_cost(inst, "uniform_progress")
        reference_cost(inst, "on_demand")
    refs = time.perf_counter() - t0
    walls, inner = [], []
    for _ in range(3):
        wall, result = _cli_eval()
        walls.append(wall)
        inner.append(float(str(result["seconds"])))
    return [
        (f"spot: host simulation, {len(jobs)} jobs (greedy)", f"{host * 1e3:.0f} ms", "-"),
        ("spot: Uniform Progress + on-demand references (cold)", f"{refs * 1e3:.0f} ms", "-"),
        ("spot: evolve eval spot, seed, process, wall", f"{min(walls):.2f} s", "< 10 s"),
        ("spot:   of which evaluation (552 round trips)", f"{min(inner):.2f} s", "< 10 s"),
    ]


def baseline_rows() -> list[tuple[str, str, str]]:
    out = []
    for program in sorted((PROBLEM / "baselines").glob("*.py")):
        _, result = _cli_eval(program)
        metrics = result["metrics"]
        assert isinstance(metrics, dict)
        out.append(
            (
                f"spot baseline {program.stem}: mean cost (train)",
                f"{metrics['mean_cost']:.2f} USD",
                f"x{metrics['cost_vs_uniform_progress']:.3f} of UP, "
                f"x{metrics['cost_vs_on_demand']:.3f} of on-demand",
            )
        )
    return out


def main(argv: list[str]) -> None:
    from bench.tables import print_measurements

    print_measurements(rows() + (baseline_rows() if "--baselines" in argv else []))


if __name__ == "__main__":
    main(sys.argv[1:])
