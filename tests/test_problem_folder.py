"""Broken problem folders fail with one line naming the file and the fix, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EVOLVE = [sys.executable, "-m", "evolve.cli.main"]


def scaffold(tmp_path: Path) -> Path:
    done = subprocess.run([*EVOLVE, "init", "toy", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return tmp_path / "toy"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


BREAKAGES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "missing seed": (lambda d: (d / "seed.py").unlink(), ["problem.yaml", "seed", "not found"]),
    "missing README": (lambda d: (d / "README.md").unlink(), ["problem.yaml", "readme"]),
    "unknown key": (
        lambda d: edit(d / "problem.yaml", "direction: maximize", "direction: maximize\nseeed: x"),
        ["problem.yaml", "seeed"],
    ),
    "bad value": (
        lambda d: edit(d / "problem.yaml", "direction: maximize", "direction: upwards"),
        ["problem.yaml", "direction", "maximize"],
    ),
    "unknown verifier class": (
        lambda d: edit(d / "problem.yaml", "./verifier.py:Verifier", "./verifier.py:Nope"),
        ["problem.yaml", "verifier.class", "no class 'Nope'"],
    ),
    "unknown verifier module": (
        lambda d: edit(d / "problem.yaml", "./verifier.py:Verifier", "evaluators.nope:X"),
        ["problem.yaml", "cannot import"],
    ),
    "not YAML": (
        lambda d: (d / "problem.yaml").write_text("name: [unclosed\n"),
        ["problem.yaml", "not valid YAML"],
    ),
    "no problem.yaml": (lambda d: (d / "problem.yaml").unlink(), ["unknown problem"]),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@pytest.mark.parametrize("command", [["eval"], ["run", "--max-evaluations", "5"]])
def test_a_broken_problem_folder_is_one_line(
    tmp_path: Path, breakage: str, command: list[str]
) -> None:
    folder = scaffold(tmp_path)
    breaker, expected = BREAKAGES[breakage]
    breaker(folder)
    db = tmp_path / "x.db"
    done = subprocess.run(
        [*EVOLVE, command[0], str(folder), *command[1:], "--sandbox", "process",
         *(["--db", str(db)] if command[0] == "run" else [])],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    if db.exists():  # a broken problem stores no run
        import sqlite3

        with sqlite3.connect(db) as conn:
            assert conn.execute("select count(*) from runs").fetchone()[0] == 0
