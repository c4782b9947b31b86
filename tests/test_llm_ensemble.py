"""Weighted draws, the cost-aware bandit, benching and the all-failing stop."""

from __future__ import annotations

from collections import Counter

import pytest

from evolve.errors import ConfigError, ProviderError
from evolve.llm.ensemble import Ensemble, Member


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def members(**weights: float) -> list[Member[str]]:
    return [Member(name, weight, f"client-{name}") for name, weight in weights.items()]


def draws(ensemble: Ensemble[str], n: int) -> list[str]:
    return [ensemble.pick().name for _ in range(n)]


def test_members_are_drawn_by_weight_reproducibly() -> None:
    picks = draws(Ensemble(members(big=3, small=1), seed=11), 4000)
    share = Counter(picks)["big"] / len(picks)
    assert 0.72 < share < 0.78
    assert picks == draws(Ensemble(members(big=3, small=1), seed=11), 4000)
    assert picks != draws(Ensemble(members(big=3, small=1), seed=12), 4000)


def test_bandit_shifts_weight_to_the_model_that_improves_more() -> None:
    ens = Ensemble(members(good=1, poor=1), seed=3, bandit=True)
    assert ens.probabilities() == pytest.approx({"good": 0.5, "poor": 0.5})
    for i in range(60):
        ens.record_outcome("good", improved=i % 2 == 0, cost=0.01)
        ens.record_outcome("poor", improved=i % 20 == 0, cost=0.01)
    assert ens.probabilities()["good"] > 0.8
    assert Counter(draws(ens, 1000))["good"] > 750


def test_bandit_counts_improvements_per_dollar() -> None:
    ens = Ensemble(members(pricey=1, cheap=1), seed=5, bandit=True, explore=0.1)
    for i in range(40):
        same_luck = i % 4 == 0
        ens.record_outcome("pricey", improved=same_luck, cost=0.05)
        ens.record_outcome("cheap", improved=same_luck, cost=0.005)
    probs = ens.probabilities()
    assert probs["cheap"] > 0.85
    # Exploration keeps the expensive one in play: never below explore * its base share.
    assert probs["pricey"] >= 0.1 * 0.5


def test_a_free_member_is_not_infinitely_valuable() -> None:
    ens = Ensemble(members(offline=1, llm=1), seed=9, bandit=True, cost_floor_usd=0.001)
    for i in range(50):
        ens.record_outcome("offline", improved=i % 25 == 0, cost=0.0)
        ens.record_outcome("llm", improved=i % 2 == 0, cost=0.001)
    assert ens.probabilities()["llm"] > 0.8


def test_failing_model_is_benched_while_others_go_on_then_comes_back() -> None:
    clock = Clock()
    ens = Ensemble(members(a=1, b=1), seed=1, bench_after=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        ens.failed("a", "HTTP 500")
    assert ens.benched() == []
    ens.failed("a", "HTTP 500")
    assert ens.benched() == ["a"]
    assert set(draws(ens, 50)) == {"b"}
    clock.now += 31
    assert ens.benched() == []
    assert "a" in draws(ens, 50)
    ens.failed("a", "HTTP 500 again")  # on probation: one more failure benches it again
    assert ens.benched() == ["a"]
    clock.now += 31
    ens.succeeded("a")
    ens.failed("a", "a blip")  # a success reset the streak: one failure no longer benches
    assert ens.benched() == []


def test_every_model_benched_stops_the_run_with_the_reasons() -> None:
    ens = Ensemble(members(a=1, b=2), seed=1, bench_after=2, clock=Clock())
    for _ in range(2):
        ens.failed("a", "RateLimited: slow down")
        ens.failed("b", "DeadlineExceeded: no answer within 5.00s")
    with pytest.raises(ProviderError) as caught:
        ens.pick()
    message = str(caught.value)
    assert message.startswith("all models failing: a: RateLimited: slow down; b: Deadline")
    assert "\n" not in message


def test_bad_member_lists_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unique"):
        Ensemble(members(a=1) + members(a=2), seed=0)
    with pytest.raises(ConfigError, match="weight"):
        Ensemble(members(a=0), seed=0)
    with pytest.raises(ConfigError, match="no proposer"):
        Ensemble([], seed=0)
