"""Discovery with no LLM: the offline proposer from the seed, on several run seeds.

For each seed, `evolve run PROBLEM --max-evaluations N` with the offline mutator; prints the
seed's and the champion's train gap, the improvement factor, the champion's held-out test
gap next to the baselines' test gaps, and the wall time.

    python3 bench/discovery.py                       # smtt, 1,000 evaluations, seeds 0 1 2
    python3 bench/discovery.py --evaluations 300 --seeds 0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_table  # noqa: E402
from evaluators.problem import load_verifier  # noqa: E402
from evolve.evaluation import evaluate_program  # noqa: E402
from evolve.launch import execute, new_run  # noqa: E402
from evolve.problems import find_problem  # noqa: E402
from evolve.progress import Progress  # noqa: E402
from sandbox.select import make_sandbox  # noqa: E402


def gap(score: float | None) -> str:
    return "-" if score is None else f"{-score * 100:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problem", default="smtt")
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sandbox", default="process")
    parser.add_argument("--baselines", nargs="*", default=["mdd.py", "mdd_challenger.py"])
    args = parser.parse_args()

    spec = find_problem(args.problem)
    verifier = load_verifier(spec)
    sandbox = make_sandbox(args.sandbox)
    try:
        base_rows = []
        for name in args.baselines:
            code = (spec.dir / "baselines" / name).read_text()
            out = evaluate_program(spec, verifier, sandbox, code, split="test")
            base_rows.append((name, out.score))
    finally:
        sandbox.close()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            prepared = new_run(args.problem, db=f"{tmp}/run-{seed}.db",
                               cli={"seed": seed, "max_evaluations": args.evaluations,
                                    "sandbox": args.sandbox})
            started = time.perf_counter()
            summary = execute(prepared, echo=lambda _: None, progress=Progress(enabled=False))
            seconds = time.perf_counter() - started
            seed_program = prepared.store.programs(prepared.run.id)[0]
            best = summary.best
            assert best is not None and best.score is not None and seed_program.score is not None
            factor = seed_program.score / best.score if best.score < 0 else float("inf")
            rows.append([str(seed), str(summary.evaluations), gap(seed_program.score),
                         gap(best.score), f"{factor:.1f}x", gap(best.test_score),
                         f"{seconds:.0f}"])
            prepared.store.close()
            print(f"seed {seed} done in {seconds:.0f} s", file=sys.stderr)

    headers = ["seed", "evals", "seed train gap", "best train gap", "smaller by",
               "best test gap", "seconds"]
    print(f"Offline discovery on {args.problem} (gap = mean relative gap to the reference)")
    print_table(headers, rows)
    print()
    for name, score in base_rows:
        print(f"baseline {name:22s} test gap {gap(score)}")


if __name__ == "__main__":
    main()
