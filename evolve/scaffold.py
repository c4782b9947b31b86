"""`evolve init NAME`: the files of a new, working problem folder.

The example is a toy on purpose (order numbers ascending) so that every piece a user must
replace is small and visible: the instances, the simulator/scoring, the answer check.
"""

from __future__ import annotations

import re
from pathlib import Path

from evolve.errors import ProblemError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

PROBLEM_YAML = """\
name: __NAME__
description: "Toy example: order numbers ascending (replace with your scheduling problem)."
readme: README.md
seed: seed.py
module: candidate
entry_points:
  - name: order
    signature: "order(numbers: list[float]) -> list[int]"
    doc: "Return the indices of `numbers` in the order they should be processed."
verifier:
  class: ./verifier.py:Verifier
  params:
    train_instances: 20
    test_instances: 10
    size: 30
    seed: 0
stages:
  - {name: quick, instances: 3, threshold: 0.3}
  - {name: full}
direction: maximize
run_defaults:
  max_evaluations: 200
"""

SEED_PY = '''\
"""Seed program of __NAME__: evolution edits only the code between the EVOLVE-BLOCK markers."""

# EVOLVE-BLOCK-START
def order(numbers: list[float]) -> list[int]:
    """Indices of `numbers` in processing order. Trivial start: every key is 0, so the
    given order is kept; evolution changes how the key is computed."""
    keys = [0.0 * x for x in numbers]  # smaller key runs first
    return sorted(range(len(numbers)), key=lambda i: keys[i])
# EVOLVE-BLOCK-END
'''

README_MD = """\
# __NAME__

Write a function `order(numbers)` that returns a permutation of the indices of `numbers`
(a list of floats). The best answer lists the indices so that the numbers appear in
ascending order.

Score: the fraction of index pairs that are in the right relative order, averaged over the
instances (1.0 = perfectly sorted, about 0.5 = random). Higher is better.

Rules: return every index exactly once; do not read files or the network.

(This text is shown to the proposer: describe your real problem here, its inputs, the
objective and the constraints, in the same terms as the entry point.)
"""

VERIFIER_PY = '''\
"""Trusted verifier of __NAME__. It runs on the host; the candidate runs in a sandbox.

Edit three things for your own problem: `_instances` (the data), `_check` (what a valid
answer is) and `_quality` (the score of one answer). The candidate only ever receives the
arguments of one call through `session.map`; it never sees the instances of other calls,
the test set or the optimum. Errors raised by the candidate (timeouts, crashes) propagate
as sandbox errors and the engine records them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from evaluators.base import EvaluationResult, Stage, invalid
from sandbox.base import Session


class Verifier:
    def __init__(self, params: dict[str, Any], problem_dir: Path) -> None:
        size = int(params.get("size", 30))
        seed = int(params.get("seed", 0))
        # Separate streams so that changing the test-set size never changes training data.
        n_train = int(params.get("train_instances", 20))
        n_test = int(params.get("test_instances", 10))
        self.train = _instances(random.Random(seed), n_train, size)
        self.test = _instances(random.Random(seed + 1), n_test, size)
        self.problem_dir = problem_dir

    def stages(self) -> list[Stage]:
        # A cheap screen, then the full train set; problem.yaml `stages:` overrides this.
        return [Stage("quick", instances=3, threshold=0.3), Stage("full")]

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        count = stage.instances if stage.instances is not None else len(self.train)
        return self._score(session, self.train[:count])

    def evaluate_test(self, session: Session) -> EvaluationResult:
        return self._score(session, self.test)

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(x, list) for x in data):
            return invalid(f"{path}: expected a JSON list of lists of numbers")
        return self._score(session, [[float(v) for v in inst] for inst in data])

    def _score(self, session: Session, batch: list[list[float]]) -> EvaluationResult:
        # One round trip for all instances; each call sees only its own instance.
        answers = session.map("order", [(inst,) for inst in batch])
        qualities = []
        for i, (inst, answer) in enumerate(zip(batch, answers, strict=True)):
            problem = _check(inst, answer)
            if problem:
                return invalid(f"instance {i}: {problem}")
            qualities.append(_quality(inst, answer))
        score = sum(qualities) / len(qualities)
        worst = min(range(len(qualities)), key=qualities.__getitem__)
        return EvaluationResult(
            score=score,
            metrics={"mean_order": score, "worst_order": qualities[worst]},
            feedback=f"mean ordered-pair fraction {score:.3f}; worst instance {worst}: "
            f"{qualities[worst]:.3f}",
        )


def _instances(rng: random.Random, count: int, size: int) -> list[list[float]]:
    # Distinct values, so exactly one answer is perfect.
    return [[v / 1000 for v in rng.sample(range(100_000), size)] for _ in range(count)]


def _check(numbers: list[float], answer: Any) -> str:
    """Why `answer` is not a valid answer for `numbers` ('' when it is)."""
    if not isinstance(answer, list) or not all(type(i) is int for i in answer):
        return f"expected a list of ints, got {type(answer).__name__}"
    if sorted(answer) != list(range(len(numbers))):
        return f"expected a permutation of 0..{len(numbers) - 1}"
    return ""


def _quality(numbers: list[float], answer: list[int]) -> float:
    """Fraction of index pairs (a before b) whose numbers are in ascending order."""
    values = [numbers[i] for i in answer]
    n = len(values)
    if n < 2:
        return 1.0
    good = sum(1 for a in range(n) for b in range(a + 1, n) if values[a] <= values[b])
    return good / (n * (n - 1) / 2)
'''

FILES = {
    "problem.yaml": PROBLEM_YAML,
    "seed.py": SEED_PY,
    "README.md": README_MD,
    "verifier.py": VERIFIER_PY,
}


def scaffold(name: str, parent: Path) -> Path:
    """Create ``parent/name`` with a working example problem; refuse to overwrite."""
    if not _NAME.match(name):
        raise ProblemError(
            f"problem name '{name}' is not valid: use a letter then letters, digits, _ or -"
        )
    folder = parent / name
    if folder.exists():
        raise ProblemError(f"{folder} already exists; choose another name or --dir")
    folder.mkdir(parents=True)
    for filename, text in FILES.items():
        (folder / filename).write_text(text.replace("__NAME__", name), encoding="utf-8")
    return folder
