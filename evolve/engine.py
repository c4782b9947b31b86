"""The evolution loop: ask a proposer for children, evaluate them in sandboxes, tell storage.

An asyncio pipeline with up to ``concurrency`` proposals in flight and ``workers`` sandbox
evaluations at once (blocking sandbox sessions run in worker threads). Every write of run
state happens on the event-loop thread, so the engine is the single writer.

Crash safety: a child is stored as PENDING as soon as it is proposed, then updated when its
evaluation ends. A resumed run re-evaluates PENDING/RUNNING children instead of proposing
them again, so a SIGKILL loses at most the proposals in flight and never reuses an
iteration number.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from evolve.budgets import Budgets
from evolve.edits import check_syntax, normalized_hash
from evolve.errors import BudgetExceeded, EvolveError, ProviderError
from evolve.evaluation import ProgramOutcome, evaluate_program
from evolve.llm.proposer import ModelCallFailed
from evolve.progress import Progress, ProgressSnapshot
from evolve.prompting import choose_kind
from evolve.proposal import ProposalKind, ProposalRequest, Proposer
from evolve.restore import reached_last_stage, restore
from evolve.types import Program, Run, RunStatus, Status

if TYPE_CHECKING:
    from evaluators.base import Verifier
    from evaluators.problem import ProblemSpec
    from evolve.config import RunConfig
    from evolve.storage import Store
    from sandbox.base import Sandbox

@dataclass(frozen=True)
class RunSummary:
    run_id: int
    stop_reason: str
    best: Program | None
    evaluations: int
    iterations: int
    statuses: dict[Status, int]
    cost_usd: float
    seconds: float


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        spec: ProblemSpec,
        verifier: Verifier,
        sandbox: Sandbox,
        proposer: Proposer,
        config: RunConfig,
        progress: Progress | None = None,
    ) -> None:
        self.store, self.run_id, self.spec = store, run.id, spec
        self.verifier, self.sandbox, self.proposer = verifier, sandbox, proposer
        self.config = config
        self.progress = progress or Progress(enabled=False)
        self.budgets = Budgets(
            iterations=config.iterations,
            max_evaluations=config.max_evaluations,
            budget_usd=config.budget_usd,
            time_limit=config.time_limit,
            target_score=config.target_score,
            stagnation_generations=config.stagnation_generations,
            islands=config.population.islands,
            max_barren=config.max_barren_proposals,
        )
        restored = restore(store, run, spec, config)
        self.population, self.state = restored.population, restored.state
        self._statuses = restored.statuses
        self.next_iteration = restored.next_iteration
        self._unfinished = restored.unfinished
        self._best_test = restored.best_test
        self._last_failure: dict[int, Program] = {}
        self._workers = asyncio.Semaphore(config.workers)
        # Sandbox sessions block, so they run in threads: one per worker (asyncio's default
        # pool is capped by the CPU count, which would silently cap --workers).
        self._threads = ThreadPoolExecutor(config.workers, thread_name_prefix="evolve-eval")
        # Proposals in flight, and proposed children waiting for a free worker (see
        # _has_room for how the two are bounded).
        self._in_flight = 0
        self._waiting = 0
        self._wake = asyncio.Event()
        self._stop: str | None = None
        self._abandon = False
        # With one proposal and one worker the run goes strictly one iteration at a time,
        # so that it is a pure function of its seed (and can be replayed exactly).
        self._sequential = config.concurrency == 1 and config.workers == 1

    # ---- public ---------------------------------------------------------------------------

    def request_stop(self, reason: str, *, abandon: bool = False) -> None:
        """Stop starting new work; with ``abandon`` also cancel what is in flight."""
        self._stop = self._stop or reason
        self._abandon = self._abandon or abandon

    async def run(self) -> RunSummary:
        self.store.update_run(self.run_id, status=RunStatus.RUNNING, stop_reason=None)
        started = time.monotonic()
        try:
            if self.next_iteration == 0:
                await self._evaluate_seed()
            await self._drain_unfinished()
            await self._loop()
            status = RunStatus.INTERRUPTED if self._stop == "interrupted" else RunStatus.FINISHED
        except (ProviderError, BudgetExceeded) as exc:
            self._stop, status = str(exc), RunStatus.FINISHED
        except asyncio.CancelledError:
            self._stop, status = self._stop or "interrupted", RunStatus.INTERRUPTED
        except BaseException as exc:
            self.store.update_run(
                self.run_id, status=RunStatus.FAILED, stop_reason=f"{type(exc).__name__}: {exc}"
            )
            raise
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)
            close = getattr(self.proposer, "aclose", None)
            if close is not None:
                await close()
        reason = self._stop or "finished"
        elapsed = time.monotonic() - started
        run = self.store.update_run(
            self.run_id,
            status=status,
            stop_reason=reason,
            iterations=max(0, self.store.max_iteration(self.run_id)),
            evaluations=self.state.evaluations,
            cost_usd=self.store.run_cost(self.run_id),
            finished_at=datetime.now(UTC),
        )
        self.store.add_event(
            self.run_id, "stop", reason, {"seconds": elapsed, "elapsed_total": self.state.elapsed}
        )
        best = self.population.best()
        return RunSummary(
            run_id=self.run_id,
            stop_reason=reason,
            best=self.store.get_program(best.id) if best is not None else None,
            evaluations=self.state.evaluations,
            iterations=run.iterations,
            statuses=self.store.count_programs(self.run_id),
            cost_usd=run.cost_usd,
            seconds=elapsed,
        )

    # ---- the pipeline ---------------------------------------------------------------------

    async def _evaluate_seed(self) -> None:
        code = self.spec.seed_path.read_text(encoding="utf-8")
        seed = self.store.add_program(
            self.run_id, code, normalized_hash(code), Status.PENDING, 0, proposer="seed"
        )
        self.next_iteration = 1
        self.state.evaluations += 1
        done = await self._evaluate(seed)
        if done.status is not Status.COMPLETE:
            raise EvolveError(
                f"the seed program {self.spec.seed_path} is {done.status.value}: "
                f"{done.reason or done.feedback}; check it with `evolve eval {self.spec.name}`"
            )
        if not reached_last_stage(done):
            raise EvolveError(
                f"the seed program {self.spec.seed_path} stops in the cascade ({done.reason}); "
                f"lower that stage's threshold in {self.spec.dir / 'problem.yaml'}"
            )

    async def _drain_unfinished(self) -> None:
        """Evaluate children a killed session had proposed but not finished evaluating."""
        if not self._unfinished:
            return
        self.store.add_event(
            self.run_id, "resume", f"re-evaluating {len(self._unfinished)} unfinished programs"
        )
        await asyncio.gather(*(self._evaluate(p) for p in self._unfinished))
        self._unfinished = []

    async def _loop(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._refresh_budgets()
                # Budgets are re-checked rather than latched: an in-flight proposal that
                # turns out a duplicate gives its evaluation back, and the run goes on.
                while (self._stop is None and self._has_room() and self._budget_left()
                       and not (self._sequential and tasks)):
                    tasks.add(asyncio.create_task(self._iteration(self._start_iteration())))
                if not tasks:
                    self._stop = self._stop or self.budgets.check(self.state) or "finished"
                    return
                if self._abandon:
                    for task in tasks:
                        task.cancel()
                self._wake.clear()
                waker: asyncio.Task[object] = asyncio.create_task(self._wake.wait())
                watched: set[asyncio.Task[object]] = {*tasks, waker}
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                for finished in done - {waker}:
                    tasks.discard(finished)
                    error = None if finished.cancelled() else finished.exception()
                    if error is not None:
                        raise error
                self._report()
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _budget_left(self) -> bool:
        return self.budgets.check(self.state) is None

    def _has_room(self) -> bool:
        # Proposals in flight are children that will soon wait for a worker, so both count
        # against one bound: K in flight when proposing is the bottleneck, and a queue of
        # at most K + W children when evaluating is (so parents are never chosen from a
        # population far behind the work already proposed).
        k, w = self.config.concurrency, self.config.workers
        return self._in_flight < k and self._in_flight + self._waiting < k + w

    def _start_iteration(self) -> int:
        iteration = self.next_iteration
        self.next_iteration += 1
        self.state.iterations_started += 1
        # Reserve the evaluation now so K proposals in flight cannot overshoot the budget.
        self.state.evaluations += 1
        self._in_flight += 1  # counted now so the loop sees it before the task runs
        return iteration

    async def _iteration(self, iteration: int) -> None:
        rng = random.Random(f"{self.config.seed}:{iteration}")
        island = iteration % self.config.population.islands
        parent = self.population.select_parent(island, rng)
        other = self.population.select_other_parent(island, parent, rng)
        failed_child = self._last_failure.get(parent.id)
        kind = cast(ProposalKind, choose_kind(
            self.config.prompts.weights, rng, other is not None, failed_child is not None
        ))
        context: dict[str, object] = {"iteration": iteration, "island": island}
        if failed_child is not None:
            context.update(failure=failed_child.reason or "", failed_attempt=failed_child)
        request = ProposalRequest(
            parent=parent,
            inspirations=self.population.inspirations(
                island, parent, self.config.population.num_inspirations, rng
            ),
            other_parent=other if kind == "crossover" else None,
            kind=kind,
            problem=self.spec,
            seed=rng.getrandbits(32),
            context=context,
        )
        try:
            proposal = await self.proposer.propose(request)
        except BudgetExceeded as exc:
            self.state.evaluations -= 1  # nothing was proposed: give the reservation back
            self.request_stop(str(exc))
            return
        except ModelCallFailed as exc:
            # The model failed after its retries (its attempts are in llm_calls); the
            # iteration is stored as FAILED and the run goes on with the other models.
            self.state.evaluations -= 1
            failed = self.store.add_program(
                self.run_id, parent.code, parent.code_hash, Status.FAILED, iteration,
                parent_id=parent.id, island=island, generation=parent.generation + 1,
                proposer=exc.model, reason=str(exc), llm_call_id=exc.llm_call_id,
            )
            self._tally(failed)
            return
        finally:
            self._in_flight -= 1
            self._wake.set()
        common = {
            "parent_id": parent.id,
            "other_parent_id": request.other_parent.id if request.other_parent else None,
            "island": island,
            "generation": parent.generation + 1,
            "proposer": proposal.proposer,
            "template": proposal.template,
            "edit": proposal.edit,
            "llm_call_id": proposal.llm_call_id,
        }
        if proposal.code is None:
            self.state.evaluations -= 1  # nothing to evaluate: give the reservation back
            failed = self.store.add_program(
                self.run_id, parent.code, parent.code_hash, Status.EDIT_FAILED, iteration,
                reason=proposal.error or "the proposal could not be applied", **common,
            )
            self._tally(failed)
            return
        code_hash = normalized_hash(proposal.code)
        syntax = check_syntax(proposal.code)
        if syntax is not None:
            # Compiling is safe on the host (nothing runs); it saves a sandbox start and
            # gives the fix prompt the exact line.
            self.state.evaluations -= 1
            broken = self.store.add_program(
                self.run_id, proposal.code, code_hash, Status.INVALID, iteration,
                reason=f"the program does not compile: {syntax}", **common,
            )
            self._tally(broken)
            return
        earlier = self.population.seen(code_hash)
        if earlier is not None:
            self.state.evaluations -= 1
            duplicate = self.store.add_program(
                self.run_id, proposal.code, code_hash, Status.DUPLICATE, iteration,
                reason=f"same normalised code as program {earlier}", **common,
            )
            self._tally(duplicate)
            return
        child = self.store.add_program(
            self.run_id, proposal.code, code_hash, Status.PENDING, iteration, **common
        )
        self.population.mark_seen(code_hash, child.id)
        done = await self._evaluate(child)
        record_outcome = getattr(self.proposer, "record_outcome", None)
        if record_outcome is not None:  # feeds the cost-aware bandit of an LLM ensemble
            improved = done.score is not None and (parent.score is None or done.score > parent.score)
            record_outcome(proposal.proposer, improved, proposal.cost_usd)

    async def _evaluate(self, program: Program) -> Program:
        self._waiting += 1
        try:
            await self._workers.acquire()
        finally:
            self._waiting -= 1
            self._wake.set()
        try:
            self.store.update_program(program.id, status=Status.RUNNING)
            outcome = await self._in_thread(
                evaluate_program, self.spec, self.verifier, self.sandbox, program.code
            )
        finally:
            self._workers.release()
        self._store_stages(program.id, outcome)
        done = self.store.update_program(
            program.id,
            status=outcome.status,
            score=outcome.score,
            metrics=outcome.metrics,
            feedback=outcome.feedback,
            reason=outcome.reason,
            eval_seconds=outcome.seconds,
            features=self.population.features_of(program.code, outcome.metrics),
            evaluated_at=datetime.now(UTC),
        )
        self._tally(done)
        # A score from a short cascade stage is not comparable with full-train scores, so
        # such programs are remembered (for dedup) but never become parents or champions.
        if outcome.reached_last_stage:
            self.population.add(done)
            if _is_better(done, self.state.best_score):
                await self._new_champion(done)
        else:
            self.population.mark_seen(done.code_hash, done.id)
        return done

    def _tally(self, program: Program) -> None:
        """Count a finished program and remember failed children for fix prompts."""
        self._statuses[program.status] += 1
        evaluated = program.status in (Status.COMPLETE, Status.TIMEOUT) or (
            program.status is Status.INVALID and program.evaluated_at is not None)
        self.state.barren = 0 if evaluated else self.state.barren + 1
        if program.parent_id is None:
            return
        if program.status in (Status.INVALID, Status.TIMEOUT, Status.EDIT_FAILED):
            self._last_failure[program.parent_id] = program
        else:
            self._last_failure.pop(program.parent_id, None)

    async def _new_champion(self, program: Program) -> None:
        assert program.score is not None
        self.state.best_score, self.state.best_iteration = program.score, program.iteration
        async with self._workers:
            outcome = await self._in_thread(
                partial(evaluate_program, split="test"),
                self.spec, self.verifier, self.sandbox, program.code,
            )
        self._store_stages(program.id, outcome, prefix="test:")
        test_score = outcome.score if outcome.status is Status.COMPLETE else None
        self.store.update_program(program.id, test_score=test_score, test_metrics=outcome.metrics)
        self.store.update_run(
            self.run_id, best_score=program.score, best_program_id=program.id
        )
        self.store.add_event(
            self.run_id, "champion", f"program {program.id} scores {program.score:.6g}",
            {"program_id": program.id, "score": program.score, "test_score": test_score},
        )
        self._best_test = test_score
        self.progress.champion(replace(program, test_score=test_score))

    async def _in_thread(self, fn: Callable[..., ProgramOutcome], *args: Any) -> ProgramOutcome:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def _store_stages(self, program_id: int, outcome: ProgramOutcome, prefix: str = "") -> None:
        for stage in outcome.stages:
            result = stage.result
            self.store.add_evaluation(
                program_id, prefix + stage.stage,
                Status.COMPLETE if result.valid else outcome.status,
                result.score if result.valid else None,
                result.metrics, result.feedback, stage.seconds,
            )

    # ---- bookkeeping ----------------------------------------------------------------------

    def _refresh_budgets(self) -> None:
        if self.config.budget_usd is not None or self.config.models:
            self.state.cost_usd = self.store.run_cost(self.run_id)

    def _report(self) -> None:
        best = self.population.best()
        self.progress.update(
            ProgressSnapshot(
                iteration=self.next_iteration - 1,
                evaluations=self.state.evaluations,
                best_score=best.score if best else None,
                best_test_score=self._best_test,
                in_flight=self._in_flight,
                cost_usd=self.state.cost_usd,
                elapsed=self.state.elapsed,
                statuses=dict(self._statuses),
            )
        )


def _is_better(program: Program, best: float) -> bool:
    return program.score is not None and math.isfinite(program.score) and program.score > best
