"""The spot-scheduling simulator: one deadline-bound job, one decision every tick.

Rules (after the "Can't Be Late" simulator): a tick is spent on SPOT, ON_DEMAND or NONE.
Spot is usable only in ticks where the trace says it is available; losing it preempts the
job (the instance is gone at the start of the tick). Starting an instance of a type other
than the current one (including restarting after a preemption or a pause) costs the
restart overhead: that much running time makes no progress. A safety rule forces
ON_DEMAND as soon as wasting one more tick would leave less time than the remaining work
plus one restart overhead, so every deadline is met and the only question is cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from evaluators.lockstep import InvalidAnswer

ON_DEMAND_PRICE = 3.06  # USD per hour
SPOT_PRICE = 0.9731  # USD per hour
ACTIONS = ("SPOT", "ON_DEMAND", "NONE")
_EPS = 1e-9


@dataclass(frozen=True)
class SpotInstance:
    """One simulation: a trace window and the job's deadline and restart overhead."""

    available: tuple[int, ...]  # one flag per tick, 1 = spot available
    tick_hours: float
    deadline_hours: float
    overhead_hours: float
    task_hours: float
    env: str
    label: str

    @property
    def ticks(self) -> int:
        return math.ceil(self.deadline_hours / self.tick_hours - _EPS)


@dataclass
class SpotSim:
    """The state of one simulation; ``pending``/``resolve`` plug it into the lockstep."""

    inst: SpotInstance
    tick: int = 0
    done_hours: float = 0.0
    current: str = "NONE"
    overhead_left: float = 0.0
    cost: float = 0.0
    preemptions: int = 0
    forced_ticks: int = 0
    finished_at: float | None = None
    history: list[str] = field(default_factory=list)  # the type that ran in each tick

    @property
    def label(self) -> str:
        return self.inst.label

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def observation(self) -> dict[str, Any]:
        """The present only: nothing about future availability."""
        i = self.inst
        if self.current == "SPOT" and not i.available[self.tick]:
            self.current, self.overhead_left = "NONE", 0.0
            self.preemptions += 1
        elapsed = self.tick * i.tick_hours
        return {
            "tick": self.tick,
            "tick_hours": i.tick_hours,
            "elapsed_hours": elapsed,
            "work_done_hours": self.done_hours,
            "work_remaining_hours": i.task_hours - self.done_hours,
            "time_to_deadline_hours": i.deadline_hours - elapsed,
            "deadline_hours": i.deadline_hours,
            "task_hours": i.task_hours,
            "restart_overhead_hours": i.overhead_hours,
            "restart_overhead_remaining_hours": self.overhead_left,
            "spot_available": bool(i.available[self.tick]),
            "current_type": self.current,
            "spot_price": SPOT_PRICE,
            "on_demand_price": ON_DEMAND_PRICE,
        }

    def step(self, action: str) -> None:
        """Apply one decision for the current tick (the observation was taken already)."""
        i = self.inst
        wanted = action
        if wanted == "SPOT" and not i.available[self.tick]:
            wanted = "NONE"  # asking for spot that does not exist idles
        time_left = i.deadline_hours - self.tick * i.tick_hours
        remaining = i.task_hours - self.done_hours
        if wanted != "ON_DEMAND" and remaining + i.overhead_hours > time_left - i.tick_hours + _EPS:
            wanted = "ON_DEMAND"
            self.forced_ticks += 1
        if wanted != self.current and wanted != "NONE":
            self.overhead_left = i.overhead_hours
        self.current = wanted
        self.history.append(wanted)
        if wanted == "NONE":
            self.overhead_left = 0.0
            self.tick += 1
            return
        lost = min(self.overhead_left, i.tick_hours)
        self.overhead_left -= lost
        progress = min(i.tick_hours - lost, remaining)
        used = lost + progress
        self.done_hours += progress
        self.cost += used * (SPOT_PRICE if wanted == "SPOT" else ON_DEMAND_PRICE)
        if i.task_hours - self.done_hours <= _EPS:
            self.done_hours = i.task_hours
            self.finished_at = self.tick * i.tick_hours + used
        self.tick += 1

    # --- lockstep protocol -------------------------------------------------------------
    def pending(self) -> list[tuple[Any, ...]]:
        if self.finished:
            return []
        return [(self.observation(),)]

    def resolve(self, answers: list[Any]) -> None:
        action = answers[0]
        if not isinstance(action, str) or action not in ACTIONS:
            shown = repr(action)[:60]
            raise InvalidAnswer(
                f"simulation {self.label}, tick {self.tick}: decide() returned {shown}; "
                'expected one of "SPOT", "ON_DEMAND", "NONE"'
            )
        self.step(action)

    def where(self, position: int) -> str:
        return f"tick {self.tick}"


class HostPolicy(Protocol):
    def decide(self, obs: dict[str, Any]) -> str: ...


def run_host(inst: SpotInstance, policy: HostPolicy) -> SpotSim:
    """Simulate a trusted reference policy entirely on the host."""
    sim = SpotSim(inst)
    while not sim.finished:
        sim.step(policy.decide(sim.observation()))
    return sim


class UniformProgress:
    """The NSDI'24 reference: keep progress on the straight line from start to deadline.

    Spot whenever available; otherwise on-demand while behind the line, staying on
    on-demand until two restart overheads ahead (hysteresis against paying an overhead on
    every flip), and nothing while ahead.
    """

    def decide(self, obs: dict[str, Any]) -> str:
        if obs["spot_available"]:
            return "SPOT"
        rate = obs["task_hours"] / obs["deadline_hours"]
        line = rate * (obs["elapsed_hours"] + obs["tick_hours"])
        margin = 2 * obs["restart_overhead_hours"] if obs["current_type"] == "ON_DEMAND" else 0.0
        return "ON_DEMAND" if obs["work_done_hours"] < line + margin else "NONE"


class AlwaysOnDemand:
    def decide(self, obs: dict[str, Any]) -> str:
        return "ON_DEMAND"


class Greedy:
    def decide(self, obs: dict[str, Any]) -> str:
        return "SPOT" if obs["spot_available"] else "NONE"
