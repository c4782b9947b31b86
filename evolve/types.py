"""Frozen value types shared by the engine, storage, proposers and the CLI.

Storage returns these and never ORM rows, so nothing outside ``evolve.storage`` can
accidentally lazy-load or mutate the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Lifecycle of one program (one proposal)."""

    PENDING = "PENDING"  # stored, not yet evaluated
    RUNNING = "RUNNING"  # evaluation in progress
    COMPLETE = "COMPLETE"  # evaluated and valid
    INVALID = "INVALID"  # evaluated; an answer broke the rules or the candidate raised
    FAILED = "FAILED"  # proposer or sandbox failure (not the candidate's fault)
    TIMEOUT = "TIMEOUT"  # the candidate exceeded its time limit
    EDIT_FAILED = "EDIT_FAILED"  # the proposal could not be applied to the parent
    DUPLICATE = "DUPLICATE"  # same normalised code as an earlier program; not evaluated

    @property
    def finished(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"  # a budget or target stopped it cleanly
    INTERRUPTED = "INTERRUPTED"  # Ctrl-C; resumable
    FAILED = "FAILED"  # an unexpected error; resumable


@dataclass(frozen=True)
class Run:
    id: int
    problem: str
    status: RunStatus
    config: dict[str, Any]
    seed: int
    started_at: datetime
    finished_at: datetime | None = None
    stop_reason: str | None = None
    iterations: int = 0
    evaluations: int = 0
    best_score: float | None = None
    best_program_id: int | None = None
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Program:
    id: int
    run_id: int
    code: str
    code_hash: str
    status: Status
    iteration: int
    generation: int = 0
    island: int = 0
    parent_id: int | None = None
    other_parent_id: int | None = None
    proposer: str = "seed"
    template: str | None = None
    edit: str | None = None
    reason: str | None = None  # why INVALID/FAILED/EDIT_FAILED/...: fed to the next prompt
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str | None = None
    test_score: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    eval_seconds: float | None = None
    llm_call_id: int | None = None
    created_at: datetime | None = None
    evaluated_at: datetime | None = None


@dataclass(frozen=True)
class Evaluation:
    """One cascade stage (or the held-out test set) of one program."""

    id: int
    program_id: int
    stage: str
    status: Status
    score: float | None
    metrics: dict[str, float]
    feedback: str
    seconds: float
    created_at: datetime | None = None


@dataclass(frozen=True)
class LLMCall:
    id: int
    run_id: int | None
    model: str
    provider: str
    status: str  # "ok" or "error"
    template: str | None = None
    template_hash: str | None = None
    request_hash: str | None = None
    prompt: list[dict[str, str]] = field(default_factory=list)
    response: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    error: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    id: int
    run_id: int
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
