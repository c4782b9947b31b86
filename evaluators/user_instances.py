"""Reading a user's own instances (``evolve eval PROBLEM PROGRAM --instances FILE.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evolve.errors import EvolveError


class InstanceFileError(EvolveError):
    """A user's --instances file is unreadable or does not have the expected shape."""


def read_json_list(path: Path, what: str) -> list[Any]:
    """The non-empty JSON list in ``path``; ``what`` names its items in error messages."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InstanceFileError(f"{path}: cannot read a JSON list of {what} ({exc})") from exc
    if not isinstance(raw, list) or not raw:
        raise InstanceFileError(f"{path}: expected a non-empty JSON list of {what} objects")
    return raw
