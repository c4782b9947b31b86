"""Edits: golden LLM responses applied to real parents, plus the pure helpers around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.edits import (
    BLOCK_END,
    BLOCK_START,
    apply_diff,
    apply_edit,
    check_syntax,
    extract_block,
    normalize_code,
    normalized_hash,
    parse_diff,
    splice_block,
    split_block,
)
from evolve.errors import EditError

GOLDEN = Path(__file__).parent / "golden" / "edits"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _read(path: Path) -> str:
    # Bytes, not text mode: the CRLF fixture must reach the parser with its \r\n intact.
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", CASES)
def test_golden_edit(case: str) -> None:
    folder = GOLDEN / case
    parent, response = _read(folder / "parent.py"), _read(folder / "response.txt")
    if (folder / "error.txt").exists():
        with pytest.raises(EditError) as caught:
            apply_edit(parent, response)
        assert str(caught.value) == _read(folder / "error.txt").rstrip("\n")
        return
    result = apply_edit(parent, response)
    assert result.code == _read(folder / "expected.py")
    notes = folder / "notes.txt"
    assert result.notes == (_read(notes).splitlines() if notes.exists() else [])
    assert check_syntax(result.code) is None
    # Whatever the edit, the code outside the block is the parent's, byte for byte.
    before, after = split_block(parent), split_block(result.code)
    assert (before.prefix, before.suffix) == (after.prefix, after.suffix)


def test_golden_cases_cover_every_kind() -> None:
    assert any(c.startswith("diff_") for c in CASES) and any(
        c.startswith("rewrite_") for c in CASES
    )
    assert any((GOLDEN / c / "error.txt").exists() for c in CASES)
    assert b"\r\n" in (GOLDEN / "diff_crlf_trailing_ws" / "response.txt").read_bytes()


def test_no_match_message_names_search_and_closest_lines() -> None:
    parent = _read(GOLDEN / "diff_no_match" / "parent.py")
    with pytest.raises(EditError) as caught:
        apply_edit(parent, _read(GOLDEN / "diff_no_match" / "response.txt"))
    message = str(caught.value)
    assert "priority = d[j] / w[j]" in message
    assert "22:             key = max(d[j], 0)" in message


PROGRAM = f"""import math

def helper(x):
    return x + 1

{BLOCK_START}
def f(x):
    return helper(x) * 2
{BLOCK_END}
"""


def test_extract_and_splice_round_trip() -> None:
    body = extract_block(PROGRAM)
    assert body == "def f(x):\n    return helper(x) * 2\n"
    assert splice_block(PROGRAM, body) == PROGRAM
    child = splice_block(PROGRAM, "def f(x):\n    return 3")
    assert extract_block(child) == "def f(x):\n    return 3\n"
    assert child.startswith("import math\n") and child.endswith(BLOCK_END + "\n")


@pytest.mark.parametrize(
    "code",
    [
        "x = 1\n",
        f"{BLOCK_START}\n{BLOCK_START}\n{BLOCK_END}\n",
        f"{BLOCK_END}\nx = 1\n{BLOCK_START}\n",
    ],
)
def test_broken_markers_are_refused(code: str) -> None:
    with pytest.raises(EditError, match="EVOLVE-BLOCK"):
        split_block(code)


def test_splice_refuses_markers_in_new_block() -> None:
    with pytest.raises(EditError):
        splice_block(PROGRAM, f"x = 1\n{BLOCK_END}\n")


def test_parse_diff_reads_every_hunk_in_order() -> None:
    text = (
        "<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n"
        "prose\n<<<<<<<  SEARCH\nb = 1\n=======\n>>>>>>> REPLACE\n"
    )
    hunks = parse_diff(text)
    assert [(h.search, h.replace) for h in hunks] == [("a = 1", "a = 2"), ("b = 1", "")]


def test_empty_replace_deletes_the_lines() -> None:
    response = "<<<<<<< SEARCH\n    return helper(x) * 2\n=======\n>>>>>>> REPLACE\n"
    code = apply_diff(PROGRAM, response).code
    assert "return helper(x) * 2" not in code
    assert "def helper(x):\n    return x + 1" in code


def test_ambiguous_search_changes_the_first_place_and_says_so() -> None:
    program = f"{BLOCK_START}\nx = 1\ny = 2\nx = 1\n{BLOCK_END}\n"
    result = apply_diff(program, "<<<<<<< SEARCH\nx = 1\n=======\nx = 3\n>>>>>>> REPLACE\n")
    assert extract_block(result.code) == "x = 3\ny = 2\nx = 1\n"
    assert result.notes == [
        "SEARCH block 1: matched at line 2; 1 later identical place(s) left unchanged"
    ]


def test_fuzzy_match_is_bounded() -> None:
    # Only half of the line is right: applying it would land on unrelated code.
    response = "<<<<<<< SEARCH\n    return other(y) ** 7\n=======\n    return 0\n>>>>>>> REPLACE\n"
    with pytest.raises(EditError, match="does not match"):
        apply_diff(PROGRAM, response)


def test_response_without_a_hunk_or_code_is_refused() -> None:
    with pytest.raises(EditError):
        apply_diff(PROGRAM, "I think the program is fine as it is.")


def test_check_syntax_reports_line() -> None:
    assert check_syntax("x = 1\n") is None
    message = check_syntax("x = 1\ndef f(:\n    pass\n")
    assert message is not None and "line 2" in message
    assert check_syntax("return 1\n") is not None  # parses, but does not compile
    assert check_syntax("x = '\\0'") is None  # an escaped NUL is fine
    assert check_syntax("x = 1\0") is not None


def test_normalisation_ignores_comments_docstrings_and_layout() -> None:
    a = 'def f(x):\n    """Doc."""\n    # why\n    return x+1  # inline\n'
    b = "def f(x):\n\n    return (x + 1)\n"
    assert normalize_code(a) == normalize_code(b) == "def f(x):\n    return x + 1"
    assert normalized_hash(a) == normalized_hash(b)
    assert normalized_hash(a) != normalized_hash("def f(x):\n    return x + 2\n")
    assert normalized_hash(a.replace("\n", "\r\n")) == normalized_hash(a)


def test_normalisation_of_code_that_does_not_parse() -> None:
    a = "def f(:\n    return 1  # note\n\n# comment\n"
    b = "def f(:\n    return 1\n"
    assert normalized_hash(a) == normalized_hash(b)
    assert normalized_hash(a) != normalized_hash("def f(:\n    return 2\n")
