"""Finding problems by name or path: built-ins first, then folders the user points at."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from evaluators.problem import ProblemSpec, load_problem_dir
from evolve.errors import ProblemError
from evolve.paths import builtin_problems_dir


def _problem_folders(root: Path) -> list[Path]:
    if (root / "problem.yaml").is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("*/problem.yaml"))


def list_problems(extra_dirs: Iterable[Path] = ()) -> list[ProblemSpec]:
    """Every problem: built-ins, then those found in ``extra_dirs`` (each a problem folder
    or a folder of problem folders). A broken folder raises, naming its file."""
    specs = [load_problem_dir(f, "builtin") for f in _problem_folders(builtin_problems_dir())]
    for root in extra_dirs:
        specs.extend(load_problem_dir(f, "local") for f in _problem_folders(Path(root)))
    return specs


def find_problem(name_or_path: str, extra_dirs: Iterable[Path] = ()) -> ProblemSpec:
    """A problem by built-in name, by folder path, or by name inside ``extra_dirs``."""
    as_path = Path(name_or_path)
    if (as_path / "problem.yaml").is_file():
        return load_problem_dir(as_path, "local")
    builtin = builtin_problems_dir() / name_or_path
    if (builtin / "problem.yaml").is_file():
        return load_problem_dir(builtin, "builtin")
    for root in extra_dirs:
        candidate = Path(root) / name_or_path
        if (candidate / "problem.yaml").is_file():
            return load_problem_dir(candidate, "local")
    known = ", ".join(p.name for p in _problem_folders(builtin_problems_dir())) or "none"
    raise ProblemError(
        f"unknown problem '{name_or_path}': not a built-in ({known}) nor a folder with "
        "problem.yaml; see `evolve problems list`"
    )
