"""`evolve prompts ...` through click, a real $EDITOR script and a real SQLite store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evolve.cli.main import cli
from evolve.errors import NotFoundError, TemplateError
from evolve.prompting import PromptLibrary
from evolve.storage import Store
from evolve.types import Status
from tests import prompt_helpers as ph

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["prompts", *args], env=env)


def _editor(tmp_path: Path, body: str) -> str:
    """A real editor: a script that gets the file path as its argument and changes it."""
    script = tmp_path / "editor.py"
    script.write_text(f"#!{sys.executable}\nimport sys\npath = sys.argv[1]\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


APPEND_LINE = 'open(path, "a").write("Mention the expected gain in one sentence.\\n")'
APPEND_TYPO = 'open(path, "a").write("Parent score: {{ parnet.score }}\\n")'


def test_list_shows_origin_and_hash_of_an_override(tmp_path: Path) -> None:
    (tmp_path / "system.j2").write_text("Be brief.\n")
    result = _run("list", "--prompts", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows["system.j2"][2] == f"override:{tmp_path.resolve()}"
    assert rows["system.j2"][1] == PromptLibrary([tmp_path]).template_hash("system")
    assert rows["system.j2"][1] != PromptLibrary().template_hash("system")
    assert rows["diff.j2"][2] == "builtin" and "partials/_program.j2" in rows


def test_show_prints_the_source_exactly() -> None:
    result = _run("show", "diff")
    assert result.exit_code == 0
    assert result.output == PromptLibrary().source("diff.j2")


def test_edit_copies_the_builtin_runs_editor_and_validates(tmp_path: Path) -> None:
    folder = tmp_path / "my-prompts"
    result = _run(
        "edit", "diff", "--dir", str(folder), env={"EDITOR": _editor(tmp_path, APPEND_LINE)}
    )
    assert result.exit_code == 0, result.output
    target = folder / "diff.j2"
    assert f"copied the built-in diff.j2 to {target}" in result.output
    text = target.read_text()
    assert text == PromptLibrary().source("diff") + "Mention the expected gain in one sentence.\n"
    new_hash = PromptLibrary([folder]).template_hash("diff")
    assert f"valid (hash {new_hash})" in result.output
    listed = _run("list", "--prompts", str(folder)).output.splitlines()
    assert ["diff.j2", new_hash, f"override:{folder.resolve()}"] in [r.split() for r in listed]
    # A second edit works on the existing copy, not a fresh built-in.
    again = _run(
        "edit", "diff", "--dir", str(folder), env={"EDITOR": _editor(tmp_path, APPEND_LINE)}
    )
    assert again.exit_code == 0 and "copied" not in again.output
    assert target.read_text().count("Mention the expected gain") == 2


def test_edit_that_breaks_the_template_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    result = _run(
        "edit", "partials/_feedback.j2", "--dir", str(folder),
        env={"EDITOR": _editor(tmp_path, APPEND_TYPO)},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "error: prompt template 'partials/_feedback.j2' line 6" in result.stderr
    assert "undefined variable 'parnet'" in result.stderr
    assert "was saved but does not render" in result.stderr
    assert "{{ parnet.score }}" in (folder / "partials" / "_feedback.j2").read_text()


def test_edit_refuses_the_builtin_folder_and_unknown_names(tmp_path: Path) -> None:
    builtin = PromptLibrary().builtin_dir
    result = _run("edit", "diff", "--dir", str(builtin), env={"EDITOR": "true"})
    assert isinstance(result.exception, TemplateError)
    assert "built-in template folder" in str(result.exception)
    result = _run("edit", "nosuch", "--dir", str(tmp_path), env={"EDITOR": "true"})
    assert isinstance(result.exception, TemplateError)
    assert "'nosuch.j2' not found" in str(result.exception)


def test_render_prints_system_and_user_messages() -> None:
    result = _run("render", "diff", "--problem", str(ph.FIXTURE))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("===== system (system.j2")
    assert "sample context" in result.stderr and "sample context" not in result.stdout
    assert "===== user (diff.j2, prompt hash " in result.stdout
    assert "# Problem: tinysmtt" in result.stdout and "<<<<<<< SEARCH" in result.stdout
    as_json = json.loads(_run("render", "fix", "--problem", str(ph.FIXTURE), "--json").stdout)
    assert as_json["template"] == "fix.j2"
    assert as_json["template_hash"] == PromptLibrary().template_hash("system", "fix")
    assert [m["role"] for m in as_json["messages"]] == ["system", "user"]
    partial = _run("render", "partials/_problem.j2", "--problem", str(ph.FIXTURE))
    assert partial.stdout.startswith("# Problem: tinysmtt\n")


def test_render_uses_prompts_dir(tmp_path: Path) -> None:
    (tmp_path / "rewrite.j2").write_text("Rewrite {{ parent.id }} of {{ problem.name }}.\n")
    result = _run("render", "rewrite", "--problem", str(ph.FIXTURE), "--prompts", str(tmp_path))
    assert result.stdout.endswith("Rewrite 7 of tinysmtt.\n")


@pytest.fixture
def stored_run(tmp_path: Path) -> tuple[str, dict[str, int]]:
    db = str(tmp_path / "evolve.db")
    with Store.open(db) as store:
        run = store.create_run("tinysmtt", {"prompts": {"dir": None}}, seed=1)
        seed = store.add_program(
            run.id, ph.PARENT_CODE, "h1", Status.COMPLETE, 0,
            score=-0.1875, metrics={"mean_gap": 0.1875}, feedback="worst class TF=0.8",
        )  # fmt: skip
        better = store.add_program(
            run.id, ph.MDD_CODE, "h2", Status.COMPLETE, 1, parent_id=seed.id,
            score=-0.0213, metrics={"mean_gap": 0.0213},
        )  # fmt: skip
        broken = store.add_program(
            run.id, ph.PARENT_CODE, "h3", Status.INVALID, 2, parent_id=seed.id,
            edit="<<<<<<< SEARCH\n    return x\n=======\n    return y\n>>>>>>> REPLACE\n",
            reason="instance 2: job 4 appears twice",
        )  # fmt: skip
        store.update_run(run.id, best_program_id=better.id, best_score=-0.0213)
        other = store.create_run("other", {}, seed=1)
    ids = {"run": run.id, "seed": seed.id, "better": better.id, "broken": broken.id,
           "seed_it": seed.iteration, "better_it": better.iteration}
    return db, {**ids, "other_run": other.id}


def test_render_with_stored_run_uses_real_programs(stored_run: tuple[str, dict[str, int]]) -> None:
    db, ids = stored_run
    args = ["--problem", str(ph.FIXTURE), "--db", db, "--run", str(ids["run"])]
    result = _run("render", "diff", *args, "--program", str(ids["seed"]))
    assert result.exit_code == 0, result.output
    assert f"## Current program (from iteration {ids['seed_it']}, score -0.1875)" in result.output
    assert "worst class TF=0.8" in result.output
    assert f"### Program from iteration {ids['better_it']}: score -0.0213" in result.output
    best = _run("render", "rewrite", *args)  # no --program: the run's best
    assert f"## Current program (from iteration {ids['better_it']}" in best.output
    fix = _run("render", "fix", *args, "--program", str(ids["broken"]))
    assert f"## Current program (from iteration {ids['seed_it']}" in fix.output  # failed child's parent
    assert "failed (INVALID)" in fix.output and "job 4 appears twice" in fix.output
    cross = _run("render", "crossover", *args, "--program", str(ids["seed"]))
    assert f"## Parent B (from iteration {ids['better_it']}" in cross.output


def test_render_with_stored_run_rejects_mismatches(stored_run: tuple[str, dict[str, int]]) -> None:
    db, ids = stored_run
    base = ["render", "diff", "--problem", str(ph.FIXTURE), "--db", db]
    wrong_run = _run(*base, "--run", str(ids["other_run"]), "--program", str(ids["seed"]))
    assert isinstance(wrong_run.exception, NotFoundError)
    assert f"belongs to run {ids['run']}" in str(wrong_run.exception)
    missing = _run(*base, "--program", "999")
    assert isinstance(missing.exception, NotFoundError)
    no_best = _run(*base, "--run", str(ids["other_run"]))
    assert "has no scored program yet" in str(no_best.exception)


def test_validate_reports_each_error_and_exits_1(tmp_path: Path) -> None:
    good = _run("validate")
    assert good.exit_code == 0 and good.output.startswith("all 12 templates render")
    (tmp_path / "diff.j2").write_text("{{ parent.code }}\n{{ inspiration }}\n")
    (tmp_path / "fix.j2").write_text("{% for x in %}\n")
    bad = _run("validate", str(tmp_path))
    assert bad.exit_code == 1
    assert "'diff.j2' line 2: undefined variable 'inspiration'" in bad.stderr
    assert "'fix.j2' line 1: syntax error" in bad.stderr
    assert "2 error(s) in 12 templates" in bad.stderr


def test_diff_against_builtin(tmp_path: Path) -> None:
    assert "is not overridden" in _run("diff", "diff").output
    source = PromptLibrary().source("diff").replace("ONE focused change", "one small change")
    (tmp_path / "diff.j2").write_text(source)
    result = _run("diff", "diff", "--prompts", str(tmp_path))
    assert result.output.startswith(f"--- builtin/diff.j2\n+++ {tmp_path.resolve() / 'diff.j2'}")
    changed = [line for line in result.output.splitlines() if line[:1] in "+-"][2:]
    assert len(changed) == 2 and "one small change" in changed[1]
    (tmp_path / "fix.j2").write_text(PromptLibrary().source("fix"))
    assert "is identical to the built-in" in _run("diff", "fix", "--prompts", str(tmp_path)).output


def test_cli_error_is_one_line_without_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", "prompts", "show", "nosuch"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: prompt template 'nosuch.j2' not found")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
