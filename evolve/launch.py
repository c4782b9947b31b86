"""Wiring a run together: problem, config, store, sandbox, proposer, engine, signals.

The CLI's ``run`` and ``resume`` commands and the tests share this, so a run started from
Python behaves exactly like one started from the shell.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.base import Verifier
from evaluators.problem import ProblemSpec, load_verifier
from evolve.config import RunConfig, load_run_config
from evolve.engine import Engine, RunSummary
from evolve.errors import ConfigError
from evolve.problems import find_problem
from evolve.progress import Progress
from evolve.proposal import Proposer
from evolve.storage import Store
from evolve.types import Run, RunStatus

Echo = Callable[[str], None]


@dataclass
class PreparedRun:
    store: Store
    run: Run
    spec: ProblemSpec
    config: RunConfig
    verifier: Verifier


def new_run(
    problem: str,
    *,
    config_file: Path | None = None,
    overrides: list[str] | None = None,
    cli: dict[str, Any] | None = None,
    db: str | None = None,
    problem_dirs: list[Path] | None = None,
) -> PreparedRun:
    """Validate everything, then create the run row (nothing is stored on a bad config)."""
    spec = find_problem(problem, problem_dirs or [])
    values = dict(cli or {})
    values["problem"] = str(spec.dir) if spec.source == "local" else spec.name
    base = spec.run_defaults
    replay = values.get("llm.replay_run")
    if replay is not None:
        # A replay repeats the recorded run: its models, seed, population and prompts.
        with Store.open(db) as source:
            recorded = source.get_run(int(replay))
        if recorded.problem != spec.name:
            raise ConfigError(f"--replay {replay}: run {replay} is a '{recorded.problem}' run, "
                              f"not '{spec.name}'")
        base = {k: v for k, v in recorded.config.items() if not k.startswith("_")}
    config = load_run_config(base, config_file, overrides or [], values)
    verifier = load_verifier(spec)  # a broken verifier fails before a run row exists
    store = Store.open(db or config.db)
    build_proposer(config, spec, store=store, run_id=None, check_only=True)
    run = store.create_run(spec.name, config.resolved(), config.seed)
    return PreparedRun(store, run, spec, config, verifier)


def existing_run(run_id: int, *, db: str | None = None, overrides: list[str] | None = None,
                 cli: dict[str, Any] | None = None) -> PreparedRun:
    """Reload a stored run with its stored config; ``overrides``/``cli`` may extend budgets."""
    store = Store.open(db)
    run = store.get_run(run_id)
    if run.status is RunStatus.RUNNING and not (cli or {}).get("force"):
        store.add_event(run.id, "resume", "resumed while marked RUNNING (previous session died)")
    stored = {k: v for k, v in run.config.items() if not k.startswith("_")}
    spec = find_problem(stored.get("problem", run.problem))
    values = {k: v for k, v in (cli or {}).items() if k != "force"}
    try:
        config = load_run_config(stored, None, overrides or [], values)
    except ConfigError as exc:
        raise ConfigError(f"run {run_id}: stored config no longer valid: {exc}") from exc
    if config.resolved() != stored:
        store.update_run(run.id, config=config.resolved())
    return PreparedRun(store, run, spec, config, load_verifier(spec))


def build_proposer(
    config: RunConfig, spec: ProblemSpec, *, store: Store | None, run_id: int | None,
    check_only: bool = False,
) -> Proposer:
    """The offline mutator when no model is configured, else the LLM ensemble (which may
    include the offline mutator as a member). ``check_only`` validates keys, templates and
    the replay source before a run row exists, so a bad setup stores nothing."""
    from evolve.mutators import OfflineProposer

    offline = OfflineProposer(
        seed=config.seed,
        max_mutations=config.mutator.max_mutations,
        crossover_rate=config.mutator.crossover_rate,
    )
    if not config.models:
        if config.llm.replay_run is not None:
            raise ConfigError(f"--replay {config.llm.replay_run}: that run used no LLM (the "
                              "offline proposer is reproducible from its seed: rerun with it)")
        return offline
    from evolve.llm.budget import Budget
    from evolve.llm.factory import build_proposer as build_llm
    from evolve.llm.factory import check_keys, price_table
    from evolve.llm.proposer import library_renderer
    from evolve.llm.recording import CallbackRecorder, ReplayLog
    from evolve.prompting import library_for

    library = library_for(spec.dir, Path(config.prompts.dir) if config.prompts.dir else None)
    replay = None
    if config.llm.replay_run is not None:
        assert store is not None
        calls = store.llm_calls(config.llm.replay_run)
        if not calls:
            raise ConfigError(f"--replay {config.llm.replay_run}: that run recorded no LLM calls")
        replay = ReplayLog(calls)
    elif check_only:
        check_keys(config.models)
    if check_only:
        library.render_messages("diff", _sample(spec))  # a broken template fails now
        return offline
    assert store is not None and run_id is not None
    journal = store

    def record(call: dict[str, Any]) -> int | None:
        return journal.add_llm_call(run_id, **call).id

    return build_llm(
        config.models, seed=config.seed, render=library_renderer(library),
        recorder=CallbackRecorder(record), settings=config.llm,
        budget=Budget(config.budget_usd, spent_usd=store.run_cost(run_id)),
        prices=price_table(config.prices), offline=offline, replay=replay,
    )


def _sample(spec: ProblemSpec) -> dict[str, Any]:
    from evolve.prompting import sample_context

    return sample_context(spec)


def execute(prepared: PreparedRun, *, sandbox_kind: str | None = None, echo: Echo = print,
            progress: Progress | None = None) -> RunSummary:
    """Run the engine until a budget stops it or the user interrupts (Ctrl-C twice abandons
    the work in flight; once lets it finish)."""
    from sandbox.select import make_sandbox

    config = prepared.config
    sandbox = make_sandbox(sandbox_kind or config.sandbox, warn=echo)
    try:
        proposer = build_proposer(config, prepared.spec, store=prepared.store,
                                  run_id=prepared.run.id)
        engine = Engine(
            store=prepared.store, run=prepared.store.get_run(prepared.run.id), spec=prepared.spec,
            verifier=prepared.verifier, sandbox=sandbox, proposer=proposer, config=config,
            progress=progress,
        )
        return asyncio.run(_run_with_signals(engine, echo))
    finally:
        sandbox.close()


async def _run_with_signals(engine: Engine, echo: Echo) -> RunSummary:
    loop = asyncio.get_running_loop()
    presses = 0

    def on_interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            echo("Interrupted: finishing the evaluations in flight (Ctrl-C again to abandon them)")
            engine.request_stop("interrupted")
        else:
            echo("Abandoning the work in flight; stored proposals are re-evaluated on resume")
            engine.request_stop("interrupted", abandon=True)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_interrupt)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await engine.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def summary_lines(summary: RunSummary, db_hint: str) -> list[str]:
    best = summary.best
    statuses = ", ".join(f"{k.value}={v}" for k, v in sorted(summary.statuses.items()))
    lines = [
        f"Run {summary.run_id} stopped: {summary.stop_reason}",
        f"  best score   {best.score:.6g} (program {best.id}, iteration {best.iteration})"
        if best is not None and best.score is not None else "  best score   - (no valid program)",
        f"  test score   {best.test_score:.6g}"
        if best is not None and best.test_score is not None else "  test score   -",
        f"  evaluations  {summary.evaluations}   iterations {summary.iterations}",
        f"  statuses     {statuses}",
        f"  cost         ${summary.cost_usd:.4f}",
        f"  wall time    {summary.seconds:.1f} s",
    ]
    if best is not None:
        lines.append(f"  inspect      evolve show {best.id}{db_hint}")
    return lines
