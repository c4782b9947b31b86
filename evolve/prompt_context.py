"""The variables prompt templates see: plain dicts built from a problem and programs.

Templates get dicts and strings only (never ORM rows or dataclasses), so a user's template
cannot reach anything but the data meant for the prompt, and ``StrictUndefined`` catches a
misspelled key. ``sample_context`` gives ``validate`` and ``render`` a realistic context
without a run; its ``minimal`` form leaves every optional part empty so both sides of a
template's ``{% if %}`` get exercised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evaluators.problem import ProblemSpec
from evolve.edits import BLOCK_END, BLOCK_START, extract_block
from evolve.errors import EditError
from evolve.types import Program, Status

# Statuses whose program never produced a usable score: the next prompt should fix them.
FAILED_STATUSES = (Status.EDIT_FAILED, Status.INVALID, Status.TIMEOUT, Status.FAILED)


def format_number(value: Any) -> str:
    """Compact, stable number text for prompts (the ``num`` filter): 6 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "invalid" if value < 0 else str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"


def evolve_block(code: str) -> str:
    """The editable part of ``code``; the whole code when it has no (or broken) markers, so
    a prompt still shows the model something to work on."""
    try:
        return extract_block(code)
    except EditError:
        return code


def problem_view(problem: ProblemSpec) -> dict[str, Any]:
    return {
        "name": problem.name,
        "description": problem.description,
        "readme": problem.readme_text,
        "direction": problem.direction,
        "module": problem.module,
        "functions": problem.functions,
        "entry_points": [
            {"name": e.name, "signature": e.signature, "doc": e.doc} for e in problem.entry_points
        ],
        "call_timeout": problem.limits.call_timeout,
    }


def program_view(program: Program) -> dict[str, Any]:
    return {
        "id": program.id,
        "code": program.code,
        "evolve_block": evolve_block(program.code),
        "status": program.status.value,
        "score": program.score,
        "metrics": dict(program.metrics),
        "feedback": program.feedback or "",
        "reason": program.reason or "",
        "edit": program.edit or "",
        "generation": program.generation,
        "iteration": program.iteration,
        "island": program.island,
        "proposer": program.proposer,
    }


def build_context(
    problem: ProblemSpec,
    parent: Program,
    *,
    inspirations: Sequence[Program] = (),
    other_parent: Program | None = None,
    failure: str | None = None,
    extra: Mapping[str, Any] | None = None,
    failed_attempt: Program | None = None,
) -> dict[str, Any]:
    """Everything a template may use.

    ``failure`` is the message of what went wrong last time (an edit that did not apply,
    an INVALID answer, a timeout); ``failed_attempt`` is that child, when there is one, so
    the fix prompt can show the edit that failed. Without an explicit ``failure`` a failed
    attempt's (or a failed parent's) stored reason is used. ``extra`` keys are added at the
    top level for user templates (run statistics, hints); they may not replace built-ins.
    """
    if failure is None:
        for candidate in (failed_attempt, parent):
            if candidate is not None and candidate.status in FAILED_STATUSES:
                failure = candidate.reason or candidate.feedback
                break
    context: dict[str, Any] = {
        "problem": problem_view(problem),
        "parent": program_view(parent),
        "inspirations": [program_view(p) for p in inspirations],
        "other_parent": program_view(other_parent) if other_parent is not None else None,
        "failure": failure or "",
        "failed_attempt": program_view(failed_attempt) if failed_attempt is not None else None,
        "markers": {"start": BLOCK_START, "end": BLOCK_END},
    }
    clash = sorted(set(extra or {}) & set(context))
    if clash:
        raise ValueError(f"extra context keys {clash} would replace built-in template variables")
    context.update(extra or {})
    return context


# ---------------------------------------------------------------- sample context

_SAMPLE_README = """\
Single-machine total tardiness (SMTT). Jobs j = 0..n-1 have integer processing times p[j]
and due dates d[j]; all are available at time 0 and run one at a time without preemption.
Find an order that minimises the total tardiness sum_j max(0, C_j - d_j), where C_j is the
completion time of job j. Instances follow the Potts and Van Wassenhove generator with
tardiness factor TF and range of due dates RDD in {0.2, ..., 1.0}, for n = 20, 50 and 100.
The score is minus the mean relative gap to the optimal total tardiness.
"""

_SAMPLE_SEED = '''\
"""Earliest due date first: the seed heuristic."""

# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    """Return a permutation of range(len(p)): the order in which jobs are processed."""
    return sorted(range(len(p)), key=lambda j: (d[j], p[j]))
# EVOLVE-BLOCK-END
'''

_SAMPLE_MDD = '''\
"""Modified due date: a dynamic rule."""

# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    """Return a permutation of range(len(p)): the order in which jobs are processed."""
    left, order, t = set(range(len(p))), [], 0
    while left:
        j = min(left, key=lambda k: (max(t + p[k], d[k]), p[k]))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END
'''

_SAMPLE_PROBLEM: dict[str, Any] = {
    "name": "smtt",
    "description": "Single-machine total tardiness: order n jobs to minimise total tardiness.",
    "entry_points": [
        {
            "name": "schedule",
            "signature": "schedule(p: list[int], d: list[int], w: list[int]) -> list[int]",
            "doc": "Return the processing order as a permutation of job indices.",
        }
    ],
    "verifier": {"class": "evaluators.smtt:TotalTardiness"},
}


def _sample_program(
    id: int, code: str, score: float, gap: float, feedback: str, **kw: Any
) -> Program:
    return Program(
        id=id,
        run_id=1,
        code=code,
        code_hash=f"sample{id}",
        status=kw.pop("status", Status.COMPLETE),
        iteration=id,
        score=score,
        metrics={"mean_gap": gap, "median_gap": gap * 0.6, "solved_fraction": 0.1},
        feedback=feedback,
        **kw,
    )


def sample_context(problem: ProblemSpec | None = None, *, minimal: bool = False) -> dict[str, Any]:
    """A realistic context for ``validate`` and ``render`` without a run.

    With a problem, its statement, seed and first baseline are used (the scores and
    metrics stay sample values); otherwise an SMTT-like problem.
    ``minimal`` leaves inspirations, feedback and the failure empty (a second parent is
    kept: crossover is only ever chosen with one).
    """
    seed_code = problem.seed_path.read_text(encoding="utf-8") if problem else _SAMPLE_SEED
    other_code = _SAMPLE_MDD
    if problem is not None:
        # A shipped baseline makes a realistic second program; the seed is the fallback.
        baselines = problem.baseline_files()
        other_code = baselines[0].read_text(encoding="utf-8") if baselines else seed_code
    feedback = (
        "" if minimal else "worst classes (mean gap): TF=0.6 RDD=0.2: 0.412; TF=0.8 RDD=0.2: 0.377"
    )
    parent = _sample_program(7, seed_code, -0.2318, 0.2318, feedback, generation=3)
    other_feedback = "" if minimal else "worst class: TF=0.6 RDD=0.4: 0.051"
    other = _sample_program(5, other_code, -0.0211, 0.0211, other_feedback)
    failed = _sample_program(
        9,
        seed_code,
        float("-inf"),
        0.0,
        "",
        status=Status.INVALID,
        parent_id=7,
        edit="<<<<<<< SEARCH\n    return sorted(range(len(p)), key=lambda j: (d[j], p[j]))\n"
        "=======\n    return sorted(range(len(p)), key=lambda j: d[j] / p[j])[1:]\n"
        ">>>>>>> REPLACE\n",
        reason="instance 3 (n=20): answer has 19 entries, expected a permutation of 0..19",
    )
    return build_context(
        problem or _sample_problem(),
        parent,
        inspirations=() if minimal else (other,),
        other_parent=other,
        failed_attempt=None if minimal else failed,
    )


class _SampleProblem(ProblemSpec):
    # Not loaded from a folder: the README text lives here instead of in a file.
    @property
    def readme_text(self) -> str:
        return _SAMPLE_README


def _sample_problem() -> ProblemSpec:
    return _SampleProblem.model_validate(_SAMPLE_PROBLEM)
