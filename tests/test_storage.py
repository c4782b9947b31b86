"""The storage contract, run against an SQLite file and in-memory SQLite, then opening rules
and migrations (multi-process and crash tests: test_storage_concurrency.py)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text

from evolve.cli.main import cli
from evolve.errors import NotFoundError, StorageError
from evolve.storage import Store, migrate
from evolve.storage.engine import make_engine
from evolve.storage.models import Base
from evolve.types import Program, RunStatus, Status


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'contract.db'}" if request.param == "file" else "sqlite://"
    s = Store.open(url)
    yield s
    s.close()


def _program(store: Store, run_id: int, i: int, **fields: object) -> Program:
    status = fields.pop("status", Status.COMPLETE)
    assert isinstance(status, Status)
    return store.add_program(run_id, f"code {i}", f"hash{i}", status, i, **fields)


# ---- contract ------------------------------------------------------------------------------


def test_runs_round_trip_filter_and_update(store: Store) -> None:
    a = store.create_run("smtt", {"seed": 1, "population": {"islands": 2}}, seed=1)
    b = store.create_run("eplb", {}, seed=2)
    c = store.create_run("smtt", {}, seed=3)
    assert a.status is RunStatus.RUNNING and a.iterations == 0 and a.cost_usd == 0.0
    assert a.started_at.tzinfo is not None
    assert store.get_run(a.id) == a
    assert [r.id for r in store.list_runs()] == [c.id, b.id, a.id]  # newest first
    assert [r.id for r in store.list_runs(problem="smtt")] == [c.id, a.id]
    assert [r.id for r in store.list_runs(limit=1)] == [c.id]

    done = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = store.update_run(
        b.id, status=RunStatus.FINISHED, finished_at=done, stop_reason="budget", best_score=2.5
    )
    assert (updated.status, updated.finished_at, updated.stop_reason) == (
        RunStatus.FINISHED,
        done,
        "budget",
    )
    assert store.get_run(b.id).best_score == 2.5
    assert [r.id for r in store.list_runs(status=RunStatus.FINISHED)] == [b.id]
    assert store.get_run(a.id).config == {"seed": 1, "population": {"islands": 2}}


def test_returned_values_are_frozen_types(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    prog = _program(store, run.id, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prog.score = 3.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = RunStatus.FAILED  # type: ignore[misc]


def test_missing_ids_raise_one_line_not_found(store: Store) -> None:
    for call in (
        lambda: store.get_run(42),
        lambda: store.get_program(42),
        lambda: store.update_run(42, iterations=1),
        lambda: store.update_program(42, score=1.0),
        lambda: store.add_program(42, "c", "h", Status.PENDING, 0),
    ):
        with pytest.raises(NotFoundError, match="with id 42") as info:
            call()
        assert "\n" not in str(info.value)


def test_program_fields_round_trip(store: Store) -> None:
    run = store.create_run("smtt", {}, 0)
    parent = _program(store, run.id, 0, proposer="seed")
    child = store.add_program(
        run.id,
        "def f(): pass",
        "abc",
        Status.PENDING,
        iteration=1,
        generation=1,
        island=2,
        parent_id=parent.id,
        other_parent_id=parent.id,
        proposer="offline",
        template="diff",
        edit="<<<<<<< SEARCH",
        llm_call_id=None,
    )
    assert (child.island, child.parent_id, child.template, child.status) == (
        2,
        parent.id,
        "diff",
        Status.PENDING,
    )
    when = datetime(2026, 5, 6, tzinfo=UTC)
    done = store.update_program(
        child.id,
        status=Status.COMPLETE,
        score=-12.5,
        metrics={"tardiness": 12.5, "late_jobs": 3.0},
        feedback="ok",
        test_score=-13.0,
        test_metrics={"tardiness": 13.0},
        features={"code_length": 120.0},
        eval_seconds=0.25,
        evaluated_at=when,
    )
    assert store.get_program(child.id) == done
    assert (done.score, done.metrics["late_jobs"], done.evaluated_at) == (-12.5, 3.0, when)
    assert done.created_at is not None and done.created_at.tzinfo is not None


def test_unknown_fields_are_refused(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    with pytest.raises(TypeError, match="no field"):
        store.add_program(run.id, "c", "h", Status.PENDING, 0, colour="red")
    with pytest.raises(TypeError, match="no field"):
        store.update_run(run.id, wibble=1)


def test_non_finite_floats(store: Store) -> None:
    """Scores: non-finite -> None. JSON: exact round trip (see evolve.storage.codec)."""
    run = store.create_run("p", {"target": float("inf")}, 0)
    prog = _program(
        store,
        run.id,
        0,
        status=Status.INVALID,
        score=float("-inf"),
        test_score=float("nan"),
        metrics={"a": float("nan"), "b": float("-inf"), "nested": [float("inf"), 1.0]},
    )
    again = store.get_program(prog.id)
    assert again.score is None and again.test_score is None
    assert math.isnan(again.metrics["a"]) and again.metrics["b"] == float("-inf")
    assert again.metrics["nested"] == [float("inf"), 1.0]  # type: ignore[comparison-overlap]
    assert store.get_run(run.id).config == {"target": float("inf")}
    ev = store.add_evaluation(prog.id, "quick", Status.INVALID, float("-inf"), {}, "bad", 0.1)
    assert ev.score is None


def test_programs_by_status_hash_iteration_and_counts(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    other = store.create_run("p", {}, 1)
    assert store.max_iteration(run.id) == -1
    assert store.count_programs(run.id) == {}
    statuses = [Status.COMPLETE, Status.INVALID, Status.COMPLETE, Status.PENDING, Status.DUPLICATE]
    made = [_program(store, run.id, i, status=s) for i, s in enumerate(statuses)]
    _program(store, other.id, 99)
    assert [p.id for p in store.programs(run.id)] == [p.id for p in made]
    assert [p.iteration for p in store.programs(run.id, [Status.COMPLETE])] == [0, 2]
    assert store.programs(run.id, []) == []
    assert store.count_programs(run.id) == {
        Status.COMPLETE: 2,
        Status.INVALID: 1,
        Status.PENDING: 1,
        Status.DUPLICATE: 1,
    }
    assert store.max_iteration(run.id) == 4
    assert store.max_iteration(other.id) == 99
    found = store.find_by_hash(run.id, "hash2")
    assert found is not None and found.id == made[2].id
    assert store.find_by_hash(other.id, "hash2") is None
    # A later duplicate of the same hash does not displace the first.
    _program(store, run.id, 2, status=Status.DUPLICATE)
    again = store.find_by_hash(run.id, "hash2")
    assert again is not None and again.id == made[2].id


def test_best_programs(store: Store) -> None:
    r1 = store.create_run("smtt", {}, 0)
    r2 = store.create_run("smtt", {}, 1)
    r3 = store.create_run("eplb", {}, 2)
    best_r1 = _program(store, r1.id, 0, score=5.0, test_score=1.0)
    _program(store, r1.id, 1, score=3.0, test_score=4.0)
    _program(store, r1.id, 2, score=9.0, status=Status.INVALID)  # not COMPLETE
    _program(store, r1.id, 3)  # COMPLETE without a score
    best_r2 = _program(store, r2.id, 0, score=7.0)
    _program(store, r3.id, 0, score=100.0)
    assert [p.score for p in store.best_programs(problem="smtt")] == [7.0, 5.0, 3.0]
    assert [p.id for p in store.best_programs(run_id=r1.id, limit=1)] == [best_r1.id]
    assert store.best_programs(problem="smtt", limit=1)[0].id == best_r2.id
    assert [p.test_score for p in store.best_programs(problem="smtt", by="test_score")] == [
        4.0,
        1.0,
    ]
    assert [p.score for p in store.best_programs()][:2] == [100.0, 7.0]
    assert store.best_programs(problem="smtt", run_id=r3.id) == []
    with pytest.raises(StorageError, match="score, test_score"):
        store.best_programs(by="code")


def test_evaluations(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    prog = _program(store, run.id, 0)
    store.add_evaluation(prog.id, "quick", Status.COMPLETE, 1.0, {"m": 1.0}, "", 0.5)
    store.add_evaluation(prog.id, "full", Status.TIMEOUT, None, {}, "too slow", 10.0)
    evs = store.evaluations(prog.id)
    assert [(e.stage, e.status, e.score, e.feedback) for e in evs] == [
        ("quick", Status.COMPLETE, 1.0, ""),
        ("full", Status.TIMEOUT, None, "too slow"),
    ]
    assert evs[0].metrics == {"m": 1.0}
    with pytest.raises(NotFoundError):
        store.add_evaluation(999, "quick", Status.COMPLETE, 1.0, {}, "", 0.1)


def test_llm_calls_replay_lookup_and_cost(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    other = store.create_run("p", {}, 1)
    prompt = [{"role": "user", "content": "improve"}]
    first = store.add_llm_call(
        run.id,
        "gpt-x",
        "openai",
        "ok",
        request_hash="R",
        prompt=prompt,
        response="A",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.25,
        latency_s=1.5,
        template="diff",
        template_hash="T",
    )
    store.add_llm_call(run.id, "gpt-x", "openai", "error", request_hash="R", error="429")
    newer = store.add_llm_call(other.id, "gpt-x", "openai", "ok", request_hash="R", cost_usd=1.0)
    store.add_llm_call(None, "gpt-x", "openai", "ok", request_hash="S")
    assert store.llm_calls(run.id)[0] == first
    assert first.prompt == prompt and first.input_tokens == 10
    assert [c.status for c in store.llm_calls(run.id)] == ["ok", "error"]
    hit = store.find_llm_response("R")
    assert hit is not None and hit.id == newer.id
    in_run = store.find_llm_response("R", run_id=run.id)
    assert in_run is not None and in_run.id == first.id  # the error call is never replayed
    assert store.find_llm_response("nope") is None
    assert store.run_cost(run.id) == pytest.approx(0.25)
    assert store.run_cost(other.id) == pytest.approx(1.0)
    assert store.run_cost(12345) == 0.0


def test_events(store: Store) -> None:
    run = store.create_run("p", {}, 0)
    store.add_event(run.id, "start", "run started")
    store.add_event(run.id, "migration", "island 0 -> 1", {"from": 0, "to": 1})
    evs = store.events(run.id)
    assert [(e.kind, e.data) for e in evs] == [("start", {}), ("migration", {"from": 0, "to": 1})]


def test_database_errors_become_one_line_storage_errors(store: Store) -> None:
    # Foreign keys are enforced: an event for a run that does not exist is refused, and the
    # session scope turns the IntegrityError into a StorageError naming the database.
    with pytest.raises(StorageError, match="IntegrityError") as info:
        store.add_event(777, "x", "orphan")
    assert "\n" not in str(info.value)
    assert store.events(777) == []  # rolled back, and the store stays usable
    assert store.create_run("p", {}, 0).id >= 1


# ---- opening, defaults, pragmas, schema ------------------------------------------------------


def test_default_location_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    with Store.open() as s:
        s.create_run("p", {}, 0)
    assert (tmp_path / "evolve.db").is_file()
    monkeypatch.setenv("EVOLVE_DB", str(tmp_path / "env.db"))
    with Store.open() as s:
        assert s.list_runs() == []
        assert s.display == str(tmp_path / "env.db")
    assert (tmp_path / "env.db").is_file()


def test_sqlite_file_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "w.db")) as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_unreadable_database_is_a_storage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        Store.open(str(junk))


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(StorageError, match="not an evolve database"):
        Store.open(str(path))


def test_newer_revision_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store.open(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StorageError, match="newer than this evolve"):
        Store.open(str(path))


def test_old_revision_is_refused_then_upgraded_by_cli(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:  # data written by the older evolve must survive
        conn.execute(
            text(
                "INSERT INTO runs (problem, status, config, seed, started_at, iterations,"
                " evaluations, cost_usd) VALUES ('smtt', 'FINISHED', '{}', 7,"
                " '2026-01-01 00:00:00', 3, 3, 0.0)"
            )
        )
    engine.dispose()
    head = migrate.head_revision()
    assert head != "0001"

    with pytest.raises(StorageError) as info:
        Store.open(str(path))
    message = str(info.value)
    assert f"is at revision 0001, this evolve needs {head}" in message
    assert f"run `evolve db upgrade --db {path}`" in message

    runner = CliRunner()
    result = runner.invoke(cli, ["db", "current", "--db", str(path)])
    assert result.exit_code == 0 and "revision 0001" in result.output
    result = runner.invoke(cli, ["db", "upgrade", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert f"from 0001 to {head}" in result.output

    with Store.open(str(path)) as s:
        (run,) = s.list_runs()
        assert (run.problem, run.seed, run.status) == ("smtt", 7, RunStatus.FINISHED)
    result = runner.invoke(cli, ["db", "upgrade", "--db", str(path)])
    assert "already at revision" in result.output
