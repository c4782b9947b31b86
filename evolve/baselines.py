"""The known heuristics of a problem, scored exactly like evolved programs, cached on disk.

Every ``*.py`` in a problem's ``baselines/`` folder is scored once on the full train set and
once on the held-out test set by the same driver a run uses (``evaluate_program``), so a
leaderboard row of a baseline and one of an evolved program are directly comparable.

Scoring takes seconds per baseline, so results are cached in
``$EVOLVE_CACHE/baselines`` (default ``~/.cache/evolve/baselines``) under a key that hashes
every file of the problem folder and of the verifier's package: editing a baseline, the
instances or the scoring code recomputes them; nothing else does.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evaluators.problem import ProblemSpec

CACHE_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    name: str  # the file's stem, e.g. "edd"
    status: str  # "COMPLETE" on both splits, else the status of the first split that failed
    score: float | None
    test_score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None


def cache_dir() -> Path:
    root = os.environ.get("EVOLVE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "evolve"
    return base / "baselines"


def _files_under(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _verifier_package(spec: ProblemSpec) -> Path | None:
    """The folder of the verifier's top-level package (scoring code lives beside it)."""
    module = spec.verifier.cls.split(":", 1)[0]
    if module.endswith(".py") or "/" in module:
        return None  # a user's verifier file lives inside the problem folder, already hashed
    try:
        found = importlib.util.find_spec(module.split(".", 1)[0])
    except (ImportError, ValueError):
        return None
    if found is None or found.origin is None:
        return None
    return Path(found.origin).parent


def cache_key(spec: ProblemSpec) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{spec.name}".encode())
    folders = [spec.dir]
    package = _verifier_package(spec)
    if package is not None:
        folders.append(package)
    for folder in folders:
        for path in _files_under(folder):
            if folder is package and path.suffix != ".py":
                continue
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def cache_path(spec: ProblemSpec) -> Path:
    return cache_dir() / f"{spec.name}-{cache_key(spec)}.json"


def _read_cache(path: Path) -> list[Baseline] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Baseline(**row) for row in data["baselines"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or written by another version: recompute


def _write_cache(path: Path, rows: list[Baseline]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    # Python's JSON keeps inf/nan (an invalid score is -inf); only this module reads it.
    tmp.write_text(json.dumps({"baselines": [asdict(r) for r in rows]}), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a concurrent leaderboard never reads half a file


def _stderr_progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()
    else:
        print(message, file=sys.stderr, flush=True)


def baselines(
    spec: ProblemSpec,
    *,
    sandbox_kind: str = "auto",
    progress: Callable[[str], None] | None = _stderr_progress,
) -> list[Baseline]:
    """The problem's baselines with train and test scores; computed once, then cached."""
    files = spec.baseline_files()
    if not files:
        return []
    path = cache_path(spec)
    cached = _read_cache(path)
    if cached is not None:
        return cached
    rows = _score_all(spec, files, sandbox_kind, progress or (lambda _m: None))
    _write_cache(path, rows)
    return rows


def _score_all(
    spec: ProblemSpec, files: list[Path], sandbox_kind: str, progress: Callable[[str], None]
) -> list[Baseline]:
    from evaluators.problem import load_verifier
    from evolve.evaluation import evaluate_program
    from sandbox.select import make_sandbox

    verifier = load_verifier(spec)
    sandbox = make_sandbox(sandbox_kind)
    rows: list[Baseline] = []
    try:
        for index, file in enumerate(files, start=1):
            code = file.read_text(encoding="utf-8")
            outcomes: dict[str, Any] = {}
            for split in ("train", "test"):
                progress(
                    f"scoring baselines of {spec.name} (cached afterwards): "
                    f"{index}/{len(files)} {file.stem} on {split}"
                )
                outcomes[split] = evaluate_program(spec, verifier, sandbox, code, split=split)
            rows.append(_baseline(file.stem, outcomes["train"], outcomes["test"]))
    finally:
        sandbox.close()
        if sys.stderr.isatty() and progress is _stderr_progress:
            sys.stderr.write("\r\033[K")
    return rows


def _baseline(name: str, train: Any, test: Any) -> Baseline:
    failed = next((o for o in (train, test) if o.status.value != "COMPLETE"), None)
    return Baseline(
        name=name,
        status="COMPLETE" if failed is None else failed.status.value,
        score=train.score,
        test_score=test.score,
        metrics=dict(train.metrics),
        test_metrics=dict(test.metrics),
        reason=None if failed is None else failed.reason,
    )
