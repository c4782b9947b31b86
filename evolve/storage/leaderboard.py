"""Read-only queries behind `evolve leaderboard`, `show`, `lineage` and `report`.

``Store`` answers questions about one run; these answer questions across runs (the best
programs of a problem, filtered by model or prompt template) and about one program's past
(what was spent before it appeared, its ancestors). They return frozen values, never rows.

The leaderboard runs in two steps on purpose: one indexed query picks the ``top`` ids, and
only those few programs are then costed (LLM spend and evaluations up to their creation),
so the cost of a leaderboard does not grow with the size of the database.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from evolve.errors import NotFoundError, StorageError
from evolve.storage import convert
from evolve.storage.codec import utc
from evolve.storage.engine import session_scope
from evolve.storage.models import LLMCallRow, ProgramRow, RunRow
from evolve.types import LLMCall, Program, Status

if TYPE_CHECKING:
    from evolve.storage.store import Store

# Proposals that never reached a sandbox: they cost no evaluation.
NOT_EVALUATED = (Status.DUPLICATE.value, Status.EDIT_FAILED.value)
COLUMN_KEYS = ("score", "test_score")
# From this many listed programs of one run, one pass over the run beats one query each.
BATCH_FROM = 10


@dataclass(frozen=True)
class LeaderboardQuery:
    problem: str | None = None
    run_id: int | None = None
    top: int = 10
    by: str = "score"  # "score", "test_score" or the name of a metric
    ascending: bool = False  # for metrics where lower is better (a gap, a runtime)
    model: str | None = None  # LLM model (or proposer name) that wrote the program
    template_hash: str | None = None  # prefix of the producing call's template hash
    statuses: tuple[Status, ...] = (Status.COMPLETE,)


@dataclass(frozen=True)
class Entry:
    """One program on the leaderboard, with what it took to find it."""

    program: Program
    problem: str
    model: str | None
    template_hash: str | None
    cost_usd: float  # LLM spend of its run up to (and including) its creation
    evaluations: int  # programs of its run evaluated up to its iteration
    sort_value: float | None


@contextmanager
def _reading(store: Store) -> Iterator[Session]:
    with session_scope(sessionmaker(store.engine), store.display) as session:
        yield session


def _sort_expression(by: str) -> Any:
    if by in COLUMN_KEYS:
        return getattr(ProgramRow, by)
    if not by.replace("_", "").replace(".", "").isalnum():
        raise StorageError(
            f"cannot rank programs by '{by}': use score, test_score or a metric name"
        )
    # JSON path lookup: json_extract on SQLite, ->> on PostgreSQL.
    return ProgramRow.metrics[by].as_float()


def leaderboard(store: Store, query: LeaderboardQuery) -> list[Entry]:
    """The ``query.top`` best programs, best first (ties: oldest first).

    With only COMPLETE programs asked for, those without the ranking value are left out;
    with other statuses they are listed after the ranked ones."""
    key = _sort_expression(query.by)
    order = key.asc() if query.ascending else key.desc()
    stmt = select(ProgramRow.id, key.label("sort_value"))
    if query.statuses:
        stmt = stmt.where(ProgramRow.status.in_([Status(s).value for s in query.statuses]))
    if query.problem is not None:
        stmt = stmt.where(ProgramRow.problem == query.problem)
    if query.run_id is not None:
        stmt = stmt.where(ProgramRow.run_id == query.run_id)
    if query.model is not None or query.template_hash is not None:
        stmt = stmt.outerjoin(LLMCallRow, LLMCallRow.id == ProgramRow.llm_call_id)
        if query.model is not None:
            stmt = stmt.where(
                or_(LLMCallRow.model == query.model, ProgramRow.proposer == query.model)
            )
        if query.template_hash is not None:
            stmt = stmt.where(LLMCallRow.template_hash.startswith(query.template_hash))
    if set(query.statuses) == {Status.COMPLETE}:
        # Ranking by a value leaves out programs that lack it (no test score yet).
        stmt = stmt.where(key.is_not(None)).order_by(order, ProgramRow.id)
    else:
        # Failed programs have no score: list them after the scored ones. The CASE keeps
        # NULLs last on every backend (SQLite and PostgreSQL disagree on their default).
        stmt = stmt.order_by(case((key.is_(None), 1), else_=0), order, ProgramRow.id)
    stmt = stmt.limit(query.top)
    with _reading(store) as s:
        picked = [(int(i), _float(v)) for i, v in s.execute(stmt)]
        return _entries(s, picked) if picked else []


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _entries(s: Session, picked: list[tuple[int, float | None]]) -> list[Entry]:
    ids = [pid for pid, _ in picked]
    rows = {r.id: r for r in s.scalars(select(ProgramRow).where(ProgramRow.id.in_(ids)))}
    call_ids = [r.llm_call_id for r in rows.values() if r.llm_call_id is not None]
    calls = {
        c.id: c for c in s.scalars(select(LLMCallRow).where(LLMCallRow.id.in_(call_ids)))
    } if call_ids else {}
    found = _until_found(s, list(rows.values()))
    out: list[Entry] = []
    for pid, value in picked:
        row = rows[pid]
        call = calls.get(row.llm_call_id) if row.llm_call_id is not None else None
        spent, evaluated = found[pid]
        out.append(Entry(
            program=convert.program(row),
            problem=row.problem,
            model=call.model if call is not None else None,
            template_hash=call.template_hash if call is not None else None,
            cost_usd=spent,
            evaluations=evaluated,
            sort_value=value,
        ))
    return out


def _until_found(s: Session, rows: list[ProgramRow]) -> dict[int, tuple[float, int]]:
    """(USD spent, evaluations run) by each program's run up to its creation / iteration.

    One aggregate per program when a run has a single listed program; when it has several,
    one pass over the run's calls and evaluated iterations serves them all by bisection.
    """
    by_run: dict[int, list[ProgramRow]] = defaultdict(list)
    for row in rows:
        by_run[row.run_id].append(row)
    out: dict[int, tuple[float, int]] = {}
    for run_id, members in by_run.items():
        if len(members) < BATCH_FROM:
            for row in members:
                out[row.id] = (_spent(s, row), _evaluated(s, row))
            continue
        last = max(members, key=lambda r: r.iteration).iteration
        newest = max(utc_time(r.created_at) for r in members)
        spend = s.execute(
            select(LLMCallRow.created_at, LLMCallRow.cost_usd)
            .where(LLMCallRow.run_id == run_id, LLMCallRow.created_at <= newest)
            .order_by(LLMCallRow.created_at)
        ).all()
        stamps = [utc_time(t) for t, _ in spend]
        totals = list(accumulate(float(c or 0.0) for _, c in spend))
        iterations = list(s.scalars(
            select(ProgramRow.iteration)
            .where(ProgramRow.run_id == run_id, ProgramRow.iteration <= last,
                   ProgramRow.status.not_in(NOT_EVALUATED))
            .order_by(ProgramRow.iteration)
        ))
        for row in members:
            n_calls = bisect_right(stamps, utc_time(row.created_at))
            out[row.id] = (
                totals[n_calls - 1] if n_calls else 0.0,
                bisect_right(iterations, row.iteration),
            )
    return out


def utc_time(value: datetime) -> datetime:
    stamp = utc(value)
    assert stamp is not None
    return stamp


def _spent(s: Session, row: ProgramRow) -> float:
    total = s.scalar(
        select(func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0)).where(
            LLMCallRow.run_id == row.run_id, LLMCallRow.created_at <= row.created_at
        )
    )
    return float(total or 0.0)


def _evaluated(s: Session, row: ProgramRow) -> int:
    count = s.scalar(
        select(func.count()).where(
            ProgramRow.run_id == row.run_id,
            ProgramRow.iteration <= row.iteration,
            ProgramRow.status.not_in(NOT_EVALUATED),
        )
    )
    return int(count or 0)


def problems_of(store: Store, program_ids: list[int]) -> set[str]:
    if not program_ids:
        return set()
    with _reading(store) as s:
        stmt = select(ProgramRow.problem).where(ProgramRow.id.in_(program_ids)).distinct()
        return {str(p) for p in s.scalars(stmt)}


def problem_source(store: Store, problem: str) -> str:
    """Where a problem's folder was found when its newest run started: a built-in name or,
    for a user's own problem, the folder path stored in the run config."""
    stmt = select(RunRow.config).where(RunRow.problem == problem).order_by(RunRow.id.desc())
    with _reading(store) as s:
        config = s.scalars(stmt.limit(1)).first()
    stored = config.get("problem") if isinstance(config, dict) else None
    return str(stored) if stored else problem


def llm_call(store: Store, call_id: int) -> LLMCall:
    with _reading(store) as s:
        row = s.get(LLMCallRow, call_id)
        if row is None:
            raise NotFoundError(f"no LLM call with id {call_id}")
        return convert.llm_call(row)


def ancestry(store: Store, program_id: int, max_depth: int = 50) -> dict[int, Program]:
    """The program and its ancestors (both parents of a crossover) up to ``max_depth``
    generations back, by id. Fetched one generation per query, not one row per query."""
    found: dict[int, Program] = {}
    frontier = {program_id}
    with _reading(store) as s:
        for _ in range(max_depth + 1):
            rows = s.scalars(select(ProgramRow).where(ProgramRow.id.in_(frontier))).all()
            if program_id not in found and not rows:
                raise NotFoundError(
                    f"no program with id {program_id}; find ids with `evolve leaderboard`"
                )
            for row in rows:
                found[row.id] = convert.program(row)
            frontier = {
                pid
                for p in rows
                for pid in (p.parent_id, p.other_parent_id)
                if pid is not None and pid not in found
            }
            if not frontier:
                break
    return found


def champion_chain(store: Store, program_id: int) -> list[Program]:
    """Primary-parent chain from the seed down to ``program_id`` (oldest first)."""
    chain: list[Program] = []
    seen: set[int] = set()
    current: int | None = program_id
    with _reading(store) as s:
        while current is not None and current not in seen:
            seen.add(current)
            row = s.get(ProgramRow, current)
            if row is None:
                break
            chain.append(convert.program(row))
            current = row.parent_id
    chain.reverse()
    return chain


def cumulative_cost(calls: list[LLMCall]) -> list[tuple[float, float]]:
    """(UTC timestamp, USD spent so far) after each call, in time order."""
    points: list[tuple[float, float]] = []
    total = 0.0
    for call in sorted(calls, key=lambda c: (c.created_at is None, c.created_at, c.id)):
        total += call.cost_usd
        stamp = call.created_at.timestamp() if call.created_at is not None else 0.0
        points.append((stamp, total))
    return points


def metric_exists(store: Store, name: str, problem: str | None) -> bool:
    """Whether any program (of ``problem``) has the metric; to reject a typo in --by."""
    if name in COLUMN_KEYS:
        return True
    stmt = select(ProgramRow.id).where(ProgramRow.metrics[name].as_float().is_not(None))
    if problem is not None:
        stmt = stmt.where(ProgramRow.problem == problem)
    with _reading(store) as s:
        return s.scalars(stmt.limit(1)).first() is not None

