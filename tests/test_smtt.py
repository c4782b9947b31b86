"""SMTT host side: instances, answer validation, scoring, references and their cache."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from evaluators.problem import load_problem_dir, load_verifier
from evaluators.smtt import TotalTardiness, WeightedTardiness
from evaluators.smtt_instances import Instance, generate, generate_set, load_instances
from evaluators.smtt_refs import SHIPPED, Reference, cache_dir, resolve
from evaluators.smtt_scoring import check_permutation, score, tardiness
from evolve.errors import ProblemError
from evolve.paths import builtin_problems_dir


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_generator_is_deterministic_and_in_range() -> None:
    a = generate(50, 0.6, 0.4, seed=7)
    assert a == generate(50, 0.6, 0.4, seed=7)
    assert a != generate(50, 0.6, 0.4, seed=8)
    total = sum(a.p)
    assert all(1 <= x <= 100 for x in a.p)
    low, high = math.floor(total * (1 - 0.6 - 0.2)), math.floor(total * (1 - 0.6 + 0.2))
    assert all(low <= x <= high for x in a.d)
    assert a.w == (1,) * 50 and a.cls == "TF0.6/RDD0.4"
    weighted = generate(50, 1.0, 1.0, seed=7, weighted=True)
    assert all(1 <= x <= 10 for x in weighted.w)
    assert min(weighted.d) == 0  # the range starts below zero and is clipped


def test_sets_cover_every_class_and_train_test_are_disjoint() -> None:
    train = generate_set([20, 50], 1, seed=11)
    test = generate_set([20, 50], 1, seed=12)
    assert len(train) == 50 and len({i.cls for i in train}) == 25
    assert not {i.key for i in train} & {i.key for i in test}
    # The first ten (a cascade's quick stage) mix sizes and classes.
    head = train[:10]
    assert len({i.n for i in head}) == 2 and len({i.cls for i in head}) >= 8


def test_tardiness_arithmetic_by_hand() -> None:
    inst = Instance(p=(3, 2, 4), d=(4, 3, 5), w=(2, 1, 3), cls="hand")
    assert tardiness(inst, [1, 0, 2]) == 0 + 1 * 2 + 4 * 3
    assert tardiness(inst, [2, 1, 0]) == 0 * 3 + 3 * 1 + 5 * 2  # C = 4, 6, 9


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ([0, 1, 1], "job 1 appears twice (again at position 2)"),
        ([0, 1], "returned 2 indices for 3 jobs"),
        ([0, 1, 2, 0], "returned 4 indices for 3 jobs"),
        ([0, 1, 3], "element 2 is 3, outside the job indices 0..2"),
        ([0, -1, 2], "element 1 is -1, outside"),
        ([0, 1.0, 2], "element 1 is a float (1.0)"),
        ([0, float("nan"), 2], "element 1 is a NaN float"),
        (["0", 1, 2], "element 0 is a str ('0')"),
        ([[0], 1, 2], "element 0 is a list ([0])"),
        ([True, 0, 2], "element 0 is a bool (True)"),
        (None, "returned NoneType None, expected a list of 3 ints"),
        ("012", "returned str '012'"),
        ({"0": 1}, "returned dict"),
    ],
)
def test_every_malformed_answer_has_a_precise_message(answer: object, expected: str) -> None:
    message = check_permutation(answer, 3)
    assert message is not None and expected in message
    inst = Instance(p=(1, 2, 3), d=(1, 2, 3), w=(1, 1, 1), cls="TF0.2/RDD0.2")
    result = score([inst], [Reference(1.0, True, "lawler")], [answer], 0.0)
    assert not result.valid
    assert result.feedback.startswith("schedule() on instance 0 (n=3, TF0.2/RDD0.2)")
    assert expected in result.feedback


def test_a_permutation_passes() -> None:
    assert check_permutation([2, 0, 1], 3) is None
    assert check_permutation([], 0) is None


def test_metrics_on_hand_built_results() -> None:
    a = Instance(p=(2, 2), d=(1, 4), w=(1, 1), cls="A")  # [0,1]: T=1+0=1; [1,0]: 0+3=3
    b = Instance(p=(1,), d=(5,), w=(1,), cls="B")  # always 0
    c = Instance(p=(3, 1), d=(0, 0), w=(1, 1), cls="C")  # [1,0]: 1+4=5; [0,1]: 3+4=7
    refs = [Reference(1.0, True, "x"), Reference(0.0, True, "x"), Reference(5.0, True, "x")]
    result = score([a, b, c], refs, [[1, 0], [0], [0, 1]], seconds=0.3)
    assert result.valid
    gaps = [(3 - 1) / 1, (7 - 5) / 5]  # b has a zero reference: not in the mean
    assert result.score == pytest.approx(-sum(gaps) / 2)
    assert result.metrics["gap_mean"] == pytest.approx(1.2)
    assert result.metrics["gap_median"] == pytest.approx(1.2)
    assert result.metrics["sum_ratio_gap"] == pytest.approx((3 + 0 + 7) / 6 - 1)
    assert result.metrics["solved_fraction"] == pytest.approx(1 / 3)
    assert result.metrics["seconds_per_instance"] == pytest.approx(0.1)
    assert result.feedback.index("A 200.0%") < result.feedback.index("C 40.0%")


def test_resolve_computes_once_then_reads_the_cache(private_cache: Path) -> None:
    insts = [generate(30, 0.6, 0.2, seed=s) for s in range(3)]
    lines: list[str] = []
    first = resolve(insts, progress=lines.append)
    assert lines and "computing 3 missing" in lines[0]
    assert all(r.optimal and r.method == "lawler" for r in first)
    assert len(list(cache_dir().glob("*.json"))) == 3
    again: list[str] = []
    assert resolve(insts, progress=again.append) == first
    assert again == []  # nothing recomputed


def test_resolve_uses_opt_from_the_file_and_the_shipped_table(tmp_path: Path) -> None:
    inst = generate(10, 0.6, 0.2, seed=1)
    shipped = tmp_path / "refs.json"
    shipped.write_text(
        json.dumps({inst.key: {"value": 123.0, "optimal": True, "method": "lawler"}})
    )
    assert resolve([inst], shipped, progress=_no_progress)[0].value == 123.0
    given = Instance(inst.p, inst.d, inst.w, "mine", opt=77.0)
    assert resolve([given], shipped, progress=_no_progress)[0] == Reference(77.0, False, "file")


def _no_progress(line: str) -> None:
    raise AssertionError(f"nothing should be computed: {line}")


def test_builtin_problems_ship_every_reference() -> None:
    for name, cls in (("smtt", TotalTardiness), ("smtwt", WeightedTardiness)):
        spec = load_problem_dir(builtin_problems_dir() / name, "builtin")
        verifier = load_verifier(spec)
        assert isinstance(verifier, cls)
        shipped = json.loads((spec.dir / SHIPPED).read_text())
        missing = [i for i in verifier.all_instances() if i.key not in shipped]
        assert missing == [], f"{name}: run python -m evaluators.smtt_refs problems/{name}"
        assert [s.name for s in verifier.stages()] == [s.name for s in spec.stages]


def test_load_instances_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps([{"p": [1, 2], "d": [1, 1], "opt": 2}, {"p": [3], "d": [0], "class": "x"}])
    )
    insts = load_instances(good, weighted=False)
    assert insts[0].opt == 2.0 and insts[1].cls == "x" and insts[0].w == (1, 1)
    cases = {
        "not json": "not valid JSON",
        "{}": "non-empty JSON list",
        '[{"p": [1]}]': "needs both 'p' and 'd'",
        '[{"p": [1, 2], "d": [1]}]': "'d' has 1 entries, 'p' has 2",
        '[{"p": [1.5], "d": [1]}]': "'p' must be a list of non-negative integers",
        '[{"p": [1], "d": [1], "x": 1}]': "unknown key(s) ['x']",
        '[{"p": [1], "d": [1], "w": [3]}]': "use smtwt for weights",
        '[{"p": [], "d": []}]': "'p' is empty",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ProblemError, match=re.escape(message)):
            load_instances(bad, weighted=False)
    with pytest.raises(ProblemError, match="cannot read"):
        load_instances(tmp_path / "absent.json", weighted=False)


def test_bad_verifier_params_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown verifier param"):
        TotalTardiness({"trian": {}}, tmp_path)
    with pytest.raises(ValueError, match="sizes"):
        TotalTardiness({"train": {"sizes": []}}, tmp_path)
    assert [s.name for s in TotalTardiness({}, tmp_path).stages()] == ["full"]
