"""The one evaluation driver: `evolve eval` and the engine both score programs through it.

It opens a sandbox session for the candidate's code, walks the problem's cascade (or the
test set, or a user's instance file) through the trusted verifier, and turns everything a
candidate can do wrong into a status and a precise reason for the next prompt:
raising -> INVALID, a bad answer -> INVALID, too slow -> TIMEOUT, dying -> INVALID. Only
a sandbox that cannot run at all escapes, as ``SandboxUnavailable``, because that is the
machine's fault and no program should be charged for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evaluators.base import EvaluationResult, Stage, Verifier
from evaluators.problem import ProblemSpec
from evolve.types import Status
from sandbox.base import (
    CandidateCrashed,
    CandidateError,
    CandidateTimeout,
    ProtocolError,
    Sandbox,
    SandboxError,
    SandboxUnavailable,
    Session,
)

Split = Literal["cascade", "train", "test"]
_TAIL = 1500  # characters of a traceback or stderr worth putting in a prompt


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    result: EvaluationResult
    seconds: float


@dataclass(frozen=True)
class ProgramOutcome:
    status: Status
    score: float | None
    metrics: dict[str, float]
    feedback: str
    seconds: float
    stages: list[StageOutcome]
    reason: str | None
    # True when the score is that of the last stage (the full train set, the test set or
    # the user's file); False when the cascade stopped early or the program failed.
    reached_last_stage: bool = field(default=False)


_Step = tuple[Stage, Callable[[Session], EvaluationResult]]


def _stages(spec: ProblemSpec, verifier: Verifier) -> list[Stage]:
    # problem.yaml is the one place a user tunes the cascade; a verifier's own stages()
    # only applies to a problem.yaml that declares none.
    return spec.stage_list() if "stages" in spec.model_fields_set else verifier.stages()


def _plan(
    spec: ProblemSpec, verifier: Verifier, split: Split, instances_file: Path | None
) -> list[_Step]:
    if instances_file is not None:
        path = Path(instances_file)
        return [(Stage(f"file:{path.name}"), lambda s: verifier.evaluate_file(s, path))]
    if split == "test":
        return [(Stage("test"), verifier.evaluate_test)]
    stages = _stages(spec, verifier)
    if split == "train":
        last = stages[-1]
        stages = [Stage(last.name, last.instances, None)]

    def runner(stage: Stage) -> Callable[[Session], EvaluationResult]:
        return lambda s: verifier.evaluate(s, stage)

    return [(stage, runner(stage)) for stage in stages]


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


def _describe_failure(exc: SandboxError, where: str, fn: str) -> tuple[Status, str]:
    """The status and the one-paragraph reason a candidate-side failure is reported with."""
    if isinstance(exc, CandidateTimeout):
        return Status.TIMEOUT, f"timed out {where}: {exc}; make {fn}() faster"
    if isinstance(exc, CandidateError):
        tb = f"\n{_tail(exc.traceback)}" if exc.traceback else ""
        if where == "while loading":
            return Status.INVALID, f"{exc.exc_type}: {exc.exc_message}{tb}"
        return Status.INVALID, f"the candidate raised {exc} {where}{tb}"
    if isinstance(exc, CandidateCrashed):
        code = f" (exit code {exc.exit_code})" if exc.exit_code is not None else ""
        err = f"\nstderr:\n{_tail(exc.stderr_tail)}" if exc.stderr_tail.strip() else ""
        return Status.INVALID, f"the candidate process died {where}{code}: {exc}{err}"
    if isinstance(exc, ProtocolError):
        return Status.INVALID, f"the candidate broke the sandbox protocol {where}: {exc}"
    return Status.FAILED, f"sandbox failure {where}: {exc}"


def _failed(
    status: Status, reason: str, stages: list[StageOutcome], started: float
) -> ProgramOutcome:
    return ProgramOutcome(
        status=status,
        score=None,
        metrics={},
        feedback=reason,
        seconds=time.perf_counter() - started,
        stages=stages,
        reason=reason,
    )


def evaluate_program(
    spec: ProblemSpec,
    verifier: Verifier,
    sandbox: Sandbox,
    code: str,
    *,
    split: Split = "cascade",
    instances_file: Path | None = None,
) -> ProgramOutcome:
    """Score ``code`` in a fresh session: the cascade, the full train set, the test set,
    or (``instances_file``) a user's instances. Never raises for a bad candidate."""
    started = time.perf_counter()
    steps = _plan(spec, verifier, split, instances_file)
    fn = spec.functions[0] if spec.functions else "the entry point"
    outcomes: list[StageOutcome] = []
    try:
        session = sandbox.open(
            {f"{spec.module}.py": code}, spec.module, spec.functions, spec.limits.to_limits()
        )
    except SandboxUnavailable:
        raise
    except SandboxError as exc:
        status, reason = _describe_failure(exc, "while loading", fn)
        return _failed(status, reason, outcomes, started)
    try:
        for index, (stage, run) in enumerate(steps):
            t0 = time.perf_counter()
            try:
                result = run(session)
            except SandboxUnavailable:
                raise
            except SandboxError as exc:
                status, reason = _describe_failure(exc, f"in stage '{stage.name}'", fn)
                return _failed(status, reason, outcomes, started)
            outcomes.append(StageOutcome(stage.name, result, time.perf_counter() - t0))
            if not result.valid:
                status = Status.TIMEOUT if result.timed_out else Status.INVALID
                return _failed(status, result.feedback, outcomes, started)
            last = index == len(steps) - 1
            below = stage.threshold is not None and result.score < stage.threshold
            if last or below:
                return _complete(result, outcomes, steps, index, below, started)
    finally:
        session.close()
    raise AssertionError("a cascade has at least one stage")


def _complete(
    result: EvaluationResult,
    outcomes: list[StageOutcome],
    steps: list[_Step],
    index: int,
    below: bool,
    started: float,
) -> ProgramOutcome:
    stage = steps[index][0]
    # The engine must see that a score came from a short stage, not the full train set.
    metrics = dict(result.metrics)
    if len(steps) > 1:
        metrics.update(stage=float(index + 1), stages=float(len(steps)))
    reason = None
    feedback = result.feedback
    if below and index < len(steps) - 1:
        reason = (
            f"below threshold of stage '{stage.name}' (score {result.score:.4g} < "
            f"{stage.threshold:.4g}); not evaluated on the full train set"
        )
        feedback = f"{reason}\n{feedback}" if feedback else reason
    return ProgramOutcome(
        status=Status.COMPLETE,
        score=result.score,
        metrics=metrics,
        feedback=feedback,
        seconds=time.perf_counter() - started,
        stages=outcomes,
        reason=reason,
        reached_last_stage=reason is None,
    )


def evaluate_test(
    spec: ProblemSpec, verifier: Verifier, sandbox: Sandbox, code: str
) -> ProgramOutcome:
    """Score on the held-out test set (champions only; never shown to proposers)."""
    return evaluate_program(spec, verifier, sandbox, code, split="test")


def evaluate_baselines(
    spec: ProblemSpec, verifier: Verifier, sandbox: Sandbox, *, split: Split = "test"
) -> dict[str, ProgramOutcome]:
    """Every program in the problem's ``baselines/`` folder, by file stem (for
    `evolve problems show` and reports: what users compare a run's champion against)."""
    return {
        path.stem: evaluate_program(spec, verifier, sandbox, path.read_text("utf-8"), split=split)
        for path in spec.baseline_files()
    }
