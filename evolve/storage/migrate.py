"""Alembic, driven from code: revision checks and upgrades for ``Store`` and ``evolve db``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from evolve.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "evolve ships at least one migration"
    return head


def known_revisions() -> list[str]:
    """Every revision this evolve knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``'s database."""
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def check_revision(engine: Engine, display: str) -> None:
    """Refuse a database this evolve cannot use, naming the command that fixes it."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise StorageError(
            f"database {display} has tables but no evolve revision: it is not an evolve "
            "database; point --db / EVOLVE_DB at another file"
        )
    if current in known_revisions():
        raise StorageError(
            f"database {display} is at revision {current}, this evolve needs {head}: "
            f"run `evolve db upgrade --db {display}`"
        )
    raise StorageError(
        f"database {display} is at revision {current}, newer than this evolve ({head}): "
        "upgrade evolve (pip install -U evolve) or use another database"
    )
