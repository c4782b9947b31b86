"""Covering indexes for the leaderboard: "evaluations until found" and "cost until found"
read only an index, and the all-problems ranking walks (status, score). The two indexes
they extend become redundant and are dropped.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_programs_run_id_iteration_status", "programs", ["run_id", "iteration", "status"]
    )
    op.drop_index("ix_programs_run_id_iteration", table_name="programs")
    op.create_index("ix_programs_status_score", "programs", ["status", "score"])
    op.create_index(
        "ix_llm_calls_run_id_created_at", "llm_calls", ["run_id", "created_at", "cost_usd"]
    )
    op.drop_index("ix_llm_calls_run_id", table_name="llm_calls")


def downgrade() -> None:
    op.create_index("ix_llm_calls_run_id", "llm_calls", ["run_id"])
    op.drop_index("ix_llm_calls_run_id_created_at", table_name="llm_calls")
    op.drop_index("ix_programs_status_score", table_name="programs")
    op.create_index("ix_programs_run_id_iteration", "programs", ["run_id", "iteration"])
    op.drop_index("ix_programs_run_id_iteration_status", table_name="programs")
