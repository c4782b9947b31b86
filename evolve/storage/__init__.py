"""The SQL store: runs, programs, evaluations, LLM calls and events (see ``Store``)."""

from __future__ import annotations

from evolve.storage.store import Store

__all__ = ["Store"]
