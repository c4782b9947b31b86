"""Index programs by (run_id, status): the engine counts and filters a run's programs by
status on every resume and every progress line.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_programs_run_id_status", "programs", ["run_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_programs_run_id_status", table_name="programs")
