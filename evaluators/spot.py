"""Verifier of the spot problem: finish a 48 h job by its deadline at the lowest cost.

The candidate's ``decide(sim_id, obs)`` is called once per tick of every simulation; all
simulations of a stage run in lockstep, so an evaluation costs one round trip per tick of
the longest deadline. Uniform Progress and always-on-demand are trusted reference code and
run on the host (cached) over exactly the same instances to give the relative metrics.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from evaluators.base import EvaluationResult, Stage, invalid
from evaluators.lockstep import InvalidAnswer, LockstepStats, run_lockstep
from evaluators.spot_sim import (
    AlwaysOnDemand,
    HostPolicy,
    SpotInstance,
    SpotSim,
    UniformProgress,
    run_host,
)
from evaluators.spot_traces import ENVIRONMENTS, generate_trace
from evaluators.user_instances import InstanceFileError, read_json_list
from sandbox.base import Session

STD_WEIGHT = 0.25  # score = -(mean + 0.25 * std): cheap on average and not erratic
_REFERENCES: dict[str, HostPolicy] = {
    "uniform_progress": UniformProgress(),
    "on_demand": AlwaysOnDemand(),
}


@lru_cache(maxsize=8192)
def reference_cost(inst: SpotInstance, policy: str) -> float:
    return run_host(inst, _REFERENCES[policy]).cost


def grid_instances(
    *,
    seed: int,
    windows: int,
    deadlines: Sequence[float],
    overheads: Sequence[float],
    task_hours: float,
    tick_hours: float,
) -> list[SpotInstance]:
    """Window-major order, so the first len(envs)*len(deadlines)*len(overheads) instances
    (one window) already cover every environment and setting: that is the quick stage."""
    longest = math.ceil(max(deadlines) / tick_hours)
    # Windows are spaced a little apart so they do not share availability periods.
    stride = longest + math.ceil(24 / tick_hours)
    traces = [
        generate_trace(env, stride * windows, tick_hours, seed * 1000 + e)
        for e, env in enumerate(ENVIRONMENTS)
    ]
    out: list[SpotInstance] = []
    for w in range(windows):
        for env, trace in zip(ENVIRONMENTS, traces, strict=True):
            window = tuple(trace[w * stride : w * stride + longest])
            for deadline in deadlines:
                for overhead in overheads:
                    label = (
                        f"env={env.name} deadline={deadline:g}h overhead={overhead:g}h window={w}"
                    )
                    out.append(
                        SpotInstance(
                            window, tick_hours, deadline, overhead, task_hours, env.name, label
                        )
                    )
    return out


def load_instances(path: Path) -> list[SpotInstance]:
    """Read a user's traces: a JSON list of {available, tick_hours, deadline_hours, ...}."""
    raw = read_json_list(path, "traces")
    return [_parse_instance(path, k, item) for k, item in enumerate(raw)]


def _parse_instance(path: Path, k: int, item: Any) -> SpotInstance:
    where = f"{path}: item {k}"
    if not isinstance(item, dict):
        raise InstanceFileError(f"{where}: expected an object with 'available', 'deadline_hours'")
    avail = item.get("available")
    if not isinstance(avail, list) or any(a not in (0, 1) or isinstance(a, bool) for a in avail):
        raise InstanceFileError(f"{where}: 'available' must be a list of 0/1, one per tick")

    def number(key: str, default: float | None) -> float:
        value = item.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InstanceFileError(f"{where}: '{key}' must be a non-negative number of hours")
        return float(value)

    tick = number("tick_hours", 1 / 6)
    task, deadline = number("task_hours", 48.0), number("deadline_hours", None)
    overhead = number("overhead_hours", 0.2)
    env = str(item.get("env", f"trace{k}"))
    if tick <= 0 or task <= 0:
        raise InstanceFileError(f"{where}: 'tick_hours' and 'task_hours' must be positive")
    if task + overhead > deadline - tick:
        raise InstanceFileError(
            f"{where}: deadline {deadline:g}h leaves no slack for task {task:g}h + overhead "
            f"{overhead:g}h; give a later deadline"
        )
    inst = SpotInstance(tuple(avail), tick, deadline, overhead, task, env, f"{env}#{k}")
    if len(avail) < inst.ticks:
        raise InstanceFileError(
            f"{where}: 'available' has {len(avail)} ticks but the deadline needs {inst.ticks}"
        )
    return inst


class SpotScheduling:
    """Constructed from problem.yaml ``verifier.params`` (see problems/spot/problem.yaml)."""

    def __init__(self, params: dict[str, Any], problem_dir: Path) -> None:
        self.problem_dir = problem_dir
        self.deadlines = [float(d) for d in params.get("deadlines_hours", [52, 70, 92])]
        self.overheads = [float(o) for o in params.get("overheads_hours", [0.02, 0.2, 0.4])]
        self.task_hours = float(params.get("task_hours", 48.0))
        self.tick_hours = float(params.get("tick_hours", 1 / 6))
        self.train = self._grid(
            int(params.get("train_seed", 1)), int(params.get("train_windows", 4))
        )
        self.test = self._grid(int(params.get("test_seed", 2)), int(params.get("test_windows", 4)))
        self.quick = int(params.get("quick_instances", len(self.train) // 4))
        self.function = str(params.get("function", "decide"))

    def _grid(self, seed: int, windows: int) -> list[SpotInstance]:
        return grid_instances(
            seed=seed,
            windows=windows,
            deadlines=self.deadlines,
            overheads=self.overheads,
            task_hours=self.task_hours,
            tick_hours=self.tick_hours,
        )

    def stages(self) -> list[Stage]:
        return [Stage("quick", self.quick), Stage("full", None)]

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult:
        insts = self.train if stage.instances is None else self.train[: stage.instances]
        return self.score(session, insts)

    def evaluate_test(self, session: Session) -> EvaluationResult:
        return self.score(session, self.test)

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        return self.score(session, load_instances(path))

    def score(self, session: Session, insts: Sequence[SpotInstance]) -> EvaluationResult:
        sims = [SpotSim(i) for i in insts]
        try:
            stats = run_lockstep(session, self.function, sims)
        except InvalidAnswer as exc:
            return invalid(str(exc), timed_out=exc.timed_out)
        late = [
            s for s in sims if s.finished_at is None or s.finished_at > s.inst.deadline_hours + 1e-6
        ]
        if late:  # the safety rule makes this impossible; a failure here is a simulator bug
            raise RuntimeError(f"spot simulator missed the deadline of {late[0].label}")
        return summarise(sims, stats)


def summarise(sims: Sequence[SpotSim], stats: LockstepStats | None = None) -> EvaluationResult:
    costs = [s.cost for s in sims]
    mean = statistics.fmean(costs)
    std = statistics.pstdev(costs)
    up = statistics.fmean(reference_cost(s.inst, "uniform_progress") for s in sims)
    od = statistics.fmean(reference_cost(s.inst, "on_demand") for s in sims)
    metrics = {
        "mean_cost": mean,
        "std_cost": std,
        "cost_vs_uniform_progress": mean / up,
        "cost_vs_on_demand": mean / od,
        "preemptions_per_job": statistics.fmean(s.preemptions for s in sims),
        "forced_on_demand_hours": statistics.fmean(s.forced_ticks for s in sims)
        * sims[0].inst.tick_hours,
    }
    by_env: dict[str, list[SpotSim]] = defaultdict(list)
    for s in sims:
        by_env[s.inst.env].append(s)
    lines = [
        f"{len(sims)} jobs: mean cost {mean:.2f} USD (std {std:.2f}), "
        f"{100 * (mean / up - 1):+.1f}% vs Uniform Progress, {100 * (mean / od - 1):+.1f}% vs "
        "always on-demand; every deadline met (the safety rule forced on-demand "
        f"{metrics['forced_on_demand_hours']:.1f} h per job on average)."
    ]
    for env, group in by_env.items():
        env_mean = statistics.fmean(s.cost for s in group)
        env_up = statistics.fmean(reference_cost(s.inst, "uniform_progress") for s in group)
        metrics[f"mean_cost_{env}"] = env_mean
        lines.append(
            f"- {env}: mean cost {env_mean:.2f} USD ({100 * (env_mean / env_up - 1):+.1f}% vs "
            f"Uniform Progress), {statistics.fmean(s.preemptions for s in group):.1f} "
            "preemptions per job"
        )
    if stats is not None:
        lines.append(
            f"({stats.round_trips} lockstep steps, {stats.decisions} decisions, "
            f"{stats.candidate_seconds:.2f} s in the program)"
        )
    return EvaluationResult(
        score=-(mean + STD_WEIGHT * std), metrics=metrics, feedback="\n".join(lines)
    )
