"""Applying proposals to programs: EVOLVE-BLOCK markers, SEARCH/REPLACE diffs, rewrites.

Everything here is a pure function of strings. Only the code between the markers may
change; an edit that reaches outside is refused with an ``EditError`` whose message is
written for the next (fix) prompt: which SEARCH text failed and what the closest code was.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass, field

from evolve.errors import EditError
from evolve.normalize import check_syntax, normalize_code, normalize_newlines, normalized_hash

__all__ = [
    "BLOCK_END",
    "BLOCK_START",
    "Block",
    "DiffHunk",
    "EditResult",
    "apply_diff",
    "apply_edit",
    "apply_rewrite",
    "check_syntax",
    "extract_block",
    "extract_code",
    "normalize_code",
    "normalize_newlines",
    "normalized_hash",
    "parse_diff",
    "splice_block",
    "split_block",
]

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"

# A fuzzy match must be this similar (difflib ratio over stripped lines) to be applied;
# below it a wrong hunk would silently land on unrelated code.
FUZZY_MIN_RATIO = 0.85

_SEARCH_RE = re.compile(r"^\s*<{5,}\s*SEARCH\s*$")
_DIVIDER_RE = re.compile(r"^\s*={5,}\s*$")
_REPLACE_RE = re.compile(r"^\s*>{5,}\s*REPLACE\s*$")
_FENCE_RE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class Block:
    """A program cut around its EVOLVE-BLOCK: ``prefix + body + suffix == code``.

    ``prefix`` ends with the START marker line, ``suffix`` begins with the END marker line.
    ``first_line`` is the 1-based program line number of the body's first line.
    """

    prefix: str
    body: str
    suffix: str
    first_line: int


@dataclass(frozen=True)
class DiffHunk:
    search: str
    replace: str


@dataclass(frozen=True)
class EditResult:
    code: str
    notes: list[str] = field(default_factory=list)  # what tolerance was needed, per hunk


def split_block(code: str) -> Block:
    """Cut ``code`` around its single EVOLVE-BLOCK; raise ``EditError`` if the markers are off."""
    lines = code.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(BLOCK_START)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(BLOCK_END)]
    if len(starts) != 1 or len(ends) != 1:
        raise EditError(
            f"the program must contain exactly one '{BLOCK_START}' and one '{BLOCK_END}' line "
            f"(found {len(starts)} and {len(ends)}); keep the markers of the parent unchanged"
        )
    start, end = starts[0], ends[0]
    if end < start:
        raise EditError(f"'{BLOCK_END}' comes before '{BLOCK_START}'; restore the parent's order")
    return Block(
        prefix="".join(lines[: start + 1]),
        body="".join(lines[start + 1 : end]),
        suffix="".join(lines[end:]),
        first_line=start + 2,
    )


def extract_block(code: str) -> str:
    return split_block(code).body


def splice_block(code: str, new_body: str) -> str:
    """``code`` with its block body replaced by ``new_body`` (a final newline is ensured)."""
    block = split_block(code)
    if new_body and not new_body.endswith("\n"):
        new_body += "\n"
    if BLOCK_START in new_body or BLOCK_END in new_body:
        raise EditError("the new block must not contain EVOLVE-BLOCK markers")
    return block.prefix + new_body + block.suffix


# ---------------------------------------------------------------- SEARCH/REPLACE diffs


def parse_diff(response: str) -> list[DiffHunk]:
    """Every SEARCH/REPLACE hunk in an LLM response, tolerant of fences, CRLF and prose."""
    lines = normalize_newlines(response).split("\n")
    hunks: list[DiffHunk] = []
    i = 0
    while i < len(lines):
        if not _SEARCH_RE.match(lines[i]):
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not _DIVIDER_RE.match(lines[j]):
            if _SEARCH_RE.match(lines[j]) or _REPLACE_RE.match(lines[j]):
                raise EditError(f"SEARCH block {len(hunks) + 1} has no '=======' divider")
            j += 1
        k = j + 1
        while k < len(lines) and not _REPLACE_RE.match(lines[k]):
            if _SEARCH_RE.match(lines[k]):
                break
            k += 1
        if j >= len(lines) or k >= len(lines) or not _REPLACE_RE.match(lines[k]):
            raise EditError(
                f"SEARCH block {len(hunks) + 1} is not closed: each hunk needs '<<<<<<< SEARCH', "
                "'=======' and '>>>>>>> REPLACE' lines"
            )
        hunks.append(DiffHunk(_unfence(lines[i + 1 : j]), _unfence(lines[j + 1 : k])))
        i = k + 1
    return hunks


def _unfence(lines: list[str]) -> str:
    """Drop fence lines a model put inside a hunk, and trailing whitespace."""
    kept = [line.rstrip() for line in lines]
    while kept and _FENCE_RE.match(kept[0]):
        kept.pop(0)
    while kept and _FENCE_RE.match(kept[-1]):
        kept.pop()
    return "\n".join(kept)


def is_diff(response: str) -> bool:
    return any(_SEARCH_RE.match(line) for line in normalize_newlines(response).split("\n"))


def apply_diff(parent: str, response: str) -> EditResult:
    """Apply every hunk of ``response`` to the parent's EVOLVE-BLOCK, in order."""
    hunks = parse_diff(response)
    if not hunks:
        raise EditError(
            "no SEARCH/REPLACE block found; answer with '<<<<<<< SEARCH', the exact lines to "
            "change, '=======', the new lines, '>>>>>>> REPLACE'"
        )
    block = split_block(normalize_newlines(parent))
    body = block.body.split("\n")
    notes: list[str] = []
    for number, hunk in enumerate(hunks, start=1):
        body = _apply_hunk(body, hunk, number, block, notes)
    return EditResult(block.prefix + "\n".join(body) + block.suffix, notes)


def _apply_hunk(
    body: list[str], hunk: DiffHunk, number: int, block: Block, notes: list[str]
) -> list[str]:
    search = _trim_blank_edges(hunk.search.split("\n"))
    replace = _trim_blank_edges(hunk.replace.split("\n") if hunk.replace.strip() else [])
    search, replace = _drop_copied_markers(search, replace, number, notes)
    for text in (*search, *replace):
        if BLOCK_START in text or BLOCK_END in text:
            raise EditError(
                f"SEARCH block {number} touches an EVOLVE-BLOCK marker; only the code between "
                "the markers may change"
            )
    if not search:
        raise EditError(f"SEARCH block {number} is empty; copy the lines to change into it")
    found = _locate(body, search)
    if found is None:
        outside = (block.prefix + block.suffix).split("\n")
        if _locate(outside, search) is not None:
            raise EditError(
                f"SEARCH block {number} matches code outside the EVOLVE-BLOCK; only the code "
                f"between '{BLOCK_START}' and '{BLOCK_END}' may change"
            )
        raise EditError(_no_match_message(body, search, number, block.first_line))
    start, indent_shift, how = found
    later = sum(body[i : i + len(search)] == search for i in range(start + 1, len(body)))
    if how or later:
        line_no = block.first_line + start
        note = f"SEARCH block {number}: {how or 'matched'} at line {line_no}"
        if later:
            note += f"; {later} later identical place(s) left unchanged"
        notes.append(note)
    new_lines = [_shift_indent(line, indent_shift) for line in replace]
    return body[:start] + new_lines + body[start + len(search) :]


def _drop_copied_markers(
    search: list[str], replace: list[str], number: int, notes: list[str]
) -> tuple[list[str], list[str]]:
    """Models often copy a marker line into both sides of a hunk as context: drop it."""
    for index, marker in ((0, BLOCK_START), (-1, BLOCK_END)):
        if search and replace and search[index].strip() == replace[index].strip() == marker:
            search = search[1:] if index == 0 else search[:-1]
            replace = replace[1:] if index == 0 else replace[:-1]
            notes.append(f"SEARCH block {number}: ignored the copied '{marker}' line")
    return search, replace


def _trim_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _locate(body: list[str], search: list[str]) -> tuple[int, int, str] | None:
    """Where ``search`` sits in ``body``: (start line, indent shift, tolerance used).

    Tries, in order: exact lines, lines up to trailing whitespace, lines up to a constant
    indentation drift, then the most similar window above ``FUZZY_MIN_RATIO``.
    """
    n = len(search)
    windows = range(len(body) - n + 1)
    for i in windows:
        if body[i : i + n] == search:
            return i, 0, ""
    stripped = [s.rstrip() for s in search]
    for i in windows:
        if [b.rstrip() for b in body[i : i + n]] == stripped:
            return i, 0, "matched ignoring trailing whitespace"
    for i in windows:
        shift = _indent_drift(body[i : i + n], search)
        if shift is not None:
            return i, shift, f"matched with indentation shifted by {shift:+d} columns"
    best = _closest_window(body, search)
    if best is not None and best[1] >= FUZZY_MIN_RATIO:
        i, ratio = best
        shift = _indent(body[i]) - _indent(search[0]) if search[0].strip() else 0
        return i, shift, f"fuzzy match (similarity {ratio:.2f})"
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _indent_drift(window: list[str], search: list[str]) -> int | None:
    shift: int | None = None
    for have, want in zip(window, search, strict=True):
        if have.strip() != want.strip():
            return None
        if not want.strip():
            continue
        delta = _indent(have) - _indent(want)
        if shift is None:
            shift = delta
        elif delta != shift:
            return None
    return shift


def _shift_indent(line: str, shift: int) -> str:
    if shift > 0 and line.strip():
        return " " * shift + line
    if shift < 0:
        cut = min(-shift, _indent(line))
        return line[cut:]
    return line


def _closest_window(body: list[str], search: list[str]) -> tuple[int, float] | None:
    n = len(search)
    if not body:
        return None
    want = "\n".join(s.strip() for s in search)
    best: tuple[int, float] | None = None
    for i in range(max(1, len(body) - n + 1)):
        have = "\n".join(b.strip() for b in body[i : i + n])
        ratio = difflib.SequenceMatcher(None, have, want, autojunk=False).ratio()
        if best is None or ratio > best[1]:
            best = (i, ratio)
    return best


def _no_match_message(body: list[str], search: list[str], number: int, first_line: int) -> str:
    quoted = textwrap.indent("\n".join(search), "    ")
    message = f"SEARCH block {number} does not match the EVOLVE-BLOCK. It searched for:\n{quoted}\n"
    best = _closest_window(body, search)
    if best is not None and best[1] > 0.3:
        i, ratio = best
        window = body[i : i + len(search)]
        lines = "\n".join(f"    {first_line + i + k}: {line}" for k, line in enumerate(window))
        message += f"The closest lines (similarity {ratio:.2f}) are:\n{lines}\n"
    return message + "Copy the SEARCH lines exactly from the current program."


# ---------------------------------------------------------------- full rewrites


def code_fences(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block; an unclosed last fence runs to the end."""
    fences: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in normalize_newlines(text).split("\n"):
        if _FENCE_RE.match(line):
            if lang is None:
                lang = line.strip()[3:].strip().split(" ")[0].lower()
                body = []
            else:
                fences.append((lang, "\n".join(body)))
                lang = None
        elif lang is not None:
            body.append(line)
    if lang is not None:
        fences.append((lang, "\n".join(body)))
    return fences


def extract_code(response: str) -> str:
    """The code of a response: its python fence (the longest), any fence, or the raw text."""
    fences = code_fences(response)
    python = [code for lang, code in fences if lang in ("python", "py", "python3")]
    pool = python or [code for _, code in fences]
    if pool:
        return max(pool, key=len)
    return normalize_newlines(response)


def apply_rewrite(parent: str, response: str) -> EditResult:
    """Replace the parent's block by the code of ``response``.

    The code may be the whole program (its outside must equal the parent's), the block
    with its markers, or the bare block body (re-indented to the parent's block).
    """
    parent = normalize_newlines(parent)
    block = split_block(parent)
    code = extract_code(response).strip("\n")
    if not code.strip():
        raise EditError(
            "the rewrite is empty; answer with the new EVOLVE-BLOCK in a ```python fence"
        )
    notes: list[str] = []
    if BLOCK_START in code or BLOCK_END in code:
        child = split_block(code + "\n")
        before, after = _outside_lines(child.prefix), _outside_lines(child.suffix)
        if before and before != _outside_lines(block.prefix)[-len(before) :]:
            raise EditError(_outside_message("before"))
        if after and after != _outside_lines(block.suffix)[: len(after)]:
            raise EditError(_outside_message("after"))
        body = child.body
    else:
        body = _strip_copied_outside(code, block, notes) + "\n"
    body = _reindent_like(body, block.body, notes)
    return EditResult(splice_block(parent, body), notes)


def _outside_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def _outside_message(where: str) -> str:
    return (
        f"the rewrite changes code {where} the EVOLVE-BLOCK; only the code between "
        f"'{BLOCK_START}' and '{BLOCK_END}' may change: return that code only"
    )


def _strip_copied_outside(code: str, block: Block, notes: list[str]) -> str:
    """A model that dropped the markers but copied the whole program: keep only the block."""
    before = "\n".join(block.prefix.split("\n")[:-2]).strip()
    after = block.suffix.split("\n", 1)[1].strip() if "\n" in block.suffix else ""
    kept = code.strip()
    if before and kept.startswith(before):
        kept = kept[len(before) :]
        notes.append("dropped a copy of the code before the block")
    if after and kept.endswith(after):
        kept = kept[: -len(after)]
        notes.append("dropped a copy of the code after the block")
    return kept.strip("\n") if notes else code


def _reindent_like(body: str, reference: str, notes: list[str]) -> str:
    want = _min_indent(reference)
    have = _min_indent(body)
    if want is None or have is None or want == have:
        return body
    notes.append(f"re-indented the block by {want - have:+d} columns")
    lines = body.split("\n")
    return "\n".join(_shift_indent(line, want - have) for line in lines)


def _min_indent(text: str) -> int | None:
    indents = [_indent(line) for line in text.split("\n") if line.strip()]
    return min(indents) if indents else None


def apply_edit(parent: str, response: str) -> EditResult:
    """A diff if the response has SEARCH/REPLACE hunks, else a full rewrite of the block."""
    if is_diff(response):
        return apply_diff(parent, response)
    return apply_rewrite(parent, response)
