"""LLM routing problem: the simulator against hand-computed timelines, conservation, the
workload generator's statistics, determinism, and evaluations in a real process sandbox."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluators.problem import load_problem_dir, load_verifier
from evaluators.routing import LLMRouting, load_workloads
from evaluators.routing_sim import ClusterSim, EngineParams, Finished, Request
from evaluators.routing_workload import CLASSES, generate_workload, instance_capacity
from evaluators.user_instances import InstanceFileError
from sandbox.base import Session
from sandbox.select import make_sandbox

PROBLEM = Path(__file__).resolve().parent.parent / "problems" / "llm_routing"
# Round numbers so that timelines can be worked out by hand: a step costs
# 1 s + 0.01 s per prefill token + 0.1 s per decoding sequence.
TOY = EngineParams(
    step_base_s=1.0,
    prefill_per_token_s=0.01,
    decode_per_seq_s=0.1,
    token_budget=100,
    max_running=4,
    kv_capacity_tokens=1000,
)


def simulate(requests: list[Request], targets: list[int], engine: EngineParams = TOY) -> ClusterSim:
    sim = ClusterSim(requests, 1 + max(targets), engine, "hand")
    for target in targets:
        assert sim.next_arrival() is not None
        sim.assign(target)
    assert sim.next_arrival() is None and sim.done
    return sim


def by_rid(sim: ClusterSim) -> dict[int, Finished]:
    return {f.rid: f for f in sim.finished}


def req(rid: int, arrival: float, prompt: int, output: int) -> Request:
    return Request(rid, arrival, prompt, output, output, "chat")


def test_one_request_prefill_then_decode() -> None:
    (f,) = simulate([req(0, 0.0, 50, 3)], [0]).finished
    # prefill 50 tokens: 1 + 0.5 = 1.5 s gives the first token; 2 decodes of 1.1 s each.
    assert f.first_token == pytest.approx(1.5)
    assert f.finish == pytest.approx(3.7)


def test_chunked_prefill_shares_a_step_with_a_newcomer() -> None:
    done = by_rid(simulate([req(0, 0.0, 150, 2), req(1, 0.5, 30, 1)], [0, 0]))
    # step 1 [0, 2.0]: 100 of r0's 150 tokens. step 2 [2.0, 3.8]: r0's last 50 + r1's 30
    # (1 + 0.8 s); both get their first token, r1 is done. step 3: r0 decodes, 1.1 s.
    assert done[0].first_token == pytest.approx(3.8)
    assert done[1].finish == pytest.approx(3.8)
    assert done[0].finish == pytest.approx(4.9)


def test_arrival_interrupts_a_run_of_decode_steps() -> None:
    sim = ClusterSim([req(0, 0.0, 10, 5), req(1, 2.0, 20, 1)], 1, TOY, "hand")
    sim.next_arrival()
    sim.assign(0)
    sim.next_arrival()
    # r0: prefill [0, 1.1] gives token 1; its decode step [1.1, 2.2] is under way.
    assert sim.instance_views()[0]["kv_used_tokens"] == 11
    sim.assign(0)
    sim.next_arrival()
    done = by_rid(sim)
    # [2.2, 3.5]: r0 decodes while r1 prefills (1 + 0.2 + 0.1); then 2 decodes of 1.1 s.
    assert done[1].finish == pytest.approx(3.5)
    assert done[0].finish == pytest.approx(5.7)


def test_full_kv_cache_preempts_the_latest_and_recomputes_it() -> None:
    small = EngineParams(1.0, 0.01, 0.1, 100, 4, kv_capacity_tokens=40)
    sim = simulate([req(0, 0.0, 20, 15), req(1, 0.0, 15, 10)], [0, 0], small)
    done = by_rid(sim)
    # r0 arrives first and starts a step alone: prefill [0, 1.2] (21 slots). r1 joins the
    # next step [1.2, 2.45] (1 + 0.15 + 0.1 s; 16 slots); a joint decode step to 3.65 fills
    # 40 of 40; the next needs 42, so r1 (admitted last, 17 slots) is preempted. r0 decodes
    # alone to its 15th token at 3.65 + 12 x 1.1; r1 then recomputes 15 + 2 tokens (1.17 s),
    # which yields its token 3, and decodes 7 more.
    assert sim.instances[0].preemptions == 1
    assert sim.instances[0].max_used <= 40
    assert done[0].finish == pytest.approx(16.85)
    assert done[1].first_token == pytest.approx(2.45)
    assert done[1].finish == pytest.approx(16.85 + 1.17 + 7 * 1.1)


def test_conservation_under_overload() -> None:
    engine = EngineParams()
    reqs = generate_workload(seed=5, requests=3000, instances=4, load=1.2, engine=engine)
    rng = random.Random(1)
    sim = simulate(reqs, [rng.randrange(4) for _ in reqs], engine)
    assert sorted(f.rid for f in sim.finished) == list(range(len(reqs)))
    assert sum(i.preemptions for i in sim.instances) > 0  # the cache really was the limit
    for inst in sim.instances:
        assert inst.max_used <= engine.kv_capacity_tokens
        assert inst.used == 0 and inst.pending_prefill == 0
    for f in sim.finished:
        assert f.arrival <= f.first_token <= f.finish


def test_workload_statistics_match_the_parameters() -> None:
    engine = EngineParams()
    reqs = generate_workload(seed=3, requests=40_000, instances=8, load=0.9, engine=engine)
    rate = 0.9 * 8 * instance_capacity(engine)
    assert len(reqs) / reqs[-1].arrival == pytest.approx(rate, rel=0.03)
    for cls in CLASSES:
        mine = [r for r in reqs if r.cls == cls.name]
        assert len(mine) / len(reqs) == pytest.approx(cls.weight, rel=0.04)
        assert statistics.median(r.prompt for r in mine) == pytest.approx(
            cls.prompt_median, rel=0.04
        )
        assert statistics.median(r.output for r in mine) == pytest.approx(
            cls.output_median, rel=0.04
        )
    noise = [math.log(r.predicted / r.output) for r in reqs if r.output >= 50]
    assert statistics.pstdev(noise) == pytest.approx(0.5, rel=0.05)


def test_workloads_are_deterministic_and_train_differs_from_test() -> None:
    a = LLMRouting({"requests_per_workload": 200}, PROBLEM)
    b = LLMRouting({"requests_per_workload": 200}, PROBLEM)
    assert a.train == b.train and a.test == b.test
    assert not set(a.train) & set(a.test)
    assert {w.label.split()[0] for w in a.train[:2]} == {"load=1", "load=0.9"}


def test_user_workload_file(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    good = {
        "instances": 2,
        "requests": [
            {"arrival_s": 0.0, "prompt_tokens": 10, "output_tokens": 3},
            {
                "arrival_s": 0.5,
                "prompt_tokens": 20,
                "output_tokens": 2,
                "predicted_output_tokens": 4,
                "class": "x",
            },
        ],
    }
    path.write_text(json.dumps([good]))
    (w,) = load_workloads(path, 8)
    assert w.instances == 2 and w.requests[1].predicted == 4
    for bad, message in [
        ("{", "cannot read"),
        (json.dumps([{"requests": []}]), "no requests"),
        (json.dumps([{**good, "instances": 0}]), "positive integer"),
        (json.dumps([{"requests": [{"arrival_s": 0}]}]), "needs numbers"),
        (
            json.dumps(
                [{"requests": [{"arrival_s": 0, "prompt_tokens": 16000, "output_tokens": 4096}]}]
            ),
            "never fit",
        ),
        (
            json.dumps(
                [
                    {
                        "requests": [
                            {"arrival_s": 1, "prompt_tokens": 10, "output_tokens": 1},
                            {"arrival_s": 0, "prompt_tokens": 10, "output_tokens": 1},
                        ]
                    }
                ]
            ),
            "sorted",
        ),
    ]:
        path.write_text(bad)
        with pytest.raises(InstanceFileError, match=message):
            load_workloads(path, 8, EngineParams(kv_capacity_tokens=20_000))


# --- through a real process sandbox --------------------------------------------------------

SMALL = {"requests_per_workload": 300, "train_seeds": [11], "train_loads": [1.0, 0.9]}


@pytest.fixture(scope="module")
def spec() -> Any:
    return load_problem_dir(PROBLEM, "builtin")


def session_for(code: str, spec: Any) -> Iterator[Session]:
    sandbox = make_sandbox("process")
    with sandbox.open(
        {"candidate.py": code}, "candidate", spec.functions, spec.limits.to_limits()
    ) as s:
        yield s


def evaluate(code: str, spec: Any, params: dict[str, Any] = SMALL) -> Any:
    verifier = LLMRouting(params, PROBLEM)
    for session in session_for(code, spec):
        return verifier.evaluate(session, verifier.stages()[-1])


def test_seed_scores_zero_and_jsq_beats_it(spec: Any) -> None:
    seed = evaluate(spec.seed_path.read_text(), spec)
    assert seed.valid and seed.score == pytest.approx(0.0, abs=1e-12)
    assert "round robin" in seed.feedback and "300 lockstep steps" in seed.feedback
    jsq = evaluate((PROBLEM / "baselines" / "jsq.py").read_text(), spec)
    assert jsq.valid and jsq.score > 0.0
    assert jsq.metrics["mean_e2e_s"] < seed.metrics["mean_e2e_s"]
    again = evaluate((PROBLEM / "baselines" / "jsq.py").read_text(), spec)
    assert again.metrics == jsq.metrics


@pytest.mark.parametrize("answer", ["'0'", "8", "-1", "1.0", "True", "None"])
def test_invalid_route_names_the_workload_and_request(spec: Any, answer: str) -> None:
    code = spec.seed_path.read_text().replace(
        "        return choice\n", f"        return choice if request['id'] < 7 else {answer}\n"
    )
    result = evaluate(code, spec)
    assert not result.valid
    assert "load=1 seed=11" in result.feedback and "request 7" in result.feedback


def test_exception_in_router_is_invalid_with_its_place(spec: Any) -> None:
    code = spec.seed_path.read_text().replace(
        "        choice = self.next",
        "        assert request['id'] != 42, 'boom'\n        choice = self.next",
    )
    result = evaluate(code, spec)
    assert not result.valid
    assert "request 42" in result.feedback and "boom" in result.feedback


def test_engine_too_small_for_the_longest_request_is_refused() -> None:
    with pytest.raises(ValueError, match="kv_capacity_tokens"):
        LLMRouting({"engine": {"kv_capacity_tokens": 5000}}, PROBLEM)
    with pytest.raises(KeyError, match="unknown engine parameter"):
        LLMRouting({"engine": {"kv_tokens": 5000}}, PROBLEM)


def test_problem_folder_loads(spec: Any) -> None:
    verifier = load_verifier(spec)
    assert [s.name for s in verifier.stages()] == [s.name for s in spec.stage_list()]
    assert {p.stem for p in spec.baseline_files()} == {
        "round_robin",
        "random",
        "jsq",
        "least_tokens",
        "power_of_two",
    }
