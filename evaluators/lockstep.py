"""Run many independent host-side simulations in lockstep, one sandbox round trip per step.

Interactive problems (spot scheduling, request routing) ask the candidate for a decision
many times per simulation. Sending each decision separately would cost one round trip
each; instead every simulation that waits for decisions contributes its argument tuples
to a single ``Session.map`` call, like a vectorised Gym environment. A simulation's own
state stays on the host; the candidate's per-simulation state lives in the sandbox, keyed
by the simulation id that is passed as the first argument of every call.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.base import CandidateCrashed, CandidateError, CandidateTimeout, Session

# Simulation ids must never repeat within one sandbox process, even when a verifier runs
# several stages through the same session, or a candidate would see stale state.
_BATCHES = itertools.count()


class InvalidAnswer(Exception):
    """A candidate's answer (or failure) that makes the program INVALID.

    ``str(exc)`` is the one-line message that goes back into the next prompt.
    """

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Simulation(Protocol):
    """One host-side simulation that pauses whenever it needs the candidate's decisions."""

    @property
    def label(self) -> str:
        """Human-readable name used in error messages ("env=a deadline=52h ...")."""
        ...

    def pending(self) -> list[tuple[Any, ...]]:
        """Argument tuples of the decisions it waits for (without the sim id); [] when done."""
        ...

    def resolve(self, answers: list[Any]) -> None:
        """Validate and apply the answers, in the order of ``pending()``.

        Raises ``InvalidAnswer`` naming the place (tick, request) of a bad answer.
        """
        ...

    def where(self, position: int) -> str:
        """Where the ``position``-th pending decision is ("tick 37", "request 1204")."""
        ...


@dataclass(frozen=True)
class LockstepStats:
    round_trips: int
    decisions: int
    candidate_seconds: float  # host-timed time inside Session.map
    host_seconds: float  # simulation time on the host, candidate excluded


def run_lockstep(
    session: Session,
    fn: str,
    sims: Sequence[Simulation],
    *,
    timeout: float | None = None,
) -> LockstepStats:
    """Advance every simulation to completion, batching all pending decisions per step.

    Candidate exceptions, crashes and timeouts become ``InvalidAnswer`` naming the
    simulation and the decision; invalid answers come from the simulations themselves.
    """
    batch = next(_BATCHES)
    ids = [f"{batch}:{k}" for k in range(len(sims))]
    round_trips = decisions = 0
    candidate_seconds = 0.0
    started = time.perf_counter()
    while True:
        calls: list[tuple[Any, ...]] = []
        owners: list[tuple[int, int, int]] = []  # (sim index, first call, count)
        for k, sim in enumerate(sims):
            args = sim.pending()
            if args:
                owners.append((k, len(calls), len(args)))
                calls.extend((ids[k], *a) for a in args)
        if not calls:
            break
        t0 = time.perf_counter()
        try:
            answers = session.map(fn, calls, timeout=timeout)
        except CandidateError as exc:
            message = f"{exc.exc_type}: {exc.exc_message}"
            if exc.traceback:
                message += "\n" + exc.traceback.strip()
            raise InvalidAnswer(_blame(sims, owners, exc.index, message, fn, round_trips)) from exc
        except CandidateTimeout as exc:
            where = f"{len(owners)} simulations at step {round_trips}"
            raise InvalidAnswer(f"{fn}() timed out ({where}): {exc}", timed_out=True) from exc
        except CandidateCrashed as exc:
            tail = exc.stderr_tail.strip().splitlines()[-1:] or [""]
            raise InvalidAnswer(f"the program crashed during {fn}(): {exc} {tail[0]}") from exc
        candidate_seconds += time.perf_counter() - t0
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise InvalidAnswer(f"{fn}(): the sandbox returned a malformed batch")
        round_trips += 1
        decisions += len(calls)
        for k, first, count in owners:
            sims[k].resolve(answers[first : first + count])
    host = time.perf_counter() - started - candidate_seconds
    return LockstepStats(round_trips, decisions, candidate_seconds, host)


def _blame(
    sims: Sequence[Simulation],
    owners: list[tuple[int, int, int]],
    index: int | None,
    message: str,
    fn: str,
    step: int,
) -> str:
    if index is not None:
        for k, first, count in owners:
            if first <= index < first + count:
                sim = sims[k]
                return (
                    f"simulation {sim.label}, {sim.where(index - first)}: {fn}() raised {message}"
                )
    return f"{fn}() failed at lockstep step {step} ({len(owners)} simulations): {message}"
