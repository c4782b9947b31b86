"""`evolve runs`: the runs in a database, newest first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from evolve.cli.common import db_option, open_store

if TYPE_CHECKING:
    from rich.console import JustifyMethod

_STATUSES = ("RUNNING", "FINISHED", "INTERRUPTED", "FAILED")


def _row(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "problem": run.problem,
        "status": run.status.value,
        "started": run.started_at.isoformat(timespec="seconds"),
        "iterations": run.iterations,
        "best_score": run.best_score,
        "cost_usd": run.cost_usd,
    }


@click.command(name="runs")
@click.option("--problem", default=None, help="Only runs of this problem.")
@click.option(
    "--status",
    type=click.Choice(_STATUSES, case_sensitive=False),
    default=None,
    help="Only runs in this state.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
def runs(
    problem: str | None, status: str | None, limit: int | None, as_json: bool, db: str | None
) -> None:
    """List runs in the database: id, problem, status, started, iterations, best score, cost."""
    from evolve.types import RunStatus

    store = open_store(db)
    try:
        found = store.list_runs(
            problem=problem, status=RunStatus(status.upper()) if status else None, limit=limit
        )
    finally:
        store.close()
    rows = [_row(r) for r in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs in {store.display}; start one with `evolve run PROBLEM`")
        return
    _print_table(rows)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    columns: list[tuple[str, JustifyMethod]] = [
        ("id", "right"),
        ("problem", "left"),
        ("status", "left"),
        ("started (UTC)", "left"),
        ("iterations", "right"),
        ("best score", "right"),
        ("cost $", "right"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for r in rows:
        best = "-" if r["best_score"] is None else f"{r['best_score']:.6g}"
        table.add_row(
            str(r["id"]),
            r["problem"],
            r["status"],
            r["started"].replace("T", " ")[:19],
            str(r["iterations"]),
            best,
            f"{r['cost_usd']:.4f}",
        )
    Console(width=120).print(table)
