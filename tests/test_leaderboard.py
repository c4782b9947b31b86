"""`evolve leaderboard` on a database filled by a real `evolve run smtt` plus synthetic rows:
filters, ordering, cost and evaluations until found, JSON and CSV shapes, baselines scored
by the real driver and cached, and one-line errors for what does not exist."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evolve.baselines import baselines, cache_key, cache_path
from evolve.cli.leaderboard import CSV_HEAD, CSV_TAIL, is_overfit
from evolve.cli.main import cli
from evolve.problems import find_problem
from evolve.storage import Store
from evolve.storage.leaderboard import LeaderboardQuery, leaderboard
from evolve.types import Status
from tests.run_support import Synthetic, add_synthetic, evolve, real_run

ROW_KEYS = {
    "rank", "kind", "id", "name", "run_id", "problem", "status", "score", "test_score",
    "overfit", "metrics", "sort_value", "proposer", "model", "template", "template_hash",
    "iteration", "evaluations", "cost_usd",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Synthetic]]:
    root = tmp_path_factory.mktemp("leaderboard")
    db = root / "runs.db"
    real_run(db)
    with Store.open(str(db)) as store:
        synthetic = add_synthetic(store)
    with pytest.MonkeyPatch.context() as mp:
        # Baselines are scored once for the module into a private cache.
        mp.setenv("EVOLVE_CACHE", str(root / "cache"))
        yield db, synthetic


def _board(db: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["leaderboard", "--db", str(db), "--json", "--sandbox", "process", *args]
    )
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _programs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == "program"]


def test_best_first_with_cost_and_evaluations_until_found(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    rows = _programs(_board(db, "--problem", "smtt", "--no-baselines", "--top", "50"))
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["status"] == "COMPLETE" for r in rows)
    assert rows[0]["id"] == syn.claude and rows[1]["id"] == syn.gpt
    best = rows[0]
    # Spend of its run up to its creation (c1 + c2, not the later c3); evaluations up to
    # iteration 2 are seed, gpt and itself.
    assert best["cost_usd"] == pytest.approx(0.35)
    assert best["evaluations"] == 3
    assert (best["model"], best["proposer"], best["template"]) == (
        "claude-test", "claude-test", "crossover")
    assert best["template_hash"].startswith("bbb222")
    late = next(r for r in rows if r["id"] == syn.late)
    # Duplicates and failed edits are not evaluations; the INVALID one is.
    assert late["evaluations"] == 5 and late["cost_usd"] == pytest.approx(1.35)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))


def test_real_run_rows(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    rows = _programs(_board(db, "--run", "1", "--no-baselines", "--top", "100"))
    with Store.open(str(db)) as store:
        complete = store.programs(1, [Status.COMPLETE])
        seed = store.programs(1)[0]
    assert len(rows) == len(complete) and {r["run_id"] for r in rows} == {1}
    seed_row = next(r for r in rows if r["id"] == seed.id)
    assert seed_row["iteration"] == 0 and seed_row["evaluations"] == 1
    assert seed_row["test_score"] is not None  # the run re-scored its champion on test
    assert seed_row["cost_usd"] == 0.0 and seed_row["proposer"] == "seed"


def test_filters(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    only = ["--no-baselines", "--top", "100"]
    assert [r["id"] for r in _board(db, "--model", "gpt-test", *only)] == [syn.gpt]
    assert [r["id"] for r in _board(db, "--template", "aaa1", *only)] == [syn.gpt]
    alone = _board(db, "--template", "bbb222", *only)
    assert [r["id"] for r in alone] == [syn.claude]
    # Costed on its own (one query each) as when listed with others of its run (one pass).
    assert (alone[0]["cost_usd"], alone[0]["evaluations"]) == (pytest.approx(0.35), 3)
    assert [r["id"] for r in _board(db, "--model", "offline", "--run", str(syn.run_id),
                                    *only)] == [syn.late]
    invalid = _board(db, "--status", "INVALID", *only)
    assert syn.invalid in [r["id"] for r in invalid]
    assert {r["status"] for r in invalid} == {"INVALID"}
    both = _board(db, "--status", "DUPLICATE", "--status", "EDIT_FAILED", "--run",
                  str(syn.run_id), *only)
    assert sorted(r["id"] for r in both) == sorted([syn.duplicate, syn.edit_failed])
    assert len(_board(db, "--no-baselines", "--top", "3")) == 3


def test_ordering_by_test_score_and_by_metric(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    by_test = _board(db, "--problem", "smtt", "--by", "test_score", "--no-baselines")
    assert all(r["test_score"] is not None for r in by_test)
    assert [r["test_score"] for r in by_test] == sorted(
        (r["test_score"] for r in by_test), reverse=True)
    assert by_test[0]["id"] == syn.claude
    gaps = _board(db, "--problem", "smtt", "--by", "gap_mean", "--ascending",
                  "--no-baselines", "--top", "5")
    values = [r["metrics"]["gap_mean"] for r in gaps]
    assert values == sorted(values) and gaps[0]["id"] == syn.claude


def test_overfitting_is_flagged() -> None:
    assert is_overfit(-0.02, -0.05)  # test three times the train gap
    assert not is_overfit(-0.015, -0.016)
    assert not is_overfit(-0.05, -0.02)  # better on test is not overfitting
    assert not is_overfit(None, -0.1)


def test_overfit_rows(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    rows = {r["id"]: r for r in _board(db, "--run", str(syn.run_id), "--no-baselines")}
    assert rows[syn.gpt]["overfit"] and not rows[syn.claude]["overfit"]
    loose = {r["id"]: r for r in _board(db, "--run", str(syn.run_id), "--no-baselines",
                                        "--overfit-ratio", "0.9")}
    assert not loose[syn.gpt]["overfit"]


def test_baselines_are_rows_and_interleave(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    rows = _board(db, "--problem", "smtt", "--top", "5")
    assert all(set(r) == ROW_KEYS for r in rows)
    names = {r["name"] for r in rows if r["kind"] == "baseline"}
    spec = find_problem("smtt")
    assert names == {f.stem for f in spec.baseline_files()}
    values = [r["sort_value"] for r in rows]
    assert values == sorted(values, reverse=True)
    edd = next(r for r in rows if r["name"] == "edd")
    with Store.open(str(db)) as store:
        seed = store.programs(1)[0]
    # The seed *is* EDD: scored by the same driver, the baseline row must agree with the run.
    assert edd["score"] == pytest.approx(seed.score)
    assert edd["test_score"] == pytest.approx(seed.test_score)
    assert edd["proposer"] == "baseline" and edd["id"] is None
    # The leaderboard of one run of the problem shows them too; mixed problems do not.
    assert any(r["kind"] == "baseline" for r in _board(db, "--run", str(syn.run_id)))
    mixed = _board(db, "--top", "50")
    assert {r["problem"] for r in mixed} == {"smtt", "eplb"}
    assert all(r["kind"] == "program" for r in mixed)


def test_baselines_are_cached(world: tuple[Path, Synthetic], tmp_path: Path) -> None:
    spec = find_problem("smtt")
    assert cache_path(spec).is_file()  # written by the leaderboard calls above
    messages: list[str] = []
    again = baselines(spec, sandbox_kind="process", progress=messages.append)
    assert messages == [] and len(again) == len(spec.baseline_files())
    # Editing any file of the problem folder changes the key, so scores are recomputed.
    import shutil

    copy = tmp_path / "smtt"
    shutil.copytree(spec.dir, copy)
    copied = find_problem(str(copy))
    assert cache_key(copied) == cache_key(spec)
    (copy / "baselines" / "edd.py").write_text("# edited\n" + (copy / "baselines" /
                                               "edd.py").read_text())
    assert cache_key(find_problem(str(copy))) != cache_key(spec)


def test_csv_shape(world: tuple[Path, Synthetic]) -> None:
    db, _ = world
    rows = _board(db, "--problem", "smtt", "--top", "4")
    result = CliRunner().invoke(cli, ["leaderboard", "--db", str(db), "--csv", "--problem",
                                      "smtt", "--top", "4", "--sandbox", "process"])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    metrics = list(rows[0]["metrics"])
    assert metrics and table[0] == CSV_HEAD + metrics + CSV_TAIL
    assert len(table) == len(rows) + 1
    for line, row in zip(table[1:], rows, strict=True):
        assert line[0] == str(row["rank"]) and line[1] == row["kind"]
        assert float(line[CSV_HEAD.index("score")]) == pytest.approx(row["score"])


def test_table_output(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    result = CliRunner().invoke(cli, ["leaderboard", "--db", str(db), "--problem", "smtt",
                                      "--sandbox", "process"])
    assert result.exit_code == 0, result.output
    assert "baseline atc" in result.stdout and "OVERFIT" in result.stdout
    assert str(syn.claude) in result.stdout and "claude-test" in result.stdout


def test_storage_query_directly(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    with Store.open(str(db)) as store:
        top = leaderboard(store, LeaderboardQuery(run_id=syn.run_id, top=2))
    assert [e.program.id for e in top] == [syn.claude, syn.gpt]
    assert top[0].sort_value == pytest.approx(-0.015)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--run", "999"], "no run with id 999"),
        (["--problem", "nope"], "no runs of problem 'nope'"),
        (["--by", "no_such_metric"], "no program has a metric"),
    ],
)
def test_what_does_not_exist_is_one_line(
    world: tuple[Path, Synthetic], args: list[str], needle: str
) -> None:
    db, _ = world
    out = evolve("leaderboard", "--db", str(db), "--no-baselines", *args, cwd=db.parent)
    assert out.returncode == 1
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
