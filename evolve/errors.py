"""The error family of the whole package.

Every error a user can cause (a bad config, a missing file, an unknown id) is an
``EvolveError``: the CLI prints its message as one line and exits 1, with no traceback
unless ``--debug`` is given. Anything else escaping is a bug and keeps its traceback.
This module imports nothing so that every package (sandbox, evaluators) can share it.
"""

from __future__ import annotations


class EvolveError(Exception):
    """A user-facing error: the message is one line that says what to do next."""


class ConfigError(EvolveError):
    """A run config, problem.yaml or --set override is invalid."""


class ProblemError(EvolveError):
    """A problem folder is broken (missing seed, unknown verifier, bad key)."""


class StorageError(EvolveError):
    """The database could not be read or written, or is at the wrong revision."""


class NotFoundError(EvolveError):
    """A run, program or template id that does not exist."""


class TemplateError(EvolveError):
    """A prompt template is missing, does not parse, or uses an undefined variable."""


class EditError(EvolveError):
    """A proposed edit could not be applied to the parent program."""


class ProviderError(EvolveError):
    """An LLM provider is misconfigured (missing key, unknown model) or keeps failing."""


class BudgetExceeded(EvolveError):
    """A call would cross the run's USD budget."""
