"""Prompt templates: a Jinja2 library with user overrides, content hashes and clear errors.

Templates are looked up in the override folders first (``--prompts DIR`` / config
``prompts.dir``, then ``prompts/`` inside the problem folder) and in the built-ins last, so a
user shadows one file without copying the rest. ``StrictUndefined`` turns a typo into an
error that names the template, the line and the variable instead of an empty string silently
sent to a paid model. Each template is versioned by a hash of its source and of every partial
it includes, so a stored LLM call says exactly which prompt text produced it.
"""

from __future__ import annotations

import builtins
import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from evolve.errors import ConfigError, TemplateError
from evolve.paths import builtin_prompts_dir
from evolve.prompt_context import (
    build_context,
    evolve_block,
    format_number,
    sample_context,
)

__all__ = [
    "EDIT_FORMAT",
    "KINDS",
    "PromptLibrary",
    "RenderedPrompt",
    "TemplateInfo",
    "build_context",
    "choose_kind",
    "evolve_block",
    "library_for",
    "sample_context",
    "template_name",
]

# Mutation kinds; each has a user template ``<kind>.j2`` rendered after ``system.j2``.
KINDS = ("diff", "rewrite", "crossover", "fix")
# How the proposer must parse the answer to each kind's prompt.
EDIT_FORMAT = {"diff": "diff", "rewrite": "rewrite", "crossover": "rewrite", "fix": "diff"}
SYSTEM = "system.j2"
HASH_CHARS = 12


def template_name(name: str) -> str:
    """``diff`` and ``diff.j2`` both name the file ``diff.j2``."""
    name = name.strip().replace("\\", "/")
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise TemplateError(
            f"bad template name '{name}': use a name relative to a prompts folder, e.g. diff "
            "or partials/_program.j2"
        )
    return name if name.endswith(".j2") else f"{name}.j2"


def is_partial(name: str) -> bool:
    """Partials expect variables bound by the including template, so they are never
    rendered on their own (``validate`` checks them through their includers)."""
    return name.startswith("partials/") or Path(name).name.startswith("_")


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    origin: str  # "builtin" or "override:<dir>"
    path: Path
    hash: str


@dataclass(frozen=True)
class RenderedPrompt:
    messages: list[dict[str, str]]
    template: str  # the user template, e.g. "diff.j2"
    template_hash: str  # covers system.j2, the user template and every partial they include
    kind: str = "diff"
    edit_format: str = "diff"  # "diff" (SEARCH/REPLACE blocks) or "rewrite" (whole block)


class PromptLibrary:
    """The templates visible from a list of override folders plus the built-ins."""

    def __init__(self, override_dirs: Sequence[Path] = (), builtin_dir: Path | None = None):
        self.builtin_dir = (builtin_dir or builtin_prompts_dir()).resolve()
        self.override_dirs = [Path(d).resolve() for d in override_dirs]
        for folder in self.override_dirs:
            if not folder.is_dir():
                raise TemplateError(
                    f"prompt folder {folder} does not exist; create it or fix --prompts / "
                    "prompts.dir (`evolve prompts edit NAME --dir DIR` creates it)"
                )
        self.search_dirs = [*self.override_dirs, self.builtin_dir]
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in self.search_dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            # Block tags on their own line leave no blank line, so templates stay readable.
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["num"] = format_number
        self.env.filters["evolve_block"] = evolve_block

    # -- lookup ---------------------------------------------------------------------------

    def origin_of(self, folder: Path) -> str:
        return "builtin" if folder == self.builtin_dir else f"override:{folder}"

    def locate(self, name: str) -> tuple[Path, str]:
        """The file that wins for ``name`` and its origin; raises if no folder has it."""
        name = template_name(name)
        for folder in self.search_dirs:
            path = folder / name
            if path.is_file():
                return path, self.origin_of(folder)
        raise TemplateError(self._not_found_message(name))

    def has(self, name: str) -> bool:
        name = template_name(name)
        return any((folder / name).is_file() for folder in self.search_dirs)

    def names(self) -> builtins.list[str]:
        found: set[str] = set()
        for folder in self.search_dirs:
            if folder.is_dir():
                found.update(p.relative_to(folder).as_posix() for p in folder.rglob("*.j2"))
        return sorted(found, key=lambda n: (is_partial(n), n))

    def list(self) -> builtins.list[TemplateInfo]:
        out = []
        for name in self.names():
            path, origin = self.locate(name)
            out.append(TemplateInfo(name, origin, path, self.template_hash(name)))
        return out

    def source(self, name: str) -> str:
        path, _ = self.locate(name)
        return path.read_text(encoding="utf-8")

    def builtin_source(self, name: str) -> str | None:
        path = self.builtin_dir / template_name(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    # -- hashing --------------------------------------------------------------------------

    def dependencies(self, name: str) -> builtins.list[str]:
        """Every template ``name`` includes, imports or extends, transitively, sorted."""
        root = template_name(name)
        seen: set[str] = set()
        todo = [root]
        while todo:
            current = todo.pop()
            for ref, line in self._references(current):
                if not self.has(ref):
                    where = f" (included from '{current}' line {line})"
                    raise TemplateError(self._not_found_message(ref, where))
                if ref not in seen and ref != root:
                    seen.add(ref)
                    todo.append(ref)
        return sorted(seen)

    def _references(self, name: str) -> builtins.list[tuple[str, int]]:
        path, _ = self.locate(name)
        with self._errors(name):
            ast = self.env.parse(path.read_text(encoding="utf-8"), name, str(path))
        refs = []
        for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            target = getattr(node, "template", None)
            # A computed include (not a constant) cannot be resolved statically; not hashed.
            if isinstance(target, nodes.Const) and isinstance(target.value, str):
                refs.append((target.value, node.lineno))
        return refs

    def template_hash(self, *names: str) -> str:
        """Short sha256 of the sources of ``names`` and of everything they include."""
        roots = [template_name(n) for n in names]
        closure = sorted({dep for n in roots for dep in self.dependencies(n)} - set(roots))
        digest = hashlib.sha256()
        for part in [*roots, *closure]:
            digest.update(f"{part}\0{self.source(part)}\0".encode())
        return digest.hexdigest()[:HASH_CHARS]

    # -- rendering ------------------------------------------------------------------------

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        name = template_name(name)
        with self._errors(name, context):
            return self.env.get_template(name).render(dict(context))

    def render_messages(self, kind: str, context: Mapping[str, Any]) -> RenderedPrompt:
        user = template_name(kind)
        kind = user.removesuffix(".j2")
        if not self.has(user):
            raise TemplateError(
                f"no template for mutation kind '{kind}' ({user}); kinds with templates: "
                f"{', '.join(k for k in KINDS if self.has(k))}"
            )
        if kind == "crossover" and context.get("other_parent") is None:
            raise TemplateError(
                "the crossover prompt needs a second parent (other_parent); pick another kind "
                "or pass the second program"
            )
        messages = [
            {"role": "system", "content": self.render(SYSTEM, context)},
            {"role": "user", "content": self.render(user, context)},
        ]
        return RenderedPrompt(
            messages=messages,
            template=user,
            template_hash=self.template_hash(SYSTEM, user),
            kind=kind,
            edit_format=EDIT_FORMAT.get(kind, "diff"),
        )

    def validate(self, contexts: Sequence[Mapping[str, Any]] | None = None) -> builtins.list[str]:
        """One message per problem found: every template must parse, and every non-partial
        must render against each sample context (full and minimal, to reach both sides of
        the ``{% if %}`` branches)."""
        contexts = contexts or [sample_context(), sample_context(minimal=True)]
        errors: builtins.list[str] = []
        for name in self.names():
            try:
                self.dependencies(name)
                if not is_partial(name):
                    for context in contexts:
                        self.render(name, context)
            except TemplateError as exc:
                if str(exc) not in errors:
                    errors.append(str(exc))
        return errors

    # -- errors ---------------------------------------------------------------------------

    def _name_for_path(self, filename: str) -> str:
        path = Path(filename).resolve()
        for folder in self.search_dirs:
            if path.is_relative_to(folder):
                return path.relative_to(folder).as_posix()
        return filename

    def _not_found_message(self, name: str, where: str = "") -> str:
        dirs = ", ".join(str(d) for d in self.search_dirs)
        return (
            f"prompt template '{name}' not found{where} (looked in {dirs}); "
            "`evolve prompts list` shows the available templates"
        )

    @contextmanager
    def _errors(self, name: str, context: Mapping[str, Any] | None = None) -> Iterator[None]:
        """Turn any Jinja (or template-code) failure into one line naming the place."""
        try:
            yield
        except TemplateError:
            raise
        except jinja2.TemplateSyntaxError as exc:
            where = exc.name or (self._name_for_path(exc.filename) if exc.filename else name)
            raise TemplateError(
                f"prompt template '{where}' line {exc.lineno}: syntax error: "
                f"{(exc.message or '').rstrip('.')}; "
                f"fix it (`evolve prompts show {where}` prints it)"
            ) from exc
        except jinja2.TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else str(exc)
            place = self._frame_location(exc)
            where = f" (included from '{place[0]}' line {place[1]})" if place else ""
            raise TemplateError(self._not_found_message(missing, where)) from exc
        except Exception as exc:  # noqa: BLE001 - template code can raise anything
            place = self._frame_location(exc) or (name, 0)
            where = f"prompt template '{place[0]}' line {place[1]}"
            if place[0] != name:
                where += f" (rendering '{name}')"
            snippet = self._line_text(place[0], place[1])
            raise TemplateError(f"{where}: {_describe(exc, context, snippet)}") from exc

    def _line_text(self, name: str, line: int) -> str:
        try:
            lines = self.source(name).splitlines()
        except TemplateError:
            return ""
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return text if len(text) <= 80 else text[:77] + "..."

    def _frame_location(self, exc: BaseException) -> tuple[str, int] | None:
        # Jinja rewrites tracebacks so that template frames carry the template's file name
        # and line; the innermost such frame is where the error happened.
        found = None
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.endswith(".j2"):
                found = (self._name_for_path(filename), tb.tb_lineno)
            tb = tb.tb_next
        return found


def _describe(exc: Exception, context: Mapping[str, Any] | None, snippet: str) -> str:
    at = f" in `{snippet}`" if snippet else ""
    if isinstance(exc, jinja2.UndefinedError):
        text = str(exc.message or exc)
        if text.endswith(" is undefined") and text.startswith("'"):
            variable = text[1 : -len(" is undefined") - 1]
            known = ", ".join(sorted(context)) if context else "none"
            return f"undefined variable '{variable}'{at} (the context has: {known})"
        if "has no attribute" in text:
            attr = text.rsplit("has no attribute", 1)[1].strip()
            return f"undefined variable {attr}{at} ({text})"
        return f"undefined variable{at} ({text})"
    return f"{type(exc).__name__}: {exc}{at}"


def library_for(problem_dir: Path | None = None, prompts_dir: Path | None = None) -> PromptLibrary:
    """The library a run uses: ``--prompts``/``prompts.dir`` first, then the problem's own
    ``prompts/`` folder when it has one, then the built-ins."""
    dirs: list[Path] = []
    if prompts_dir is not None:
        dirs.append(Path(prompts_dir))
    if problem_dir is not None and (Path(problem_dir) / "prompts").is_dir():
        dirs.append(Path(problem_dir) / "prompts")
    return PromptLibrary(dirs)


def choose_kind(
    weights: Mapping[str, float],
    rng: random.Random,
    has_other_parent: bool,
    needs_fix: bool,
) -> str:
    """The mutation kind of the next proposal.

    ``fix`` whenever the parent's last child failed (its edit did not apply, it was INVALID
    or it timed out), so the error message reaches the model. Otherwise a weighted draw
    over ``diff``/``rewrite``/``crossover`` (e.g. ``{"diff": 0.6, "rewrite": 0.2,
    "crossover": 0.2}``); crossover needs a second parent and is dropped without one. If
    nothing else is left (only crossover was weighted) the draw falls back to ``diff``,
    the smallest change, rather than stopping the run.
    """
    drawable = ("diff", "rewrite", "crossover")
    for kind, weight in weights.items():
        if kind not in drawable:
            raise ConfigError(
                f"prompt weight for unknown mutation kind '{kind}'; use {', '.join(drawable)}"
            )
        if not (weight >= 0 and weight != float("inf")):
            raise ConfigError(f"prompt weight '{kind}' must be a finite number >= 0, not {weight}")
    if not any(weights.get(k, 0.0) > 0 for k in drawable):
        raise ConfigError("prompt weights are all zero; give diff, rewrite or crossover a weight")
    draw = rng.random()  # always consumed, so the random stream does not depend on the branch
    if needs_fix:
        return "fix"
    allowed = [k for k in drawable if k != "crossover" or has_other_parent]
    total = sum(weights.get(k, 0.0) for k in allowed)
    if total <= 0:
        return "diff"
    threshold = draw * total
    cumulative = 0.0
    for kind in allowed:
        cumulative += weights.get(kind, 0.0)
        if threshold < cumulative:
            return kind
    return next(k for k in reversed(allowed) if weights.get(k, 0.0) > 0)
