"""The CLI skeleton through click's CliRunner with real temporary databases, and the
one-line error contract through a real `python -m evolve.cli.main` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolve.cli.main import COMMANDS, cli
from evolve.storage import Store
from evolve.types import RunStatus

REPO = Path(__file__).resolve().parent.parent


def _evolve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EVOLVE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1]
    for name in COMMANDS:
        assert f"  {name} " in listed, name


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from evolve.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'rich', 'litellm', 'openai', "
        "'anthropic', 'docker', 'numpy', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def _seed_runs(db: Path) -> list[int]:
    with Store.open(str(db)) as store:
        a = store.create_run("smtt", {"seed": 1}, 1)
        store.update_run(a.id, status=RunStatus.FINISHED, iterations=40, best_score=-123.5)
        b = store.create_run("eplb", {}, 2)
        store.update_run(b.id, iterations=3, cost_usd=0.125)
        return [a.id, b.id]


def test_runs_table_filters_and_json(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    runner = CliRunner()
    empty = runner.invoke(cli, ["runs", "--db", str(db)])
    assert empty.exit_code == 0 and "no runs in" in empty.output

    a, b = _seed_runs(db)
    table = runner.invoke(cli, ["runs", "--db", str(db)])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert "problem" in lines[0] and "best score" in lines[0] and "cost" in lines[0]
    assert lines[1].split()[:3] == [str(b), "eplb", "RUNNING"]  # newest first
    assert lines[2].split()[:3] == [str(a), "smtt", "FINISHED"]
    assert "-123.5" in lines[2] and "0.1250" in lines[1]

    only = runner.invoke(cli, ["runs", "--db", str(db), "--problem", "smtt", "--json"])
    rows = json.loads(only.output)
    assert [(r["id"], r["iterations"], r["best_score"]) for r in rows] == [(a, 40, -123.5)]
    finished = runner.invoke(cli, ["runs", "--db", str(db), "--status", "finished", "--json"])
    assert [r["id"] for r in json.loads(finished.output)] == [a]
    limited = runner.invoke(cli, ["runs", "--db", str(db), "--limit", "1", "--json"])
    assert [r["id"] for r in json.loads(limited.output)] == [b]


def test_runs_reads_evolve_db_env(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    a, _ = _seed_runs(db)
    env = {"EVOLVE_DB": str(db)}
    result = CliRunner().invoke(cli, ["runs", "--json", "--problem", "smtt"], env=env)
    assert [r["id"] for r in json.loads(result.output)] == [a]


def test_init_then_problems_list_shows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    created = runner.invoke(cli, ["init", "demo"])
    assert created.exit_code == 0, created.output
    for name in ("problem.yaml", "seed.py", "README.md", "verifier.py"):
        assert (tmp_path / "demo" / name).is_file()
    seed = (tmp_path / "demo" / "seed.py").read_text()
    assert (
        seed.index("# EVOLVE-BLOCK-START")
        < seed.index("def order")
        < seed.index("# EVOLVE-BLOCK-END")
    )
    listed = runner.invoke(cli, ["problems", "list", "--dir", "."])
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.output.splitlines() if line.split()[:1] == ["demo"]]
    assert "order numbers ascending" in row and str(tmp_path / "demo") in row
    shown = runner.invoke(cli, ["problems", "show", "demo", "--dir", "."])
    assert "./verifier.py:Verifier" in shown.output and "quick(3" in shown.output


def test_init_into_dir_and_the_verifier_loads(tmp_path: Path) -> None:
    from evaluators.problem import load_verifier
    from evolve.problems import find_problem

    result = CliRunner().invoke(cli, ["init", "toy_2", "--dir", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    spec = find_problem("toy_2", [tmp_path / "mine"])
    assert (spec.name, spec.source, spec.functions) == ("toy_2", "local", ["order"])
    verifier = load_verifier(spec)
    assert [s.name for s in verifier.stages()] == [s.name for s in spec.stage_list()]


def test_package_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    first = _evolve("init", "demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _evolve("init", "demo", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr == "Error: demo already exists; choose another name or --dir\n"
    bad = _evolve("init", "9lives", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "problem name '9lives' is not valid" in bad.stderr
    debug = _evolve("--debug", "init", "demo", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_old_database_error_through_the_real_cli(tmp_path: Path) -> None:
    from evolve.storage import migrate
    from evolve.storage.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0001")
    engine.dispose()
    refused = _evolve("runs", "--db", "old.db", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("run `evolve db upgrade --db old.db`")
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    upgraded = _evolve("db", "upgrade", "--db", "old.db", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    listed = _evolve("runs", "--db", "old.db", cwd=tmp_path)
    assert listed.returncode == 0 and "no runs" in listed.stdout


def test_scaffolded_verifier_scores_candidates_in_a_real_sandbox(tmp_path: Path) -> None:
    from evaluators.problem import load_verifier
    from evolve.problems import find_problem
    from sandbox.process import ProcessSandbox

    assert CliRunner().invoke(cli, ["init", "demo", "--dir", str(tmp_path)]).exit_code == 0
    spec = find_problem(str(tmp_path / "demo"))
    verifier = load_verifier(spec)
    seed = spec.seed_path.read_text()
    body = (
        "keys = [0.0 * x for x in numbers]  # smaller key runs first\n"
        "    return sorted(range(len(numbers)), key=lambda i: keys[i])"
    )
    candidates = {
        "seed": seed,
        "sorted": seed.replace(body, "return sorted(range(len(numbers)), key=numbers.__getitem__)"),
        "reversed": seed.replace(
            body, "return sorted(range(len(numbers)), key=lambda i: -numbers[i])"
        ),
        "broken": seed.replace(body, "return [0] * len(numbers)"),
    }
    instances = tmp_path / "mine.json"
    instances.write_text("[[3, 1, 2], [5, 4]]")
    sandbox = ProcessSandbox()
    results = {}
    try:
        for name, code in candidates.items():
            files = {f"{spec.module}.py": code}
            with sandbox.open(files, spec.module, spec.functions, spec.limits.to_limits()) as s:
                quick, full = verifier.stages()
                results[name] = (
                    verifier.evaluate(s, quick),
                    verifier.evaluate(s, full),
                    verifier.evaluate_test(s),
                    verifier.evaluate_file(s, instances),
                )
    finally:
        sandbox.close()
    seed_quick, seed_full, seed_test, seed_file = results["seed"]
    assert quick.threshold is not None and seed_quick.score > quick.threshold
    assert 0.3 < seed_full.score < 0.7 and 0.3 < seed_test.score < 0.7  # random order ~0.5
    assert seed_file.score == pytest.approx((1 / 3 + 0.0) / 2)
    assert all(r.valid and r.score == 1.0 for r in results["sorted"])
    assert all(r.valid and r.score == 0.0 for r in results["reversed"])
    for r in results["broken"]:
        assert not r.valid and "expected a permutation of 0.." in r.feedback
