"""`evolve report`: one self-contained HTML file describing a run.

The file embeds plotly.js, so it opens offline and can be mailed or archived as is. Data
preparation (pure functions over frozen values) is separate from drawing, so the numbers a
plot shows can be tested without a browser.
"""

from __future__ import annotations

import bisect
import html
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evolve.types import LLMCall, Program, Run, Status

if TYPE_CHECKING:
    from evolve.storage import Store

NOT_EVALUATED = {Status.DUPLICATE, Status.EDIT_FAILED, Status.PENDING, Status.RUNNING}
STATUS_COLOURS = {
    "COMPLETE": "#2ca02c", "INVALID": "#d62728", "TIMEOUT": "#ff7f0e", "FAILED": "#7f7f7f",
    "EDIT_FAILED": "#9467bd", "DUPLICATE": "#17becf", "PENDING": "#bcbd22", "RUNNING": "#8c564b",
}
STATUS_BINS = 30
TOP_ROWS = 15


@dataclass(frozen=True)
class Progress:
    """Per evaluated program in evaluation order: what the run had found by then."""

    evaluations: list[int]
    usd: list[float]
    best: list[float | None]
    median: list[float | None]


@dataclass(frozen=True)
class Yield:
    group: str
    proposals: int
    valid: int  # evaluated COMPLETE
    improved: int  # COMPLETE and better than its (first) parent


def evaluated_order(programs: list[Program]) -> list[Program]:
    return sorted((p for p in programs if p.status not in NOT_EVALUATED),
                  key=lambda p: (p.iteration, p.id))


def progress(programs: list[Program], calls: list[LLMCall]) -> Progress:
    """Best and median COMPLETE score so far, against evaluations and against USD spent."""
    spend = sorted(calls, key=lambda c: (c.created_at is None, c.created_at, c.id))
    usd_total, call_index = 0.0, 0
    scores: list[float] = []
    out = Progress([], [], [], [])
    for count, p in enumerate(evaluated_order(programs), start=1):
        # Spend up to the program's creation: the calls that led to it, not later ones.
        while call_index < len(spend) and _not_after(spend[call_index], p):
            usd_total += spend[call_index].cost_usd
            call_index += 1
        if p.status is Status.COMPLETE and p.score is not None and math.isfinite(p.score):
            bisect.insort(scores, p.score)
        out.evaluations.append(count)
        out.usd.append(usd_total)
        out.best.append(scores[-1] if scores else None)
        out.median.append(_median(scores))
    return out


def _not_after(call: LLMCall, program: Program) -> bool:
    if call.created_at is None or program.created_at is None:
        return True
    return call.created_at <= program.created_at


def _median(ordered: list[float]) -> float | None:
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def status_bins(
    programs: list[Program], bins: int = STATUS_BINS
) -> tuple[list[str], dict[str, list[int]]]:
    """Programs per status in consecutive iteration ranges (labels, counts per status)."""
    if not programs:
        return [], {}
    last = max(p.iteration for p in programs)
    width = max(1, math.ceil((last + 1) / bins))
    n = last // width + 1
    labels = [
        str(i) if width == 1 else f"{i * width}-{min(last, (i + 1) * width - 1)}"
        for i in range(n)
    ]
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for p in programs:
        counts[p.status.value][p.iteration // width] += 1
    ordered = {s: counts[s] for s in STATUS_COLOURS if s in counts}
    return labels, ordered


def yields(programs: list[Program], group_of: dict[int, str]) -> list[Yield]:
    """Per group (proposer, template): proposals, valid ones, and ones that improved."""
    by_id = {p.id: p for p in programs}
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in programs:
        if p.parent_id is None:
            continue  # the seed was not proposed
        row = tally[group_of.get(p.id, "(none)")]
        row[0] += 1
        if p.status is Status.COMPLETE:
            row[1] += 1
            parent = by_id.get(p.parent_id)
            if (parent is not None and p.score is not None and parent.score is not None
                    and p.score > parent.score):
                row[2] += 1
    return [Yield(g, *row) for g, row in sorted(tally.items())]


def champion(run: Run, programs: list[Program]) -> Program | None:
    by_id = {p.id: p for p in programs}
    if run.best_program_id in by_id:
        return by_id[run.best_program_id]
    done = [p for p in programs if p.status is Status.COMPLETE and p.score is not None]
    return max(done, key=lambda p: (p.score, -p.id)) if done else None


def chain(program: Program, programs: list[Program]) -> list[Program]:
    """Primary-parent chain from the seed to ``program``, oldest first."""
    by_id = {p.id: p for p in programs}
    out: list[Program] = []
    current: Program | None = program
    while current is not None and current not in out:
        out.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return out[::-1]


def build_report(store: Store, run_id: int) -> str:
    """The HTML text of the report of ``run_id`` (NotFoundError when it does not exist)."""
    from evolve.report_html import render

    run = store.get_run(run_id)
    programs = store.programs(run_id)
    calls = store.llm_calls(run_id)
    return render(run, programs, calls)


def template_groups(programs: list[Program], calls: list[LLMCall]) -> dict[int, str]:
    hashes = {c.id: c.template_hash for c in calls}
    out: dict[int, str] = {}
    for p in programs:
        digest = hashes.get(p.llm_call_id) if p.llm_call_id is not None else None
        name = p.template or "(no template)"
        out[p.id] = f"{name} {digest[:8]}" if digest else name
    return out


def top_table(programs: list[Program], limit: int = TOP_ROWS) -> str:
    done = [p for p in programs if p.status is Status.COMPLETE and p.score is not None]
    done.sort(key=lambda p: (-(p.score or 0.0), p.id))
    head = ["program", "score", "test score", "iteration", "generation", "proposer",
            "template"]
    rows = [
        [str(p.id), _fmt(p.score), _fmt(p.test_score), str(p.iteration), str(p.generation),
         p.proposer, p.template or ""]
        for p in done[:limit]
    ]
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="top"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def summary(run: Run, programs: list[Program], calls: list[LLMCall]) -> dict[str, Any]:
    counts = Counter(p.status.value for p in programs)
    best = champion(run, programs)
    return {
        "run": run.id,
        "problem": run.problem,
        "status": run.status.value,
        "stop reason": run.stop_reason or "-",
        "started (UTC)": run.started_at.isoformat(timespec="seconds"),
        "programs": len(programs),
        "evaluations": len(evaluated_order(programs)),
        "statuses": ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-",
        "best score": _fmt(best.score) if best else "-",
        "best test score": _fmt(best.test_score) if best else "-",
        "champion": best.id if best else "-",
        "LLM calls": len(calls),
        "cost USD": f"{sum(c.cost_usd for c in calls):.4f}",
    }
