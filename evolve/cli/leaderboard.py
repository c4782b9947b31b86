"""`evolve leaderboard`: the best programs across runs, beside the problem's baselines."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import TYPE_CHECKING, Any

import click

from evolve.cli.common import db_option, open_store

if TYPE_CHECKING:
    from evaluators.problem import ProblemSpec
    from evolve.baselines import Baseline
    from evolve.storage import Store
    from evolve.storage.leaderboard import Entry, LeaderboardQuery

_STATUSES = ("COMPLETE", "INVALID", "FAILED", "TIMEOUT", "EDIT_FAILED", "DUPLICATE", "PENDING",
             "RUNNING")
# Bookkeeping metrics the engine adds; never worth a column.
_HIDDEN_METRICS = {"stage", "stages", "instances"}
_FALLBACK_METRICS = 3
OVERFIT_RATIO = 0.25

HELP = f"""Best programs across runs, best first, with the problem's baselines as rows.

Each row shows the train score, the held-out test score, the problem's main metrics, the
proposer that wrote the program, its iteration, and what it took to find it: LLM USD spent
by its run up to its creation and evaluations run up to its iteration (duplicates and
failed edits are not evaluations).

Baselines (the heuristics in the problem's baselines/ folder) are shown when one problem
is listed; they are scored once on train and test and cached (see EVOLVE_CACHE).

OVERFIT marks a row whose test score is below its train score by more than
--overfit-ratio (default {OVERFIT_RATIO}) of the larger of the two magnitudes, i.e. it
does markedly worse on instances it never saw (scores are higher-is-better).
"""


def is_overfit(score: float | None, test: float | None, ratio: float = OVERFIT_RATIO) -> bool:
    if score is None or test is None or not (math.isfinite(score) and math.isfinite(test)):
        return False
    drop = score - test
    return drop > 0 and drop > ratio * max(abs(score), abs(test))


def _plain(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@click.command(name="leaderboard", help=HELP)
@click.option("--problem", default=None, help="Only programs of this problem.")
@click.option("--run", "run_id", type=int, default=None, help="Only programs of this run.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many programs (baseline rows come on top of them).")
@click.option(
    "--by",
    default="score",
    show_default=True,
    help="Rank by score (train), test_score (held out) or any metric name.",
)
@click.option("--ascending", is_flag=True, help="Lowest first (for a gap or runtime metric).")
@click.option("--model", default=None, help="Only programs written by this model / proposer.")
@click.option(
    "--template", "template_hash", default=None, metavar="HASH",
    help="Only programs whose prompt template hash starts with HASH.",
)
@click.option(
    "--status", "statuses", multiple=True, default=("COMPLETE",), show_default=True,
    type=click.Choice(_STATUSES, case_sensitive=False), help="Program status (repeatable).",
)
@click.option("--overfit-ratio", type=click.FloatRange(min=0), default=OVERFIT_RATIO,
              show_default=True, help="Relative train-test drop flagged as OVERFIT.")
@click.option("--no-baselines", is_flag=True, help="Do not show (or compute) baseline rows.")
@click.option("--sandbox", "sandbox_kind", type=click.Choice(["auto", "docker", "process"]),
              default="auto", show_default=True, help="Where baselines are scored (first time).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@db_option
def leaderboard(
    problem: str | None, run_id: int | None, top: int, by: str, ascending: bool,
    model: str | None, template_hash: str | None, statuses: tuple[str, ...],
    overfit_ratio: float, no_baselines: bool, sandbox_kind: str, as_json: bool,
    as_csv: bool, db: str | None,
) -> None:
    from evolve.storage.leaderboard import LeaderboardQuery
    from evolve.types import Status

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    query = LeaderboardQuery(
        problem=problem, run_id=run_id, top=top, by=by, ascending=ascending, model=model,
        template_hash=template_hash, statuses=tuple(Status(s.upper()) for s in statuses),
    )
    store = open_store(db)
    try:
        rows, metrics = build_rows(store, query, not no_baselines, sandbox_kind, overfit_ratio)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif as_csv:
        click.echo(to_csv(rows, metrics), nl=False)
    elif not any(r["kind"] == "program" for r in rows):
        click.echo(f"no programs match in {store.display}; list runs with `evolve runs`")
    else:
        _print_table(rows, metrics, by)


def _check_filters(store: Store, query: LeaderboardQuery) -> None:
    from evolve.errors import EvolveError, NotFoundError
    from evolve.storage.leaderboard import metric_exists

    if query.run_id is not None:
        store.get_run(query.run_id)  # NotFoundError names the missing run
    if query.problem is not None and not store.list_runs(problem=query.problem, limit=1):
        raise NotFoundError(
            f"no runs of problem '{query.problem}' in {store.display}; list them with "
            "`evolve runs`"
        )
    if not metric_exists(store, query.by, query.problem):
        raise EvolveError(
            f"--by {query.by}: no program has a metric of that name; use score, test_score "
            "or a metric shown by `evolve show ID`"
        )


def build_rows(
    store: Store, query: LeaderboardQuery, with_baselines: bool, sandbox_kind: str,
    overfit_ratio: float = OVERFIT_RATIO,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The leaderboard as plain rows (what --json prints) and its metric columns."""
    from evolve.storage.leaderboard import leaderboard as query_leaderboard
    from evolve.storage.leaderboard import problems_of

    _check_filters(store, query)
    entries = query_leaderboard(store, query)
    problems = {query.problem} if query.problem else problems_of(
        store, [e.program.id for e in entries]
    )
    problem = next(iter(problems)) if len(problems) == 1 else None
    spec = _spec(store, problem) if problem is not None else None
    found: list[Baseline] = []
    if with_baselines and spec is not None:
        from evolve.baselines import baselines

        found = baselines(spec, sandbox_kind=sandbox_kind)
    metrics = _metric_columns(spec, entries, query.by) if problem is not None else []
    rows = [_program_row(e, metrics, overfit_ratio) for e in entries]
    rows += [_baseline_row(b, problem or "", metrics, query.by, overfit_ratio) for b in found]
    if found:
        rows = _merge(rows, query.ascending)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows, metrics


def _spec(store: Store, problem: str) -> ProblemSpec | None:
    from evolve.errors import ProblemError
    from evolve.problems import find_problem
    from evolve.storage.leaderboard import problem_source

    try:
        return find_problem(problem_source(store, problem))
    except ProblemError as exc:
        print(f"note: no baselines or main metrics for '{problem}': {exc}", file=sys.stderr)
        return None


def _metric_columns(spec: ProblemSpec | None, entries: list[Entry], by: str) -> list[str]:
    names = list(spec.main_metrics) if spec is not None else []
    if not names and entries:
        names = [k for k in entries[0].program.metrics if k not in _HIDDEN_METRICS]
        names = names[:_FALLBACK_METRICS]
    if by not in ("score", "test_score") and by not in names:
        names.insert(0, by)
    return names


def _program_row(entry: Entry, metrics: list[str], ratio: float) -> dict[str, Any]:
    p = entry.program
    return {
        "rank": 0,
        "kind": "program",
        "id": p.id,
        "name": None,
        "run_id": p.run_id,
        "problem": entry.problem,
        "status": p.status.value,
        "score": _plain(p.score),
        "test_score": _plain(p.test_score),
        "overfit": is_overfit(p.score, p.test_score, ratio),
        "metrics": {m: _plain(p.metrics.get(m)) for m in metrics},
        "sort_value": _plain(entry.sort_value),
        "proposer": p.proposer,
        "model": entry.model,
        "template": p.template,
        "template_hash": entry.template_hash,
        "iteration": p.iteration,
        "evaluations": entry.evaluations,
        "cost_usd": entry.cost_usd,
    }


def _baseline_row(
    b: Baseline, problem: str, metrics: list[str], by: str, ratio: float
) -> dict[str, Any]:
    sort_value = {"score": b.score, "test_score": b.test_score}.get(by, b.metrics.get(by))
    return {
        "rank": 0,
        "kind": "baseline",
        "id": None,
        "name": b.name,
        "run_id": None,
        "problem": problem,
        "status": b.status,
        "score": _plain(b.score),
        "test_score": _plain(b.test_score),
        "overfit": is_overfit(b.score, b.test_score, ratio),
        "metrics": {m: _plain(b.metrics.get(m)) for m in metrics},
        "sort_value": _plain(sort_value),
        "proposer": "baseline",
        "model": None,
        "template": None,
        "template_hash": None,
        "iteration": None,
        "evaluations": None,
        "cost_usd": None,
    }


def _merge(rows: list[dict[str, Any]], ascending: bool) -> list[dict[str, Any]]:
    """Interleave baselines with programs by the ranking value; rows without one go last."""
    sign = 1.0 if ascending else -1.0

    def key(row: dict[str, Any]) -> tuple[bool, float, int]:
        value = row["sort_value"]
        return (value is None, sign * (value or 0.0), 0 if row["kind"] == "program" else 1)

    return sorted(rows, key=key)  # stable: the query's tie order among programs is kept


CSV_HEAD = ["rank", "kind", "id", "name", "run_id", "problem", "status", "score", "test_score",
            "overfit"]
CSV_TAIL = ["proposer", "model", "template", "template_hash", "iteration", "evaluations",
            "cost_usd"]


def to_csv(rows: list[dict[str, Any]], metrics: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEAD + metrics + CSV_TAIL)
    for r in rows:
        cells = [r[k] for k in CSV_HEAD] + [r["metrics"].get(m) for m in metrics]
        cells += [r[k] for k in CSV_TAIL]
        writer.writerow("" if c is None else c for c in cells)
    return out.getvalue()


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _print_table(rows: list[dict[str, Any]], metrics: list[str], by: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    show_status = any(r["status"] != "COMPLETE" for r in rows if r["kind"] == "program")
    heads = ["#", "program", "run"] + (["status"] if show_status else [])
    heads += ["score", "test"] + metrics + ["proposer", "iter", "evals", "cost $", ""]
    for head in heads:
        left = head in ("program", "status", "proposer", "")
        table.add_column(head + (" *" if head in (by, by.replace("_score", "")) else ""),
                         justify="left" if left else "right")
    for r in rows:
        baseline = r["kind"] == "baseline"
        cells = [str(r["rank"]), f"baseline {escape(r['name'])}" if baseline else str(r["id"]),
                 "" if baseline else str(r["run_id"])]
        cells += [r["status"]] if show_status else []
        cells += [_num(r["score"]), _num(r["test_score"])]
        cells += [_num(r["metrics"].get(m)) for m in metrics]
        cells += [
            escape(r["model"] or r["proposer"]),
            "" if baseline else str(r["iteration"]),
            "" if baseline else str(r["evaluations"]),
            "" if baseline else f"{r['cost_usd']:.4f}",
            "[red]OVERFIT[/red]" if r["overfit"] else "",
        ]
        table.add_row(*cells, style="cyan italic" if baseline else None)
    Console(width=160).print(table)
