"""EPLB problem: workload, validation, balance arithmetic, and the verifier through a real
process sandbox (invalid answers, a candidate hunting for the next window, baselines)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators.base import EvaluationResult, Stage
from evaluators.eplb import ExpertLoadBalancing, InstanceFileError
from evaluators.eplb_scoring import (
    InvalidPlacement,
    measure,
    replica_counts,
    runtime_penalty,
    validate,
)
from evaluators.eplb_workload import Topology, Workload, all_windows, stream_windows
from evaluators.problem import load_problem_dir, load_verifier
from evolve.errors import ProblemError
from sandbox.base import CandidateError, CandidateTimeout, Limits, Sandbox, Session

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
    spec = load_problem_dir(PROBLEM, "builtin")
    broken = spec.model_copy(update={"verifier": spec.verifier.model_copy(
        update={"params": {"num_replicas": 100}})})
    with pytest.raises(ProblemError, match="bad verifier.params"):
        load_verifier(broken)


def test_instance_file_errors_are_one_line(tmp_path: Path) -> None:
    verifier = ExpertLoadBalancing({}, PROBLEM)
    bad = tmp_path / "bad.json"
    for text, message in [("{", "not valid JSON"), ("[1]", "expected an object"),
                          (json.dumps({"loads": [[[1.0] * 4]]}), "has shape"),
                          (json.dumps({"workload": {"windows": 1}}), "windows must be")]:
        bad.write_text(text)
        with pytest.raises(InstanceFileError, match=message):
            verifier.evaluate_file(None, bad)  # type: ignore[arg-type]
    with pytest.raises(InstanceFileError, match="cannot read"):
        verifier.evaluate_file(None, tmp_path / "missing.json")  # type: ignore[arg-type]


def test_pooled_ratio_is_not_nan_for_empty_balance() -> None:
    from evaluators.eplb_scoring import Balance

    assert Balance().gpu_balancedness == 1.0 and not math.isnan(Balance().cross_node_share)


# -- through a real process sandbox -------------------------------------------------------

SEED_SOURCE = (PROBLEM / "seed.py").read_text()
BASELINES = PROBLEM / "baselines"
QUICK_LIMITS = Limits(call_timeout=10.0)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    from sandbox.select import make_sandbox

    box = make_sandbox("process", warn=lambda _message: None)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def verifier() -> ExpertLoadBalancing:
    spec = load_problem_dir(PROBLEM, "builtin")
    loaded = load_verifier(spec)
    assert isinstance(loaded, ExpertLoadBalancing)
    return loaded


def _open(box: Sandbox, source: str, *, extra: dict[str, str] | None = None,
          functions: tuple[str, ...] = ("rebalance_experts",),
          limits: Limits = QUICK_LIMITS) -> Session:
    files = {"candidate.py": source, **(extra or {})}
    return box.open(files, "candidate", list(functions), limits)


def _wrapped(body: str) -> str:
    """The seed, with its answer passed through ``body`` (which sees p, c and args)."""
    return SEED_SOURCE + (
        "\n_honest = rebalance_experts\n\n"
        "def rebalance_experts(*args):\n"
        "    p, c = _honest(*args)\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
    )


@pytest.mark.parametrize(("body", "message"), [
    ("return p.astype(float), c", "window 0: phy2log must have an integer dtype, got float64"),
    ("return p.tolist(), c", "window 0: phy2log must be a numpy integer array, got list"),
    ("return p", r"window 0: rebalance_experts must return \(phy2log, logcnt\), got a ndarray"),
    ("return 'placement'", "got a str"),
    ("return p[:, :-1], c", "phy2log has 287 slots per layer, but num_replicas is 288"),
    ("p[7, 3] = 256\nreturn p, c", "window 0: layer 7: slot 3 holds expert 256, outside 0..255"),
    ("p[9][p[9] == 5] = 6\nc[9, 6] += c[9, 5]\nc[9, 5] = 0\nreturn p, c",
     "window 0: layer 9: expert 5 has no replica"),
    ("c[4, 0] += 1\nreturn p, c", r"window 0: layer 4: logcnt\[0\] = \d+ but phy2log holds"),
    ("return p, c[:, :255]", r"logcnt has shape \(58, 255\), expected \(58, 256\)"),
])
def test_invalid_answers_through_the_sandbox(sandbox: Sandbox, verifier: ExpertLoadBalancing,
                                             body: str, message: str) -> None:
    with _open(sandbox, _wrapped(body)) as session:
        result = verifier.evaluate(session, Stage("one", 1))
    assert not result.valid and result.score == float("-inf")
    assert re.search(message, result.feedback), result.feedback


def test_a_later_window_is_validated_too(sandbox: Sandbox,
                                         verifier: ExpertLoadBalancing) -> None:
    source = _wrapped("CALLS.append(1)\nif len(CALLS) == 3:\n    c[0, 0] = 0\nreturn p, c")
    with _open(sandbox, source + "\nCALLS: list[int] = []\n") as session:
        result = verifier.evaluate(session, Stage("quick", 5))
    assert not result.valid
    assert result.feedback.startswith("window 2: layer 0: logcnt[0] = 0"), result.feedback


def test_candidate_exception_and_timeout_propagate(sandbox: Sandbox,
                                                    verifier: ExpertLoadBalancing) -> None:
    with _open(sandbox, _wrapped("raise RuntimeError('no placement today')")) as session, \
            pytest.raises(CandidateError, match="RuntimeError: no placement today"):
        verifier.evaluate(session, Stage("one", 1))
    slow = _wrapped("import time\ntime.sleep(30)\nreturn p, c")
    with _open(sandbox, slow, limits=Limits(call_timeout=1.0)) as session, \
            pytest.raises(CandidateTimeout):
        verifier.evaluate(session, Stage("one", 1))


def _spy(box: Sandbox, verifier: ExpertLoadBalancing, project: str,
         leaked: dict[str, str]) -> tuple[EvaluationResult, dict[str, Any]]:
    spy = (Path(__file__).parent / "eplb_spy_candidate.py").read_text()
    files = {"greedy.py": SEED_SOURCE, **leaked}
    with _open(box, spy.replace("@PROJECT@", project), extra=files,
               functions=("rebalance_experts", "spy_report")) as session:
        result = verifier.evaluate(session, Stage("quick", 4))
        report = session.call("spy_report")
    assert isinstance(report, dict)
    return result, report


def test_candidate_hunting_the_next_window_gets_nothing(
        sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    project = str(PROBLEM.parent.parent)
    cheat, report = _spy(sandbox, verifier, project, {})
    with _open(sandbox, SEED_SOURCE) as session:
        honest = verifier.evaluate(session, Stage("quick", 4))
    trace = all_windows(verifier.topology, verifier.workload, verifier.train_seed)
    prints = [[float(w.sum())] + [float(x) for x in w.ravel()[:6]] for w in trace]
    assert report["stolen"] == [], report["probes"]
    for call, seen in enumerate(report["seen"]):
        # The scanner works: it finds the window it was given...
        assert prints[call] in seen
        # ...and nothing of any window after it.
        assert not [p for p in prints[call + 1:] if p in seen], f"call {call} saw the future"
    for path in (f"{project}/problems/eplb/problem.yaml",
                 f"{project}/evaluators/eplb_workload.py"):
        assert report["probes"][path].startswith("denied"), (path, report["probes"][path])
    for path, outcome in report["probes"].items():
        if path.endswith(("/mem", "/environ", "/maps")):
            assert outcome.startswith("denied"), (path, outcome)
    assert cheat.valid and honest.valid
    assert cheat.metrics["gpu_balancedness"] == honest.metrics["gpu_balancedness"]


def test_the_spy_would_win_if_the_seed_leaked(sandbox: Sandbox,
                                              verifier: ExpertLoadBalancing) -> None:
    """Control for the test above: hand the spy the files it looks for and it wins, so
    "gets nothing" there means the sandbox hid them, not that the spy is broken."""
    root = PROBLEM.parent.parent
    leaked = {name: (root / name).read_text() for name in
              ("problems/eplb/problem.yaml", "evaluators/eplb_workload.py")}
    cheat, report = _spy(sandbox, verifier, ".", {**leaked, "evaluators/__init__.py": ""})
    with _open(sandbox, SEED_SOURCE) as session:
        honest = verifier.evaluate(session, Stage("quick", 4))
    assert report["stolen"] == ["seed from problem.yaml"] * 4
    assert cheat.metrics["gpu_balancedness"] > honest.metrics["gpu_balancedness"] + 0.02


def _run(box: Sandbox, verifier: ExpertLoadBalancing, path: Path,
         stage: Stage | None = None) -> EvaluationResult:
    with _open(box, path.read_text()) as session:
        return verifier.evaluate(session, stage or Stage("full"))


def test_baselines_are_valid_calibrated_and_deterministic(
        sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    results = {path.stem: _run(sandbox, verifier, path) for path in BASELINES.glob("*.py")}
    assert all(r.valid for r in results.values()), {k: r.feedback for k, r in results.items()}
    deepseek = results["deepseek"].metrics
    # The calibration: DeepSeek's EPLB near 0.68 (GPU) and 0.2 (expert slots).
    assert deepseek["gpu_balancedness"] == pytest.approx(0.68, abs=0.01)
    assert deepseek["slot_balancedness"] == pytest.approx(0.20, abs=0.01)
    # Hierarchical placement keeps every group on one node; round robin scatters them.
    assert deepseek["cross_node_share"] == 0.0
    assert results["round_robin"].metrics["cross_node_share"] > 0.3
    assert results["round_robin"].metrics["gpu_balancedness"] < deepseek["gpu_balancedness"]
    for name, first in results.items():
        again = _run(sandbox, verifier, BASELINES / f"{name}.py").metrics
        for key in ("gpu_balancedness", "slot_balancedness", "cross_node_share"):
            assert again[key] == first.metrics[key], (name, key)
        penalty = runtime_penalty(first.metrics["runtime_ms"] / 1000, 0.020, 0.05)
        assert first.score == pytest.approx(first.metrics["gpu_balancedness"] - penalty)
    other_seed = ExpertLoadBalancing({"train_seed": 7, "test_seed": 8}, PROBLEM)
    moved = _run(sandbox, other_seed, BASELINES / "greedy.py").metrics["gpu_balancedness"]
    assert moved != results["greedy"].metrics["gpu_balancedness"]


def test_held_out_set_and_variants(sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    with _open(sandbox, SEED_SOURCE) as session:
        train = verifier.evaluate(session, Stage("full"))
        test = verifier.evaluate_test(session)
    assert test.valid
    assert test.metrics["gpu_balancedness"] != train.metrics["gpu_balancedness"]
    easy = test.metrics["gpu_balancedness_sigma_0.8"]
    hard = test.metrics["gpu_balancedness_sigma_1.2"]
    assert easy > test.metrics["gpu_balancedness"] > hard


def test_user_instance_file(sandbox: Sandbox, verifier: ExpertLoadBalancing,
                            tmp_path: Path) -> None:
    # Two windows of two layers, four experts: the second window is what gets scored.
    path = tmp_path / "loads.json"
    path.write_text(json.dumps({
        "topology": {"num_layers": 2, "num_experts": 4, "num_groups": 2, "num_nodes": 2,
                     "num_gpus": 2, "num_replicas": 6},
        "loads": [[[60, 30, 20, 10], [10, 10, 10, 10]], [[60, 30, 20, 10], [10, 10, 10, 10]]],
    }))
    with _open(sandbox, SEED_SOURCE) as session:
        result = verifier.evaluate_file(session, path)
    assert result.valid and result.metrics["windows"] == 1.0
    # Greedy puts 30+30+10 on one GPU and 30+10+10... or better; never worse than 60/70.
    assert result.metrics["gpu_balancedness"] >= 80 / 90 - 1e-9
