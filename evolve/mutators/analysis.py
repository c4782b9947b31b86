"""What a mutation may touch and what it may use: a static reading of one program.

Mutations only replace expressions that lie inside the EVOLVE-BLOCK. To keep children
runnable, replacements are drawn from expressions that are (probably) numbers and whose
free names are bound where they land; both facts are guessed from how the program itself
uses each expression, because the offline proposer knows nothing about the problem.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from evolve.edits import split_block

_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_NUMERIC_CALLS = {"abs", "float", "int", "round", "len", "sum", "pow"}
_BUILTINS = frozenset(dir(builtins))


def is_number(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


def call_name(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        return f"{node.func.value.id}.{node.func.attr}"
    return None


def is_minmax(node: ast.AST) -> bool:
    """``min(a, b, ...)``/``max(...)`` over values (not over an iterable with a key)."""
    return (
        call_name(node) in ("min", "max")
        and isinstance(node, ast.Call)
        and len(node.args) >= 2
        and not node.keywords
    )


def free_names(node: ast.AST) -> frozenset[str]:
    """Names an expression reads that it does not bind itself (comprehensions, lambdas)."""
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.comprehension):
            bound |= {n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name)}
        elif isinstance(sub, ast.Lambda):
            bound |= {a.arg for a in sub.args.args + sub.args.kwonlyargs}
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return frozenset(used - bound - _BUILTINS)


@dataclass
class Target:
    """An expression inside the block that a mutation may replace."""

    node: ast.expr
    scope: frozenset[str]  # names bound where the expression sits
    numeric: bool
    depth: int  # nesting inside its statement; mutating shallow nodes changes more
    # Parameters of the innermost function (and comprehension variables): the "item" the
    # expression is about, e.g. the job ``j`` of a priority key.
    local: frozenset[str] = frozenset()
    item: bool = False  # its statement reads a per-item value: where a priority is computed
    # Names its statement assigns: ``t += t * t`` would grow without bound, so new terms
    # never read them.
    assigned: frozenset[str] = frozenset()
    dead: bool = False  # it only feeds variables nothing reads: changing it changes nothing


@dataclass
class Analysis:
    code: str
    tree: ast.Module
    first_line: int  # block body, 1-based, inclusive
    last_line: int
    targets: list[Target] = field(default_factory=list)
    numeric_texts: set[str] = field(default_factory=set)
    subscripted: set[str] = field(default_factory=set)  # names used as ``name[...]``
    pool: list[ast.expr] = field(default_factory=list)  # numeric expressions seen anywhere
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    # Variables the block computes from per-item values, like ``finish = t + p[j]``.
    item_names: frozenset[str] = frozenset()

    def inside(self, node: ast.AST) -> bool:
        lineno = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", None)
        return (
            lineno is not None
            and end is not None
            and (self.first_line <= lineno and end <= self.last_line)
        )

    def is_item(self, node: ast.AST, local: frozenset[str]) -> bool:
        return reads_item(node, local) or bool(free_names(node) & self.item_names)

    def block_targets(self, numeric_only: bool = True) -> list[Target]:
        return [t for t in self.targets if t.numeric or not numeric_only]


def analyse(code: str) -> Analysis:
    """Parse ``code`` and list the block's mutable expressions; raises SyntaxError/EditError."""
    block = split_block(code)
    tree = ast.parse(code)
    last = block.first_line + block.body.count("\n") - 1
    result = Analysis(code, tree, block.first_line, last)
    parents = result.parents = _parent_map(tree)
    result.numeric_texts = _numeric_texts(tree, parents)
    # Per-item tables: names indexed by a variable somewhere, like ``p[j]`` (not ``xs[0]``).
    result.subscripted = {
        n.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Name)
        and isinstance(n.slice, ast.Name)
        and not _in_annotation(n, parents)
    }
    _collect_targets(result, tree, parents)
    result.item_names = frozenset(
        n.id
        for t in result.targets
        if isinstance(parents.get(t.node), ast.Assign) and reads_item(t.node, t.local)
        for n in ast.walk(parents[t.node])
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    )
    seen: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and _is_numeric(node, result.numeric_texts):
            text = ast.unparse(node)
            if text not in seen and _replaceable(node, parents):
                seen.add(text)
                result.pool.append(node)
    return result


def degenerate_count(an: Analysis) -> int:
    """Expressions in the block that collapse whatever their operands: ``max(x, x)``,
    ``x - x``, ``x / x``, ``x < x``."""
    count = 0
    for node in ast.walk(an.tree):
        if not an.inside(node):
            continue
        pairs: list[list[ast.expr]] = []
        if is_minmax(node) and isinstance(node, ast.Call):
            pairs = [node.args]
        elif isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Sub | ast.Div | ast.FloorDiv | ast.Mod
        ):
            pairs = [[node.left, node.right]]
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            pairs = [[node.left, node.comparators[0]]]
        for group in pairs:
            texts = [ast.unparse(e) for e in group]
            count += len(texts) - len(set(texts))
    return count


def _parent_map(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _in_annotation(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` is part of a type annotation (``list[int]`` is not a number)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.arg) and parent.annotation is child:
            return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef) and parent.returns is child:
            return True
        if isinstance(parent, ast.AnnAssign) and parent.annotation is child:
            return True
        if isinstance(parent, ast.stmt):
            return False
        child, parent = parent, parents.get(parent)
    return False


def _numeric_texts(tree: ast.AST, parents: dict[ast.AST, ast.AST]) -> set[str]:
    """Texts of names/subscripts/attributes the program uses as numbers."""
    texts: set[str] = set()
    for node in ast.walk(tree):
        operands: list[ast.expr] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITH):
            operands = [node.left, node.right]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operands = [node.operand]
        elif isinstance(node, ast.Compare) and all(isinstance(o, _ORDERING) for o in node.ops):
            operands = [node.left, *node.comparators]
        elif is_minmax(node) and isinstance(node, ast.Call):
            operands = list(node.args)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, _ARITH):
            operands = [node.target, node.value]
        texts |= {ast.unparse(o) for o in operands if not isinstance(o, ast.Constant)}
    for _ in range(2):  # names assigned from numbers are numbers too
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _is_numeric(node.value, texts):
                texts |= {ast.unparse(t) for t in node.targets if isinstance(t, ast.Name)}
    # ``table[i]`` is taken for a number unless the program uses it as a container.
    texts |= {
        ast.unparse(n)
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Name)
        and isinstance(getattr(n, "ctx", None), ast.Load)
        and not _in_annotation(n, parents)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript | ast.Attribute):
            texts.discard(ast.unparse(node.value))
        elif isinstance(node, ast.For | ast.comprehension):
            texts.discard(ast.unparse(node.iter))
        elif isinstance(node, ast.Call):
            texts.discard(ast.unparse(node.func))
    # ``for j in jobs`` with ``p[j]``: ``jobs`` holds indices, and ``jobs[0]`` is an index,
    # not a quantity; arithmetic on it would tie a heuristic to the instance's numbering.
    indices = {
        n.slice.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Name)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.For | ast.comprehension)
            and isinstance(node.target, ast.Name)
            and node.target.id in indices
        ):
            holder = ast.unparse(node.iter)
            texts -= {t for t in texts if t.startswith(holder + "[")}
    return texts


def _is_numeric(node: ast.expr, texts: set[str]) -> bool:
    if is_number(node):
        return True
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _ARITH) and (
            _is_numeric(node.left, texts) or _is_numeric(node.right, texts)
        )
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub | ast.UAdd) and _is_numeric(node.operand, texts)
    if isinstance(node, ast.Call):
        name = call_name(node)
        over_items = name in ("min", "max") and len(node.args) == 1 and not node.keywords
        return (
            is_minmax(node)
            or over_items
            or name in _NUMERIC_CALLS
            or bool(name and name.startswith("math."))
        )
    if isinstance(node, ast.Name | ast.Subscript | ast.Attribute):
        return ast.unparse(node) in texts
    return False


def _replaceable(node: ast.expr, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether swapping this node for another number keeps the program meaningful."""
    parent = parents.get(node)
    if getattr(node, "ctx", None) is not None and not isinstance(
        getattr(node, "ctx", None), ast.Load
    ):
        return False
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return False  # an index: a float or another value would raise
    if isinstance(parent, ast.Call) and (parent.func is node or call_name(parent) == "range"):
        return False
    if isinstance(parent, ast.Attribute | ast.keyword | ast.Starred | ast.arg):
        return False
    if isinstance(parent, ast.AugAssign) and parent.target is node:
        return False
    if _in_annotation(node, parents):
        return False
    return not isinstance(parent, ast.FormattedValue | ast.JoinedStr | ast.arguments)


def _collect_targets(result: Analysis, tree: ast.Module, parents: dict[ast.AST, ast.AST]) -> None:
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    loaded |= {
        n.target.id
        for n in ast.walk(tree)  # ``t += x`` reads t
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
    }

    def visit(node: ast.AST, scope: dict[str, int], depth: int, local: frozenset[str]) -> None:
        loop = (
            frozenset(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
            if isinstance(node, ast.For | ast.AsyncFor)
            else frozenset()
        )
        for child in ast.iter_child_nodes(node):
            child_scope, child_local = scope, local
            if loop and isinstance(child, ast.stmt):
                child_local = local | loop  # the loop variable is the item, like ``j``
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                # The body runs later, when every enclosing name is already bound.
                args = child.args
                params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
                child_scope = dict.fromkeys([*scope, *params], 0)
                child_local = frozenset(params)
                if isinstance(child.body, list):
                    child_scope.update(_first_bindings(child.body))
            elif isinstance(child, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                names = [
                    n.id
                    for g in child.generators
                    for n in ast.walk(g.target)
                    if isinstance(n, ast.Name)
                ]
                child_scope = {**scope, **dict.fromkeys(names, 0)}
                child_local = local | frozenset(names)
            if (
                isinstance(child, ast.expr)
                and result.inside(child)
                and _replaceable(child, parents)
            ):
                numeric = _is_numeric(child, result.numeric_texts)
                visible = frozenset(n for n, line in child_scope.items() if line < child.lineno)
                stmt = _statement_of(child, parents)
                item = _reads_item_statement(stmt, child_local)
                assigned = (
                    frozenset(
                        n.id
                        for n in ast.walk(stmt)
                        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                    )
                    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign)
                    else frozenset()
                )
                dead = bool(assigned) and not assigned & loaded
                result.targets.append(
                    Target(child, visible, numeric, depth, child_local, item, assigned, dead)
                )
            deeper = depth + (1 if isinstance(child, ast.expr) else 0)
            visit(child, child_scope, deeper, child_local)

    visit(tree, _first_bindings(tree.body), 0, frozenset())


def reads_item(node: ast.AST, local: frozenset[str]) -> bool:
    """Whether ``node`` reads a per-item value such as ``p[j]`` for a local ``j``."""
    return any(
        isinstance(sub, ast.Subscript) and bool(free_names(sub.slice) & local)
        for sub in ast.walk(node)
    )


def _statement_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    while not isinstance(node, ast.stmt) and node in parents:
        node = parents[node]
    return node


def _reads_item_statement(stmt: ast.AST, local: frozenset[str]) -> bool:
    own = [c for c in ast.iter_child_nodes(stmt) if isinstance(c, ast.expr)]
    return any(reads_item(c, local) for c in own)


def _first_bindings(body: list[ast.stmt]) -> dict[str, int]:
    """Names bound by these statements (not inside nested scopes) and their first line."""
    first: dict[str, int] = {}

    def bind(name: str, line: int) -> None:
        first[name] = min(first.get(name, line), line)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(node.name, node.lineno)
            return
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return
        if isinstance(node, ast.DictComp):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bind(node.id, node.lineno)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bind((alias.asname or alias.name).split(".")[0], node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    return first
