"""EPLB problem, host side: workload, validation, balance arithmetic, problem folder.

Everything that runs a candidate is in test_eplb_sandbox.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators.eplb import ExpertLoadBalancing, InstanceFileError
from evaluators.eplb_scoring import (
    Balance,
    InvalidPlacement,
    measure,
    replica_counts,
    runtime_penalty,
    validate,
)
from evaluators.eplb_workload import Topology, Workload, all_windows, stream_windows
from evaluators.problem import load_problem_dir, load_verifier
from evolve.errors import ProblemError

PROBLEM = Path(__file__).resolve().parent.parent / "problems" / "eplb"
TINY = Topology(num_layers=1, num_experts=4, num_groups=2, num_nodes=2, num_gpus=2,
                num_replicas=6)


def _i64(rows: list[list[int]]) -> Any:
    return np.array(rows, dtype=np.int64)


# -- workload -----------------------------------------------------------------------------

def test_workload_shapes_totals_and_determinism() -> None:
    topo, work = Topology(num_layers=3), Workload(windows=4, tokens_per_layer=1000)
    trace = all_windows(topo, work, seed=5)
    assert trace.shape == (4, 3, 256)
    assert (trace.sum(axis=2) == 1000).all()
    assert np.array_equal(trace, all_windows(topo, work, seed=5))
    assert not np.array_equal(trace, all_windows(topo, work, seed=6))
    assert np.array_equal(trace[0], next(stream_windows(topo, work, seed=5)))


def test_workload_drifts_as_ar1_with_the_given_spread() -> None:
    # Many tokens make the multinomial noise negligible, so log-counts track log-popularity.
    topo = Topology(num_layers=40)
    trace = all_windows(topo, Workload(sigma=1.0, rho=0.9, windows=2,
                                       tokens_per_layer=10**9), seed=3)
    logs = np.log(trace.astype(float))
    logs -= logs.mean(axis=2, keepdims=True)
    assert logs[0].std() == pytest.approx(1.0, abs=0.05)
    corr = np.corrcoef(logs[0].ravel(), logs[1].ravel())[0, 1]
    assert corr == pytest.approx(0.9, abs=0.02)


def test_bad_topology_and_workload_are_refused() -> None:
    with pytest.raises(ValueError, match="num_replicas 200 is below"):
        Topology(num_replicas=200, num_gpus=8).check()
    with pytest.raises(ValueError, match="not a multiple of num_gpus"):
        Topology(num_replicas=290).check()
    with pytest.raises(ValueError, match="windows must be at least 2"):
        Workload(windows=1).check()


# -- balance arithmetic on a hand-worked example ------------------------------------------

def test_balance_hand_worked_example() -> None:
    # Experts 0,1 form group 0 and 2,3 group 1; GPU 0 = node 0 = slots 0-2, GPU 1 = node 1.
    # Slots hold experts [0, 1, 2 | 0, 3, 2]: experts 0 and 2 have two replicas each.
    # Layer 0 load [60, 30, 20, 10] -> slot loads [30, 30, 10 | 30, 10, 10]
    #   GPUs 70 and 50 (mean 60, max 70); slots mean 20, max 30.
    #   Group 0: node 0 serves 60, node 1 serves 30 -> 30 crosses; group 1: 10 vs 20 -> 10.
    # Layer 1 load [10, 10, 10, 10] -> slot loads [5, 10, 5 | 5, 10, 5]: GPUs 20 and 20;
    #   group 0: 15 on node 0, 5 on node 1; group 1: 5 on node 0, 15 on node 1 -> 5 + 5 cross.
    topo = Topology(num_layers=2, num_experts=4, num_groups=2, num_nodes=2, num_gpus=2,
                    num_replicas=6)
    phy2log = _i64([[0, 1, 2, 0, 3, 2], [0, 1, 2, 0, 3, 2]])
    logcnt = _i64([[2, 1, 2, 1], [2, 1, 2, 1]])
    bal = measure(_i64([[60, 30, 20, 10], [10, 10, 10, 10]]), phy2log, logcnt, topo)
    # Sums over layers first, then the ratio: (60 + 20) / (70 + 20), not the mean of ratios.
    assert bal.gpu_balancedness == pytest.approx(80 / 90)
    assert bal.slot_balancedness == pytest.approx((20 + 40 / 6) / (30 + 10))
    assert bal.cross_node_share == pytest.approx((30 + 10 + 5 + 5) / (120 + 40))
    single = measure(_i64([[60, 30, 20, 10]]), phy2log[:1], logcnt[:1], TINY)
    assert single.gpu_balancedness == pytest.approx(60 / 70)
    assert (single + single).gpu_balancedness == pytest.approx(60 / 70)


def test_runtime_penalty_per_doubling_above_budget_only() -> None:
    assert runtime_penalty(0.010, 0.020, 0.05) == 0.0
    assert runtime_penalty(0.020, 0.020, 0.05) == 0.0
    assert runtime_penalty(0.040, 0.020, 0.05) == pytest.approx(0.05)
    assert runtime_penalty(0.160, 0.020, 0.05) == pytest.approx(0.15)


# -- validation: every kind of invalid answer ---------------------------------------------

GOOD_PHY = [[0, 1, 2, 0, 3, 2]]
GOOD_CNT = [[2, 1, 2, 1]]


def test_valid_answer_passes_and_counts_are_returned() -> None:
    phy2log, counts = validate((_i64(GOOD_PHY), np.array(GOOD_CNT, dtype=np.int32)), TINY, 1)
    assert counts.tolist() == GOOD_CNT and phy2log.dtype == np.int64
    assert replica_counts(phy2log, 4).tolist() == GOOD_CNT


@pytest.mark.parametrize(("answer", "message"), [
    (np.zeros((1, 6), dtype=np.int64), r"must return \(phy2log, logcnt\), got a ndarray"),
    ((_i64(GOOD_PHY), _i64(GOOD_CNT), 0), "got a tuple of length 3"),
    (None, "got a NoneType"),
    ((GOOD_PHY, _i64(GOOD_CNT)), "phy2log must be a numpy integer array, got list"),
    ((_i64(GOOD_PHY), GOOD_CNT), "logcnt must be a numpy integer array, got list"),
    ((np.array(GOOD_PHY, dtype=np.float64), _i64(GOOD_CNT)),
     "phy2log must have an integer dtype, got float64"),
    ((_i64(GOOD_PHY), np.array(GOOD_CNT, dtype=bool)), "logcnt must have an integer dtype"),
    ((_i64([[0, 1, 2, 0, 3]]), _i64(GOOD_CNT)),
     "phy2log has 5 slots per layer, but num_replicas is 6"),
    ((_i64([[0, 1, 2, 0, 3, 2, 1]]), _i64(GOOD_CNT)), "has 7 slots per layer"),
    ((_i64(GOOD_PHY + GOOD_PHY), _i64(GOOD_CNT)), r"phy2log has shape \(2, 6\), expected \(1, 6\)"),
    ((_i64(GOOD_PHY), _i64([[2, 1, 2]])), r"logcnt has shape \(1, 3\), expected \(1, 4\)"),
    ((_i64([[0, 1, 2, 0, 4, 2]]), _i64(GOOD_CNT)), "layer 0: slot 4 holds expert 4, outside 0..3"),
    ((_i64([[0, 1, 2, -1, 3, 2]]), _i64(GOOD_CNT)), "layer 0: slot 3 holds expert -1"),
    ((_i64([[0, 1, 2, 0, 0, 2]]), _i64([[3, 1, 2, 0]])), "layer 0: expert 3 has no replica"),
    ((_i64(GOOD_PHY), _i64([[1, 1, 2, 1]])),
     r"layer 0: logcnt\[0\] = 1 but phy2log holds 2 replicas of expert 0"),
])
def test_invalid_answers_are_named(answer: Any, message: str) -> None:
    with pytest.raises(InvalidPlacement, match=message):
        validate(answer, TINY, 1)


def test_invalid_layer_is_the_first_bad_one() -> None:
    topo = Topology(num_layers=3, num_experts=4, num_groups=2, num_nodes=2, num_gpus=2,
                    num_replicas=6)
    phy2log = _i64([GOOD_PHY[0], GOOD_PHY[0], [0, 1, 2, 0, 0, 2]])
    logcnt = _i64([GOOD_CNT[0], GOOD_CNT[0], [3, 1, 2, 0]])
    with pytest.raises(InvalidPlacement, match="layer 2: expert 3 has no replica"):
        validate((phy2log, logcnt), topo, 3)


# -- problem folder and verifier construction ---------------------------------------------

def test_problem_folder_loads_and_stages_match() -> None:
    spec = load_problem_dir(PROBLEM, "builtin")
    verifier = load_verifier(spec)
    assert isinstance(verifier, ExpertLoadBalancing)
    assert verifier.stages() == spec.stage_list()
    assert spec.functions == ["rebalance_experts"]
    assert "EVOLVE-BLOCK-START" in spec.seed_path.read_text()
    assert {p.name for p in spec.baseline_files()} == {"deepseek.py", "greedy.py",
                                                        "round_robin.py"}


def test_bad_params_name_the_problem() -> None:
    with pytest.raises(KeyError, match="unknown EPLB params"):
        ExpertLoadBalancing({"sigmaa": 1.0}, PROBLEM)
    with pytest.raises(ValueError, match="must differ"):
        ExpertLoadBalancing({"train_seed": 1, "test_seed": 1}, PROBLEM)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        ExpertLoadBalancing({"test_sigmas": [0.8, -1]}, PROBLEM)
    with pytest.raises(ValueError, match="invalid literal for int"):
        ExpertLoadBalancing({"num_layers": "many"}, PROBLEM)
    spec = load_problem_dir(PROBLEM, "builtin")
    broken = spec.model_copy(update={"verifier": spec.verifier.model_copy(
        update={"params": {"num_replicas": 100}})})
    with pytest.raises(ProblemError, match="bad verifier.params"):
        load_verifier(broken)


def test_instance_file_errors_are_one_line(tmp_path: Path) -> None:
    verifier = ExpertLoadBalancing({}, PROBLEM)
    bad = tmp_path / "bad.json"
    for text, message in [("{", "not valid JSON"), ("3", "expected an object"),
                          (json.dumps({"loads": [[[1.0] * 4]]}), "has shape"),
                          (json.dumps({"workload": {"windows": 1}}), "windows must be"),
                          (json.dumps({"topology": {"gpus": 3}}), r"unknown topology keys \['gpus'\]"),
                          (json.dumps([{"seed": 1}, {"sead": 1}]),
                           r"instance 1: unknown instance keys \['sead'\]"),
                          ("[]", "list of instances is empty"),
                          ("[1]", 'instance 0: expected an object with "loads" or "seed"')]:
        bad.write_text(text)
        with pytest.raises(InstanceFileError, match=message):
            verifier.evaluate_file(None, bad)  # type: ignore[arg-type]
    with pytest.raises(InstanceFileError, match="cannot read"):
        verifier.evaluate_file(None, tmp_path / "missing.json")  # type: ignore[arg-type]


def test_pooled_ratio_is_not_nan_for_empty_balance() -> None:
    assert Balance().gpu_balancedness == 1.0 and not math.isnan(Balance().cross_node_share)
