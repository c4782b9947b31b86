"""`evolve db`: show and upgrade the schema revision of a database."""

from __future__ import annotations

import click

from evolve.cli.common import db_option


@click.group(name="db")
def db() -> None:
    """Database maintenance (migrations)."""


@db.command()
@db_option
@click.option(
    "--revision", default="head", show_default=True, help="Target revision (normally the newest)."
)
def upgrade(db: str | None, revision: str) -> None:
    """Bring the database to the schema this evolve needs (creating it if missing)."""
    from sqlalchemy.exc import SQLAlchemyError

    from evolve.errors import StorageError
    from evolve.storage import migrate
    from evolve.storage.engine import display_url, make_engine, one_line, resolve_url

    url = resolve_url(db)
    shown = display_url(url)
    engine = make_engine(url)
    try:
        before = migrate.current_revision(engine)
        if before is None and migrate.has_tables(engine):
            raise StorageError(
                f"database {shown} has tables but no evolve revision: it is not an evolve "
                "database; refusing to touch it"
            )
        try:
            migrate.upgrade(engine, revision)
        except Exception as exc:
            # Alembic reports an unknown target revision with its own exception types.
            if isinstance(exc, SQLAlchemyError):
                raise
            raise StorageError(f"cannot upgrade {shown} to '{revision}': {exc}") from exc
        after = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot upgrade database {shown}: {one_line(exc)}") from exc
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"database {shown} is already at revision {after}")
    else:
        click.echo(f"database {shown} upgraded from {before or 'empty'} to {after}")


@db.command()
@db_option
def current(db: str | None) -> None:
    """Print the database's revision and the one this evolve needs."""
    from evolve.storage import migrate
    from evolve.storage.engine import display_url, make_engine, resolve_url

    url = resolve_url(db)
    engine = make_engine(url)
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = (
        "up to date" if revision == head else f"needs `evolve db upgrade --db {display_url(url)}`"
    )
    click.echo(f"{display_url(url)}: revision {revision or 'none'} (evolve needs {head}; {state})")
