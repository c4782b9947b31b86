"""EPLB verifier through a real process sandbox: invalid answers, exceptions and
timeouts, a candidate hunting for the next window, memorised windows, and the baselines'
calibration and determinism."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators.base import EvaluationResult, Stage
from evaluators.eplb import ExpertLoadBalancing
from evaluators.eplb_scoring import runtime_penalty
from evaluators.eplb_workload import all_windows
from evaluators.problem import load_problem_dir, load_verifier
from sandbox.base import CandidateError, CandidateTimeout, Limits, Sandbox, Session

PROBLEM = Path(__file__).resolve().parent.parent / "problems" / "eplb"

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


def test_the_shared_driver_reports_each_failure_precisely(
        sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    """Through evolve.evaluation (what `evolve eval` and a run use): the cascade stops at
    the first bad answer, with the window, the layer and the reason, or the exception."""
    from evolve.evaluation import evaluate_program
    from evolve.types import Status

    spec = load_problem_dir(PROBLEM, "builtin")
    cases = [
        (_wrapped("c[4, 0] += 1\nreturn p, c"), Status.INVALID,
         "window 0: layer 4: logcnt[0] ="),
        (_wrapped("raise RuntimeError('no placement today')"), Status.INVALID,
         "RuntimeError: no placement today"),
    ]
    for code, status, message in cases:
        outcome = evaluate_program(spec, verifier, sandbox, code, split="cascade")
        assert outcome.status == status and message in outcome.feedback, outcome.feedback
    good = evaluate_program(spec, verifier, sandbox, SEED_SOURCE, split="cascade")
    assert good.status == Status.COMPLETE and good.metrics["windows"] == 29.0
    assert [s.stage for s in good.stages] == ["quick", "full"]


@pytest.fixture(scope="module")
def short() -> ExpertLoadBalancing:
    """The train trace cut to 5 windows (the same first windows as the full trace)."""
    params = load_problem_dir(PROBLEM, "builtin").verifier.params
    return ExpertLoadBalancing({**params, "windows": 5}, PROBLEM)


def _spy(box: Sandbox, verifier: ExpertLoadBalancing, project: str,
         leaked: dict[str, str]) -> tuple[EvaluationResult, dict[str, Any]]:
    spy = (Path(__file__).parent / "eplb_spy_candidate.py").read_text()
    files = {"greedy.py": SEED_SOURCE, **leaked}
    with _open(box, spy.replace("@PROJECT@", project), extra=files,
               functions=("rebalance_experts", "spy_report")) as session:
        result = verifier.evaluate(session, Stage("full"))
        report = session.call("spy_report")
    assert isinstance(report, dict)
    return result, report


def test_candidate_hunting_the_next_window_gets_nothing(
        sandbox: Sandbox, short: ExpertLoadBalancing) -> None:
    if not getattr(sandbox, "jail", False):
        pytest.skip("the process sandbox hides the host's files only when jailed (run as "
                    "root), else the seed in problem.yaml is readable: use Docker there")
    project = str(PROBLEM.parent.parent)
    cheat, report = _spy(sandbox, short, project, {})
    with _open(sandbox, SEED_SOURCE) as session:
        honest = short.evaluate(session, Stage("full"))
    trace = all_windows(short.topology, short.workload, short.train_seed)
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
                                              short: ExpertLoadBalancing) -> None:
    """Control for the test above: hand the spy the files it looks for and it wins, so
    "gets nothing" there means the sandbox hid them, not that the spy is broken."""
    root = PROBLEM.parent.parent
    leaked = {name: (root / name).read_text() for name in
              ("problems/eplb/problem.yaml", "evaluators/eplb_workload.py")}
    cheat, report = _spy(sandbox, short, ".", {**leaked, "evaluators/__init__.py": ""})
    with _open(sandbox, SEED_SOURCE) as session:
        honest = short.evaluate(session, Stage("full"))
    assert report["stolen"] == ["seed from problem.yaml"] * 4
    assert cheat.metrics["gpu_balancedness"] > honest.metrics["gpu_balancedness"] + 0.02


def test_no_window_is_ever_shown_twice_in_one_session(
        sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    """The cascade and the held-out set share one session, so a candidate may remember
    every window it saw; no stage may replay one (its successor would be known)."""
    memoriser = SEED_SOURCE + (
        "\n_honest = rebalance_experts\nSEEN = {}\nREPEATS = []\n\n"
        "def rebalance_experts(weight, *rest):\n"
        "    key = weight.tobytes()\n"
        "    if key in SEEN:\n"
        "        REPEATS.append(SEEN[key])\n"
        "    SEEN[key] = len(SEEN)\n"
        "    return _honest(weight, *rest)\n\n"
        "def memory():\n"
        "    return [len(SEEN), REPEATS]\n"
    )
    with _open(sandbox, memoriser, functions=("rebalance_experts", "memory")) as session:
        for stage in verifier.stages():
            assert verifier.evaluate(session, stage).valid
        assert verifier.evaluate_test(session).valid
        seen, repeats = session.call("memory")
    assert repeats == []
    assert seen == verifier.quick_windows + 29 * (2 + len(verifier.test_sigmas))


def test_each_trace_has_its_own_seed(verifier: ExpertLoadBalancing) -> None:
    topo, work = replace(verifier.topology, num_layers=4), verifier.workload
    first = {
        "train": all_windows(topo, replace(work, windows=2), verifier.train_seed)[0],
        "quick": all_windows(topo, replace(work, windows=2), (verifier.train_seed, 5))[0],
        "test": all_windows(topo, replace(work, windows=2), verifier.test_seed)[0],
        "sigma 0.8": all_windows(topo, replace(work, windows=2, sigma=0.8),
                                 (verifier.test_seed, 1))[0],
    }
    logs = {name: np.log1p(w.astype(float)).ravel() for name, w in first.items()}
    names = list(logs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert abs(np.corrcoef(logs[a], logs[b])[0, 1]) < 0.3, (a, b)


def _run(box: Sandbox, verifier: ExpertLoadBalancing, path: Path,
         stage: Stage | None = None) -> EvaluationResult:
    with _open(box, path.read_text()) as session:
        return verifier.evaluate(session, stage or Stage("full"))


def test_baselines_are_valid_calibrated_and_deterministic(
        sandbox: Sandbox, verifier: ExpertLoadBalancing) -> None:
    results = {path.stem: _run(sandbox, verifier, path) for path in BASELINES.glob("*.py")}
    assert all(r.valid for r in results.values()), {k: r.feedback for k, r in results.items()}
    deepseek = results["deepseek"].metrics
    main_metrics = load_problem_dir(PROBLEM, "builtin").main_metrics
    assert main_metrics and all(name in deepseek for name in main_metrics)
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
    # A real trace of two identical windows (two layers, four experts, 2 GPUs x 3 slots),
    # plus a generated one. On [60, 30, 20, 10] greedy gives expert 0 three replicas and
    # packs {30, 20, 10} and {20, 20, 20}; on the uniform layer {10, 5, 5} twice: both
    # layers end perfectly balanced on the (identical) scoring window.
    tiny = {"num_layers": 2, "num_experts": 4, "num_groups": 2, "num_nodes": 2,
            "num_gpus": 2, "num_replicas": 6}
    layers = [[60, 30, 20, 10], [10, 10, 10, 10]]
    path = tmp_path / "loads.json"
    path.write_text(json.dumps({"topology": tiny, "loads": [layers, layers]}))
    with _open(sandbox, SEED_SOURCE) as session:
        result = verifier.evaluate_file(session, path)
    assert result.valid and result.metrics["windows"] == 1.0
    assert result.metrics["gpu_balancedness"] == pytest.approx(1.0)
    both = tmp_path / "both.json"
    both.write_text(json.dumps([{"topology": tiny, "loads": [layers, layers]},
                                {"seed": 3, "workload": {"windows": 4}}]))
    with _open(sandbox, SEED_SOURCE) as session:
        result = verifier.evaluate_file(session, both)
    assert result.valid and result.metrics["windows"] == 4.0
    assert 0.5 < result.metrics["gpu_balancedness"] < 1.0


def test_deepseek_global_mode_when_groups_do_not_divide_nodes(sandbox: Sandbox) -> None:
    # 6 groups on 4 nodes: DeepSeek's EPLB falls back to its global policy, which packs
    # replicas over all GPUs regardless of groups, so some group traffic crosses nodes.
    odd = ExpertLoadBalancing({"num_layers": 8, "num_experts": 252, "num_groups": 6,
                               "windows": 4}, PROBLEM)
    result = _run(sandbox, odd, BASELINES / "deepseek.py")
    assert result.valid, result.feedback
    assert result.metrics["windows"] == 3.0
    assert result.metrics["cross_node_share"] > 0.1
    quick = _run(sandbox, odd, BASELINES / "deepseek.py", Stage("quick", 2))
    assert quick.metrics["windows"] == 2.0
