"""What the engine rebuilds from the database when a run starts or resumes.

The database is the journal: the population, the budget counters and the work left
unfinished by a killed session are all functions of the stored programs, so a resumed run
continues exactly where the stored state says it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evolve.budgets import BudgetState
from evolve.population import Population
from evolve.types import Program, Run, Status

if TYPE_CHECKING:
    from evaluators.problem import ProblemSpec
    from evolve.config import RunConfig
    from evolve.storage import Store

EVALUATED = (Status.COMPLETE, Status.INVALID, Status.TIMEOUT, Status.FAILED)


@dataclass
class Restored:
    population: Population
    state: BudgetState
    statuses: Counter[Status]
    next_iteration: int
    unfinished: list[Program]  # proposed but not evaluated when the last session died
    best_test: float | None


def reached_last_stage(program: Program) -> bool:
    """Whether a stored program's score is a full-train-set score (see evaluate_program)."""
    stage, stages = program.metrics.get("stage"), program.metrics.get("stages")
    return stage is None or stages is None or stage >= stages


def restore(store: Store, run: Run, spec: ProblemSpec, config: RunConfig) -> Restored:
    stored = store.programs(run.id)
    # A score from a short cascade stage is not comparable with full-train scores, so such
    # programs are remembered for deduplication but never become parents.
    population = Population.rebuild(
        [p for p in stored if reached_last_stage(p)],
        params=config.population, features=spec.features, seed=config.seed,
    )
    for program in stored:
        population.mark_seen(program.code_hash, program.id)
    last_iteration = store.max_iteration(run.id)
    state = BudgetState(
        iterations_started=max(0, last_iteration),
        # Unfinished children are evaluated first thing, so they count already.
        evaluations=sum(1 for p in stored if p.status in EVALUATED or not p.status.finished),
        cost_usd=store.run_cost(run.id),
        elapsed_before=_elapsed_before(store, run.id),
    )
    best = population.best()
    if best is not None and best.score is not None:
        state.best_score, state.best_iteration = best.score, best.iteration
    return Restored(
        population=population,
        state=state,
        statuses=Counter(p.status for p in stored if p.status.finished),
        next_iteration=last_iteration + 1,
        unfinished=[p for p in stored if not p.status.finished],
        best_test=best.test_score if best is not None else None,
    )


def _elapsed_before(store: Store, run_id: int) -> float:
    """Wall time of the run's earlier sessions, so --time-limit spans resumes."""
    stops = [e for e in store.events(run_id) if e.kind == "stop"]
    value = stops[-1].data.get("elapsed_total") if stops else None
    return float(value) if isinstance(value, int | float) else 0.0
