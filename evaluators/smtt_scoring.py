"""Host-side checking and scoring of SMTT answers: pure functions, no sandbox."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from evaluators.base import EvaluationResult, invalid
from evaluators.smtt_instances import Instance
from evaluators.smtt_refs import Reference


def _describe(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def check_permutation(answer: Any, n: int) -> str | None:
    """Why ``answer`` is not a permutation of 0..n-1 of ints, or None if it is."""
    if not isinstance(answer, list):
        return f"returned {type(answer).__name__} {_describe(answer)}, expected a list of {n} ints"
    if len(answer) != n:
        return f"returned {len(answer)} indices for {n} jobs; return each job index exactly once"
    seen = bytearray(n)
    for pos, x in enumerate(answer):
        if isinstance(x, bool) or not isinstance(x, int):
            kind = type(x).__name__
            if isinstance(x, float) and math.isnan(x):
                kind = "NaN float"
            return f"element {pos} is a {kind} ({_describe(x)}); job indices must be ints"
        if not 0 <= x < n:
            return f"element {pos} is {x}, outside the job indices 0..{n - 1}"
        if seen[x]:
            return f"job {x} appears twice (again at position {pos}); each job exactly once"
        seen[x] = 1
    return None  # n distinct ints in range: nothing can be missing


def tardiness(inst: Instance, order: Sequence[int]) -> int:
    p, d, w = inst.p, inst.d, inst.w
    t = 0
    total = 0
    for j in order:
        t += p[j]
        late = t - d[j]
        if late > 0:
            total += w[j] * late
    return total


def label(inst: Instance, index: int) -> str:
    return f"instance {index} (n={inst.n}, {inst.cls})"


def score(
    instances: Sequence[Instance],
    refs: Sequence[Reference],
    answers: Sequence[Any],
    seconds: float,
) -> EvaluationResult:
    """Validate every answer, then compute the gap metrics; the first bad answer is fatal."""
    if len(answers) != len(instances):
        return invalid(f"got {len(answers)} answers for {len(instances)} instances")
    values: list[int] = []
    for i, (inst, answer) in enumerate(zip(instances, answers, strict=True)):
        problem = check_permutation(answer, inst.n)
        if problem is not None:
            return invalid(f"schedule() on {label(inst, i)} {problem}")
        values.append(tardiness(inst, answer))

    gaps: list[float] = []
    by_class: dict[str, list[float]] = defaultdict(list)
    by_size: dict[int, list[float]] = defaultdict(list)
    solved = 0
    for inst, ref, value in zip(instances, refs, values, strict=True):
        if value <= ref.value + 1e-9:
            solved += 1
        if ref.value > 0:
            gap = (value - ref.value) / ref.value
            gaps.append(gap)
            by_class[inst.cls].append(gap)
            by_size[inst.n].append(gap)
    ref_sum = sum(r.value for r in refs)
    val_sum = float(sum(values))
    mean_gap = statistics.fmean(gaps) if gaps else 0.0
    metrics: dict[str, float] = {
        "gap_mean": mean_gap,
        "gap_median": statistics.median(gaps) if gaps else 0.0,
        "sum_ratio_gap": val_sum / ref_sum - 1.0
        if ref_sum > 0
        else (0.0 if val_sum == 0 else math.inf),
        "solved_fraction": solved / len(instances),
        "seconds_per_instance": seconds / len(instances),
        "instances": float(len(instances)),
    }
    for n in sorted(by_size):
        metrics[f"gap_n{n}"] = statistics.fmean(by_size[n])
    return EvaluationResult(score=-mean_gap, metrics=metrics, feedback=_feedback(by_class, refs))


def _feedback(by_class: dict[str, list[float]], refs: Sequence[Reference]) -> str:
    if not by_class:
        return "every instance has a zero reference; the mean gap is over no instance"
    ranked = sorted(by_class.items(), key=lambda kv: -statistics.fmean(kv[1]))
    worst = ", ".join(f"{cls} {100 * statistics.fmean(g):.1f}%" for cls, g in ranked[:3])
    best = ", ".join(f"{cls} {100 * statistics.fmean(g):.1f}%" for cls, g in ranked[-2:])
    kind = "optimal" if all(r.optimal for r in refs) else "best-known"
    return (
        f"mean relative gap to the {kind} reference by class (TF = tardiness factor, "
        f"RDD = due-date range): worst {worst}; best {best}"
    )
