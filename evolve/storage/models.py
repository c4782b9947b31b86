"""SQLAlchemy 2.0 models: the schema of runs, programs, evaluations, LLM calls and events.

These classes never leave ``evolve.storage``; ``Store`` converts rows to the frozen types of
``evolve.types``. The Alembic migrations in ``migrations/versions`` must produce exactly this
schema (a test compares them), so change both together.

Enums are stored as plain strings rather than database ENUM types: adding a status later is
then a code change, not a migration that rewrites a type on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names keep migrations deterministic across SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    pass


Base.metadata.naming_convention = NAMING

_TS = DateTime(timezone=True)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(_TS)
    finished_at: Mapped[datetime | None] = mapped_column(_TS)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    iterations: Mapped[int] = mapped_column(Integer, default=0)
    evaluations: Mapped[int] = mapped_column(Integer, default=0)
    best_score: Mapped[float | None] = mapped_column(Float)
    # No foreign key: programs reference runs, and a cycle would complicate deletes.
    best_program_id: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_runs_problem", "problem"),)


class ProgramRow(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    # Denormalised from runs.problem so a leaderboard over every run of a problem is one
    # index range scan with no join.
    problem: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    iteration: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    island: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    other_parent_id: Mapped[int | None] = mapped_column(Integer)
    proposer: Mapped[str] = mapped_column(String(64), default="seed")
    template: Mapped[str | None] = mapped_column(String(200))
    edit: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[str | None] = mapped_column(Text)
    test_score: Mapped[float | None] = mapped_column(Float)
    test_metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    eval_seconds: Mapped[float | None] = mapped_column(Float)
    llm_call_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(_TS)
    evaluated_at: Mapped[datetime | None] = mapped_column(_TS)

    __table_args__ = (
        Index("ix_programs_run_id_score", "run_id", "score"),
        Index("ix_programs_run_id_test_score", "run_id", "test_score"),
        Index("ix_programs_run_id_code_hash", "run_id", "code_hash"),
        Index("ix_programs_problem_score", "problem", "score"),
        Index("ix_programs_problem_test_score", "problem", "test_score"),
        # Added by migration 0002.
        Index("ix_programs_run_id_status", "run_id", "status"),
        # Added by migration 0003 (the leaderboard's covering indexes).
        Index("ix_programs_run_id_iteration_status", "run_id", "iteration", "status"),
        Index("ix_programs_status_score", "status", "score"),
    )


class EvaluationRow(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[str] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(_TS)

    __table_args__ = (Index("ix_evaluations_program_id", "program_id"),)


class LLMCallRow(Base):
    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(200))
    template_hash: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(128))
    prompt: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS)

    __table_args__ = (
        Index("ix_llm_calls_request_hash", "request_hash"),
        # Added by migration 0003: "cost until found" reads only this index.
        Index("ix_llm_calls_run_id_created_at", "run_id", "created_at", "cost_usd"),
    )


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(_TS)

    __table_args__ = (Index("ix_events_run_id", "run_id"),)
