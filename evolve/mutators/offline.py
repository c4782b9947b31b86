"""The offline proposer: seeded AST mutations of the EVOLVE-BLOCK, no network.

Each mutation rewrites the source text of one expression only, so comments and layout
elsewhere survive and the child differs from its parent exactly where the description
says. Every child compiles, keeps the code outside the block byte for byte, and differs
from its parent after normalisation; when no such child is found the proposal fails
like an LLM edit would (EDIT_FAILED with a reason).
"""

from __future__ import annotations

import ast
import random

from evolve.edits import normalize_newlines, normalized_hash, split_block
from evolve.errors import EditError
from evolve.mutators.analysis import Analysis, analyse, degenerate_count, is_number
from evolve.mutators.operators import OPERATORS, Mutation, crossover
from evolve.proposal import Proposal, ProposalRequest

# Parents under which a replacement needs no parentheses to keep its meaning.
_SAFE_PARENTS = (
    ast.Return,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Expr,
    ast.Call,
    ast.keyword,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Subscript,
    ast.comprehension,
    ast.FormattedValue,
)
_ATOMIC = (
    ast.Name,
    ast.Constant,
    ast.Call,
    ast.Subscript,
    ast.Attribute,
    ast.List,
    ast.Tuple,
    ast.Dict,
)


class OfflineProposer:
    """A ``Proposer`` that mutates the parent's block with seeded AST edits."""

    def __init__(
        self,
        seed: int,
        max_mutations: int = 3,
        crossover_rate: float = 0.2,
        max_attempts: int = 40,
    ) -> None:
        if max_mutations < 1:
            raise ValueError("max_mutations must be at least 1")
        self.name = "offline"
        self.seed = seed
        self.max_mutations = max_mutations
        self.crossover_rate = crossover_rate
        self.max_attempts = max_attempts

    async def propose(self, request: ProposalRequest) -> Proposal:
        other = request.other_parent.code if request.other_parent is not None else None
        return self.mutate(request.parent.code, other, request.seed)

    def mutate(self, code: str, other_code: str | None = None, request_seed: int = 0) -> Proposal:
        """A child of ``code`` (crossing with ``other_code`` when given); pure and seeded."""
        rng = random.Random(f"offline:{self.seed}:{request_seed}")
        code = normalize_newlines(code)
        try:
            analysis = analyse(code)
            other = analyse(normalize_newlines(other_code)) if other_code else None
        except (SyntaxError, ValueError, EditError) as exc:
            return self._failed(f"the parent cannot be mutated: {exc}")
        parent_hash = normalized_hash(code)
        for _ in range(self.max_attempts):
            child, steps = self._attempt(analysis, other, rng)
            if steps and normalized_hash(child) != parent_hash:
                return Proposal(code=child, edit="; ".join(steps), proposer=self.name)
        return self._failed(
            "no mutation of the EVOLVE-BLOCK gave a different valid program; the block needs "
            "numeric expressions (constants, arithmetic, min/max) to mutate"
        )

    def _failed(self, message: str) -> Proposal:
        return Proposal(code=None, edit="", proposer=self.name, error=message)

    def _attempt(
        self, analysis: Analysis, other: Analysis | None, rng: random.Random
    ) -> tuple[str, list[str]]:
        # Mostly one mutation: small steps keep good parents good; a few bigger jumps.
        count = 1 + sum(rng.random() < 0.25 for _ in range(self.max_mutations - 1))
        current, steps = analysis, []
        for index in range(count):
            use_crossover = other is not None and index == 0 and rng.random() < self.crossover_rate
            mutation = self._one(current, other, rng, use_crossover)
            if mutation is None:
                continue
            child = apply_mutation(current, mutation)
            if child is None:
                continue
            try:
                mutated = analyse(child)
            except (SyntaxError, ValueError, EditError):
                continue
            if degenerate_count(mutated) > degenerate_count(current):
                continue  # ``max(x, x)`` or ``x - x``: a dead end that still looks different
            current = mutated
            steps.append(mutation.description)
        return current.code, steps

    def _one(
        self, an: Analysis, other: Analysis | None, rng: random.Random, use_crossover: bool
    ) -> Mutation | None:
        if use_crossover:
            found = crossover(an, rng, other)
            if found is not None:
                return found
        names = list(OPERATORS)
        weights = [OPERATORS[n][1] for n in names]
        for _ in range(8):
            operator = OPERATORS[rng.choices(names, weights)[0]][0]
            found = operator(an, rng, other)
            if found is not None:
                return found
        return None


def apply_mutation(an: Analysis, mutation: Mutation) -> str | None:
    """The program with ``mutation.node``'s source text replaced; None if it would not compile
    or would change anything outside the block."""
    node = mutation.node
    if node.end_lineno is None or node.end_col_offset is None:
        return None
    parent = an.parents.get(node)
    text = ast.unparse(mutation.new)
    new = mutation.new
    needs_parens = not isinstance(new, _ATOMIC) or (
        is_number(new) and isinstance(new, ast.Constant) and ast.unparse(new).startswith("-")
    )
    lines = an.code.splitlines(keepends=True)
    start = _char_offset(lines, node.lineno, node.col_offset)
    end = _char_offset(lines, node.end_lineno, node.end_col_offset)
    already = an.code[start - 1 : start] == "(" and an.code[end : end + 1] == ")"
    if (
        needs_parens
        and not already
        and not (isinstance(parent, _SAFE_PARENTS) and not _is_callee_or_base(parent, node))
    ):
        text = f"({text})"
    child = an.code[:start] + text + an.code[end:]
    try:
        compile(child, "<candidate>", "exec", dont_inherit=True)
        before, after = split_block(an.code), split_block(child)
    except (SyntaxError, ValueError, EditError):
        return None
    if (before.prefix, before.suffix) != (after.prefix, after.suffix):
        return None
    return child


def _is_callee_or_base(parent: ast.AST, node: ast.AST) -> bool:
    return (isinstance(parent, ast.Call) and parent.func is node) or (
        isinstance(parent, ast.Subscript) and parent.value is node
    )


def _char_offset(lines: list[str], lineno: int, col_bytes: int) -> int:
    """Absolute character offset of an ast position (its column counts UTF-8 bytes)."""
    before = sum(len(line) for line in lines[: lineno - 1])
    col = len(lines[lineno - 1].encode("utf-8")[:col_bytes].decode("utf-8", "replace"))
    return before + col
