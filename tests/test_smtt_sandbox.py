"""SMTT through a real process sandbox: the evaluation driver, malformed candidates,
the cascade, baselines' gaps, and `evolve eval`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from evaluators.problem import LimitsSpec, ProblemSpec, load_problem_dir, load_verifier
from evaluators.smtt import TotalTardiness
from evolve.cli.main import cli
from evolve.evaluation import evaluate_baselines, evaluate_program
from evolve.problems import find_problem
from evolve.types import Status
from sandbox.base import Sandbox
from sandbox.select import make_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = make_sandbox("process")
    yield box
    box.close()


@pytest.fixture(scope="module")
def smtt() -> tuple[ProblemSpec, TotalTardiness]:
    spec = find_problem("smtt")
    verifier = load_verifier(spec)
    assert isinstance(verifier, TotalTardiness)
    return spec, verifier


def candidate(body: str) -> str:
    return "def schedule(p, d, w):\n" + "".join(f"    {line}\n" for line in body.splitlines())


BAD_ANSWERS = {
    "duplicate": ("o = list(range(len(p))); o[-1] = o[0]; return o", "job 0 appears twice"),
    "missing job": ("return list(range(len(p) - 1))", "returned 99 indices for 100 jobs"),
    "too many": ("return list(range(len(p) + 1))", "returned 101 indices for 100 jobs"),
    "out of range": ("return [j + 1 for j in range(len(p))]", "element 99 is 100, outside"),
    "float": ("return [float(j) for j in range(len(p))]", "element 0 is a float (0.0)"),
    "string": ("return [str(j) for j in range(len(p))]", "element 0 is a str ('0')"),
    "nan": ("o = list(range(len(p))); o[3] = float('nan'); return o", "element 3 is a NaN float"),
    "nested": ("return [[j] for j in range(len(p))]", "element 0 is a list ([0])"),
    "none": ("return None", "returned NoneType None"),
    "bools": ("return [True] * len(p)", "element 0 is a bool (True)"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_malformed_answers_are_invalid_with_a_precise_message(
    case: str, smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    body, expected = BAD_ANSWERS[case]
    outcome = evaluate_program(spec, verifier, sandbox, candidate(body))
    assert outcome.status is Status.INVALID
    first = verifier.instances("train")[0]
    assert outcome.reason is not None
    assert outcome.reason.startswith(f"schedule() on instance 0 (n={first.n}, {first.cls})")
    assert expected in outcome.reason
    assert outcome.score is None and outcome.feedback == outcome.reason


def test_an_exception_names_the_instance_and_keeps_the_traceback(
    smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    code = candidate(
        "if len(p) == 20:\n    raise ValueError('too small')\nreturn list(range(len(p)))"
    )
    outcome = evaluate_program(spec, verifier, sandbox, code)
    index = next(i for i, inst in enumerate(verifier.instances("train")) if inst.n == 20)
    assert outcome.status is Status.INVALID and outcome.reason is not None
    assert f"schedule() raised ValueError: too small on instance {index} (n=20" in outcome.reason
    assert "line 3" in outcome.reason  # the candidate's own frame


def test_a_slow_candidate_times_out(
    smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    quick = spec.model_copy(update={"limits": LimitsSpec(call_timeout=1.0)})
    outcome = evaluate_program(quick, verifier, sandbox, candidate("while True:\n    pass"))
    assert outcome.status is Status.TIMEOUT
    assert outcome.reason is not None and "timed out in stage 'quick'" in outcome.reason
    assert outcome.seconds < 15


def test_a_dying_or_unloadable_candidate_is_invalid(
    smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    died = evaluate_program(spec, verifier, sandbox, "import os\n" + candidate("os._exit(3)"))
    assert died.status is Status.INVALID and died.reason is not None
    assert "process died in stage 'quick'" in died.reason
    syntax = evaluate_program(spec, verifier, sandbox, "def schedule(p, d, w)\n    return []\n")
    assert syntax.status is Status.INVALID and "SyntaxError" in (syntax.reason or "")
    absent = evaluate_program(spec, verifier, sandbox, "def other():\n    return 1\n")
    assert absent.status is Status.INVALID and "schedule" in (absent.reason or "")


def test_the_seed_passes_the_whole_cascade(
    smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    outcome = evaluate_program(spec, verifier, sandbox, spec.seed_path.read_text())
    assert outcome.status is Status.COMPLETE and outcome.reached_last_stage
    assert [s.stage for s in outcome.stages] == ["quick", "train"]
    assert outcome.metrics["instances"] == len(verifier.instances("train"))
    assert outcome.metrics["stage"] == 2.0
    assert 0.2 < outcome.metrics["gap_mean"] < 1.0
    assert outcome.score == pytest.approx(-outcome.metrics["gap_mean"])
    assert "worst TF" in outcome.feedback


def test_a_program_below_a_threshold_stops_early(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "strict"
    shutil.copytree(find_problem("smtt").dir, folder)
    raw = yaml.safe_load((folder / "problem.yaml").read_text())
    raw["stages"] = [{"name": "quick", "instances": 10, "threshold": -0.1}, {"name": "train"}]
    (folder / "problem.yaml").write_text(yaml.safe_dump(raw))
    spec = load_problem_dir(folder)
    verifier = load_verifier(spec)
    seed = evaluate_program(spec, verifier, sandbox, spec.seed_path.read_text())
    assert seed.status is Status.COMPLETE and not seed.reached_last_stage
    assert [s.stage for s in seed.stages] == ["quick"]
    assert seed.metrics["instances"] == 10 and seed.metrics["stage"] == 1.0
    assert seed.reason is not None and "below threshold of stage 'quick'" in seed.reason
    mdd = evaluate_program(spec, verifier, sandbox, (folder / "baselines/mdd.py").read_text())
    assert mdd.reached_last_stage and [s.stage for s in mdd.stages] == ["quick", "train"]
    full = evaluate_program(spec, verifier, sandbox, spec.seed_path.read_text(), split="train")
    assert full.reached_last_stage and full.metrics["instances"] == 75


def test_baselines_test_gaps_are_in_sane_bands(
    smtt: tuple[ProblemSpec, TotalTardiness], sandbox: Sandbox
) -> None:
    spec, verifier = smtt
    outcomes = evaluate_baselines(spec, verifier, sandbox, split="test")
    assert set(outcomes) == {"atc", "edd", "mdd", "mdd_challenger", "spt"}
    for name, outcome in outcomes.items():
        assert outcome.status is Status.COMPLETE, (name, outcome.reason)
        assert outcome.metrics["instances"] == len(verifier.instances("test")) == 100
    gap = {name: outcome.metrics["gap_n100"] for name, outcome in outcomes.items()}
    assert 0.005 < gap["mdd"] < 0.04  # MDD: about 2% at n = 100
    assert 0.005 < gap["mdd_challenger"] < 0.04
    assert 0.002 < gap["atc"] < 0.04
    assert 0.2 < gap["edd"] < 0.9  # EDD: tens of percent
    assert gap["spt"] > 1.0  # SPT ignores due dates: far off wherever the optimum is small


def test_eval_on_a_user_instance_file(
    tmp_path: Path,
    smtt: tuple[ProblemSpec, TotalTardiness],
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path / "cache"))
    spec, verifier = smtt
    # Job 0 (p=3, d=4), job 1 (p=2, d=3), job 2 (p=4, d=5): optimum 5 by order 1,0,2.
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"p": [3, 2, 4], "d": [4, 3, 5]}, {"p": [5], "d": [1], "opt": 4}]))
    code = candidate("return [0, 1, 2] if len(p) == 3 else [0]")  # tardiness 6, then 4
    outcome = evaluate_program(spec, verifier, sandbox, code, instances_file=path)
    assert outcome.status is Status.COMPLETE
    assert outcome.metrics["gap_mean"] == pytest.approx(((6 - 5) / 5 + 0) / 2)
    assert outcome.metrics["solved_fraction"] == 0.5


def test_cli_eval_json_and_table(tmp_path: Path) -> None:
    runner = CliRunner()
    mdd = find_problem("smtt").dir / "baselines" / "mdd.py"
    result = runner.invoke(cli, ["eval", "smtt", str(mdd), "--json", "--sandbox", "process"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"status", "score", "metrics", "feedback", "seconds"}
    assert data["status"] == "COMPLETE" and data["score"] == pytest.approx(
        -data["metrics"]["gap_mean"]
    )
    assert data["metrics"]["instances"] == 75.0

    table = runner.invoke(cli, ["eval", "smtt", "--sandbox", "process", "--split", "test"])
    assert table.exit_code == 0, table.output
    assert "COMPLETE" in table.output and "gap_mean" in table.output and "gap_n200" in table.output

    bad = tmp_path / "bad.py"
    bad.write_text(candidate("return [0] * len(p)"))
    invalid = runner.invoke(cli, ["eval", "smtt", str(bad), "--json", "--sandbox", "process"])
    assert invalid.exit_code == 2
    assert json.loads(invalid.output)["status"] == "INVALID"
    assert "job 0 appears twice" in json.loads(invalid.output)["feedback"]

    broken = tmp_path / "broken.json"
    broken.write_text('[{"p": [1, 2], "d": [3]}]')
    refused = runner.invoke(
        cli, ["eval", "smtt", "--instances", str(broken), "--sandbox", "process"]
    )
    assert refused.exit_code != 0 and "'d' has 1 entries, 'p' has 2" in str(refused.exception)

    unknown = runner.invoke(cli, ["eval", "no-such-problem"])
    assert unknown.exit_code != 0 and "unknown problem 'no-such-problem'" in str(unknown.exception)


def test_smtwt_seed_and_atc(sandbox: Sandbox) -> None:
    spec = find_problem("smtwt")
    verifier = load_verifier(spec)
    seed = evaluate_program(spec, verifier, sandbox, spec.seed_path.read_text(), split="train")
    atc = evaluate_program(
        spec, verifier, sandbox, (spec.dir / "baselines/atc.py").read_text(), split="train"
    )
    assert seed.status is Status.COMPLETE and atc.status is Status.COMPLETE
    assert seed.score is not None and atc.score is not None and atc.score > seed.score
    assert "best-known" in atc.feedback
