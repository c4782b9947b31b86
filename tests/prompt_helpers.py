"""Fixed problem, programs and context shared by the prompt-template tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluators.problem import ProblemSpec, load_problem_dir
from evolve.prompting import build_context
from evolve.types import Program, Status

FIXTURE = Path(__file__).parent / "fixtures" / "prompt_problem"

PARENT_CODE = (FIXTURE / "seed.py").read_text(encoding="utf-8")

MDD_CODE = '''"""Modified due date."""

# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    left, order, t = set(range(len(p))), [], 0
    while left:
        j = min(left, key=lambda k: (max(t + p[k], d[k]), p[k]))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END
'''

SPT_BLOCK = "def schedule(p, d, w):\n    return sorted(range(len(p)), key=lambda j: p[j])\n"


def problem() -> ProblemSpec:
    return load_problem_dir(FIXTURE)


def program(id: int, code: str, **fields: Any) -> Program:
    fields.setdefault("status", Status.COMPLETE)
    return Program(id=id, run_id=1, code=code, code_hash=f"h{id}", iteration=id, **fields)


def parent() -> Program:
    return program(
        12,
        PARENT_CODE,
        score=-0.1875,
        metrics={"mean_gap": 0.1875, "solved_fraction": 0.25},
        feedback="worst class TF=0.8 RDD=0.2: gap 0.41",
    )


def mdd() -> Program:
    return program(8, MDD_CODE, score=-0.0213, metrics={"mean_gap": 0.0213}, feedback="ok")


def spt() -> Program:
    code = PARENT_CODE.replace(
        "    return sorted(range(len(p)), key=lambda j: (d[j], p[j]))\n",
        "    return sorted(range(len(p)), key=lambda j: p[j])\n",
    )
    return program(3, code, score=-0.52, metrics={"mean_gap": 0.52})


def failed_child() -> Program:
    return program(
        13,
        PARENT_CODE,
        status=Status.EDIT_FAILED,
        parent_id=12,
        edit="<<<<<<< SEARCH\n    return sorted(jobs)\n=======\n    return jobs\n>>>>>>> REPLACE\n",
        reason="SEARCH block 1 does not match the EVOLVE-BLOCK; closest code at line 5",
    )


def full_context() -> dict[str, Any]:
    return build_context(
        problem(),
        parent(),
        inspirations=[mdd(), spt()],
        other_parent=mdd(),
        failed_attempt=failed_child(),
    )


def minimal_context() -> dict[str, Any]:
    bare = program(12, PARENT_CODE, score=-0.1875)
    return build_context(problem(), bare, other_parent=mdd())
