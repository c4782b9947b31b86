"""`evolve show`, `lineage`, `diff` and `export` on a real run's database plus synthetic rows;
an exported program is scored again by a real `evolve eval` subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evolve.cli.inspect import exported_source
from evolve.cli.main import cli
from evolve.storage import Store
from evolve.storage.leaderboard import ancestry
from evolve.types import Status
from tests.run_support import Synthetic, add_synthetic, evolve, real_run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Synthetic]]:
    db = tmp_path_factory.mktemp("inspect") / "runs.db"
    real_run(db)
    with Store.open(str(db)) as store:
        yield db, add_synthetic(store)


def _run(db: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result


def test_show_text(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    out = _run(db, "show", str(syn.claude)).stdout
    assert f"program {syn.claude}" in out and "COMPLETE" in out and "crossover" in out
    assert f"parent {syn.gpt}" in out and f"other parent {syn.seed}" in out
    assert "claude-test via anthropic" in out and "$0.2500" in out
    assert "worst class TF0.4" in out  # feedback
    assert "return list(range(len(p)))" in out  # code
    invalid = _run(db, "show", str(syn.invalid), "--no-code").stdout
    assert "INVALID" in invalid and "not a permutation" in invalid
    assert "return list(range" not in invalid


def test_show_json_of_a_real_program(world: tuple[Path, Synthetic]) -> None:
    db, _ = world
    data = json.loads(_run(db, "show", "1", "--json").stdout)
    with Store.open(str(db)) as store:
        program = store.get_program(1)
        stages = [e.stage for e in store.evaluations(1)]
    assert data["id"] == 1 and data["code"] == program.code
    assert data["score"] == pytest.approx(program.score)
    assert data["metrics"]["gap_mean"] == pytest.approx(program.metrics["gap_mean"])
    assert [e["stage"] for e in data["evaluations"]] == stages and stages
    assert data["parents"] == [] and data["llm_call"] is None and data["problem"] == "smtt"


def test_show_prompt(world: tuple[Path, Synthetic], tmp_path: Path) -> None:
    db, syn = world
    with Store.open(str(db)) as store:
        call = store.add_llm_call(syn.run_id, "gpt-test", "openai", "ok",
                                  prompt=[{"role": "user", "content": "improve EDD please"}],
                                  response="<<<<<<< SEARCH")
        pid = store.add_program(syn.run_id, "x = 2\n", "h-prompt", Status.EDIT_FAILED, 9,
                                parent_id=syn.seed, llm_call_id=call.id).id
    out = _run(db, "show", str(pid), "--prompt").stdout
    assert "improve EDD please" in out and "<<<<<<< SEARCH" in out


def test_lineage_tree_with_score_changes(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    out = _run(db, "lineage", str(syn.claude)).stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"{syn.claude} score -0.015 (+0.005)")
    assert any(f"{syn.gpt} score -0.02 (+0.48)" in line for line in lines)
    # The seed is reached twice (through gpt and as the other parent): expanded once.
    assert sum(f"{syn.seed} score -0.5" in line for line in lines) == 1
    assert any(f"{syn.seed} (shown above)" in line for line in lines)
    shallow = _run(db, "lineage", str(syn.claude), "--depth", "1").stdout
    assert "older ancestors" in shallow and f"{syn.gpt} score" in shallow


def test_ancestry_query(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    with Store.open(str(db)) as store:
        found = ancestry(store, syn.invalid)
    assert set(found) == {syn.invalid, syn.claude, syn.gpt, syn.seed}


def test_diff(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    out = _run(db, "diff", str(syn.gpt), str(syn.claude)).stdout
    assert out.startswith(f"--- program {syn.gpt} (run {syn.run_id}, score -0.02)")
    assert "-    return list(range(len(p)))  # gpt" in out
    assert "+    return list(range(len(p)))  # claude" in out
    same = _run(db, "diff", "1", "1").stdout
    assert "identical code" in same


def test_export_is_accepted_by_evolve_eval(world: tuple[Path, Synthetic]) -> None:
    db, _ = world
    with Store.open(str(db)) as store:
        best = store.best_programs(run_id=1, limit=1)[0]
    target = db.parent / "champion.py"
    _run(db, "export", str(best.id), "-o", str(target))
    text = target.read_text()
    assert text.startswith(f"# Exported by `evolve export` from run 1, program {best.id}")
    assert best.code in text
    out = evolve("eval", "smtt", str(target), "--sandbox", "process", "--json", cwd=db.parent)
    assert out.returncode == 0, out.stderr
    scored = json.loads(out.stdout)
    assert scored["status"] == "COMPLETE"
    assert scored["score"] == pytest.approx(best.score, rel=1e-9)
    refused = CliRunner().invoke(cli, ["export", str(best.id), "-o", str(target), "--db",
                                       str(db)])
    assert refused.exit_code != 0 and "--force" in str(refused.exception)


def test_export_keeps_shebang_first() -> None:
    from evolve.types import Program

    program = Program(id=3, run_id=1, code="#!/usr/bin/env python3\nx = 1", code_hash="h",
                      status=Status.COMPLETE, iteration=2, score=-1.0)
    text = exported_source(program, "smtt")
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env python3" and lines[1].startswith("# Exported")
    assert lines[-1] == "x = 1" and text.endswith("\n")


@pytest.mark.parametrize(
    "args",
    [["show", "999"], ["lineage", "999"], ["diff", "1", "999"],
     ["export", "999", "-o", "never.py"]],
)
def test_missing_ids_are_one_line(world: tuple[Path, Synthetic], args: list[str]) -> None:
    db, _ = world
    out = evolve(*args, "--db", str(db), cwd=db.parent)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "no program with id 999" in out.stderr
    assert not (db.parent / "never.py").exists()
