"""`evolve prompts`: list, show, edit, render, validate and diff the prompt templates."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from evolve.cli.common import db_option
from evolve.errors import ConfigError, NotFoundError, TemplateError

if TYPE_CHECKING:
    from evaluators.problem import ProblemSpec
    from evolve.prompting import PromptLibrary
    from evolve.storage import Store

PROMPTS_HELP = "Folder of template overrides, searched before the problem's and the built-ins."
PROBLEM_HELP = "Problem name or folder; its prompts/ folder (if any) is searched too."


def _library(prompts_dir: Path | None, problem: str | None) -> PromptLibrary:
    from evolve.prompting import library_for

    spec = _problem(problem) if problem else None
    return library_for(spec.dir if spec else None, prompts_dir)


def _problem(name: str) -> ProblemSpec:
    from evolve.problems import find_problem

    return find_problem(name)


def _with_sources(func: Any) -> Any:
    func = click.option("--problem", "problem", default=None, metavar="P", help=PROBLEM_HELP)(func)
    return click.option(
        "--prompts",
        "prompts_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        metavar="DIR",
        help=PROMPTS_HELP,
    )(func)


@click.group(name="prompts")
def prompts() -> None:
    """List, show, edit, render and check the Jinja2 prompt templates.

    Templates are looked up in --prompts DIR (or the run config's prompts.dir), then in
    the problem's prompts/ folder, then in the built-ins; the first file found wins.
    """


@prompts.command(name="list")
@_with_sources
def list_cmd(prompts_dir: Path | None, problem: str | None) -> None:
    """Every template: name, where it comes from, content hash."""
    infos = _library(prompts_dir, problem).list()
    width = max(len(i.name) for i in infos)
    click.echo(f"{'NAME':<{width}}  {'HASH':<12}  ORIGIN")
    for info in infos:
        click.echo(f"{info.name:<{width}}  {info.hash:<12}  {info.origin}")


@prompts.command()
@click.argument("name")
@_with_sources
def show(name: str, prompts_dir: Path | None, problem: str | None) -> None:
    """Print the source of template NAME (e.g. diff, or partials/_program.j2)."""
    click.echo(_library(prompts_dir, problem).source(name), nl=False)


@prompts.command()
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Override folder to edit in (default: the problem's prompts/, else ./prompts).",
)
@click.option("--problem", "problem", default=None, metavar="P", help=PROBLEM_HELP)
def edit(name: str, folder: Path | None, problem: str | None) -> None:
    """Edit template NAME in an override folder with $EDITOR, then validate it.

    The built-in is copied into the folder first when the folder has no copy yet.
    """
    from evolve.paths import builtin_prompts_dir
    from evolve.prompting import PromptLibrary, template_name

    name = template_name(name)
    if folder is None:
        folder = _problem(problem).dir / "prompts" if problem else Path("prompts")
    if folder.resolve() == builtin_prompts_dir().resolve():
        raise TemplateError(
            f"{folder} is the built-in template folder; pass --dir DIR to edit a copy there"
        )
    target = folder / name
    if not target.is_file():
        source = PromptLibrary().source(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        click.echo(f"copied the built-in {name} to {target}")
    before = target.read_text(encoding="utf-8")
    click.edit(filename=str(target))
    if target.read_text(encoding="utf-8") == before:
        click.echo(f"{target}: no changes")
    library = PromptLibrary([folder])
    errors = library.validate(_sample_contexts(problem))
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        click.echo(
            f"{target} was saved but does not render; fix it with `evolve prompts edit {name} "
            f"--dir {folder}`",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"{target}: valid (hash {library.template_hash(name)})")
    if problem is None:
        # Runs search a problem's own prompts/ folder by themselves, but not this one.
        click.echo(
            f"runs use it with `--set prompts.dir={folder}`; other commands: --prompts {folder}"
        )


def _sample_contexts(problem: str | None) -> list[dict[str, Any]]:
    from evolve.prompting import sample_context

    spec = _problem(problem) if problem else None
    return [sample_context(spec), sample_context(spec, minimal=True)]


@prompts.command()
@click.argument("name")
@click.option("--problem", "problem", default=None, metavar="P", help="Problem name or folder.")
@click.option("--run", "run_id", type=int, default=None, help="Take the context from this run.")
@click.option(
    "--program", "program_id", type=int, default=None, help="Parent program (default: best)."
)
@click.option("--other", "other_id", type=int, default=None, help="Second parent (crossover).")
@click.option(
    "--inspirations", "n_inspirations", type=click.IntRange(0, 20), default=2, show_default=True
)
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help=PROMPTS_HELP,
)
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@db_option
def render(
    name: str,
    problem: str | None,
    run_id: int | None,
    program_id: int | None,
    other_id: int | None,
    n_inspirations: int,
    prompts_dir: Path | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Print exactly what template NAME would send.

    For a mutation kind (diff, rewrite, crossover, fix) that is the system and the user
    message. With --run/--program the context is a stored program of that run (its parent
    when the program failed, for a fix prompt); otherwise a sample built from the problem's
    seed (or, with no --problem, an SMTT-like sample).
    """
    from evolve.prompting import KINDS, library_for, sample_context, template_name

    spec: ProblemSpec | None = None
    if run_id is None and program_id is None:
        spec = _problem(problem) if problem else None
        context = sample_context(spec)
        click.echo(
            "(sample context: scores, metrics and feedback are made up; pass --run R or "
            "--program ID for a stored one)",
            err=True,
        )
    else:
        from evolve.cli.common import open_store

        with open_store(db) as store:
            spec, context, run_prompts = _stored_context(
                store, problem, run_id, program_id, other_id, n_inspirations
            )
        prompts_dir = prompts_dir or run_prompts
    library = library_for(spec.dir if spec else None, prompts_dir)
    kind = template_name(name).removesuffix(".j2")
    if kind in KINDS:
        rendered = library.render_messages(kind, context)
        if as_json:
            payload = {
                "template": rendered.template,
                "template_hash": rendered.template_hash,
                "messages": rendered.messages,
            }
            click.echo(json.dumps(payload, indent=2))
            return
        for message in rendered.messages:
            label = "system.j2" if message["role"] == "system" else rendered.template
            click.echo(f"===== {message['role']} ({label}, prompt hash {rendered.template_hash})")
            click.echo(message["content"], nl=not message["content"].endswith("\n"))
        return
    text = library.render(name, context)
    click.echo(json.dumps({"template": name, "text": text}) if as_json else text, nl=as_json)


def _stored_context(
    store: Store,
    problem: str | None,
    run_id: int | None,
    program_id: int | None,
    other_id: int | None,
    n_inspirations: int,
) -> tuple[ProblemSpec, dict[str, Any], Path | None]:
    from evolve.prompt_context import FAILED_STATUSES, build_context

    if program_id is None:
        assert run_id is not None
        best = store.get_run(run_id).best_program_id
        if best is None:
            raise NotFoundError(f"run {run_id} has no scored program yet; pass --program ID")
        program_id = best
    program = store.get_program(program_id)
    if run_id is not None and program.run_id != run_id:
        raise NotFoundError(f"program {program_id} belongs to run {program.run_id}, not {run_id}")
    run = store.get_run(program.run_id)
    spec = _problem(problem or run.problem)
    if spec.name != run.problem:
        raise ConfigError(
            f"run {run.id} is on problem '{run.problem}', not '{spec.name}'; drop --problem"
        )
    parent, failed = program, None
    if program.status in FAILED_STATUSES and program.parent_id is not None:
        # A failed child is shown as the attempt that went wrong on its parent: that is
        # what the engine's fix prompt gets.
        parent, failed = store.get_program(program.parent_id), program
    ranked = store.best_programs(run_id=run.id, limit=n_inspirations + 1)
    inspirations = [p for p in ranked if p.id != parent.id][:n_inspirations]
    others = [p for p in ranked if p.id != parent.id]
    other = store.get_program(other_id) if other_id is not None else next(iter(others), None)
    context = build_context(
        spec, parent, inspirations=inspirations, other_parent=other, failed_attempt=failed
    )
    run_dir = (run.config.get("prompts") or {}).get("dir")
    return spec, context, Path(run_dir) if run_dir else None


@prompts.command()
@click.argument(
    "folder", required=False, type=click.Path(path_type=Path, file_okay=False), metavar="[DIR]"
)
@click.option("--problem", "problem", default=None, metavar="P", help=PROBLEM_HELP)
def validate(folder: Path | None, problem: str | None) -> None:
    """Render every template (DIR's overrides over the built-ins) against a sample context."""
    from evolve.prompting import PromptLibrary, library_for

    spec = _problem(problem) if problem else None
    library = PromptLibrary([folder]) if folder else library_for(spec.dir if spec else None)
    errors = library.validate(_sample_contexts(problem))
    names = library.names()
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        click.echo(f"{len(errors)} error(s) in {len(names)} templates", err=True)
        raise SystemExit(1)
    click.echo(f"all {len(names)} templates render")


@prompts.command(name="diff")
@click.argument("name")
@_with_sources
def diff_cmd(name: str, prompts_dir: Path | None, problem: str | None) -> None:
    """Unified diff of the override of NAME against the built-in."""
    from evolve.prompting import template_name

    library = _library(prompts_dir, problem)
    name = template_name(name)
    path, origin = library.locate(name)
    if origin == "builtin":
        click.echo(f"{name} is not overridden (the built-in is used)")
        return
    builtin = library.builtin_source(name)
    override = path.read_text(encoding="utf-8")
    lines = difflib.unified_diff(
        (builtin or "").splitlines(keepends=True),
        override.splitlines(keepends=True),
        fromfile=f"builtin/{name}" if builtin is not None else "/dev/null",
        tofile=str(path),
    )
    text = "".join(lines)
    click.echo(text if text else f"{path} is identical to the built-in {name}", nl=not text)
