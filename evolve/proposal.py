"""The proposer protocol: what the engine asks for and what any proposer hands back.

The offline mutator and every LLM proposer implement the same ``Proposer``, so the engine
stores their work identically and an ensemble can mix them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from evaluators.problem import ProblemSpec
from evolve.types import Program

ProposalKind = Literal["diff", "rewrite", "crossover", "fix"]


@dataclass(frozen=True)
class ProposalRequest:
    parent: Program
    inspirations: list[Program]
    other_parent: Program | None
    kind: ProposalKind
    problem: ProblemSpec
    seed: int  # per-request seed, so a proposal is reproducible from the run seed
    # Anything a template may want (metrics summary, run stats, feedback); plain data only.
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    code: str | None  # the full child program; None when the edit could not be applied
    edit: str  # raw proposal: a diff, a rewrite, or a description of AST mutations
    proposer: str  # "offline" or a model name
    template: str | None = None
    error: str | None = None  # an EditError message: the program is stored as EDIT_FAILED
    llm_call_id: int | None = None
    cost_usd: float = 0.0


@runtime_checkable
class Proposer(Protocol):
    name: str

    async def propose(self, request: ProposalRequest) -> Proposal: ...
