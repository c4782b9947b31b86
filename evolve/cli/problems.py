"""`evolve problems list|show` and `evolve init NAME`."""

from __future__ import annotations

from pathlib import Path

import click

_DIR_HELP = "Also look here: a problem folder or a folder of problem folders (repeatable)."


@click.group(name="problems")
def problems() -> None:
    """List and show problems."""


@problems.command(name="list")
@click.option("--dir", "dirs", multiple=True, type=click.Path(path_type=Path), help=_DIR_HELP)
def list_cmd(dirs: tuple[Path, ...]) -> None:
    """Built-in problems, then those found under --dir: name, description, source."""
    from rich.console import Console
    from rich.table import Table

    from evolve.problems import list_problems

    specs = list_problems(dirs)
    table = Table(box=None, header_style="bold")
    table.add_column("name")
    table.add_column("description")
    table.add_column("source")
    for spec in specs:
        where = "builtin" if spec.source == "builtin" else str(spec.dir)
        table.add_row(spec.name, spec.description, where)
    Console(width=160).print(table)


@problems.command(name="show")
@click.argument("name")
@click.option("--dir", "dirs", multiple=True, type=click.Path(path_type=Path), help=_DIR_HELP)
@click.option("--no-baselines", is_flag=True, help="Do not score (or read cached) baselines.")
@click.option("--sandbox", type=click.Choice(["auto", "docker", "process"]), default="auto",
              show_default=True, help="Where baselines are scored the first time.")
def show_cmd(name: str, dirs: tuple[Path, ...], no_baselines: bool, sandbox: str) -> None:
    """One problem: folder, verifier, entry points, cascade stages, run defaults, and its
    baselines' train and held-out test scores (scored once, then cached)."""
    from evolve.problems import find_problem

    spec = find_problem(name, dirs)
    click.echo(f"{spec.name}: {spec.description}")
    click.echo(f"  folder     {spec.dir} ({spec.source})")
    click.echo(f"  verifier   {spec.verifier.cls}")
    click.echo(f"  direction  {spec.direction}")
    for entry in spec.entry_points:
        click.echo(f"  entry      {entry.signature}")
    stages = ", ".join(
        f"{s.name}({s.instances or 'all'}{f', >= {s.threshold}' if s.threshold is not None else ''})"
        for s in spec.stages
    )
    click.echo(f"  stages     {stages}")
    if spec.run_defaults:
        defaults = ", ".join(f"{k}={v}" for k, v in spec.run_defaults.items())
        click.echo(f"  defaults   {defaults}")
    if no_baselines or not spec.baseline_files():
        return
    from evolve.baselines import baselines

    rows = baselines(spec, sandbox_kind=sandbox)
    names = spec.main_metrics or []
    click.echo("  baselines  (score: higher is better; test = held-out instances)")
    for row in rows:
        if row.score is None or row.test_score is None:
            click.echo(f"    {row.name:<16} {row.status}: {row.reason or ''}")
            continue
        extra = "  ".join(
            f"{m} {row.test_metrics[m]:.4g}" for m in names if m in row.test_metrics
        )
        click.echo(f"    {row.name:<16} train {row.score:>10.4g}   test {row.test_score:>10.4g}"
                   f"   {extra}".rstrip())


@click.command(name="init")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Create the problem folder inside this folder.",
)
def init(name: str, parent: Path) -> None:
    """Scaffold a new problem folder: problem.yaml, seed.py, README.md, verifier.py."""
    from evolve.problems import find_problem
    from evolve.scaffold import scaffold

    folder = scaffold(name, parent)
    spec = find_problem(str(folder))  # prove the scaffold loads before telling the user
    click.echo(f"created problem '{spec.name}' in {folder}")
    click.echo("  edit verifier.py (instances, answer check, score), seed.py and README.md;")
    click.echo(f"  check it with `evolve problems list --dir {parent}`")
