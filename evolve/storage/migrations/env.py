"""Alembic environment: always run from ``evolve.storage.migrate`` with a live connection.

There is no alembic.ini; ``migrate.alembic_config`` builds the Config in code and passes the
connection in ``config.attributes`` so that migrations share the caller's engine settings
(WAL, busy timeout, in-memory StaticPool).
"""

from __future__ import annotations

from alembic import context

from evolve.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `evolve db upgrade`, not the alembic command")

# render_as_batch: SQLite cannot ALTER most things, so later migrations copy tables instead.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
