"""The evolution engine end to end: real CLI subprocesses, process sandbox, SQLite files."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolve.storage import Store
from evolve.types import RunStatus, Status

EVOLVE = [sys.executable, "-m", "evolve.cli.main"]


def evolve(*args: str, db: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EVOLVE, *args, "--db", str(db), "--quiet"],
        capture_output=True, text=True, timeout=timeout,
    )


def start(*args: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*EVOLVE, *args, "--db", str(db), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_programs(db: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    done = conn.execute(
                        "select count(*) from programs where status not in ('PENDING','RUNNING')"
                    ).fetchone()[0]
                if done >= count:
                    return
            except sqlite3.OperationalError:
                pass  # tables not created yet
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} programs after {timeout} s")


def iterations(store: Store, run_id: int) -> list[int]:
    return [p.iteration for p in store.programs(run_id)]


def test_whole_run_stores_every_proposal_and_improves(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    result = evolve("run", "smtt", "--max-evaluations", "30", "--sandbox", "process",
                    "--seed", "3", db=db)
    assert result.returncode == 0, result.stderr
    assert "Proposer: offline mutator" in result.stdout.splitlines()[0]
    assert "stopped: evaluation budget reached (30)" in result.stdout
    with Store.open(str(db)) as store:
        (run,) = store.list_runs()
        assert run.status is RunStatus.FINISHED and run.evaluations == 30
        programs = store.programs(run.id)
        seed = programs[0]
        assert seed.iteration == 0 and seed.proposer == "seed" and seed.status is Status.COMPLETE
        its = iterations(store, run.id)
        assert sorted(its) == list(range(len(its)))  # every iteration stored exactly once
        assert all(p.status.finished for p in programs)
        evaluated = [p for p in programs
                     if p.status in (Status.COMPLETE, Status.INVALID, Status.TIMEOUT)]
        assert len(evaluated) == 30
        for p in programs:
            if p.status is not Status.COMPLETE:
                assert p.reason, f"program {p.id} is {p.status} without a reason"
            if p.iteration > 0:
                assert p.parent_id is not None and p.edit
        best = store.get_program(run.best_program_id or -1)
        assert best.score is not None and seed.score is not None and best.score >= seed.score
        assert best.test_score is not None  # champions are scored on the held-out set
        stages = [e.stage for e in store.evaluations(seed.id)]
        assert stages[:2] == ["quick", "train"] and "test:test" in stages


def test_same_seed_same_run_when_sequential(tmp_path: Path) -> None:
    runs = []
    for name in ("a.db", "b.db"):
        db = tmp_path / name
        result = evolve("run", "smtt", "--iterations", "12", "--concurrency", "1",
                        "--workers", "1", "--sandbox", "process", "--seed", "5", db=db)
        assert result.returncode == 0, result.stderr
        with Store.open(str(db)) as store:
            runs.append([(p.iteration, p.code_hash, p.status, p.score)
                         for p in store.programs(1)])
    assert runs[0] == runs[1]
    assert len(runs[0]) == 13


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--iterations", "5"], "iteration budget reached (5)"),
        (["--target-score", "-5"], "target score -5 reached"),
        (["--time-limit", "3s", "--max-evaluations", "100000"], "time limit reached"),
        (["--set", "stagnation_generations=1", "--islands", "1", "--target-score", "1"],
         "stagnation"),
    ],
)
def test_budgets_stop_cleanly(tmp_path: Path, flags: list[str], reason: str) -> None:
    db = tmp_path / "b.db"
    result = evolve("run", "smtt", "--sandbox", "process", *flags, db=db)
    assert result.returncode == 0, result.stderr
    assert reason in result.stdout
    with Store.open(str(db)) as store:
        (run,) = store.list_runs()
        assert run.status is RunStatus.FINISHED and reason in (run.stop_reason or "")
        assert all(p.status.finished for p in store.programs(run.id))
        if flags[0] == "--iterations":
            assert max(iterations(store, run.id)) == 5


def test_sigkill_then_resume_loses_nothing_and_never_repeats(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    proc = start("run", "smtt", "--max-evaluations", "500", "--sandbox", "process", db=db)
    try:
        wait_for_programs(db, 12)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with Store.open(str(db)) as store:
        before = {p.id: p for p in store.programs(1) if p.status is Status.COMPLETE}
        assert store.get_run(1).status is RunStatus.RUNNING  # died without a word
    result = evolve("resume", "1", "--max-evaluations", "40", db=db)
    assert result.returncode == 0, result.stderr
    with Store.open(str(db)) as store:
        after = {p.id: p for p in store.programs(1)}
        for pid, program in before.items():
            assert after[pid] == program  # completed work survives unchanged
        its = iterations(store, 1)
        assert len(its) == len(set(its)), "an iteration number was used twice"
        assert all(p.status.finished for p in after.values())
        run = store.get_run(1)
        assert run.status is RunStatus.FINISHED and run.evaluations >= 40


def test_ctrl_c_stores_everything_and_prints_resume(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc = start("run", "smtt", "--max-evaluations", "500", "--sandbox", "process", db=db)
    wait_for_programs(db, 6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Resume with: evolve resume 1 --db" in out
    with Store.open(str(db)) as store:
        run = store.get_run(1)
        assert run.status is RunStatus.INTERRUPTED
        assert all(p.status.finished for p in store.programs(1))  # in-flight work finished
        count = len(store.programs(1))
    result = evolve("resume", "1", "--iterations", str(count + 3), db=db)
    assert result.returncode == 0, result.stderr
    with Store.open(str(db)) as store:
        assert store.get_run(1).status is RunStatus.FINISHED
        assert max(iterations(store, 1)) == count + 3


def test_bad_config_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    result = evolve("run", "smtt", "--set", "population.islandz=3", db=db)
    assert result.returncode == 1
    assert "islandz" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if db.exists():
        with Store.open(str(db)) as store:
            assert store.list_runs() == []


def test_unknown_run_resume_is_one_line(tmp_path: Path) -> None:
    result = evolve("resume", "42", db=tmp_path / "none.db")
    assert result.returncode == 1
    assert "42" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")


def _scaffold(tmp_path: Path) -> Path:
    result = subprocess.run([*EVOLVE, "init", "toy", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return tmp_path / "toy"


def test_a_users_problem_evolves_end_to_end(tmp_path: Path) -> None:
    folder = _scaffold(tmp_path)
    result = evolve("run", str(folder), "--max-evaluations", "40", "--sandbox", "process",
                    db=tmp_path / "toy.db")
    assert result.returncode == 0, result.stderr
    with Store.open(str(tmp_path / "toy.db")) as store:
        (run,) = store.list_runs()
        assert run.problem == "toy" and run.status is RunStatus.FINISHED
        seed = store.programs(run.id)[0]
        assert seed.score is not None and run.best_score is not None
        assert run.best_score >= seed.score


def test_an_invalid_seed_is_one_clear_line(tmp_path: Path) -> None:
    folder = _scaffold(tmp_path)
    seed = folder / "seed.py"
    seed.write_text(seed.read_text().replace(
        "return sorted(range(len(numbers)), key=lambda i: keys[i])", "return [0] * len(numbers)"
    ))
    result = evolve("run", str(folder), "--sandbox", "process", db=tmp_path / "s.db")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "seed program" in line and "INVALID" in line and "evolve eval toy" in line
    with Store.open(str(tmp_path / "s.db")) as store:
        (run,) = store.list_runs()
        assert run.status is RunStatus.FAILED and "seed program" in (run.stop_reason or "")


def test_a_seed_below_the_first_threshold_names_the_fix(tmp_path: Path) -> None:
    folder = _scaffold(tmp_path)
    yaml = folder / "problem.yaml"
    yaml.write_text(yaml.read_text().replace("threshold: 0.3", "threshold: 0.99"))
    result = evolve("run", str(folder), "--sandbox", "process", db=tmp_path / "t.db")
    assert result.returncode == 1
    assert "stops in the cascade" in result.stderr and "problem.yaml" in result.stderr


def test_a_run_that_cannot_make_children_stops_with_the_reason(tmp_path: Path) -> None:
    folder = _scaffold(tmp_path)
    seed = folder / "seed.py"  # nothing numeric left for the offline mutator to change
    seed.write_text(seed.read_text().replace(
        "    keys = [0.0 * x for x in numbers]  # smaller key runs first\n", ""
    ).replace("sorted(range(len(numbers)), key=lambda i: keys[i])", "list(range(len(numbers)))"))
    result = evolve("run", str(folder), "--sandbox", "process", "--max-evaluations", "50",
                    "--set", "max_barren_proposals=25", db=tmp_path / "barren.db")
    assert result.returncode == 0, result.stderr
    found = re.search(r"no progress: the last (\d+) proposals gave nothing to evaluate",
                      result.stdout)
    assert found is not None, result.stdout
    # Proposals already in flight when the 25th failed still finish (concurrency 4).
    assert 25 <= int(found.group(1)) < 25 + 4
    with Store.open(str(tmp_path / "barren.db")) as store:
        statuses = store.count_programs(1)
        assert statuses[Status.EDIT_FAILED] == int(found.group(1))
        assert statuses[Status.COMPLETE] == 1
