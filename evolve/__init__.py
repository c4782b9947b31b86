"""evolve: discover scheduling heuristics by LLM-driven evolution."""

from __future__ import annotations

__version__ = "0.1.0"
