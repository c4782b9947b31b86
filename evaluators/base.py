"""The verifier protocol: cascade stages, results, and helpers shared by every problem.

A verifier is trusted code on the host. It owns the instances and the simulator and talks
to the candidate only through a ``sandbox.Session``, sending the observation of *now* and
validating every answer before it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sandbox.base import Session


@dataclass(frozen=True)
class Stage:
    """One step of the evaluation cascade.

    ``instances`` is how many train instances (the first ones) the stage uses; ``None``
    means all of them. A program whose score is below ``threshold`` stops here.
    """

    name: str
    instances: int | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class EvaluationResult:
    score: float  # primary; higher is better after the problem's direction is applied
    metrics: dict[str, float] = field(default_factory=dict)  # public: shown to proposers
    feedback: str = ""  # text for the next prompt: errors, per-class breakdown
    valid: bool = True
    timed_out: bool = False  # the candidate hit a time limit (stored as TIMEOUT)


def invalid(message: str, *, timed_out: bool = False) -> EvaluationResult:
    """The result of a program that broke the rules: the message goes into the next prompt."""
    return EvaluationResult(
        score=float("-inf"), metrics={}, feedback=message, valid=False, timed_out=timed_out
    )


@runtime_checkable
class Verifier(Protocol):
    """Scores candidates of one problem. Constructed as ``cls(params, problem_dir)``."""

    def stages(self) -> list[Stage]:
        """The cascade; the last stage is the full train set."""
        ...

    def evaluate(self, session: Session, stage: Stage) -> EvaluationResult: ...

    def evaluate_test(self, session: Session) -> EvaluationResult:
        """Score on the held-out test set (never shown to proposers during a run)."""
        ...

    def evaluate_file(self, session: Session, path: Path) -> EvaluationResult:
        """Score on user-supplied instances (``evolve eval --instances FILE.json``)."""
        ...


VerifierParams = dict[str, Any]
