"""Engine pipeline benchmark: throughput against the ideal, and the engine's own overhead.

A proposer with a fixed latency L (seconds) and an evaluation with a fixed cost E keep K
proposals and W sandboxes busy; the ideal rate is min(K/L, W/E) evaluations per second,
after the seed's evaluation and one proposal latency to fill the pipeline.
The synthetic sandbox and verifier below run no candidate code: they stand in for the
real ones so that only the engine's scheduling is measured.

    python3 bench/pipeline.py            # full table
    python3 bench/pipeline.py --quick    # fewer evaluations per row
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tables import print_table  # noqa: E402
from evaluators.base import EvaluationResult, Stage  # noqa: E402
from evaluators.problem import ProblemSpec, load_problem_dir  # noqa: E402
from evolve.config import RunConfig  # noqa: E402
from evolve.edits import normalized_hash, split_block  # noqa: E402
from evolve.engine import Engine  # noqa: E402
from evolve.proposal import Proposal, ProposalRequest  # noqa: E402
from evolve.storage import Store  # noqa: E402
from evolve.types import Status  # noqa: E402
from sandbox.base import CandidateOutput, Limits, Session  # noqa: E402

SEED = '''def score_hint():
    # EVOLVE-BLOCK-START
    x = 1
    # EVOLVE-BLOCK-END
    return x
'''
PROBLEM_YAML = """name: pipeline_bench
description: synthetic problem for the engine benchmark
entry_points: [{name: score_hint, signature: "score_hint() -> int"}]
verifier: {class: "bench.pipeline:FixedCostVerifier"}
stages: [{name: full}]
"""


class NullSession:
    last_call_seconds = 0.0

    def call(self, fn: str, *args: Any, timeout: float | None = None) -> Any:
        return None

    def map(self, fn: str, calls: Sequence[tuple[Any, ...]],
            timeout: float | None = None) -> list[Any]:
        return [None] * len(calls)

    def output(self) -> CandidateOutput:
        return CandidateOutput("", "", False)

    def close(self) -> None:
        pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class NullSandbox:
    name = "null"

    def __init__(self) -> None:
        self.code: dict[int, str] = {}

    def open(self, files: Mapping[str, str], module: str, functions: Sequence[str],
             limits: Limits | None = None) -> Session:
        return NullSession()

    def close(self) -> None:
        pass


class FixedCostVerifier:
    """Every evaluation costs ``cost`` seconds of a worker; scores are arbitrary."""

    def __init__(self, params: dict[str, Any], problem_dir: Path) -> None:
        self.cost = float(params.get("cost", 0.0))
        self.counter = 0

    def stages(self) -> list[Stage]:
        return [Stage("full")]

    def _result(self) -> EvaluationResult:
        if self.cost:
            time.sleep(self.cost)
        self.counter += 1
        digest = hashlib.sha256(str(self.counter).encode()).digest()
        return EvaluationResult(score=digest[0] / 255.0, metrics={"x": 1.0})

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        return self._result()

    def evaluate_test(self, session: Session) -> EvaluationResult:
        return self._result()

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        return self._result()


class FixedLatencyProposer:
    name = "fixed"

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.count = 10**9  # above any prefilled variant, so no child is a duplicate

    async def propose(self, request: ProposalRequest) -> Proposal:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.count += 1
        block = split_block(request.parent.code)
        code = block.prefix + f"    x = {self.count}\n" + block.suffix
        return Proposal(code=code, edit=f"x = {self.count}", proposer=self.name)


def make_problem(root: Path) -> ProblemSpec:
    folder = root / "pipeline_bench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problem.yaml").write_text(PROBLEM_YAML)
    (folder / "seed.py").write_text(SEED)
    (folder / "README.md").write_text("synthetic\n")
    return load_problem_dir(folder)


def run_engine(root: Path, store: Store, spec: ProblemSpec, *, k: int, w: int, lat: float,
               cost: float, evaluations: int, run_id: int | None = None) -> tuple[float, int]:
    config = RunConfig(problem=spec.name, max_evaluations=evaluations, concurrency=k, workers=w)
    run = store.get_run(run_id) if run_id else store.create_run(spec.name, config.resolved(), 0)
    engine = Engine(store=store, run=run, spec=spec, verifier=FixedCostVerifier({"cost": cost},
                    spec.dir), sandbox=NullSandbox(), proposer=FixedLatencyProposer(lat),
                    config=config)
    started = time.perf_counter()
    summary = asyncio.run(engine.run())
    return time.perf_counter() - started, summary.evaluations


def throughput_rows(root: Path, quick: bool) -> list[list[str]]:
    spec = make_problem(root)
    cases = [(4, 2, 0.05, 0.10), (8, 2, 0.20, 0.05), (2, 4, 0.10, 0.10), (16, 8, 0.50, 0.20),
             (32, 2, 1.00, 0.05)]
    rows = []
    for k, w, lat, cost in cases:
        ideal = min(k / lat, w / cost)  # evaluations per second
        n = max(20, int(ideal * (3 if quick else 8)))
        with Store.open(f"sqlite:///{root}/tp-{k}-{w}.db") as store:
            seconds, evaluated = run_engine(root, store, spec, k=k, w=w, lat=lat, cost=cost,
                                            evaluations=n)
        # The ideal pipeline still evaluates the seed first and waits one proposal latency
        # before the first child exists; after that it runs at min(K/L, W/E).
        ideal_seconds = cost + lat + (evaluated - 1) / ideal
        measured = evaluated / seconds * 60
        rows.append([str(k), str(w), f"{lat * 1000:.0f}", f"{cost * 1000:.0f}",
                     f"{ideal * 60:.0f}", f"{measured:.0f}",
                     f"{ideal_seconds / seconds * 100:.1f}%"])
    return rows


def overhead_rows(root: Path, quick: bool) -> list[list[str]]:
    spec = make_problem(root)
    prefill = 10_000
    with Store.open(f"sqlite:///{root}/big.db") as store:
        run = store.create_run(spec.name, RunConfig(problem=spec.name).resolved(), 0)
        for i in range(prefill):
            code = SEED.replace("x = 1", f"x = {i + 1}")
            store.add_program(run.id, code, normalized_hash(code), Status.COMPLETE, i,
                              score=(i * 7919 % prefill) / prefill, metrics={"x": 1.0},
                              island=i % 4, generation=i)
        t0 = time.perf_counter()
        iterations = 200 if quick else 1000
        seconds, evaluated = run_engine(root, store, spec, k=1, w=1, lat=0.0, cost=0.0,
                                        evaluations=prefill + iterations, run_id=run.id)
        del t0
    per_iter = seconds / max(evaluated - prefill, 1) * 1000
    return [[f"{prefill:,}", str(evaluated - prefill), f"{seconds:.2f}", f"{per_iter:.2f}",
             "< 20"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("Pipeline throughput (target: >= 90% of ideal)")
        print_table(["K", "W", "L ms", "E ms", "ideal/min", "measured/min", "of ideal"],
                    throughput_rows(root, args.quick))
        print()
        print("Engine overhead per iteration with programs already stored")
        print_table(["stored", "iterations", "seconds", "ms/iteration", "target ms"],
                    overhead_rows(root, args.quick))


if __name__ == "__main__":
    main()
