"""Population: MAP-Elites replacement, selection bias, migration, rebuild, duplicates."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from evaluators.problem import FeatureSpec
from evolve.errors import ConfigError, EvolveError
from evolve.population import FeatureAxis, Population, PopulationParams
from evolve.types import Program, Status

# One axis over a feature the tests set directly: program i lands in cell i.
AXIS = (FeatureAxis("x", 0.0, 10.0, 10),)


def prog(
    pid: int,
    score: float | None,
    *,
    x: float = 0.0,
    island: int = 0,
    status: Status = Status.COMPLETE,
    code: str | None = None,
) -> Program:
    code = code if code is not None else f"def f():\n    return {pid}\n"
    return Program(
        id=pid,
        run_id=1,
        code=code,
        code_hash=f"h:{code}",
        status=status,
        iteration=pid,
        island=island,
        score=score,
        features={"x": x},
    )


def ladder(selection: str, **kw: Any) -> Population:
    """Ten elites with scores 0..9, one per cell, on island 0."""
    params = PopulationParams(islands=1, selection=selection, exploration=0.0, features=AXIS, **kw)
    population = Population(params, random.Random(7))
    for i in range(10):
        assert population.add(prog(i + 1, float(i), x=i + 0.5))
    return population


def frequencies(population: Population, draws: int = 6000) -> list[float]:
    counts = Counter(population.select_parent(0).id for _ in range(draws))
    return [counts[i + 1] / draws for i in range(10)]  # index = score


def test_uniform_selection_is_flat() -> None:
    freq = frequencies(ladder("uniform"))
    assert all(abs(f - 0.1) < 0.02 for f in freq), freq


def test_rank_selection_follows_power_law() -> None:
    freq = frequencies(ladder("rank", rank_power=1.0))
    harmonic = sum(1 / r for r in range(1, 11))
    for score, f in enumerate(freq):
        expected = (1 / (10 - score)) / harmonic  # the best (score 9) has rank 1
        assert abs(f - expected) < 0.025, (score, f, expected)
    steeper = frequencies(ladder("rank", rank_power=3.0))
    assert steeper[9] > 0.75 > freq[9]


def test_tournament_never_picks_the_worst() -> None:
    freq = frequencies(ladder("tournament", tournament_size=3))
    assert freq[0] == 0.0 and freq[1] == 0.0  # three distinct entrants: one beats these
    assert abs(freq[9] - 0.3) < 0.025  # P(best among 3 of 10) = 1 - C(9,3)/C(10,3)


def test_fitness_proportional_temperature() -> None:
    cold = frequencies(ladder("fitness", temperature=0.05))
    hot = frequencies(ladder("proportional", temperature=100.0))
    assert cold[9] > 0.85
    assert all(abs(f - 0.1) < 0.02 for f in hot), hot
    middle = frequencies(ladder("proportional", temperature=1.0))
    assert middle[9] > middle[5] > middle[0] > 0


def test_exploration_picks_uniformly_from_the_archive() -> None:
    population = ladder("rank", rank_power=50.0)
    greedy = frequencies(population)
    explore = PopulationParams(**{**population.params.__dict__, "exploration": 1.0})
    wandering = frequencies(Population.rebuild(population.elites(), explore, rng=random.Random(1)))
    assert greedy[9] > 0.99
    assert all(abs(f - 0.1) < 0.02 for f in wandering), wandering


def test_selection_is_reproducible_for_a_seed() -> None:
    a, b = ladder("rank"), ladder("rank")
    assert [a.select_parent(0).id for _ in range(50)] == [b.select_parent(0).id for _ in range(50)]
    rng1, rng2 = random.Random(3), random.Random(3)
    assert [a.select_parent(0, rng1).id for _ in range(20)] == [
        b.select_parent(0, rng2).id for _ in range(20)
    ]


def test_map_elites_keeps_the_better_program_per_cell() -> None:
    population = Population(PopulationParams(islands=1, features=AXIS), random.Random(0))
    assert population.add(prog(1, 1.0, x=2.1))
    assert not population.add(prog(2, 0.5, x=2.9))  # same cell, worse: stays out
    assert [p.id for p in population.elites(0)] == [1]
    assert population.add(prog(3, 2.0, x=2.5))  # same cell, better: replaces
    assert [p.id for p in population.elites(0)] == [3]
    assert not population.add(prog(4, 2.0, x=2.2))  # a tie keeps the incumbent
    assert population.add(prog(5, -9.0, x=7.0))  # an empty cell takes anything
    assert [p.id for p in population.elites(0)] == [3, 5]
    assert population.best() is not None and population.best().id == 3  # type: ignore[union-attr]


def test_programs_that_are_not_complete_never_become_parents() -> None:
    population = Population(PopulationParams(islands=1, features=AXIS, selection="uniform"))
    population.add(prog(1, 0.0, x=1))
    for pid, status in enumerate(
        [
            Status.INVALID,
            Status.TIMEOUT,
            Status.FAILED,
            Status.EDIT_FAILED,
            Status.DUPLICATE,
            Status.PENDING,
        ],
        start=2,
    ):
        assert not population.add(prog(pid, 100.0, x=pid, status=status))
    assert {population.select_parent(0).id for _ in range(100)} == {1}
    assert population.status_counts() == {
        "COMPLETE": 1,
        "INVALID": 1,
        "TIMEOUT": 1,
        "FAILED": 1,
        "EDIT_FAILED": 1,
        "DUPLICATE": 1,
    }


def test_empty_population_says_what_is_wrong() -> None:
    with pytest.raises(EvolveError, match="no evaluated program"):
        Population().select_parent(0)


def test_ring_migration_every_interval() -> None:
    params = PopulationParams(islands=3, migration_interval=1, migration_count=1, features=AXIS)
    population = Population(params, random.Random(0))
    population.add(prog(1, 1.0, x=1, island=0))
    population.add(prog(2, 5.0, x=2, island=0))
    assert population.migrations == 0 and population.elites(1) == []
    population.add(prog(3, 0.0, x=3, island=2))  # the third evaluation: one generation done
    assert population.migrations == 1
    assert [p.id for p in population.elites(1)] == [2]  # island 0's best moved on to island 1
    assert [p.id for p in population.elites(0)] == [1, 2, 3]  # island 2's best came round
    assert [p.id for p in population.elites(2)] == [3]  # island 1 was empty: nothing came
    # Unevaluated outcomes do not advance the migration clock.
    population.add(prog(4, None, x=4, status=Status.EDIT_FAILED))
    population.add(prog(5, None, x=5, status=Status.DUPLICATE))
    assert population.migrations == 1
    population.add(prog(6, 0.5, x=6, island=1))
    population.add(prog(7, 0.1, x=7, island=1))
    population.add(prog(8, 0.2, x=8, island=1))
    assert population.migrations == 2
    assert [p.id for p in population.elites(2)] == [2, 3]  # island 1's best (a migrant) moved on


def random_stream(seed: int, count: int) -> list[Program]:
    rng = random.Random(seed)
    statuses = [Status.COMPLETE] * 6 + [
        Status.INVALID,
        Status.TIMEOUT,
        Status.DUPLICATE,
        Status.EDIT_FAILED,
        Status.FAILED,
    ]
    out = []
    for pid in range(1, count + 1):
        status = rng.choice(statuses)
        score = rng.uniform(-3, 0) if status is Status.COMPLETE else None
        code = "x = 0\n" * rng.randint(1, 30) + f"# {rng.randint(0, count // 3)}\n"
        out.append(prog(pid, score, island=rng.randrange(4), status=status, code=code))
    return out


def test_rebuild_equals_incremental() -> None:
    programs = random_stream(5, 300)
    params = PopulationParams(islands=4, migration_interval=2)  # default axes: adaptive ranges
    incremental = Population(params, random.Random(1))
    for program in programs:
        incremental.add(program)
    shuffled = programs[:]
    random.Random(2).shuffle(shuffled)
    rebuilt = Population.rebuild(shuffled, params, seed=1)
    assert rebuilt.state() == incremental.state()
    evaluated = [p for p in programs if p.status not in (Status.DUPLICATE, Status.EDIT_FAILED)]
    assert incremental.migrations == len(evaluated) // 8 > 10
    assert incremental.state()["islands"] != [[], [], [], []]
    # Rebuilt twice from the same programs and seed: the same parents are drawn.
    again = Population.rebuild(programs, params, seed=1)
    assert [rebuilt.select_parent(i % 4).id for i in range(40)] == [
        again.select_parent(i % 4).id for i in range(40)
    ]


def test_rebuild_from_config_section_and_problem_features() -> None:
    spec = FeatureSpec(name="x", low=0, high=10, bins=5)
    section = {"islands": 2, "selection": "fitness", "temperature": 0.5, "unknown_key": 1}
    population = Population.rebuild(random_stream(3, 50), section, features=[spec], seed=4)
    assert population.params.islands == 2 and population.params.selection == "proportional"
    assert population.params.axes == (FeatureAxis("x", 0.0, 10.0, 5),)
    assert population.features_of("abc", {"x": 3.0}) == {"x": 3.0}
    assert Population().features_of("abc", {}) == {"code_length": 3.0}


def test_pending_program_counts_once_finished() -> None:
    population = Population(PopulationParams(islands=1, features=AXIS))
    pending = prog(1, None, x=1, status=Status.PENDING)
    assert not population.add(pending)
    assert population.seen(pending.code_hash) == 1
    assert population.add(prog(1, 2.0, x=1))
    assert [p.id for p in population.elites(0)] == [1]


def test_duplicates_by_hash() -> None:
    population = Population(PopulationParams(islands=1, features=AXIS))
    assert not population.seen("abc")
    population.mark_seen("abc", 7)
    population.mark_seen("abc", 9)
    assert population.seen("abc") == 7  # the first program with that code
    failed = prog(2, None, status=Status.FAILED)  # sandbox trouble: worth evaluating again
    population.add(failed)
    assert not population.seen(failed.code_hash)
    invalid = prog(3, None, status=Status.INVALID)
    population.add(invalid)
    assert population.seen(invalid.code_hash) == 3


def test_inspirations_are_distinct_top_and_diverse() -> None:
    population = ladder("rank")
    parent = population.elites(0)[4]
    chosen = population.inspirations(0, parent, 4)
    ids = [p.id for p in chosen]
    assert len(ids) == 4 == len(set(ids)) and parent.id not in ids
    assert ids[:2] == [10, 9]  # the two best first
    assert population.inspirations(0, parent, 0) == []
    assert len(population.inspirations(0, parent, 50)) == 9  # everything but the parent


def test_island_round_robin_and_params_validation() -> None:
    population = Population(PopulationParams(islands=3))
    assert [population.island_of_next() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ConfigError, match="selection"):
        PopulationParams(selection="best")
    with pytest.raises(ConfigError):
        PopulationParams(exploration=1.5)
    assert Population(islands=2, selection="uniform").params.islands == 2
