"""Entry point of the `evolve` command.

Sub-commands are registered by dotted path and imported only when invoked, so that
``evolve --help`` never imports litellm, openai, anthropic, docker or numpy-heavy code.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# name -> (module, attribute, one-line help). Keep the help here so --help needs no import.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("evolve.cli.run", "run", "Start an evolution run on a problem."),
    "resume": ("evolve.cli.run", "resume", "Continue a stopped, interrupted or crashed run."),
    "eval": ("evolve.cli.eval", "eval_cmd", "Score a program file exactly as a run would."),
    "runs": ("evolve.cli.runs", "runs", "List runs in the database."),
    "leaderboard": ("evolve.cli.leaderboard", "leaderboard", "Best programs across runs."),
    "show": ("evolve.cli.inspect", "show", "Show one program: code, metrics, parents."),
    "lineage": ("evolve.cli.inspect", "lineage", "A program's ancestry with score changes."),
    "diff": ("evolve.cli.inspect", "diff", "Diff the code of two programs."),
    "export": ("evolve.cli.inspect", "export", "Write a program as a standalone file."),
    "report": ("evolve.cli.report", "report", "Write a self-contained HTML report of a run."),
    "prompts": ("evolve.cli.prompts", "prompts", "List, show, edit, render and check templates."),
    "problems": ("evolve.cli.problems", "problems", "List and show problems."),
    "init": ("evolve.cli.problems", "init", "Scaffold a new problem folder."),
    "sandbox": ("evolve.cli.sandbox", "sandbox", "Build and check the candidate sandbox."),
    "db": ("evolve.cli.db", "db", "Database maintenance (migrations)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return _not_yet(cmd_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_yet(name: str) -> click.Command:
    @click.command(name=name, help=COMMANDS[name][2] + " (not available in this build)")
    def placeholder() -> None:
        raise click.ClickException(f"`evolve {name}` is not available in this build yet")

    return placeholder


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="evolve")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """evolve: discover scheduling heuristics by LLM-driven evolution.

    Candidates run in a sandbox and are scored by a trusted verifier; everything is
    stored in a SQL database (./evolve.db, or --db / EVOLVE_DB).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; package errors print one line and exit 1 unless --debug."""
    from evolve.errors import EvolveError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("EVOLVE_DEBUG") == "1"
    try:
        return cli.main(args=args, prog_name="evolve", standalone_mode=False)
    except EvolveError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
