"""Verifiers of single-machine (weighted) total tardiness.

The candidate implements ``schedule(p, d, w) -> list[int]``; one call per instance, a
whole stage in one ``Session.map``. The host validates each permutation and scores the
mean relative gap to a reference (optimal for smtt, best-known for large smtwt).

problem.yaml ``verifier.params``::

    train: {sizes: [20, 50, 100], per_class: 1, seed: 11}
    test:  {sizes: [100, 200], per_class: 2, seed: 12}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml

from evaluators.base import EvaluationResult, Stage, VerifierParams, invalid
from evaluators.smtt_instances import Instance, generate_set, load_instances
from evaluators.smtt_refs import SHIPPED, Reference, resolve
from evaluators.smtt_scoring import label, score
from sandbox.base import CandidateError, Session

FUNCTION = "schedule"


def _set_params(params: VerifierParams, split: str, default: dict[str, Any]) -> dict[str, Any]:
    raw = params.get(split, default)
    if not isinstance(raw, dict):
        raise ValueError(f"'{split}' must be a mapping with sizes, per_class, seed")
    unknown = set(raw) - {"sizes", "per_class", "seed"}
    if unknown:
        raise ValueError(f"'{split}' has unknown key(s) {sorted(unknown)}")
    merged = {**default, **raw}
    sizes = merged["sizes"]
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(n, int) and n > 0 for n in sizes)
    ):
        raise ValueError(f"'{split}.sizes' must be a non-empty list of positive ints")
    if not isinstance(merged["per_class"], int) or merged["per_class"] < 1:
        raise ValueError(f"'{split}.per_class' must be a positive int")
    if not isinstance(merged["seed"], int):
        raise ValueError(f"'{split}.seed' must be an int")
    return merged


def _stages_from_yaml(problem_dir: Path) -> list[Stage]:
    # problem.yaml's `stages:` is the one source of truth for the cascade.
    path = problem_dir / "problem.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None
    stages = raw.get("stages") if isinstance(raw, dict) else None
    if not isinstance(stages, list) or not stages:
        return [Stage("full")]
    return [Stage(s["name"], s.get("instances"), s.get("threshold")) for s in stages]


class _Tardiness:
    weighted: ClassVar[bool] = False
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "train": {"sizes": [20, 50, 100], "per_class": 1, "seed": 11},
        "test": {"sizes": [100, 200], "per_class": 2, "seed": 12},
    }

    def __init__(self, params: VerifierParams, problem_dir: Path) -> None:
        unknown = set(params) - {"train", "test"}
        if unknown:
            raise ValueError(f"unknown verifier param(s) {sorted(unknown)}; allowed train, test")
        self.problem_dir = Path(problem_dir)
        self.sets = {
            split: _set_params(params, split, default) for split, default in self.defaults.items()
        }
        self._instances: dict[str, list[Instance]] = {}
        self._refs: dict[str, list[Reference]] = {}

    # -- instance sets -----------------------------------------------------------------
    def instances(self, split: str) -> list[Instance]:
        if split not in self._instances:
            cfg = self.sets[split]
            self._instances[split] = generate_set(
                cfg["sizes"], cfg["per_class"], cfg["seed"], weighted=self.weighted
            )
        return self._instances[split]

    def references(self, split: str) -> list[Reference]:
        if split not in self._refs:
            self._refs[split] = resolve(self.instances(split), self.problem_dir / SHIPPED)
        return self._refs[split]

    def all_instances(self) -> list[Instance]:
        """Train then test: what ``python -m evaluators.smtt_refs`` ships references for."""
        return self.instances("train") + self.instances("test")

    # -- Verifier protocol -------------------------------------------------------------
    def stages(self) -> list[Stage]:
        return _stages_from_yaml(self.problem_dir)

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        count = stage.instances
        insts = self.instances("train")[:count]
        refs = self.references("train")[:count]
        return self._run(session, insts, refs)

    def evaluate_test(self, session: Session) -> EvaluationResult:
        return self._run(session, self.instances("test"), self.references("test"))

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        insts = load_instances(Path(path), weighted=self.weighted)
        return self._run(session, insts, resolve(insts))

    def _run(
        self, session: Session, insts: Sequence[Instance], refs: Sequence[Reference]
    ) -> EvaluationResult:
        calls = [(list(i.p), list(i.d), list(i.w)) for i in insts]
        try:
            answers = session.map(FUNCTION, calls)
        except CandidateError as exc:
            i = exc.index
            where = f" on {label(insts[i], i)}" if i is not None and 0 <= i < len(insts) else ""
            tail = f"\n{exc.traceback}" if exc.traceback else ""
            return invalid(f"{FUNCTION}() raised {exc.exc_type}: {exc.exc_message}{where}{tail}")
        return score(insts, refs, answers, session.last_call_seconds)


class TotalTardiness(_Tardiness):
    """1||sum T_j: every weight is one; references are optimal (Lawler's decomposition)."""

    weighted = False


class WeightedTardiness(_Tardiness):
    """1||sum w_j T_j: w_j in [1, 10]; references are best-known above 20 jobs."""

    weighted = True
    defaults = {
        "train": {"sizes": [40, 50, 100], "per_class": 1, "seed": 21},
        "test": {"sizes": [40, 50, 100], "per_class": 1, "seed": 22},
    }
