"""The offline proposer: AST mutation and crossover of the EVOLVE-BLOCK, no network."""

from __future__ import annotations

from evolve.mutators.offline import OfflineProposer

__all__ = ["OfflineProposer"]
