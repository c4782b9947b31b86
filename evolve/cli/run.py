"""`evolve run` and `evolve resume`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from evolve.cli.common import db_option

_SANDBOXES = click.Choice(["auto", "docker", "process"])


def _budget_options(func: Any) -> Any:
    options = [
        click.option("--iterations", type=int, help="Stop after this many proposals."),
        click.option("--max-evaluations", type=int,
                     help="Stop after this many sandbox evaluations (default 1000)."),
        click.option("--budget-usd", type=float, help="Stop before LLM spend crosses this."),
        click.option("--time-limit", help="Wall-clock limit, e.g. 90m, 2h, 3600."),
        click.option("--target-score", type=float, help="Stop once the best score reaches it."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override any config key, e.g. --set population.islands=2."),
        click.option("--sandbox", type=_SANDBOXES, help="Where candidates run (default auto)."),
        click.option("--quiet", is_flag=True, help="No progress display."),
        db_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command(name="run")
@click.argument("problem")
@click.option("--model", "models", multiple=True, metavar="M",
              help="LLM to propose with (repeatable): a litellm name like openai/gpt-4o-mini, "
                   "or openai:NAME / anthropic:NAME for the native SDKs. None: offline mutator.")
@click.option("--replay", type=int, metavar="RUN_ID",
              help="Serve LLM responses recorded in RUN_ID instead of calling out.")
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--islands", type=int, help="Number of islands (default 4).")
@click.option("--concurrency", type=int, help="Proposals in flight (default 4).")
@click.option("--workers", type=int, help="Sandbox evaluations at once (default 2).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Run config YAML (see README).")
@click.option("--dir", "problem_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Extra folder to look for problems in.")
@click.option("--prompts", "prompts_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of prompt templates searched before the built-ins.")
@_budget_options
def run(problem: str, models: tuple[str, ...], replay: int | None, seed: int | None,
        islands: int | None, concurrency: int | None, workers: int | None,
        config_file: Path | None, problem_dirs: tuple[Path, ...], prompts_dir: Path | None,
        iterations: int | None,
        max_evaluations: int | None, budget_usd: float | None, time_limit: str | None,
        target_score: float | None, overrides: tuple[str, ...], sandbox: str | None,
        quiet: bool, db: str | None) -> None:
    """Start an evolution run on PROBLEM (a built-in name or a problem folder).

    \b
    Examples:
      evolve run smtt --max-evaluations 500
      evolve run smtt --model openai/gpt-4o-mini --budget-usd 2
      evolve run ./my_problem --config run.yaml --set population.islands=2
    """
    from evolve.launch import new_run

    cli: dict[str, Any] = {
        "seed": seed, "iterations": iterations, "max_evaluations": max_evaluations,
        "budget_usd": budget_usd, "time_limit": time_limit, "target_score": target_score,
        "concurrency": concurrency, "workers": workers, "sandbox": sandbox,
        "population.islands": islands, "llm.replay_run": replay,
        "prompts.dir": str(prompts_dir.resolve()) if prompts_dir else None,
    }
    if models:
        cli["models"] = [_model_entry(m) for m in models]
    prepared = new_run(problem, config_file=config_file, overrides=list(overrides), cli=cli,
                       db=db, problem_dirs=list(problem_dirs))
    if not prepared.config.models and prepared.config.llm.replay_run is None:
        click.echo("Proposer: offline mutator (no LLM). To use one: --model openai/gpt-4o-mini "
                   "(needs OPENAI_API_KEY) or see `evolve run --help`.")
    _execute(prepared, quiet)


@click.command(name="resume")
@click.argument("run_id", type=int)
@_budget_options
def resume(run_id: int, iterations: int | None, max_evaluations: int | None,
           budget_usd: float | None, time_limit: str | None, target_score: float | None,
           overrides: tuple[str, ...], sandbox: str | None, quiet: bool, db: str | None) -> None:
    """Continue RUN_ID from the database: a stopped, interrupted or crashed run.

    Budgets may be raised, e.g. `evolve resume 3 --max-evaluations 2000`.
    """
    from evolve.launch import existing_run

    cli = {"iterations": iterations, "max_evaluations": max_evaluations,
           "budget_usd": budget_usd, "time_limit": time_limit, "target_score": target_score,
           "sandbox": sandbox}
    prepared = existing_run(run_id, db=db, overrides=list(overrides), cli=cli)
    _execute(prepared, quiet)


def _model_entry(text: str) -> dict[str, Any]:
    if text == "offline":
        return {"name": "offline", "provider": "offline"}
    provider, sep, name = text.partition(":")
    if sep and provider in ("openai", "anthropic", "litellm", "offline"):
        return {"name": name, "provider": provider}
    return {"name": text, "provider": "litellm"}


def _execute(prepared: Any, quiet: bool) -> None:
    from evolve.launch import execute, summary_lines
    from evolve.progress import Progress

    db_hint = f" --db {prepared.store.display}"
    click.echo(f"Run {prepared.run.id}: {prepared.spec.name} "
               f"(database {prepared.store.display})")
    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    with Progress(enabled=not quiet, echo=echo) as progress:
        summary = execute(prepared, echo=echo, progress=progress)
    for line in summary_lines(summary, db_hint):
        click.echo(line)
    if summary.stop_reason == "interrupted":
        click.echo(f"Resume with: evolve resume {summary.run_id}{db_hint}")
        sys.exit(130)
