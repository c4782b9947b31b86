"""Which proposer answers the next request: weighted draws, a cost-aware bandit, benching.

Members are generic (an LLM model, the offline mutator, anything with a name), so the
ensemble only keeps score. Each proposal draws a member by weight from a seeded
``random.Random``. With the bandit on, the weights are multiplied by a Thompson sample of
each member's chance to improve on its parent divided by its mean cost per proposal, so
weight moves toward the members that buy improvements cheapest; a share ``explore`` of the
mass stays on the configured weights so that no member is starved of evidence.

A member that fails ``bench_after`` times in a row is benched for ``cooldown_s`` while the
others go on; after the cool-down it gets one more chance (one failure benches it again).
When no member is left, ``pick`` raises ``ProviderError`` with the last errors, so the run
stops cleanly with the reason.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from evolve.errors import ConfigError, ProviderError
from evolve.llm.base import one_line

T = TypeVar("T")


@dataclass(frozen=True)
class Member(Generic[T]):
    name: str
    weight: float
    value: T


@dataclass
class MemberStats:
    proposals: int = 0
    improved: int = 0
    cost_usd: float = 0.0
    failures_in_row: int = 0
    benched_until: float = 0.0
    last_error: str | None = None


class Ensemble(Generic[T]):
    def __init__(
        self,
        members: Sequence[Member[T]],
        *,
        seed: int,
        bandit: bool = False,
        explore: float = 0.1,
        cost_floor_usd: float = 1e-4,
        bench_after: int = 3,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not members:
            raise ConfigError("no proposer configured: add a model under `models:` or use offline")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be unique, got {names}; give each a `name:`")
        for m in members:
            if not m.weight > 0:
                raise ConfigError(f"model '{m.name}' has weight {m.weight}; weights must be > 0")
        if bench_after < 1:
            raise ConfigError("bench_after must be at least 1")
        self.members = list(members)
        self.stats = {m.name: MemberStats() for m in members}
        self.bandit = bandit
        self.explore = explore
        # A free member (the offline mutator) would otherwise get infinite value per dollar.
        self.cost_floor_usd = cost_floor_usd
        self.bench_after = bench_after
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._rng = random.Random(seed)

    # -- choosing -------------------------------------------------------------------------

    def available(self) -> list[Member[T]]:
        now = self._clock()
        return [m for m in self.members if self.stats[m.name].benched_until <= now]

    def pick(self) -> Member[T]:
        """The member for the next proposal; ``ProviderError`` when every one is benched."""
        pool = self.available()
        if not pool:
            reasons = "; ".join(
                f"{m.name}: {self.stats[m.name].last_error or 'failing'}" for m in self.members
            )
            raise ProviderError(
                one_line(
                    f"all models failing: {reasons}; check endpoints and keys, then resume",
                    limit=1000,
                )
            )
        weights = self._weights(pool, sample=True)
        draw = self._rng.random() * sum(weights)
        for member, weight in zip(pool, weights, strict=True):
            draw -= weight
            if draw < 0:
                return member
        return pool[-1]

    def probabilities(self) -> dict[str, float]:
        """Expected share of the next proposal per available member (posterior means)."""
        pool = self.available()
        weights = self._weights(pool, sample=False)
        total = sum(weights)
        return {m.name: w / total for m, w in zip(pool, weights, strict=True)}

    def _weights(self, pool: list[Member[T]], *, sample: bool) -> list[float]:
        base = [m.weight for m in pool]
        if not self.bandit:
            return base
        prior_cost = self._prior_cost()
        value = []
        for m in pool:
            s = self.stats[m.name]
            alpha, beta = 1 + s.improved, 1 + s.proposals - s.improved
            chance = self._rng.betavariate(alpha, beta) if sample else alpha / (alpha + beta)
            cost = s.cost_usd / s.proposals if s.proposals else prior_cost
            value.append(m.weight * chance / max(cost, self.cost_floor_usd))
        value_total, base_total = sum(value), sum(base)
        return [
            (1 - self.explore) * v / value_total + self.explore * b / base_total
            for v, b in zip(value, base, strict=True)
        ]

    def _prior_cost(self) -> float:
        # An untried member is assumed to cost what the tried ones cost on average.
        seen = [s.cost_usd / s.proposals for s in self.stats.values() if s.proposals]
        return statistics.median(seen) if seen else self.cost_floor_usd

    # -- feedback -------------------------------------------------------------------------

    def succeeded(self, name: str) -> None:
        """The member's call went through (whatever the proposal is worth)."""
        s = self.stats[name]
        s.failures_in_row = 0
        s.benched_until = 0.0

    def failed(self, name: str, error: str) -> None:
        """The member's call failed after its retries."""
        s = self.stats[name]
        s.failures_in_row += 1
        s.last_error = one_line(error, limit=200)
        if s.failures_in_row >= self.bench_after:
            s.benched_until = self._clock() + self.cooldown_s

    def record_outcome(self, name: str, improved: bool, cost: float) -> None:
        """A proposal of ``name`` was scored: did it beat its parent, and what did it cost."""
        s = self.stats[name]
        s.proposals += 1
        s.improved += int(improved)
        s.cost_usd += max(0.0, cost)

    def benched(self) -> list[str]:
        now = self._clock()
        return [n for n, s in self.stats.items() if s.benched_until > now]
