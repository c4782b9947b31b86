"""Click helpers shared by every command that touches the database.

Commands import this module at invocation time only (the registry in ``main`` is lazy), and
it imports ``evolve.storage`` inside ``open_store`` so that ``evolve --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from evolve.storage import Store

F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = "Database URL or SQLite file (default: $EVOLVE_DB, else ./evolve.db)."


def db_option(func: F) -> F:
    """``--db URL`` (also read from ``EVOLVE_DB``); passes ``db: str | None`` to the command."""
    return click.option(
        "--db", "db", default=None, metavar="URL", envvar="EVOLVE_DB", help=DB_HELP
    )(func)


def open_store(db: str | None) -> Store:
    """Open the store named by ``--db`` (a URL or a plain file path), refusing old revisions."""
    from evolve.storage import Store

    return Store.open(db)
