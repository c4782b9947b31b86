"""Stop conditions of a run: whichever budget runs out first stops it cleanly.

Pure bookkeeping over counters the engine updates; ``check`` returns the reason to stop
(shown in the summary and stored on the run) or ``None``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class BudgetState:
    iterations_started: int = 0  # proposals started (stored or in flight), seed excluded
    evaluations: int = 0  # programs sent to a sandbox (finished or in flight)
    cost_usd: float = 0.0
    best_score: float = -math.inf
    best_iteration: int = 0  # iteration at which best_score was reached
    barren: int = 0  # proposals in a row that gave nothing to evaluate
    started_at: float = field(default_factory=time.monotonic)
    elapsed_before: float = 0.0  # wall time of earlier sessions of a resumed run

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started_at


@dataclass(frozen=True)
class Budgets:
    iterations: int | None = None
    max_evaluations: int | None = None
    budget_usd: float | None = None
    time_limit: float | None = None
    target_score: float | None = None
    # One generation = one proposal per island; stagnation counts generations without a
    # new best, so the limit means the same whatever the island count.
    stagnation_generations: int | None = None
    islands: int = 1
    # A proposer that only produces failed edits, duplicates or broken code would otherwise
    # spin forever under an evaluation budget: stop after this many in a row.
    max_barren: int | None = 500

    def check(self, state: BudgetState) -> str | None:
        if self.target_score is not None and state.best_score >= self.target_score:
            return f"target score {self.target_score:g} reached ({state.best_score:.6g})"
        if self.iterations is not None and state.iterations_started >= self.iterations:
            return f"iteration budget reached ({self.iterations})"
        if self.max_evaluations is not None and state.evaluations >= self.max_evaluations:
            return f"evaluation budget reached ({self.max_evaluations})"
        if self.budget_usd is not None and state.cost_usd >= self.budget_usd:
            return f"USD budget reached (${state.cost_usd:.4f} of ${self.budget_usd:.4f})"
        if self.time_limit is not None and state.elapsed >= self.time_limit:
            return f"time limit reached ({self.time_limit:g} s)"
        if self.max_barren is not None and state.barren >= self.max_barren:
            return (f"no progress: the last {state.barren} proposals gave nothing to evaluate "
                    "(failed edits, duplicates or broken code); see `evolve show` on one")
        if self.stagnation_generations is not None:
            since = (state.iterations_started - state.best_iteration) // max(self.islands, 1)
            if since >= self.stagnation_generations:
                return f"stagnation: no improvement for {since} generations"
        return None
