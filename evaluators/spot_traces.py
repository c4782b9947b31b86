"""Spot availability traces: alternating up/down periods with gamma-distributed durations.

The four environments reproduce the availability, mean period lengths and coefficients of
variation of real spot traces (as reported by the "Can't Be Late" study), so no trace has
to be downloaded. Durations are quantised to whole ticks with a minimum of one tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class SpotEnv:
    name: str
    mean_up_hours: float
    cv_up: float
    mean_down_hours: float
    cv_down: float

    @property
    def availability(self) -> float:
        return self.mean_up_hours / (self.mean_up_hours + self.mean_down_hours)


# Stated availabilities: 0.954, 0.252, 0.687, 0.595 (the ratio of the means gives them).
ENVIRONMENTS: tuple[SpotEnv, ...] = (
    SpotEnv("high_avail", 6.59, 1.4, 0.33, 1.3),
    SpotEnv("low_avail", 1.70, 2.2, 5.05, 3.3),
    SpotEnv("mid_avail", 2.29, 1.8, 1.06, 1.8),
    SpotEnv("volatile", 1.96, 1.6, 1.34, 1.5),
)


def env_by_name(name: str) -> SpotEnv:
    for env in ENVIRONMENTS:
        if env.name == name:
            return env
    known = ", ".join(e.name for e in ENVIRONMENTS)
    raise KeyError(f"unknown spot environment '{name}' (known: {known})")


def gamma_hours(rng: random.Random, mean: float, cv: float) -> float:
    """A gamma draw with the given mean and coefficient of variation (shape 1/cv^2)."""
    shape = 1.0 / (cv * cv)
    return rng.gammavariate(shape, mean / shape)


class _Quantiser:
    """Rounds durations to ticks (at least one) while carrying the rounding error forward.

    Plain rounding with a one-tick minimum would lengthen short periods on average (a
    0.33 h mean down period is only two ticks); carrying the residual keeps the long-run
    mean of the quantised periods equal to the gamma mean.
    """

    def __init__(self, tick_hours: float) -> None:
        self.tick = tick_hours
        self.carry = 0.0

    def ticks(self, hours: float) -> int:
        wanted = hours + self.carry
        n = max(1, round(wanted / self.tick))
        self.carry = wanted - n * self.tick
        return n


def generate_trace(env: SpotEnv, ticks: int, tick_hours: float, seed: int) -> list[int]:
    """``ticks`` availability flags (1 = spot available), starting in the stationary state."""
    rng = random.Random(seed)
    up_q, down_q = _Quantiser(tick_hours), _Quantiser(tick_hours)
    up = rng.random() < env.availability
    out: list[int] = []
    while len(out) < ticks:
        if up:
            n = up_q.ticks(gamma_hours(rng, env.mean_up_hours, env.cv_up))
        else:
            n = down_q.ticks(gamma_hours(rng, env.mean_down_hours, env.cv_down))
        out.extend([1 if up else 0] * n)
        up = not up
    return out[:ticks]


def periods(trace: list[int], tick_hours: float) -> tuple[list[float], list[float]]:
    """Lengths in hours of the complete up and down periods of a trace (edges dropped)."""
    ups: list[float] = []
    downs: list[float] = []
    runs: list[tuple[int, int]] = []
    for flag in trace:
        if runs and runs[-1][0] == flag:
            runs[-1] = (flag, runs[-1][1] + 1)
        else:
            runs.append((flag, 1))
    for flag, n in runs[1:-1]:
        (ups if flag else downs).append(n * tick_hours)
    return ups, downs
