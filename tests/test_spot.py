"""Spot problem: the simulator against hand-worked timelines, the trace generator's
statistics, validation of answers, determinism, and whole evaluations in a real sandbox."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from evaluators.lockstep import InvalidAnswer
from evaluators.problem import load_problem_dir, load_verifier
from evaluators.spot import SpotScheduling, grid_instances, load_instances
from evaluators.spot_sim import (
    ON_DEMAND_PRICE,
    SPOT_PRICE,
    AlwaysOnDemand,
    Greedy,
    HostPolicy,
    SpotInstance,
    SpotSim,
    UniformProgress,
    run_host,
)
from evaluators.spot_traces import ENVIRONMENTS, gamma_hours, generate_trace, periods
from evaluators.user_instances import InstanceFileError

PROBLEM = Path(__file__).resolve().parent.parent / "problems" / "spot"


class Scripted:
    def __init__(self, actions: list[str]) -> None:
        self.actions = actions
        self.seen: list[dict[str, Any]] = []

    def decide(self, obs: dict[str, Any]) -> str:
        self.seen.append(obs)
        return self.actions[len(self.seen) - 1]


def hourly(available: list[int], task: float, deadline: float, overhead: float) -> SpotInstance:
    return SpotInstance(tuple(available), 1.0, deadline, overhead, task, "hand", "hand")


def test_preemption_costs_a_restart_overhead() -> None:
    sim = run_host(hourly([1, 1, 0, 1, 1, 1, 1, 1, 1, 1], 3, 10, 0.5), Greedy())
    # t0 start spot: 0.5 h overhead + 0.5 h work; t1 +1 h; t2 preempted, idle;
    # t3 restart: 0.5 h overhead + 0.5 h; t4 +1 h -> 3 h done at 5.0 h.
    assert sim.history == ["SPOT", "SPOT", "NONE", "SPOT", "SPOT"]
    assert sim.preemptions == 1
    assert sim.finished_at == pytest.approx(5.0)
    assert sim.cost == pytest.approx(4 * SPOT_PRICE)


def test_switching_type_costs_overhead_and_staying_does_not() -> None:
    policy = Scripted(["ON_DEMAND", "SPOT", "SPOT", "SPOT"])
    sim = run_host(hourly([1] * 10, 2, 10, 0.25), policy)
    # t0 OD: 0.25 lost, 0.75 done; t1 SPOT: 0.25 lost, 1.5 done; t2: 0.5 needed, 0.5 billed.
    assert sim.history == ["ON_DEMAND", "SPOT", "SPOT"]
    assert sim.cost == pytest.approx(ON_DEMAND_PRICE + 1.5 * SPOT_PRICE)
    assert sim.finished_at == pytest.approx(2.5)
    assert policy.seen[1]["current_type"] == "ON_DEMAND"
    assert policy.seen[1]["restart_overhead_remaining_hours"] == 0.0
    assert policy.seen[2]["work_done_hours"] == pytest.approx(1.5)


def test_safety_rule_forces_on_demand_just_in_time() -> None:
    sim = run_host(hourly([0] * 5, 3, 5, 0.5), Greedy())
    # t0: 3 + 0.5 <= 5 - 1 so waiting is allowed; t1: 3.5 > 4 - 1 forces on-demand,
    # which then needs 0.5 h overhead + 3 h work and ends at 4.5 h <= 5 h.
    assert sim.history == ["NONE", "ON_DEMAND", "ON_DEMAND", "ON_DEMAND", "ON_DEMAND"]
    assert sim.forced_ticks == 4
    assert sim.finished_at == pytest.approx(4.5)
    assert sim.cost == pytest.approx(3.5 * ON_DEMAND_PRICE)


def test_spot_requested_while_unavailable_idles() -> None:
    sim = run_host(hourly([0, 0, 1, 1, 1, 1, 1, 1], 2, 8, 0.0), Scripted(["SPOT"] * 8))
    assert sim.history[:2] == ["NONE", "NONE"]
    assert sim.cost == pytest.approx(2 * SPOT_PRICE)


def test_observation_reveals_only_the_present() -> None:
    policy = Scripted(["NONE"] * 4 + ["ON_DEMAND"] * 10)
    run_host(hourly([1, 0, 1, 0, 1, 0, 1, 0, 1, 0], 3, 10, 0.5), policy)
    for obs in policy.seen:
        assert not any(isinstance(v, list | tuple) for v in obs.values())
    assert [o["spot_available"] for o in policy.seen[:3]] == [True, False, True]


@pytest.mark.parametrize("policy", [Greedy(), UniformProgress(), AlwaysOnDemand()])
def test_every_reference_policy_meets_every_deadline(policy: Any) -> None:
    verifier = SpotScheduling({}, PROBLEM)
    for inst in verifier.train + verifier.test:
        sim = run_host(inst, policy)
        assert sim.finished_at is not None and sim.finished_at <= inst.deadline_hours + 1e-9
        assert sim.done_hours == inst.task_hours


def test_reference_costs_are_ordered_as_expected() -> None:
    insts = SpotScheduling({}, PROBLEM).train
    mean = {
        type(p).__name__: statistics.fmean(run_host(i, p).cost for i in insts)
        for p in (Greedy(), UniformProgress(), AlwaysOnDemand())
    }
    assert mean["UniformProgress"] < mean["Greedy"] < mean["AlwaysOnDemand"]
    assert 1.3 < mean["AlwaysOnDemand"] / mean["UniformProgress"] < 1.8


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_trace_generator_matches_the_environment(env: Any) -> None:
    import random

    tick = 1 / 6
    trace = generate_trace(env, 600_000, tick, seed=7)
    ups, downs = periods(trace, tick)
    assert statistics.fmean(trace) == pytest.approx(env.availability, rel=0.04)
    assert statistics.fmean(ups) == pytest.approx(env.mean_up_hours, rel=0.04)
    assert statistics.fmean(downs) == pytest.approx(env.mean_down_hours, rel=0.04)
    assert min(ups + downs) >= tick - 1e-12
    rng = random.Random(3)
    # Quantisation to ticks with a one-tick minimum narrows the shortest periods, so the
    # coefficients of variation are checked on the durations before quantisation.
    for mean, cv in ((env.mean_up_hours, env.cv_up), (env.mean_down_hours, env.cv_down)):
        draws = [gamma_hours(rng, mean, cv) for _ in range(200_000)]
        assert statistics.fmean(draws) == pytest.approx(mean, rel=0.03)
        assert statistics.pstdev(draws) / statistics.fmean(draws) == pytest.approx(cv, rel=0.05)


def test_grid_is_deterministic_and_train_differs_from_test() -> None:
    a, b = SpotScheduling({}, PROBLEM), SpotScheduling({}, PROBLEM)
    assert a.train == b.train and a.test == b.test
    assert [i.available for i in a.train] != [i.available for i in a.test]
    assert len(a.train) == 4 * 3 * 3 * 4
    # The quick stage (first 36) covers every environment, deadline and overhead.
    quick = a.train[:36]
    assert {(i.env, i.deadline_hours, i.overhead_hours) for i in quick} == {
        (i.env, i.deadline_hours, i.overhead_hours) for i in a.train
    }
    assert run_host(a.train[5], Greedy()).cost == run_host(b.train[5], Greedy()).cost


@pytest.mark.parametrize("answer", ["spot", None, 1, ["SPOT"], "WAIT"])
def test_invalid_answer_names_the_simulation_and_tick(answer: Any) -> None:
    sim = SpotSim(
        grid_instances(
            seed=1, windows=1, deadlines=[52], overheads=[0.2], task_hours=48, tick_hours=1 / 6
        )[0]
    )
    for _ in range(3):
        sim.pending()
        sim.resolve(["SPOT"])
    sim.pending()
    with pytest.raises(InvalidAnswer, match=r"env=high_avail deadline=52h.*tick 3"):
        sim.resolve([answer])


def test_user_trace_file(tmp_path: Path) -> None:
    good = {
        "available": [1, 0] * 300,
        "tick_hours": 1 / 6,
        "deadline_hours": 52,
        "overhead_hours": 0.2,
        "task_hours": 48,
        "env": "mine",
    }
    path = tmp_path / "traces.json"
    path.write_text(json.dumps([good]))
    (inst,) = load_instances(path)
    assert inst.env == "mine" and inst.ticks == 312
    for bad, message in [
        ("not json", "cannot read"),
        ("[]", "non-empty"),
        (json.dumps([{**good, "available": [1, 2]}]), "0/1"),
        (json.dumps([{**good, "available": [1] * 10}]), "deadline needs 312"),
        (json.dumps([{**good, "deadline_hours": 48}]), "no slack"),
        (json.dumps([{**good, "deadline_hours": "soon"}]), "deadline_hours"),
    ]:
        path.write_text(bad)
        with pytest.raises(InstanceFileError, match=message):
            load_instances(path)


def test_problem_folder_loads() -> None:
    spec = load_problem_dir(PROBLEM, "builtin")
    verifier = load_verifier(spec)
    assert [s.name for s in verifier.stages()] == [s.name for s in spec.stage_list()]
    assert spec.functions == ["decide"]
    assert {p.stem for p in spec.baseline_files()} == {"greedy", "uniform_progress", "on_demand"}


# --- through a real process sandbox --------------------------------------------------------


def evaluate(code: str, *, stage: int = 0, file: Path | None = None) -> Any:
    from sandbox.select import make_sandbox

    spec = load_problem_dir(PROBLEM, "builtin")
    verifier = load_verifier(spec)
    files = {"candidate.py": code}
    with make_sandbox("process").open(
        files, "candidate", spec.functions, spec.limits.to_limits()
    ) as s:
        if file is not None:
            return verifier.evaluate_file(s, file)
        return verifier.evaluate(s, verifier.stages()[stage])


def test_sandboxed_baselines_match_the_host_reference_code() -> None:
    from evaluators.spot import summarise

    quick = SpotScheduling({}, PROBLEM).train[:36]
    references: list[tuple[str, HostPolicy]] = [
        ("greedy", Greedy()),
        ("uniform_progress", UniformProgress()),
        ("on_demand", AlwaysOnDemand()),
    ]
    for name, host in references:
        result = evaluate((PROBLEM / "baselines" / f"{name}.py").read_text())
        assert result.valid, result.feedback
        expected = summarise([run_host(i, host) for i in quick])
        assert result.metrics == expected.metrics
        assert result.score == expected.score
    # The quick stage's longest deadline is 92 h = 552 ticks, but always-on-demand ends
    # every job after 48 h plus the overhead: one round trip per tick of the longest job.
    assert "(291 lockstep steps, " in result.feedback


def test_invalid_action_in_sandbox_names_simulation_and_tick() -> None:
    code = (
        (PROBLEM / "seed.py")
        .read_text()
        .replace(
            '            return "SPOT"', '            return "SPOT" if obs["tick"] < 5 else "spot"'
        )
    )
    result = evaluate(code)
    assert not result.valid
    assert "env=high_avail deadline=52h overhead=0.02h window=0, tick 5" in result.feedback


def test_exception_in_policy_is_invalid_with_its_place() -> None:
    code = (
        (PROBLEM / "seed.py")
        .read_text()
        .replace(
            '        if obs["spot_available"]:',
            "        1 / (obs['tick'] - 9)\n        if obs[\"spot_available\"]:",
        )
    )
    result = evaluate(code)
    assert not result.valid
    assert "tick 9" in result.feedback and "ZeroDivisionError" in result.feedback


def test_user_traces_through_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    trace = {
        "available": [1] * 200 + [0] * 400,
        "tick_hours": 1 / 6,
        "deadline_hours": 70,
        "overhead_hours": 0.2,
        "task_hours": 48,
        "env": "mine",
    }
    path.write_text(json.dumps([trace]))
    result = evaluate((PROBLEM / "seed.py").read_text(), file=path)
    # 33.3 h on spot (0.2 h of it overhead) leaves 14.87 h of work; greedy waits until the
    # safety rule starts on-demand (0.2 h overhead + 14.87 h) just in time.
    spot_hours = 200 / 6
    on_demand_hours = 48 - (spot_hours - 0.2) + 0.2
    assert result.valid and result.metrics["mean_cost_mine"] == pytest.approx(
        spot_hours * SPOT_PRICE + on_demand_hours * ON_DEMAND_PRICE
    )
    # Forced from tick 329 (the first at which 15.07 h no longer fits in 70 h - (k + 1) / 6)
    # for the 91 ticks that 15.07 h of on-demand take.
    assert result.metrics["forced_on_demand_hours"] == pytest.approx(91 / 6)
