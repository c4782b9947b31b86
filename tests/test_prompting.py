"""Prompt templates: golden renders, error messages, overrides, hashes, kind choice.

Regenerate the golden files after an intended template change with
``EVOLVE_UPDATE_GOLDEN=1 python3 -m pytest tests/test_prompting.py`` and review the diff.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evolve import edits
from evolve.errors import ConfigError, TemplateError
from evolve.paths import builtin_prompts_dir
from evolve.prompting import (
    KINDS,
    PromptLibrary,
    build_context,
    choose_kind,
    library_for,
    sample_context,
)
from evolve.types import Status
from tests import prompt_helpers as ph

GOLDEN = Path(__file__).parent / "golden" / "prompts"
UPDATE = os.environ.get("EVOLVE_UPDATE_GOLDEN") == "1"


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden {path}; run with EVOLVE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def _as_text(messages: list[dict[str, str]]) -> str:
    return "".join(f"===== {m['role']}\n{m['content']}" for m in messages)


# ---------------------------------------------------------------- golden renders


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_its_golden_prompt(kind: str) -> None:
    rendered = PromptLibrary().render_messages(kind, ph.full_context())
    _check_golden(f"{kind}.txt", _as_text(rendered.messages))


@pytest.mark.parametrize("kind", ["diff", "rewrite", "fix"])
def test_minimal_context_renders_its_golden_prompt(kind: str) -> None:
    # No inspirations, feedback, metrics or failure: the other side of every {% if %}.
    rendered = PromptLibrary().render_messages(kind, ph.minimal_context())
    _check_golden(f"{kind}_minimal.txt", rendered.messages[1]["content"])


def test_render_messages_records_template_and_hash() -> None:
    library = PromptLibrary()
    rendered = library.render_messages("diff", ph.full_context())
    assert [m["role"] for m in rendered.messages] == ["system", "user"]
    assert rendered.template == "diff.j2"
    assert rendered.template_hash == library.template_hash("system.j2", "diff.j2")
    assert len(rendered.template_hash) == 12
    assert (rendered.kind, rendered.edit_format) == ("diff", "diff")
    assert library.render_messages("crossover", ph.full_context()).edit_format == "rewrite"


def test_diff_prompt_states_format_and_shows_parent_context() -> None:
    user = PromptLibrary().render_messages("diff", ph.full_context()).messages[1]["content"]
    assert "<<<<<<< SEARCH\n" in user and "\n=======\n" in user and "\n>>>>>>> REPLACE\n" in user
    assert ph.PARENT_CODE.strip() in user
    assert "| mean_gap | 0.1875 |" in user
    assert "worst class TF=0.8 RDD=0.2: gap 0.41" in user
    assert "### Program from iteration 8: score -0.0213" in user
    assert "### Program from iteration 3: score -0.52" in user
    assert "Total tardiness on one machine" in user  # the problem's README


def test_answers_in_the_requested_formats_apply_with_the_edit_parser() -> None:
    # The prompts and evolve.edits must agree on what an answer looks like.
    diff_answer = (
        "Break ties by shorter processing time first.\n"
        "<<<<<<< SEARCH\n"
        "    return sorted(range(len(p)), key=lambda j: (d[j], p[j]))\n"
        "=======\n"
        "    return sorted(range(len(p)), key=lambda j: (d[j] - p[j], p[j]))\n"
        ">>>>>>> REPLACE\n"
    )
    child = edits.apply_diff(ph.PARENT_CODE, diff_answer).code
    assert "d[j] - p[j]" in child
    rewrite_answer = (
        "Use SPT.\n```python\n# EVOLVE-BLOCK-START\n" + ph.SPT_BLOCK + "# EVOLVE-BLOCK-END\n```\n"
    )
    child = edits.apply_rewrite(ph.PARENT_CODE, rewrite_answer).code
    assert edits.extract_block(child) == ph.SPT_BLOCK
    assert child.startswith('"""Earliest due date first."""')


def test_fix_prompt_carries_failed_edit_and_message() -> None:
    user = PromptLibrary().render_messages("fix", ph.full_context()).messages[1]["content"]
    assert "failed (EDIT_FAILED)" in user
    assert "    return sorted(jobs)\n" in user
    assert "SEARCH block 1 does not match the EVOLVE-BLOCK" in user


def test_fix_prompt_for_a_failed_parent_uses_its_reason() -> None:
    broken = ph.program(20, ph.PARENT_CODE, status=Status.TIMEOUT, reason="call 4 exceeded 2.0 s")
    context = build_context(ph.problem(), broken)
    assert context["failure"] == "call 4 exceeded 2.0 s"
    user = PromptLibrary().render_messages("fix", context).messages[1]["content"]
    assert "This program failed (TIMEOUT)" in user and "call 4 exceeded 2.0 s" in user


# ---------------------------------------------------------------- errors


def _override(tmp_path: Path, files: dict[str, str]) -> PromptLibrary:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return PromptLibrary([tmp_path])


def test_undefined_variable_names_template_line_and_variable(tmp_path: Path) -> None:
    library = _override(tmp_path, {"diff.j2": "Problem {{ problem.name }}\n\n{{ parnet.code }}\n"})
    with pytest.raises(TemplateError) as info:
        library.render_messages("diff", ph.full_context())
    message = str(info.value)
    assert "'diff.j2' line 3" in message
    assert "undefined variable 'parnet'" in message
    assert "parent" in message.split("the context has:")[1]  # tells what exists instead
    assert "\n" not in message


def test_undefined_attribute_in_partial_names_the_partial(tmp_path: Path) -> None:
    library = _override(tmp_path, {"partials/_metrics.j2": "| score |\n| {{ program.scroe }} |\n"})
    with pytest.raises(TemplateError) as info:
        library.render("diff", ph.full_context())
    message = str(info.value)
    assert "'partials/_metrics.j2' line 2 (rendering 'diff.j2')" in message
    assert "'scroe'" in message and "{{ program.scroe }}" in message


def test_syntax_error_names_template_and_line(tmp_path: Path) -> None:
    library = _override(tmp_path, {"rewrite.j2": "ok\n{% for x in inspirations %}\n{{ x.id }\n"})
    with pytest.raises(TemplateError) as info:
        library.render("rewrite", ph.full_context())
    message = str(info.value)
    assert message.startswith("prompt template 'rewrite.j2' line 3: syntax error")
    with pytest.raises(TemplateError, match="'rewrite.j2' line 3: syntax error"):
        library.template_hash("rewrite")


def test_missing_template_is_named_with_where_it_was_looked_for(tmp_path: Path) -> None:
    library = _override(tmp_path, {"fix.j2": "x\n\n{% include 'partials/_gone.j2' %}\n"})
    with pytest.raises(TemplateError) as info:
        library.render("nosuch", {})
    assert "'nosuch.j2' not found" in str(info.value)
    assert str(tmp_path) in str(info.value) and "evolve prompts list" in str(info.value)
    with pytest.raises(TemplateError) as info:
        library.render("fix", ph.full_context())
    assert "'partials/_gone.j2' not found (included from 'fix.j2' line 3)" in str(info.value)
    with pytest.raises(TemplateError, match="included from 'fix.j2' line 3"):
        library.template_hash("fix")
    with pytest.raises(TemplateError, match="no template for mutation kind 'mutate'"):
        library.render_messages("mutate", ph.full_context())
    for bad in ("../pyproject", "/etc/passwd", ""):
        with pytest.raises(TemplateError, match="bad template name"):
            library.source(bad)


def test_missing_override_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        PromptLibrary([tmp_path / "absent"])


def test_crossover_without_second_parent_is_refused() -> None:
    context = build_context(ph.problem(), ph.parent())
    with pytest.raises(TemplateError, match="needs a second parent"):
        PromptLibrary().render_messages("crossover", context)


def test_validate_reports_every_broken_template(tmp_path: Path) -> None:
    assert PromptLibrary().validate() == []
    library = _override(
        tmp_path,
        {"diff.j2": "{{ nope }}\n", "rewrite.j2": "{% if %}\n", "fix.j2": "{{ failure }}\n"},
    )
    errors = library.validate()
    assert len(errors) == 2
    assert any("'diff.j2' line 1: undefined variable 'nope'" in e for e in errors)
    assert any("'rewrite.j2' line 1: syntax error" in e for e in errors)


# ---------------------------------------------------------------- overrides and hashes


def test_override_shadows_builtin_and_changes_hash(tmp_path: Path) -> None:
    builtin = PromptLibrary()
    source = builtin.source("diff") + "\nAlways explain the expected gain.\n"
    library = _override(tmp_path, {"diff.j2": source})
    infos = {i.name: i for i in library.list()}
    assert infos["diff.j2"].origin == f"override:{tmp_path.resolve()}"
    assert infos["diff.j2"].path == tmp_path.resolve() / "diff.j2"
    assert infos["system.j2"].origin == "builtin"
    assert infos["diff.j2"].hash != builtin.template_hash("diff")
    assert infos["system.j2"].hash == builtin.template_hash("system")
    user = library.render_messages("diff", ph.full_context()).messages[1]["content"]
    assert user.endswith("Always explain the expected gain.\n")


def test_editing_a_partial_changes_the_hash_of_its_includers(tmp_path: Path) -> None:
    builtin = PromptLibrary()
    shutil.copytree(builtin_prompts_dir() / "partials", tmp_path / "partials")
    copy = PromptLibrary([tmp_path])
    assert copy.template_hash("diff") == builtin.template_hash("diff")  # same text, same hash
    assert "partials/_metrics.j2" in builtin.dependencies("diff")
    metrics = tmp_path / "partials" / "_metrics.j2"
    metrics.write_text(metrics.read_text() + "(train set)\n", encoding="utf-8")
    edited = PromptLibrary([tmp_path])
    for kind in ("diff", "rewrite", "crossover", "fix"):
        assert edited.template_hash(kind) != builtin.template_hash(kind), kind
    assert edited.template_hash("system") == builtin.template_hash("system")
    assert edited.template_hash("partials/_diff_format.j2") == builtin.template_hash(
        "partials/_diff_format.j2"
    )


def test_library_for_searches_prompts_dir_then_problem_then_builtin(tmp_path: Path) -> None:
    problem_dir = tmp_path / "problem"
    shutil.copytree(ph.FIXTURE, problem_dir)
    (problem_dir / "prompts").mkdir()
    (problem_dir / "prompts" / "system.j2").write_text("problem system\n")
    (problem_dir / "prompts" / "diff.j2").write_text("problem diff\n")
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "diff.j2").write_text("user diff\n")
    library = library_for(problem_dir, user_dir)
    assert library.render("diff", {}) == "user diff\n"
    assert library.render("system", {}) == "problem system\n"
    assert library.locate("rewrite")[1] == "builtin"
    assert library_for(ph.FIXTURE).override_dirs == []  # no prompts/ folder: built-ins only


# ---------------------------------------------------------------- context and kind choice


def test_build_context_exposes_problem_and_programs() -> None:
    context = ph.full_context()
    assert context["problem"]["name"] == "tinysmtt"
    assert context["problem"]["call_timeout"] == 2.0
    assert context["problem"]["entry_points"][0]["name"] == "schedule"
    assert context["parent"]["evolve_block"] == edits.extract_block(ph.PARENT_CODE)
    assert [p["id"] for p in context["inspirations"]] == [8, 3]
    assert context["failure"].startswith("SEARCH block 1 does not match")
    extra = build_context(ph.problem(), ph.parent(), extra={"run_best": 0.5})
    assert extra["run_best"] == 0.5
    with pytest.raises(ValueError, match="parent"):
        build_context(ph.problem(), ph.parent(), extra={"parent": "x"})


def test_sample_context_validates_with_a_problem_and_without() -> None:
    library = PromptLibrary()
    for context in (sample_context(), sample_context(ph.problem(), minimal=True)):
        for kind in KINDS:
            assert library.render_messages(kind, context).messages[1]["content"]


WEIGHTS = {"diff": 0.6, "rewrite": 0.2, "crossover": 0.2}


def _draws(n: int, **kw: Any) -> Counter[str]:
    rng = random.Random(7)
    weights = kw.pop("weights", WEIGHTS)
    return Counter(choose_kind(weights, rng, **kw) for _ in range(n))


def test_choose_kind_follows_weights_and_rules() -> None:
    counts = _draws(5000, has_other_parent=True, needs_fix=False)
    assert set(counts) == {"diff", "rewrite", "crossover"}
    assert abs(counts["diff"] / 5000 - 0.6) < 0.03
    assert abs(counts["crossover"] / 5000 - 0.2) < 0.03
    assert "crossover" not in _draws(500, has_other_parent=False, needs_fix=False)
    assert _draws(50, has_other_parent=True, needs_fix=True) == Counter(fix=50)
    only_cross = _draws(20, weights={"crossover": 1.0}, has_other_parent=False, needs_fix=False)
    assert only_cross == Counter(diff=20)
    assert _draws(300, has_other_parent=True, needs_fix=False) == _draws(
        300, has_other_parent=True, needs_fix=False
    )


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"diff": 0.0, "rewrite": 0.0}, "all zero"),
        ({"diff": -1.0}, ">= 0"),
        ({"diff": float("nan")}, ">= 0"),
        ({"mutate": 1.0}, "unknown mutation kind 'mutate'"),
    ],
)
def test_choose_kind_rejects_bad_weights(weights: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        choose_kind(weights, random.Random(0), has_other_parent=True, needs_fix=False)
