"""Verifier of the EPLB problem: place replicated MoE experts on GPUs, balanced and fast.

The candidate sees one window of expert load at a time and answers with a placement; the
placement is scored on the *next* window, which is generated only after the answer is in,
so it exists nowhere the candidate could look. Every answer is validated in full, and the
candidate's runtime is timed by the host, never reported by the candidate.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluators.base import EvaluationResult, Stage, invalid
from evaluators.eplb_scoring import Balance, InvalidPlacement, measure, runtime_penalty, validate
from evaluators.eplb_workload import Seed, Topology, Workload, stream_windows
from evolve.errors import EvolveError
from sandbox.base import Session

ENTRY_POINT = "rebalance_experts"
Window = npt.NDArray[Any]  # [layers, experts] load of one window


class InstanceFileError(EvolveError):
    """A user-supplied EPLB instance file cannot be used."""


@dataclass(frozen=True)
class Outcome:
    """What one pass over a trace measured."""

    balance: Balance
    seconds: list[float]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)


def _pick(cls: type[Any], params: dict[str, Any]) -> Any:
    """Build ``cls`` from the params it knows, coerced to each field's type (YAML may give
    1 for 1.0); a value of the wrong kind raises ValueError, which names the problem."""
    kinds: dict[str, Callable[[Any], Any]] = {f.name: type(f.default) for f in fields(cls)}
    return cls(**{k: kinds[k](v) for k, v in params.items() if k in kinds})


class ExpertLoadBalancing:
    """``params`` (problem.yaml ``verifier.params``): topology numbers (num_layers,
    num_experts, num_groups, num_nodes, num_gpus, num_replicas), workload numbers (sigma,
    rho, tokens_per_layer, windows), train_seed, test_seed, test_sigmas (extra held-out
    variants), budget_ms, penalty_per_doubling, quick_windows."""

    def __init__(self, params: dict[str, Any], problem_dir: Path) -> None:
        known = (
            {f.name for f in fields(Topology)}
            | {f.name for f in fields(Workload)}
            | {
                "train_seed",
                "test_seed",
                "test_sigmas",
                "budget_ms",
                "penalty_per_doubling",
                "quick_windows",
                "quick_threshold",
            }
        )
        unknown = sorted(set(params) - known)
        if unknown:
            raise KeyError(f"unknown EPLB params {unknown}; known: {sorted(known)}")
        self.problem_dir = problem_dir
        self.topology: Topology = _pick(Topology, params)
        self.workload: Workload = _pick(Workload, params)
        self.topology.check()
        self.workload.check()
        self.train_seed = int(params.get("train_seed", 20251))
        self.test_seed = int(params.get("test_seed", 90210))
        self.test_sigmas = [float(s) for s in params.get("test_sigmas", [0.8, 1.2])]
        self.budget_seconds = float(params.get("budget_ms", 20.0)) / 1000.0
        self.per_doubling = float(params.get("penalty_per_doubling", 0.05))
        self.quick_windows = int(params.get("quick_windows", 5))
        threshold = params.get("quick_threshold", 0.3)
        self.quick_threshold = None if threshold is None else float(threshold)
        if self.train_seed == self.test_seed:
            raise ValueError("train_seed and test_seed must differ")
        if self.quick_windows < 1:
            raise ValueError("quick_windows must be at least 1")
        for sigma in self.test_sigmas:
            replace(self.workload, sigma=sigma).check()

    # -- the Verifier protocol -------------------------------------------------------------

    def stages(self) -> list[Stage]:
        """A quick look at the first few windows, then the whole train trace.

        ``Stage.instances`` counts scored windows (placements), not layers: the runtime
        budget is about one full-size call, so every stage keeps every layer."""
        return [Stage("quick", self.quick_windows, self.quick_threshold), Stage("full")]

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        """Score on the train trace, or for a shorter stage on a trace of its own: the
        cascade runs its stages in one session, and a later stage must not replay windows
        the candidate has already seen (it could have memorised their successors)."""
        full = self.workload.windows - 1
        scored = full if stage.instances is None else max(1, min(full, stage.instances))
        seed: Seed = self.train_seed if scored == full else (self.train_seed, scored)
        windows = stream_windows(self.topology, self.workload, seed)
        return self._score(session, windows, scored, self.topology)

    def evaluate_test(self, session: Session) -> EvaluationResult:
        """The held-out trace, then one trace per ``test_sigmas`` variant, each with its
        own seed (one seed scaled by another sigma would be the same trace, predictable)."""
        main = self._score(
            session,
            stream_windows(self.topology, self.workload, self.test_seed),
            self.workload.windows - 1,
            self.topology,
        )
        if not main.valid:
            return main
        metrics = dict(main.metrics)
        lines = [main.feedback]
        for number, sigma in enumerate(self.test_sigmas, start=1):
            workload = replace(self.workload, sigma=sigma)
            variant = self._score(
                session,
                stream_windows(self.topology, workload, (self.test_seed, number)),
                workload.windows - 1,
                self.topology,
            )
            if not variant.valid:
                return invalid(
                    f"sigma {sigma} variant: {variant.feedback}", timed_out=variant.timed_out
                )
            metrics[f"gpu_balancedness_sigma_{sigma:g}"] = variant.metrics["gpu_balancedness"]
            lines.append(
                f"sigma {sigma:g}: GPU balancedness {variant.metrics['gpu_balancedness']:.4f}"
            )
        return EvaluationResult(main.score, metrics, "\n".join(lines), True)

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        """Score on a JSON file holding one instance or a list of them; an instance is
        ``{"loads": [window][layer][expert], "topology": {...}}`` (real traces) or
        ``{"seed": N, "workload": {...}, "topology": {...}}`` (every key optional)."""
        total = Outcome(Balance(), [])
        for number, (topology, windows, count) in enumerate(
            _read_instance_file(path, self.topology, self.workload)
        ):
            outcome = run_trace(session, windows, count, topology)
            if isinstance(outcome, str):
                return invalid(f"instance {number}: {outcome}")
            total = Outcome(total.balance + outcome.balance, total.seconds + outcome.seconds)
        return self.result(total)

    # -- scoring ---------------------------------------------------------------------------

    def _score(
        self, session: Session, windows: Iterator[Window], scored: int, topology: Topology
    ) -> EvaluationResult:
        outcome = run_trace(session, windows, scored, topology)
        if isinstance(outcome, str):
            return invalid(outcome)
        return self.result(outcome)

    def result(self, outcome: Outcome) -> EvaluationResult:
        """Turn a measured pass into the score, public metrics and feedback."""
        bal = outcome.balance
        median = outcome.median_seconds
        penalty = runtime_penalty(median, self.budget_seconds, self.per_doubling)
        score = bal.gpu_balancedness - penalty
        metrics = {
            "gpu_balancedness": bal.gpu_balancedness,
            "slot_balancedness": bal.slot_balancedness,
            "cross_node_share": bal.cross_node_share,
            "runtime_ms": median * 1000.0,
            "runtime_max_ms": max(outcome.seconds) * 1000.0,
            "runtime_penalty": penalty,
            "windows": float(len(outcome.seconds)),
        }
        budget_ms = self.budget_seconds * 1000.0
        feedback = (
            f"GPU balancedness {bal.gpu_balancedness:.4f} (mean/max GPU load, summed over "
            f"{len(outcome.seconds)} windows x layers, each placement scored on the next "
            f"window); expert-slot balancedness {bal.slot_balancedness:.4f}; cross-node "
            f"share {bal.cross_node_share:.3f}; median runtime {median * 1000:.1f} ms "
            f"(budget {budget_ms:g} ms, penalty {penalty:.4f}); score {score:.4f}"
        )
        return EvaluationResult(score, metrics, feedback, True)


def run_trace(
    session: Session, windows: Iterator[Window], scored: int, topology: Topology
) -> Outcome | str:
    """Ask for ``scored`` placements, each from one window, each scored on the next.

    Returns the measured outcome, or the reason the answer of some window is invalid.
    Sandbox errors (timeout, crash, exception in the candidate) propagate unchanged.
    """
    total = Balance()
    seconds: list[float] = []
    current = next(windows)
    for index in range(scored):
        weight = current.astype(np.float64)
        layers = weight.shape[0]
        answer = session.call(
            ENTRY_POINT,
            weight,
            topology.num_replicas,
            topology.num_groups,
            topology.num_nodes,
            topology.num_gpus,
        )
        seconds.append(session.last_call_seconds)
        try:
            phy2log, logcnt = validate(answer, topology, layers)
        except InvalidPlacement as exc:
            return f"window {index}: {exc}"
        # The window that scores this answer comes into being only now.
        following = next(windows)
        total = total + measure(following, phy2log, logcnt, topology)
        current = following
    return Outcome(total, seconds)


Instance = tuple[Topology, Iterator[Window], int]


def _read_instance_file(
    path: Path, default_topology: Topology, default_workload: Workload
) -> list[Instance]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InstanceFileError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise InstanceFileError(f"{path}: not valid JSON (line {exc.lineno})") from exc
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise InstanceFileError(f"{path}: the list of instances is empty")
    instances = []
    for number, item in enumerate(items):
        where = f"{path}: instance {number}" if isinstance(raw, list) else f"{path}"
        if not isinstance(item, dict):
            raise InstanceFileError(f'{where}: expected an object with "loads" or "seed"')
        try:
            instances.append(_instance(item, default_topology, default_workload))
        except (TypeError, ValueError) as exc:
            raise InstanceFileError(f"{where}: {exc}") from exc
    return instances


def _check_keys(name: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f'"{name}" must be an object')
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"unknown {name} keys {unknown}; known: {sorted(allowed)}")
    return value


def _instance(raw: dict[str, Any], topology: Topology, workload: Workload) -> Instance:
    _check_keys("instance", raw, {"loads", "seed", "topology", "workload"})
    _check_keys("topology", raw.get("topology", {}), set(asdict(topology)))
    _check_keys("workload", raw.get("workload", {}), set(asdict(workload)))
    topology = _pick(Topology, {**asdict(topology), **raw.get("topology", {})})
    topology.check()
    if "loads" in raw:
        loads = np.asarray(raw["loads"], dtype=np.float64)
        expected = (topology.num_layers, topology.num_experts)
        if loads.ndim != 3 or loads.shape[1:] != expected or loads.shape[0] < 2:
            raise ValueError(
                f'"loads" has shape {loads.shape}; expected '
                f"[windows >= 2, {expected[0]}, {expected[1]}]"
            )
        if not np.isfinite(loads).all() or (loads < 0).any():
            raise ValueError('"loads" must be finite and non-negative')
        return topology, iter(list(loads)), loads.shape[0] - 1
    workload = _pick(Workload, {**asdict(workload), **raw.get("workload", {})})
    workload.check()
    return topology, stream_windows(topology, workload, int(raw.get("seed", 0))), \
        workload.windows - 1
