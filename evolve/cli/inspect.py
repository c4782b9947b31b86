"""`evolve show`, `lineage`, `diff` and `export`: look at single programs of a run."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from evolve.cli.common import db_option, open_store

if TYPE_CHECKING:
    from rich.tree import Tree

    from evolve.types import Evaluation, LLMCall, Program


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _plain(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _change(child: float | None, parent: float | None) -> str:
    if child is None or parent is None:
        return ""
    delta = child - parent
    colour = "green" if delta > 0 else "red" if delta < 0 else "dim"
    return f" [{colour}]({delta:+.4g})[/{colour}]"


# ---- show -------------------------------------------------------------------------------


@click.command(name="show")
@click.argument("program_id", type=int)
@click.option("--prompt", "with_prompt", is_flag=True,
              help="Also print the prompt and raw response of the LLM call.")
@click.option("--no-code", is_flag=True, help="Leave the code out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@db_option
def show(program_id: int, with_prompt: bool, no_code: bool, as_json: bool, db: str | None) -> None:
    """Show one program: status and reason, scores, metrics, feedback, parents, the LLM call
    that produced it, and its code."""
    from evolve.storage.leaderboard import llm_call

    store = open_store(db)
    try:
        program = store.get_program(program_id)
        run = store.get_run(program.run_id)
        evaluations = store.evaluations(program_id)
        parents = [store.get_program(p) for p in _parent_ids(program)]
        call = llm_call(store, program.llm_call_id) if program.llm_call_id is not None else None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(_show_json(program, run.problem, parents, evaluations, call),
                              indent=2))
        return
    _print_show(program, run.problem, parents, evaluations, call, with_prompt, not no_code)


def _parent_ids(program: Program) -> list[int]:
    return [p for p in (program.parent_id, program.other_parent_id) if p is not None]


def _show_json(
    p: Program, problem: str, parents: list[Program], evaluations: list[Evaluation],
    call: LLMCall | None,
) -> dict[str, Any]:
    return {
        "id": p.id, "run_id": p.run_id, "problem": problem, "status": p.status.value,
        "reason": p.reason, "iteration": p.iteration, "generation": p.generation,
        "island": p.island, "proposer": p.proposer, "template": p.template,
        "score": _plain(p.score), "test_score": _plain(p.test_score),
        "metrics": {k: _plain(v) for k, v in p.metrics.items()},
        "test_metrics": {k: _plain(v) for k, v in p.test_metrics.items()},
        "feedback": p.feedback,
        "parents": [{"id": q.id, "score": _plain(q.score)} for q in parents],
        "evaluations": [
            {"stage": e.stage, "status": e.status.value, "score": _plain(e.score),
             "seconds": e.seconds} for e in evaluations
        ],
        "llm_call": None if call is None else {
            "id": call.id, "model": call.model, "provider": call.provider,
            "status": call.status, "template": call.template,
            "template_hash": call.template_hash, "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens, "cost_usd": call.cost_usd,
            "latency_s": call.latency_s, "error": call.error,
        },
        "code": p.code,
    }


def _print_show(
    p: Program, problem: str, parents: list[Program], evaluations: list[Evaluation],
    call: LLMCall | None, with_prompt: bool, with_code: bool,
) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console()
    colour = "green" if p.status.value == "COMPLETE" else "red"
    console.print(
        f"[bold]program {p.id}[/bold]  run {p.run_id} ({escape(problem)})  "
        f"[{colour}]{p.status.value}[/{colour}]  iteration {p.iteration}  "
        f"generation {p.generation}  island {p.island}  proposer {escape(p.proposer)}"
        + (f"  template {escape(p.template)}" if p.template else "")
    )
    if p.reason:
        console.print(f"[bold]reason[/bold] {escape(p.reason)}")
    console.print(f"score {_num(p.score)}   test score {_num(p.test_score)}")
    if p.metrics or p.test_metrics:
        table = Table("metric", "train", "test", box=None, header_style="bold")
        for name in dict.fromkeys([*p.metrics, *p.test_metrics]):
            table.add_row(name, _num(p.metrics.get(name)), _num(p.test_metrics.get(name)))
        console.print(table)
    if evaluations:
        stages = ", ".join(
            f"{e.stage} {e.status.value} {_num(e.score)} ({e.seconds:.2f}s)" for e in evaluations
        )
        console.print(f"[bold]stages[/bold] {escape(stages)}")
    for label, q in zip(("parent", "other parent"), parents, strict=False):
        console.print(f"[bold]{label}[/bold] {q.id} score {_num(q.score)}"
                      f"{_change(p.score, q.score)}")
    if call is not None:
        console.print(
            f"[bold]LLM call[/bold] {call.id}: {escape(call.model)} via {escape(call.provider)}, "
            f"{call.status}, {call.input_tokens}+{call.output_tokens} tokens, "
            f"${call.cost_usd:.4f}, {call.latency_s:.1f}s, template "
            f"{escape(call.template or '-')} ({(call.template_hash or '-')[:12]})"
        )
        if call.error:
            console.print(f"  error: {escape(call.error)}")
        if with_prompt:
            for message in call.prompt:
                console.rule(f"prompt: {message.get('role', '?')}")
                console.print(message.get("content", ""), markup=False, highlight=False)
            console.rule("response")
            console.print(call.response or "", markup=False, highlight=False)
    if p.feedback:
        console.rule("feedback")
        console.print(p.feedback, markup=False, highlight=False)
    if with_code:
        console.rule("code")
        console.print(Syntax(p.code, "python", line_numbers=False, word_wrap=True))


# ---- lineage ----------------------------------------------------------------------------


@click.command(name="lineage")
@click.argument("program_id", type=int)
@click.option("--depth", type=click.IntRange(min=1), default=25, show_default=True,
              help="Generations back to show.")
@db_option
def lineage(program_id: int, depth: int, db: str | None) -> None:
    """Show PROGRAM_ID's ancestry as a tree: each program under the one it was derived from
    lists its parents, with its score and the change against its (first) parent."""
    from rich.console import Console

    from evolve.storage.leaderboard import ancestry

    store = open_store(db)
    try:
        found = ancestry(store, program_id, max_depth=depth)
    finally:
        store.close()
    Console().print(lineage_tree(found, program_id, depth))


def _label(p: Program, parent: Program | None) -> str:
    from rich.markup import escape

    colour = "green" if p.status.value == "COMPLETE" else "red"
    change = _change(p.score, parent.score if parent is not None else None)
    status = "" if p.status.value == "COMPLETE" else f" [{colour}]{p.status.value}[/{colour}]"
    return (f"[bold]{p.id}[/bold] score {_num(p.score)}{change}{status}  "
            f"[dim]{escape(p.proposer)} iter {p.iteration} gen {p.generation}[/dim]")


def lineage_tree(found: dict[int, Program], root_id: int, depth: int) -> Tree:
    from rich.tree import Tree

    def add(node: Tree, program: Program, level: int, seen: set[int]) -> None:
        for pid in _parent_ids(program):
            parent = found.get(pid)
            if parent is None or level >= depth:
                node.add(f"[dim]{pid} … (older ancestors: --depth {depth + 10})[/dim]")
                continue
            if pid in seen:
                node.add(f"[dim]{pid} (shown above)[/dim]")
                continue
            seen.add(pid)
            grand = found.get(parent.parent_id) if parent.parent_id is not None else None
            add(node.add(_label(parent, grand)), parent, level + 1, seen)

    root = found[root_id]
    first = found.get(root.parent_id) if root.parent_id is not None else None
    tree = Tree(_label(root, first))
    add(tree, root, 0, {root_id})
    return tree


# ---- diff -------------------------------------------------------------------------------


@click.command(name="diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("-U", "--context", "context", type=click.IntRange(min=0), default=3,
              show_default=True, help="Lines of context.")
@db_option
def diff(a: int, b: int, context: int, db: str | None) -> None:
    """Unified diff of the code of programs A and B."""
    store = open_store(db)
    try:
        left, right = store.get_program(a), store.get_program(b)
    finally:
        store.close()
    text = unified_diff(left, right, context)
    click.echo(text if text else f"programs {a} and {b} have identical code", nl=not text)


def unified_diff(left: Program, right: Program, context: int = 3) -> str:
    return "".join(
        difflib.unified_diff(
            left.code.splitlines(keepends=True),
            right.code.splitlines(keepends=True),
            fromfile=f"program {left.id} (run {left.run_id}, score {_num(left.score)})",
            tofile=f"program {right.id} (run {right.run_id}, score {_num(right.score)})",
            n=context,
        )
    )


# ---- export -----------------------------------------------------------------------------


@click.command(name="export")
@click.argument("program_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="File to write.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@db_option
def export(program_id: int, output: Path, force: bool, db: str | None) -> None:
    """Write PROGRAM_ID as a standalone file that `evolve eval PROBLEM FILE` scores again."""
    from evolve.errors import EvolveError

    store = open_store(db)
    try:
        program = store.get_program(program_id)
        problem = store.get_run(program.run_id).problem
    finally:
        store.close()
    if output.exists() and not force:
        raise EvolveError(f"{output} exists; pass --force to overwrite it")
    try:
        output.write_text(exported_source(program, problem), encoding="utf-8")
    except OSError as exc:
        raise EvolveError(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote program {program_id} to {output}; score it with "
               f"`evolve eval {problem} {output}`")


def exported_source(program: Program, problem: str) -> str:
    # Comments only: a module docstring or `from __future__` import keeps its first place.
    header = [
        f"# Exported by `evolve export` from run {program.run_id}, program {program.id} "
        f"(problem {problem}).",
        f"# status {program.status.value}, train score {_num(program.score)}, "
        f"test score {_num(program.test_score)}, iteration {program.iteration}, "
        f"proposer {program.proposer}.",
        f"# Score it again: evolve eval {problem} THIS_FILE",
    ]
    code = program.code if program.code.endswith("\n") else program.code + "\n"
    if code.startswith("#!"):
        first, _, rest = code.partition("\n")
        return "\n".join([first, *header]) + "\n" + rest
    return "\n".join(header) + "\n" + code
