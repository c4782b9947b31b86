"""Speed of the verifiers: host-side scoring, whole `evolve eval` runs, reference solvers.

    python3 bench/verifiers.py            # every benchmark
    python3 bench/verifiers.py smtt       # only those whose name starts with "smtt"

Each benchmark is a function returning rows; a problem adds its own by appending to
BENCHES (EPLB, routing, spot). Targets are printed beside the measurement, never asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, and bench/sandbox.py would shadow the
# sandbox package: put the checkout first instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


@dataclass(frozen=True)
class Row:
    name: str
    value: float
    unit: str
    target: str = ""
    note: str = ""
    shown: str = ""  # a measurement already formatted by the bench that made it


def _best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def smtt_scoring() -> list[Row]:
    """Validation + tardiness + metrics of 100 answers at n=100, on the host."""
    from evaluators.smtt_instances import generate_set
    from evaluators.smtt_refs import Reference
    from evaluators.smtt_scoring import score

    insts = generate_set([100], 4, seed=99)
    answers = [sorted(range(i.n), key=lambda j: i.d[j]) for i in insts]
    refs = [Reference(1000.0, True, "bench") for _ in insts]  # the value does not change the cost
    seconds = _best_of(20, lambda: score(insts, refs, answers, 0.0))
    return [Row("smtt host scoring, 100 instances n=100", seconds * 1e3, "ms", "< 20 ms")]


def smtt_eval_cli() -> list[Row]:
    """`evolve eval smtt` of the seed, process sandbox: a fresh interpreter, as a user runs it."""
    cmd = [
        sys.executable,
        "-m",
        "evolve.cli.main",
        "eval",
        "smtt",
        "--sandbox",
        "process",
        "--json",
    ]
    walls = []
    inner = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
        inner.append(json.loads(out.stdout)["seconds"])
    return [
        Row("evolve eval smtt (seed, process), wall", min(walls), "s", "< 2 s", "incl. start-up"),
        Row("  of which evaluate_program (75 train)", min(inner), "s", "", "session + scoring"),
    ]


def smtt_engine_eval() -> list[Row]:
    """What the engine pays per program: evaluate_program in a warm process, full cascade."""
    from evaluators.problem import load_verifier
    from evolve.evaluation import evaluate_program
    from evolve.problems import find_problem
    from sandbox.select import make_sandbox

    spec = find_problem("smtt")
    verifier = load_verifier(spec)
    box = make_sandbox("process")
    rows = []
    try:
        for name, path in (("seed", spec.seed_path), ("mdd", spec.dir / "baselines/mdd.py")):
            run = partial(evaluate_program, spec, verifier, box, path.read_text())
            seconds = _best_of(3, run)
            rows.append(Row(f"evaluate_program smtt cascade ({name})", seconds, "s", "<< 1 s"))
    finally:
        box.close()
    return rows


def smtt_exact() -> list[Row]:
    """Lawler's decomposition on one instance per (TF, RDD) class."""
    from evaluators.smtt_exact import solve_unweighted
    from evaluators.smtt_instances import generate_set

    rows = []
    for n in (100, 200):
        times = []
        for inst in generate_set([n], 1, seed=1234):
            t0 = time.perf_counter()
            solve_unweighted(inst.p, inst.d)
            times.append(time.perf_counter() - t0)
        rows.append(Row(f"exact SMTT n={n}: mean of 25", statistics.fmean(times), "s"))
        rows.append(Row(f"exact SMTT n={n}: max of 25", max(times), "s"))
    return rows


def smtwt_references() -> list[Row]:
    """Best-known weighted references: the ILS as the reference tables are built."""
    from evaluators.smtt_exact import solve_weighted_dp
    from evaluators.smtt_ils import best_known
    from evaluators.smtt_instances import generate, generate_set

    rows = []
    for n in (40, 100):
        insts = generate_set([n], 1, seed=4321, weighted=True)[:4]
        seconds = [_best_of(1, partial(best_known, i.p, i.d, i.w, iterations=200)) for i in insts]
        rows.append(Row(f"ILS best-known n={n}: mean of 4", statistics.fmean(seconds), "s"))
    inst = generate(20, 0.6, 0.4, seed=5, weighted=True)
    dp = _best_of(1, lambda: solve_weighted_dp(inst.p, inst.d, inst.w))
    rows.append(Row("weighted subset DP n=20", dp, "s"))
    return rows


def _text_rows(module: str) -> list[Row]:
    """Rows of a problem's own bench module: ``rows()`` gives (name, measured, target)."""
    import importlib

    found = importlib.import_module(f"bench.{module}").rows()
    return [Row(name, float("nan"), "", target, shown=measured) for name, measured, target in found]


def eplb() -> list[Row]:
    return _text_rows("eplb_bench")


def spot() -> list[Row]:
    return _text_rows("spot_bench")


def routing() -> list[Row]:
    return _text_rows("routing_bench")


BENCHES: list[Callable[[], list[Row]]] = [
    smtt_scoring,
    smtt_eval_cli,
    smtt_engine_eval,
    smtt_exact,
    smtwt_references,
    eplb,
    spot,
    routing,
]


def main(argv: list[str]) -> int:
    prefix = argv[0] if argv else ""
    os.chdir(ROOT)
    rows: list[Row] = []
    for bench in BENCHES:
        if bench.__name__.startswith(prefix):
            rows.extend(bench())
    width = max(len(r.name) for r in rows) if rows else 10
    print(f"{'benchmark':<{width}}  {'value':>10}  unit  {'target':<8}  note")
    for r in rows:
        value = f"{r.shown:>16}" if r.shown else f"{r.value:>10.4g}  {r.unit:<4}"
        print(f"{r.name:<{width}}  {value}  {r.target:<8}  {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
