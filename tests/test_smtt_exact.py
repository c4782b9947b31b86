"""Reference solvers against brute force: Lawler's decomposition, the subset DP, the ILS."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.smtt_exact import solve_unweighted, solve_weighted_dp, total_tardiness
from evaluators.smtt_ils import best_known
from evaluators.smtt_instances import generate


def brute_force(p: list[int], d: list[int], w: list[int] | None) -> int:
    return min(total_tardiness(p, d, w, o) for o in itertools.permutations(range(len(p))))


@st.composite
def instances(draw: st.DrawFn, max_n: int = 7, weighted: bool = False) -> tuple[list[int], ...]:
    n = draw(st.integers(1, max_n))
    # Small ranges make ties in p and d (where decomposition rules are easiest to get wrong).
    p_max = draw(st.sampled_from([1, 3, 10, 100]))
    p = draw(st.lists(st.integers(0, p_max), min_size=n, max_size=n))
    d = draw(st.lists(st.integers(0, max(sum(p), 1)), min_size=n, max_size=n))
    w = draw(st.lists(st.integers(1, 10), min_size=n, max_size=n)) if weighted else [1] * n
    return p, d, w


def test_tardiness_by_hand() -> None:
    p, d, w = [3, 2, 4], [4, 3, 5], [2, 1, 3]
    # order 1,0,2: completions 2, 5, 9 -> lateness 0, 1, 4
    assert total_tardiness(p, d, None, [1, 0, 2]) == 5
    assert total_tardiness(p, d, w, [1, 0, 2]) == 0 * 1 + 1 * 2 + 4 * 3
    # order 0,1,2: completions 3, 5, 9 -> lateness 0, 2, 4
    assert total_tardiness(p, d, None, [0, 1, 2]) == 6
    assert total_tardiness(p, d, None, []) == 0


@settings(max_examples=300, deadline=None)
@given(instances())
def test_lawler_matches_brute_force(inst: tuple[list[int], ...]) -> None:
    p, d, _ = inst
    value, order = solve_unweighted(p, d)
    assert sorted(order) == list(range(len(p)))
    assert total_tardiness(p, d, None, order) == value
    assert value == brute_force(p, d, None)


def test_lawler_matches_dp_on_generated_instances() -> None:
    rng = random.Random(5)
    for _ in range(25):
        n = rng.randint(9, 13)
        inst = generate(
            n, rng.choice([0.2, 0.6, 1.0]), rng.choice([0.2, 0.6, 1.0]), rng.randrange(1 << 30)
        )
        value, order = solve_unweighted(inst.p, inst.d)
        assert total_tardiness(inst.p, inst.d, None, order) == value
        assert value == solve_weighted_dp(inst.p, inst.d, inst.w)[0]


def test_lawler_at_n100_returns_a_schedule_that_achieves_its_value() -> None:
    inst = generate(100, 0.6, 0.4, 3)
    value, order = solve_unweighted(inst.p, inst.d)
    assert sorted(order) == list(range(100))
    assert total_tardiness(inst.p, inst.d, None, order) == value
    edd = sorted(range(100), key=lambda j: inst.d[j])
    assert 0 < value < total_tardiness(inst.p, inst.d, None, edd)


@settings(max_examples=200, deadline=None)
@given(instances(weighted=True))
def test_weighted_dp_matches_brute_force(inst: tuple[list[int], ...]) -> None:
    p, d, w = inst
    value, order = solve_weighted_dp(p, d, w)
    assert sorted(order) == list(range(len(p)))
    assert total_tardiness(p, d, w, order) == value
    assert value == brute_force(p, d, w)


def test_weighted_dp_refuses_large_instances() -> None:
    inst = generate(21, 0.6, 0.6, 1, weighted=True)
    try:
        solve_weighted_dp(inst.p, inst.d, inst.w)
    except ValueError as exc:
        assert "20 jobs" in str(exc)
    else:
        raise AssertionError("the DP accepted 21 jobs")


def test_ils_is_never_below_and_usually_at_the_optimum() -> None:
    rng = random.Random(9)
    hits = 0
    for _ in range(8):
        inst = generate(
            12,
            rng.choice([0.4, 0.6, 0.8]),
            rng.choice([0.2, 0.6]),
            rng.randrange(1 << 30),
            weighted=True,
        )
        opt, _ = solve_weighted_dp(inst.p, inst.d, inst.w)
        found, order = best_known(inst.p, inst.d, inst.w, iterations=20, seed=1)
        assert total_tardiness(inst.p, inst.d, inst.w, order) == found
        assert found >= opt
        hits += found == opt
    assert hits >= 6


def test_ils_is_deterministic_from_its_seed() -> None:
    inst = generate(40, 0.6, 0.2, 4, weighted=True)
    first = best_known(inst.p, inst.d, inst.w, iterations=5, seed=3)
    assert best_known(inst.p, inst.d, inst.w, iterations=5, seed=3) == first
