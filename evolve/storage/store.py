"""``Store``: every read and write of the database, returning frozen ``evolve.types`` values.

Scores follow the rules of ``codec``: non-finite scores are stored (and returned) as None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from evolve.errors import NotFoundError, StorageError
from evolve.storage import convert, migrate
from evolve.storage.codec import encode_json, finite_or_none, now
from evolve.storage.engine import (
    WRITE,
    display_url,
    make_engine,
    one_line,
    resolve_url,
    session_scope,
)
from evolve.storage.models import EvaluationRow, EventRow, LLMCallRow, ProgramRow, RunRow
from evolve.types import Evaluation, Event, LLMCall, Program, Run, RunStatus, Status

_SCORE_COLUMNS = {"score", "test_score", "best_score", "eval_seconds"}
_JSON_COLUMNS = {"config", "metrics", "test_metrics", "features", "prompt", "data"}
_RUN_FIELDS = {f.name for f in dataclasses.fields(Run)} - {"id"}
_PROGRAM_FIELDS = {f.name for f in dataclasses.fields(Program)} - {"id"}
_LLM_FIELDS = {f.name for f in dataclasses.fields(LLMCall)} - {"id"}
_SORT_KEYS = ("score", "test_score")


def _column_values(fields: dict[str, Any], allowed: set[str], what: str) -> dict[str, Any]:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"{what} has no field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _SCORE_COLUMNS:
            value = finite_or_none(value)
        elif key in _JSON_COLUMNS:
            value = encode_json(value if value is not None else {})
        elif isinstance(value, Status | RunStatus):
            value = value.value
        values[key] = value
    return values


class Store:
    """A database of runs. Open with ``Store.open(url)``; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.display = display_url(url)
        self.engine = make_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE: True}), expire_on_commit=False
        )
        self._problems: dict[int, str] = {}  # run id -> problem, for add_program

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating an empty database at the newest revision); refuse old revisions."""
        store = cls(resolve_url(url))
        try:
            store._prepare()
        except BaseException:
            store.close()
            raise
        return store

    def _prepare(self) -> None:
        try:
            if migrate.current_revision(self.engine) is None and not migrate.has_tables(
                self.engine
            ):
                try:
                    migrate.upgrade(self.engine)
                except SQLAlchemyError:
                    # Another process may have created it at the same moment; the revision
                    # check below tells whether that is what happened.
                    pass
            migrate.check_revision(self.engine, self.display)
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot open database {self.display}: {one_line(exc)}; check --db / EVOLVE_DB"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reading(self) -> AbstractContextManager[Session]:
        return session_scope(self._read, self.display)

    def _writing(self) -> AbstractContextManager[Session]:
        """A transaction that takes SQLite's write lock at BEGIN (see engine._on_begin)."""
        return session_scope(self._write, self.display)

    @staticmethod
    def _get(session: Session, model: type[Any], ident: int, what: str) -> Any:
        row = session.get(model, ident)
        if row is None:
            raise NotFoundError(f"no {what} with id {ident}; list them with `evolve runs`")
        return row

    # ---- runs ----------------------------------------------------------------------------

    def create_run(self, problem: str, config: dict[str, Any], seed: int) -> Run:
        with self._writing() as s:
            row = RunRow(
                problem=problem,
                status=RunStatus.RUNNING.value,
                config=encode_json(config),
                seed=seed,
                started_at=now(),
                iterations=0,
                evaluations=0,
                cost_usd=0.0,
            )
            s.add(row)
            s.flush()
            return convert.run(row)

    def get_run(self, run_id: int) -> Run:
        with self._reading() as s:
            return convert.run(self._get(s, RunRow, run_id, "run"))

    def list_runs(
        self, problem: str | None = None, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        """Newest first."""
        query = select(RunRow).order_by(RunRow.id.desc())
        if problem is not None:
            query = query.where(RunRow.problem == problem)
        if status is not None:
            query = query.where(RunRow.status == RunStatus(status).value)
        if limit is not None:
            query = query.limit(limit)
        with self._reading() as s:
            return [convert.run(r) for r in s.scalars(query)]

    def update_run(self, run_id: int, **fields: Any) -> Run:
        values = _column_values(fields, _RUN_FIELDS, "Run")
        if "status" in values:
            values["status"] = RunStatus(values["status"]).value
        with self._writing() as s:
            row = self._get(s, RunRow, run_id, "run")
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return convert.run(row)

    # ---- programs ------------------------------------------------------------------------

    def add_program(
        self,
        run_id: int,
        code: str,
        code_hash: str,
        status: Status,
        iteration: int,
        **fields: Any,
    ) -> Program:
        values = _column_values(fields, _PROGRAM_FIELDS, "Program")
        values.setdefault("created_at", now())
        for key in ("metrics", "test_metrics", "features"):
            values.setdefault(key, {})
        with self._writing() as s:
            problem = self._problems.get(run_id)
            if problem is None:  # a run's problem never changes: look it up once
                problem = self._problems[run_id] = self._get(s, RunRow, run_id, "run").problem
            row = ProgramRow(
                run_id=run_id,
                problem=problem,
                code=code,
                code_hash=code_hash,
                status=Status(status).value,
                iteration=iteration,
                **values,
            )
            s.add(row)
            s.flush()
            return convert.program(row)

    def update_program(self, program_id: int, **fields: Any) -> Program:
        values = _column_values(fields, _PROGRAM_FIELDS - {"run_id"}, "Program")
        if "status" in values:
            values["status"] = Status(values["status"]).value
        with self._writing() as s:
            row = self._get(s, ProgramRow, program_id, "program")
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return convert.program(row)

    def get_program(self, program_id: int) -> Program:
        with self._reading() as s:
            return convert.program(self._get(s, ProgramRow, program_id, "program"))

    def programs(self, run_id: int, statuses: Iterable[Status] | None = None) -> list[Program]:
        """A run's programs in insertion order, optionally only those with ``statuses``."""
        query = select(ProgramRow).where(ProgramRow.run_id == run_id).order_by(ProgramRow.id)
        if statuses is not None:
            query = query.where(ProgramRow.status.in_([Status(x).value for x in statuses]))
        with self._reading() as s:
            return [convert.program(r) for r in s.scalars(query)]

    def find_by_hash(self, run_id: int, code_hash: str) -> Program | None:
        """The first program of the run with this normalised-code hash."""
        query = (
            select(ProgramRow)
            .where(ProgramRow.run_id == run_id, ProgramRow.code_hash == code_hash)
            .order_by(ProgramRow.id)
            .limit(1)
        )
        with self._reading() as s:
            row = s.scalars(query).first()
            return convert.program(row) if row is not None else None

    def best_programs(
        self,
        problem: str | None = None,
        run_id: int | None = None,
        limit: int = 10,
        by: str = "score",
    ) -> list[Program]:
        """COMPLETE programs with a ``by`` value, best (highest) first; ties: oldest first."""
        if by not in _SORT_KEYS:
            raise StorageError(
                f"cannot rank programs by '{by}': use one of {', '.join(_SORT_KEYS)}"
            )
        column = getattr(ProgramRow, by)
        query = select(ProgramRow).where(
            ProgramRow.status == Status.COMPLETE.value, column.is_not(None)
        )
        if problem is not None:
            query = query.where(ProgramRow.problem == problem)
        if run_id is not None:
            query = query.where(ProgramRow.run_id == run_id)
        query = query.order_by(column.desc(), ProgramRow.id).limit(limit)
        with self._reading() as s:
            return [convert.program(r) for r in s.scalars(query)]

    def max_iteration(self, run_id: int) -> int:
        query = select(func.max(ProgramRow.iteration)).where(ProgramRow.run_id == run_id)
        with self._reading() as s:
            value = s.scalar(query)
            return -1 if value is None else int(value)

    def count_programs(self, run_id: int) -> dict[Status, int]:
        """Programs per status; statuses with none are left out."""
        query = (
            select(ProgramRow.status, func.count())
            .where(ProgramRow.run_id == run_id)
            .group_by(ProgramRow.status)
        )
        with self._reading() as s:
            return {Status(status): int(n) for status, n in s.execute(query)}

    # ---- evaluations ---------------------------------------------------------------------

    def add_evaluation(
        self,
        program_id: int,
        stage: str,
        status: Status,
        score: float | None,
        metrics: dict[str, float],
        feedback: str,
        seconds: float,
    ) -> Evaluation:
        with self._writing() as s:
            self._get(s, ProgramRow, program_id, "program")
            row = EvaluationRow(
                program_id=program_id,
                stage=stage,
                status=Status(status).value,
                score=finite_or_none(score),
                metrics=encode_json(metrics),
                feedback=feedback,
                seconds=float(seconds),
                created_at=now(),
            )
            s.add(row)
            s.flush()
            return convert.evaluation(row)

    def evaluations(self, program_id: int) -> list[Evaluation]:
        query = (
            select(EvaluationRow)
            .where(EvaluationRow.program_id == program_id)
            .order_by(EvaluationRow.id)
        )
        with self._reading() as s:
            return [convert.evaluation(r) for r in s.scalars(query)]

    # ---- LLM calls -----------------------------------------------------------------------

    def add_llm_call(
        self, run_id: int | None, model: str, provider: str, status: str, **fields: Any
    ) -> LLMCall:
        values = _column_values(fields, _LLM_FIELDS - {"run_id"}, "LLMCall")
        values.setdefault("created_at", now())
        values.setdefault("prompt", [])
        with self._writing() as s:
            row = LLMCallRow(run_id=run_id, model=model, provider=provider, status=status, **values)
            s.add(row)
            s.flush()
            return convert.llm_call(row)

    def llm_calls(self, run_id: int) -> list[LLMCall]:
        query = select(LLMCallRow).where(LLMCallRow.run_id == run_id).order_by(LLMCallRow.id)
        with self._reading() as s:
            return [convert.llm_call(r) for r in s.scalars(query)]

    def find_llm_response(self, request_hash: str, run_id: int | None = None) -> LLMCall | None:
        """The newest successful call with this request hash (for replay without network)."""
        query = select(LLMCallRow).where(
            LLMCallRow.request_hash == request_hash, LLMCallRow.status == "ok"
        )
        if run_id is not None:
            query = query.where(LLMCallRow.run_id == run_id)
        query = query.order_by(LLMCallRow.id.desc()).limit(1)
        with self._reading() as s:
            row = s.scalars(query).first()
            return convert.llm_call(row) if row is not None else None

    def run_cost(self, run_id: int) -> float:
        """USD spent on LLM calls of the run."""
        query = select(func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0)).where(
            LLMCallRow.run_id == run_id
        )
        with self._reading() as s:
            return float(s.scalar(query) or 0.0)

    # ---- events --------------------------------------------------------------------------

    def add_event(
        self, run_id: int, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> Event:
        with self._writing() as s:
            row = EventRow(
                run_id=run_id,
                kind=kind,
                message=message,
                data=encode_json(data or {}),
                created_at=now(),
            )
            s.add(row)
            s.flush()
            return convert.event(row)

    def events(self, run_id: int) -> list[Event]:
        query = select(EventRow).where(EventRow.run_id == run_id).order_by(EventRow.id)
        with self._reading() as s:
            return [convert.event(r) for r in s.scalars(query)]
