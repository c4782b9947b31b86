"""`evolve report RUN -o report.html`."""

from __future__ import annotations

from pathlib import Path

import click

from evolve.cli.common import db_option, open_store


@click.command(name="report")
@click.argument("run_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, help="HTML file to write.")
@db_option
def report(run_id: int, output: Path, db: str | None) -> None:
    """Write a self-contained HTML report of RUN_ID: best and median score against
    evaluations and USD, statuses over time, the champion's lineage, yield per proposer and
    per template, and the top programs. It embeds plotly.js and opens offline."""
    from evolve.errors import EvolveError
    from evolve.report import build_report

    store = open_store(db)
    try:
        text = build_report(store, run_id)
    finally:
        store.close()
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EvolveError(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {output} ({len(text) / 1e6:.1f} MB); open it in a browser")
