"""ORM row -> frozen value. The only place that reads row attributes for callers."""

from __future__ import annotations

from evolve.storage.codec import decode_json, utc
from evolve.storage.models import EvaluationRow, EventRow, LLMCallRow, ProgramRow, RunRow
from evolve.types import Evaluation, Event, LLMCall, Program, Run, RunStatus, Status


def run(row: RunRow) -> Run:
    started = utc(row.started_at)
    assert started is not None
    return Run(
        id=row.id,
        problem=row.problem,
        status=RunStatus(row.status),
        config=decode_json(row.config),
        seed=row.seed,
        started_at=started,
        finished_at=utc(row.finished_at),
        stop_reason=row.stop_reason,
        iterations=row.iterations,
        evaluations=row.evaluations,
        best_score=row.best_score,
        best_program_id=row.best_program_id,
        cost_usd=row.cost_usd,
    )


def program(row: ProgramRow) -> Program:
    return Program(
        id=row.id,
        run_id=row.run_id,
        code=row.code,
        code_hash=row.code_hash,
        status=Status(row.status),
        iteration=row.iteration,
        generation=row.generation,
        island=row.island,
        parent_id=row.parent_id,
        other_parent_id=row.other_parent_id,
        proposer=row.proposer,
        template=row.template,
        edit=row.edit,
        reason=row.reason,
        score=row.score,
        metrics=decode_json(row.metrics or {}),
        feedback=row.feedback,
        test_score=row.test_score,
        test_metrics=decode_json(row.test_metrics or {}),
        features=decode_json(row.features or {}),
        eval_seconds=row.eval_seconds,
        llm_call_id=row.llm_call_id,
        created_at=utc(row.created_at),
        evaluated_at=utc(row.evaluated_at),
    )


def evaluation(row: EvaluationRow) -> Evaluation:
    return Evaluation(
        id=row.id,
        program_id=row.program_id,
        stage=row.stage,
        status=Status(row.status),
        score=row.score,
        metrics=decode_json(row.metrics or {}),
        feedback=row.feedback,
        seconds=row.seconds,
        created_at=utc(row.created_at),
    )


def llm_call(row: LLMCallRow) -> LLMCall:
    return LLMCall(
        id=row.id,
        run_id=row.run_id,
        model=row.model,
        provider=row.provider,
        status=row.status,
        template=row.template,
        template_hash=row.template_hash,
        request_hash=row.request_hash,
        prompt=decode_json(row.prompt or []),
        response=row.response,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        latency_s=row.latency_s,
        error=row.error,
        created_at=utc(row.created_at),
    )


def event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        run_id=row.run_id,
        kind=row.kind,
        message=row.message,
        data=decode_json(row.data or {}),
        created_at=utc(row.created_at),
    )
