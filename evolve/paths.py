"""Where the built-in problems and prompts live: a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # Source checkout / editable install: problems/ and prompts/ sit beside evolve/.
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    # Wheel: pyproject force-includes them as evolve/_data/<name>.
    return _PACKAGE / "_data" / name


def builtin_problems_dir() -> Path:
    return _data_dir("problems")


def builtin_prompts_dir() -> Path:
    return _data_dir("prompts")
