"""`evolve eval PROBLEM [PROGRAM.py]`: score one program file exactly as a run would.

Exit status: 0 when the program is COMPLETE, 2 when it is INVALID, TIMEOUT or FAILED (the
evaluation itself worked, the program did not), 1 for a usage or problem error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

if TYPE_CHECKING:
    from evolve.evaluation import ProgramOutcome, Split


def _plain(x: float) -> float | str | None:
    # JSON has no inf/nan; keep the object parseable by any reader.
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def outcome_json(outcome: ProgramOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "score": None if outcome.score is None else _plain(outcome.score),
        "metrics": {k: _plain(v) for k, v in outcome.metrics.items()},
        "feedback": outcome.feedback,
        "seconds": round(outcome.seconds, 4),
    }


def _print_table(problem: str, program: str, split: str, outcome: ProgramOutcome) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    colour = "green" if outcome.status.value == "COMPLETE" else "red"
    score = "-" if outcome.score is None else f"{outcome.score:.6g}"
    console.print(
        f"[bold]{problem}[/bold] {program} ({split}): [{colour}]{outcome.status.value}[/{colour}]"
        f"  score {score}  in {outcome.seconds:.2f}s"
    )
    if outcome.metrics:
        table = Table("metric", "value")
        for name, value in outcome.metrics.items():
            table.add_row(name, f"{value:.6g}")
        console.print(table)
    if outcome.stages:
        stages = ", ".join(f"{s.stage} {s.seconds:.2f}s" for s in outcome.stages)
        console.print(f"stages: {stages}")
    if outcome.feedback:
        console.print(outcome.feedback, markup=False, highlight=False)


@click.command(name="eval")
@click.argument("problem")
@click.argument(
    "program", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--split",
    type=click.Choice(["train", "test", "cascade"]),
    default="train",
    show_default=True,
    help="train: the full train set; test: the held-out set; cascade: stop at the first "
    "stage below its threshold, as a run does.",
)
@click.option(
    "--instances",
    "instances",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Score on your own instances (a JSON list of objects) instead of a split.",
)
@click.option(
    "--sandbox",
    "sandbox_kind",
    type=click.Choice(["auto", "docker", "process"]),
    default="auto",
    show_default=True,
    help="Where the candidate runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def eval_cmd(
    problem: str,
    program: Path | None,
    split: str,
    instances: Path | None,
    sandbox_kind: str,
    as_json: bool,
) -> None:
    """Score PROGRAM (default: the problem's seed) on PROBLEM and print its metrics."""
    from evaluators.problem import load_verifier
    from evolve.evaluation import evaluate_program
    from evolve.problems import find_problem
    from sandbox.select import make_sandbox

    spec = find_problem(problem)
    path = program if program is not None else spec.seed_path
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    verifier = load_verifier(spec)
    sandbox = make_sandbox(sandbox_kind)
    try:
        outcome = evaluate_program(
            spec, verifier, sandbox, code, split=cast("Split", split), instances_file=instances
        )
    finally:
        sandbox.close()
    if as_json:
        click.echo(json.dumps(outcome_json(outcome)))
    else:
        label = f"--instances {instances.name}" if instances is not None else split
        _print_table(spec.name, str(path), label, outcome)
    if outcome.status.value != "COMPLETE":
        raise click.exceptions.Exit(2)
