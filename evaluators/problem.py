"""problem.yaml: the schema of a problem folder, its loader, and the verifier factory.

A problem folder holds ``problem.yaml``, the seed program (with EVOLVE-BLOCK markers), the
README shown to proposers, optional ``baselines/`` and, for a user's own problem, a
``verifier.py``. Every error names the file, the key and the fix in one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evaluators.base import Stage, Verifier
from evolve.errors import ProblemError
from sandbox.base import Limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntryPoint(_Strict):
    name: str
    signature: str
    doc: str = ""


class VerifierSpec(_Strict):
    # "evaluators.smtt:TotalTardiness" for built-ins, "./verifier.py:MyVerifier" for a user's.
    cls: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)


class StageSpec(_Strict):
    name: str
    instances: int | None = None
    threshold: float | None = None


class LimitsSpec(_Strict):
    call_timeout: float = 10.0
    cpu_seconds: int = 600
    memory_mb: int = 1024
    pids: int = 64
    disk_mb: int = 64
    open_files: int = 64
    cpus: float = 1.0
    output_bytes: int = 64 * 1024
    start_timeout: float = 20.0

    def to_limits(self) -> Limits:
        return Limits(**self.model_dump())


class FeatureSpec(_Strict):
    """A MAP-Elites axis: a metric name (or 'code_length') binned over [low, high]."""

    name: str
    low: float
    high: float
    bins: int = 10


class ProblemSpec(_Strict):
    name: str
    description: str
    readme: str = "README.md"
    seed: str = "seed.py"
    module: str = "candidate"  # module name the seed is imported as inside the sandbox
    entry_points: list[EntryPoint]
    verifier: VerifierSpec
    direction: Literal["maximize", "minimize"] = "maximize"
    stages: list[StageSpec] = Field(default_factory=lambda: [StageSpec(name="full")])
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    features: list[FeatureSpec] = Field(default_factory=list)
    baselines: str = "baselines"
    # Defaults for RunConfig keys (e.g. {"max_evaluations": 500}); the run config wins.
    run_defaults: dict[str, Any] = Field(default_factory=dict)
    # Metrics shown beside the score (leaderboard, eval), e.g. balance and runtime together.
    main_metrics: list[str] = Field(default_factory=list)

    # Filled by the loader, not by the YAML.
    dir: Path = Path(".")
    source: str = "builtin"  # "builtin" or "local"

    @property
    def seed_path(self) -> Path:
        return self.dir / self.seed

    @property
    def readme_text(self) -> str:
        return (self.dir / self.readme).read_text(encoding="utf-8")

    @property
    def functions(self) -> list[str]:
        return [e.name for e in self.entry_points]

    def stage_list(self) -> list[Stage]:
        return [Stage(s.name, s.instances, s.threshold) for s in self.stages]

    def baseline_files(self) -> list[Path]:
        folder = self.dir / self.baselines
        return sorted(folder.glob("*.py")) if folder.is_dir() else []


def load_problem_dir(folder: Path, source: str = "local") -> ProblemSpec:
    """Load and check one problem folder."""
    path = folder / "problem.yaml"
    if not path.is_file():
        raise ProblemError(f"{path}: no problem.yaml here; create one with `evolve init NAME`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise ProblemError(f"{path}{where}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(raw, dict):
        raise ProblemError(f"{path}: expected a mapping of keys (name, description, ...)")
    try:
        spec = ProblemSpec.model_validate({**raw, "dir": folder.resolve(), "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ProblemError(f"{path}: key '{key}': {err['msg']}") from exc
    for attr, what in (("seed", "seed program"), ("readme", "README")):
        target = folder / getattr(spec, attr)
        if not target.is_file():
            raise ProblemError(
                f"{path}: {attr} '{getattr(spec, attr)}' not found; add the {what} at {target} "
                f"or point '{attr}:' at it"
            )
    return spec


def load_verifier(spec: ProblemSpec) -> Verifier:
    """Import the verifier class named in problem.yaml and construct it."""
    target = spec.verifier.cls
    where = f"{spec.dir / 'problem.yaml'}: verifier.class '{target}'"
    if ":" not in target:
        raise ProblemError(f"{where}: expected 'module:Class' or './file.py:Class'")
    mod_name, _, cls_name = target.partition(":")
    try:
        if mod_name.endswith(".py"):
            file = (spec.dir / mod_name).resolve()
            if not file.is_file():
                raise ProblemError(f"{where}: file {file} not found")
            unique = f"_evolve_user_verifier_{spec.name}"
            mspec = importlib.util.spec_from_file_location(unique, file)
            assert mspec is not None and mspec.loader is not None
            module = importlib.util.module_from_spec(mspec)
            sys.modules[unique] = module
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ProblemError(f"{where}: cannot import module ({exc})") from exc
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ProblemError(f"{where}: module has no class '{cls_name}'")
    try:
        verifier = cls(spec.verifier.params, spec.dir)
    except (TypeError, ValueError, KeyError) as exc:
        raise ProblemError(f"{where}: bad verifier.params ({exc})") from exc
    if not isinstance(verifier, Verifier):
        raise ProblemError(f"{where}: does not implement stages/evaluate/evaluate_test")
    return verifier
