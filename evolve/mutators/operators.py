"""The mutation operators: each picks one expression in the block and proposes its successor.

An operator returns a ``Mutation`` (which node, what replaces it, one line saying so) or
None when it has nothing to work on. Building blocks for new terms come from the program
itself: numeric names, subscripts like ``p[j]`` (and their siblings ``d[j]``, ``w[j]``),
calls like ``len(jobs)``, and compositions of two of them such as ``t + p[j]``.
"""

from __future__ import annotations

import ast
import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from evolve.mutators.analysis import (
    Analysis,
    Target,
    free_names,
    is_minmax,
    is_number,
)

_ARITH_SWAPS: dict[type[ast.operator], list[ast.operator]] = {
    ast.Add: [ast.Sub(), ast.Mult()],
    ast.Sub: [ast.Add(), ast.Div()],
    # Never towards ``**``: an integer power of a time blows up into huge ints.
    ast.Mult: [ast.Div(), ast.Add()],
    ast.Div: [ast.Mult(), ast.Sub()],
    ast.Pow: [ast.Mult()],
    ast.FloorDiv: [ast.Div()],
    ast.Mod: [ast.Div()],
}
_COMPARE_SWAPS: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt, ast.GtE],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
}
_SYMBOL = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
# Expressions bigger than this stop growing: bloat makes every later mutation weaker.
MAX_TARGET_SIZE = 40


@dataclass(frozen=True)
class Mutation:
    node: ast.expr
    new: ast.expr
    description: str


Operator = Callable[[Analysis, random.Random, Analysis | None], Mutation | None]
ItemTest = Callable[[ast.expr], bool]


def _text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(node: ast.AST) -> str:
    return f"at line {getattr(node, 'lineno', '?')}"


def _size(node: ast.AST) -> int:
    return sum(1 for _ in ast.walk(node))


def _pick(rng: random.Random, targets: list[Target]) -> Target | None:
    """A target, favouring live ones where a per-item value (a priority) is computed."""
    if not targets:
        return None
    return rng.choices(targets, [_target_weight(t) for t in targets])[0]


def _target_weight(target: Target) -> float:
    if target.dead:  # e.g. an unused variable of the seed: a mutation there is wasted
        return 0.2
    return 10.0 if target.item else 1.0


def _sym(op: ast.AST) -> str:
    return _SYMBOL.get(type(op), type(op).__name__)


def perturb_constant(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    target = _pick(rng, [t for t in an.targets if is_number(t.node)])
    if target is None:
        return None
    node = target.node
    assert isinstance(node, ast.Constant) and isinstance(node.value, int | float)
    value: int | float = node.value
    roll = rng.random()
    if isinstance(value, int) and roll < 0.4:
        new_value: int | float = value + rng.choice([-2, -1, 1, 2])
    elif roll < 0.1:
        new_value = -value
    elif roll < 0.2:
        new_value = rng.choice([0.0, 0.5, 1.0, 2.0])
    else:
        scale = abs(value) if value else 1.0
        new_value = value * math.exp(rng.gauss(0, 0.4)) if value else rng.gauss(0, scale)
        new_value = float(f"{new_value:.3g}")
    if new_value == value:
        new_value = value + 1
    return Mutation(
        node, ast.Constant(new_value), f"const {value!r} -> {new_value!r} {_where(node)}"
    )


def swap_operator(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    targets = [
        t
        for t in an.targets
        if (isinstance(t.node, ast.BinOp) and type(t.node.op) in _ARITH_SWAPS)
        or (
            isinstance(t.node, ast.Compare)
            and len(t.node.ops) == 1
            and type(t.node.ops[0]) in _COMPARE_SWAPS
        )
    ]
    target = _pick(rng, targets)
    if target is None:
        return None
    node = target.node
    if isinstance(node, ast.BinOp):
        op = rng.choice(_ARITH_SWAPS[type(node.op)])
        new: ast.expr = ast.BinOp(node.left, op, node.right)
        return Mutation(node, new, f"swap {_sym(node.op)} -> {_sym(op)} {_where(node)}")
    assert isinstance(node, ast.Compare)
    cmp = rng.choice(_COMPARE_SWAPS[type(node.ops[0])])()
    new = ast.Compare(node.left, [cmp], node.comparators)
    return Mutation(node, new, f"swap {_sym(node.ops[0])} -> {_sym(cmp)} {_where(node)}")


def swap_min_max(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    target = _pick(rng, [t for t in an.targets if is_minmax(t.node)])
    if target is None:
        return None
    node = target.node
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    other = "max" if node.func.id == "min" else "min"
    new = ast.Call(ast.Name(other, ast.Load()), node.args, node.keywords)
    return Mutation(node, new, f"swap {node.func.id} -> {other} {_where(node)}")


def building_blocks(an: Analysis, scope: frozenset[str]) -> list[ast.expr]:
    """Small numeric expressions usable where ``scope`` is bound: names, ``x[i]``, calls."""
    blocks: dict[str, ast.expr] = {
        text: ast.Name(text, ast.Load())
        for text in an.numeric_texts
        if text.isidentifier() and text in scope
    }
    for node in an.pool:
        names = free_names(node)
        if is_number(node) or not names or not names <= scope or _size(node) > 6:
            continue  # ``float("inf")`` has no free name: it is a constant, not a block
        blocks.setdefault(ast.unparse(node), node)
        # p[j] in the program and d, w subscripted elsewhere: d[j] and w[j] are blocks too.
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Name):
            for name in sorted(an.subscripted & scope):
                sibling = ast.Subscript(ast.Name(name, ast.Load()), node.slice, ast.Load())
                if name in an.numeric_texts:  # a scalar, not a per-item table
                    continue
                blocks.setdefault(ast.unparse(sibling), sibling)
    return [blocks[k] for k in sorted(blocks)]


def new_term(rng: random.Random, blocks: list[ast.expr], is_item: ItemTest) -> ast.expr | None:
    """A fresh numeric term: a block, a scaled block, or two blocks combined.

    Terms that depend on the item (``p[j]``) are favoured: adding a constant of the
    item, like ``mean_p``, to a priority key changes nothing. Pairs mix an item value
    with anything, as in ``t + p[j]`` or ``p[j] / mean_p``.
    """
    atoms: list[ast.expr] = [
        b for b in blocks if isinstance(b, ast.Name | ast.Subscript | ast.Attribute | ast.Call)
    ] or blocks
    if not atoms:
        return None
    items = [a for a in atoms if is_item(a)] or atoms
    roll = rng.random()
    if roll < 0.3:
        return copy.deepcopy(rng.choice(items if rng.random() < 0.7 else atoms))
    if roll < 0.45:
        factor = ast.Constant(rng.choice([0.5, 2.0, round(rng.uniform(0.1, 3.0), 2)]))
        return ast.BinOp(factor, ast.Mult(), copy.deepcopy(rng.choice(items)))
    pair = [copy.deepcopy(rng.choice(items)), copy.deepcopy(rng.choice(atoms))]
    rng.shuffle(pair)
    op = rng.choices([ast.Add(), ast.Sub(), ast.Mult(), ast.Div()], [0.45, 0.25, 0.15, 0.15])[0]
    return ast.BinOp(pair[0], op, pair[1])


def _numeric_targets(an: Analysis, small: bool = False) -> list[Target]:
    targets = an.block_targets()
    if small:
        targets = [t for t in targets if _size(t.node) <= MAX_TARGET_SIZE]
    return targets


def replace_with_block(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    """Replace an expression by a variable or another expression bound at that point."""
    target = _pick(rng, _numeric_targets(an))
    if target is None:
        return None
    old = ast.unparse(target.node)
    if rng.random() < 0.5:
        choices = building_blocks(an, target.scope - target.assigned)
    else:
        choices = [
            n
            for n in an.pool
            if free_names(n) <= target.scope - target.assigned and _size(n) <= MAX_TARGET_SIZE
        ]
    choices = [c for c in choices if ast.unparse(c) != old and target.node not in ast.walk(c)]
    if not choices:
        return None
    new = copy.deepcopy(rng.choices(choices, [_block_weight(an, c, target) for c in choices])[0])
    return Mutation(
        target.node, new, f"replace {_text(target.node)} -> {_text(new)} {_where(target.node)}"
    )


def _block_weight(an: Analysis, block: ast.expr, target: Target) -> float:
    """Per-item values first, and most of all the ones the block itself computes (like
    ``finish = t + p[j]``): they are what the author thought worth naming."""
    if isinstance(block, ast.Name) and block.id in an.item_names:
        return 6.0
    return 3.0 if an.is_item(block, target.local) else 1.0


def add_term(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    """``e`` -> ``e op term``, or ``max(e, term)``/``min(e, term)``."""
    target = _pick(rng, _numeric_targets(an, small=True))
    if target is None:
        return None
    term = new_term(
        rng,
        building_blocks(an, target.scope - target.assigned),
        lambda e: an.is_item(e, target.local),
    )
    if term is None:
        return None
    node = target.node
    if rng.random() < 0.45:
        func = rng.choice(["max", "min"])
        args = [node, term] if rng.random() < 0.7 else [term, node]
        new: ast.expr = ast.Call(ast.Name(func, ast.Load()), args, [])
    else:
        op = rng.choices([ast.Add(), ast.Sub(), ast.Mult(), ast.Div()], [0.35, 0.25, 0.2, 0.2])[0]
        new = ast.BinOp(node, op, term)
    return Mutation(node, new, f"add term {_text(node)} -> {_text(new)} {_where(node)}")


def drop_term(an: Analysis, rng: random.Random, _: Analysis | None) -> Mutation | None:
    """``a op b`` -> ``a`` or ``b``; ``max(a, b)`` -> one argument; ``-a`` -> ``a``."""
    targets = [
        t
        for t in _numeric_targets(an)
        if isinstance(t.node, ast.BinOp | ast.UnaryOp) or is_minmax(t.node)
    ]
    target = _pick(rng, targets)
    if target is None:
        return None
    node = target.node
    if isinstance(node, ast.BinOp):
        keep = rng.choice([node.left, node.right])
    elif isinstance(node, ast.UnaryOp):
        keep = node.operand
    else:
        assert isinstance(node, ast.Call)
        keep = rng.choice(node.args)
    return Mutation(node, keep, f"drop term {_text(node)} -> {_text(keep)} {_where(node)}")


def crossover(an: Analysis, rng: random.Random, other: Analysis | None) -> Mutation | None:
    """Put a sub-expression of the other parent's block where it fits in this block.

    Homologous first: the expression at the same place (same statement, same depth)
    in the other parent; else any numeric expression of the other block bound here.
    """
    if other is None:
        return None
    mine = _numeric_targets(an)
    donors = [t.node for t in other.block_targets() if _size(t.node) <= MAX_TARGET_SIZE]
    if not mine or not donors:
        return None
    texts = {ast.unparse(t.node) for t in mine}
    fresh = [d for d in donors if ast.unparse(d) not in texts]
    if not fresh:
        return None
    homologous = _homologous_pairs(an, other)
    if homologous and rng.random() < 0.6:
        target, donor = rng.choice(homologous)
    else:
        donor = rng.choice(fresh)
        fits = [t for t in mine if free_names(donor) <= t.scope]
        if not fits:
            return None
        target = rng.choice(fits)
    new = copy.deepcopy(donor)
    return Mutation(
        target.node,
        new,
        f"crossover {_text(target.node)} -> {_text(new)} (from other parent) {_where(target.node)}",
    )


def _homologous_pairs(an: Analysis, other: Analysis) -> list[tuple[Target, ast.expr]]:
    """(my target, other's expression) pairs that sit at the same place and differ."""
    theirs = {_slot(other, t.node): t.node for t in other.block_targets()}
    pairs = []
    for target in an.block_targets():
        donor = theirs.get(_slot(an, target.node))
        if (
            donor is not None
            and ast.unparse(donor) != ast.unparse(target.node)
            and free_names(donor) <= target.scope
        ):
            pairs.append((target, donor))
    return pairs


def _slot(an: Analysis, node: ast.expr) -> tuple[str, ...]:
    """Where an expression sits: the statement it belongs to (by its kind and targets)."""
    for stmt in ast.walk(an.tree):
        if isinstance(stmt, ast.stmt) and an.inside(stmt) and node in _expr_children(stmt):
            head = [type(stmt).__name__]
            if isinstance(stmt, ast.Assign):
                head += [ast.unparse(t) for t in stmt.targets]
            return (*head, str(_depth_of(stmt, node)))
    return ("?",)


def _expr_children(stmt: ast.stmt) -> list[ast.AST]:
    """The expressions of ``stmt`` itself, not of statements nested in it."""
    out: list[ast.AST] = []
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.expr):
            out.extend(ast.walk(child))
    return out


def _depth_of(stmt: ast.stmt, node: ast.expr) -> int:
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.expr):
            stack: list[tuple[ast.AST, int]] = [(child, 0)]
            while stack:
                cur, depth = stack.pop()
                if cur is node:
                    return depth
                stack.extend((c, depth + 1) for c in ast.iter_child_nodes(cur))
    return -1


OPERATORS: dict[str, tuple[Operator, float]] = {
    "const": (perturb_constant, 2.0),
    "swap": (swap_operator, 1.5),
    "minmax": (swap_min_max, 1.0),
    "replace": (replace_with_block, 4.0),
    "add": (add_term, 3.0),
    "drop": (drop_term, 1.5),
}
