"""Normalised code and its hash (duplicate detection), and a compile check.

Two programs that differ only in comments, docstrings or layout normalise to the same
text, so the engine never pays to evaluate the same program twice.
"""

from __future__ import annotations

import ast
import hashlib
import re


def check_syntax(code: str) -> str | None:
    """None if ``code`` compiles, else a one-line message with the line number."""
    try:
        compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return f"SyntaxError: {where}{exc.msg}"
    except ValueError as exc:  # e.g. null bytes in the source
        return f"invalid source: {exc}"
    except (RecursionError, MemoryError):  # absurdly nested code must not crash the host
        return "invalid source: nested too deeply to compile"
    return None


class _DropDocstrings(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assert isinstance(body, list)
            if body and _is_docstring(body[0]):
                body.pop(0)
                if not body:
                    body.append(ast.Pass())
        return node


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalize_code(code: str) -> str:
    """Code with comments, docstrings and layout removed, so trivial edits compare equal."""
    code = normalize_newlines(code)
    try:
        tree = ast.parse(code)
        return ast.unparse(_DropDocstrings().visit(tree))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        lines = (re.sub(r"\s+#[^'\"]*$", "", line).rstrip() for line in code.split("\n"))
        return "\n".join(line for line in lines if line and not line.lstrip().startswith("#"))


def normalized_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode("utf-8")).hexdigest()
