"""Whole runs proposed by LLMs: real SDK clients, loopback wire-protocol servers, the real
engine, process sandbox and SQLite. Scripted SEARCH/REPLACE answers improve the SMTT seed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evolve.launch import execute, new_run
from evolve.progress import Progress
from evolve.storage import Store
from evolve.types import RunStatus, Status
from tests.llm_servers import Reply, ScriptedLLMServer, offline_env  # noqa: F401

SEED_KEY = "key = max(d[j], 0)"
_CURRENT = re.compile(r"## Current program.*?```python\n(.*?)```", re.S)


def improving_responder(body: dict[str, Any]) -> Reply:
    """Answer like a model would: turn EDD into MDD, then try distinct tie-breakers."""
    messages = body.get("messages", [])
    text = "\n".join(m["content"] if isinstance(m["content"], str) else
                     "".join(part.get("text", "") for part in m["content"]) for m in messages)
    match = _CURRENT.search(text)
    current = match.group(1) if match else text
    if SEED_KEY in current:
        diff = (f"Use the modified due date.\n<<<<<<< SEARCH\n            {SEED_KEY}"
                "  # due dates are never negative: this is plain EDD\n=======\n"
                "            key = max(d[j], t + p[j])\n>>>>>>> REPLACE\n")
        return Reply(text=diff, input_tokens=1500, output_tokens=60)
    found = re.search(r"( +)(key = max\(d\[j\], t \+ p\[j\]\)[^\n]*)", current)
    if found is None:
        return Reply(text="I have no idea.", input_tokens=1500, output_tokens=5)
    indent, line = found.groups()
    weight = 1 + len(body.get("messages", [])[-1]) % 7 + hash(current) % 97
    diff = (f"Break ties by processing time.\n<<<<<<< SEARCH\n{indent}{line}\n=======\n"
            f"{indent}key = max(d[j], t + p[j]) + p[j] * {weight}e-6\n>>>>>>> REPLACE\n")
    return Reply(text=diff, input_tokens=1500, output_tokens=70)


def run_with(provider: str, url: str, db: Path, **cli: Any) -> tuple[Store, int]:
    name = {"litellm": "openai/gpt-4o-mini", "openai": "gpt-4o-mini",
            "anthropic": "claude-haiku-4-5"}[provider]
    base = url if provider == "anthropic" else url + "/v1"
    model = {"name": name, "provider": provider, "base_url": base, "timeout": 5}
    values: dict[str, Any] = {"models": [model], "iterations": 20, "concurrency": 1,
                              "workers": 1, "sandbox": "process", "seed": 7,
                              "llm.deadline": 10, **cli}
    prepared = new_run("smtt", db=str(db), cli=values)
    summary = execute(prepared, echo=lambda _: None, progress=Progress(enabled=False))
    return prepared.store, summary.run_id


@pytest.mark.parametrize("provider", ["openai", "anthropic", "litellm"])
def test_twenty_llm_iterations_improve_the_seed_and_record_every_call(
    tmp_path: Path, provider: str, offline_env: list[str]  # noqa: F811
) -> None:
    with ScriptedLLMServer(responder=improving_responder) as server:
        store, run_id = run_with(provider, server.url, tmp_path / "llm.db")
    run = store.get_run(run_id)
    assert run.status is RunStatus.FINISHED and run.iterations == 20
    programs = store.programs(run_id)
    seed, best = programs[0], store.get_program(run.best_program_id or -1)
    assert seed.score is not None and best.score is not None
    assert best.score > seed.score + 0.3  # MDD is far better than EDD
    assert best.test_score is not None
    calls = store.llm_calls(run_id)
    assert len(calls) == 20 and all(c.status == "ok" for c in calls)
    for call in calls:
        assert call.input_tokens == 1500 and call.output_tokens in (60, 70)
        assert call.cost_usd > 0 and call.latency_s > 0
        assert call.template and call.template_hash and call.request_hash
    children = [p for p in programs if p.iteration > 0]
    assert {p.llm_call_id for p in children} == {c.id for c in calls}
    assert run.cost_usd == pytest.approx(sum(c.cost_usd for c in calls))


def test_replay_reproduces_programs_and_scores_with_no_server(
    tmp_path: Path, offline_env: list[str]  # noqa: F811
) -> None:
    db = tmp_path / "replay.db"
    with ScriptedLLMServer(responder=improving_responder) as server:
        store, recorded = run_with("openai", server.url, db, iterations=8)
        served = len(server.seen)
    store.close()
    # The server is gone: every answer must come from the database.
    prepared = new_run("smtt", db=str(db), cli={"llm.replay_run": recorded})
    summary = execute(prepared, echo=lambda _: None, progress=Progress(enabled=False))
    with Store.open(str(db)) as check:
        first = [(p.iteration, p.code_hash, p.status, p.score, p.edit)
                 for p in check.programs(recorded)]
        second = [(p.iteration, p.code_hash, p.status, p.score, p.edit)
                  for p in check.programs(summary.run_id)]
        assert served == 8 and second == first
        assert check.get_run(summary.run_id).cost_usd == 0.0  # replayed calls cost nothing


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        (Reply("rate_limit", retry_after=0.2), "goes on"),
        (Reply("server_error"), "goes on"),
        (Reply("malformed"), "goes on"),
        (Reply("empty"), "goes on"),
        (Reply("slow", delay=8.0), "goes on"),
    ],
)
def test_faults_are_recorded_and_the_run_goes_on(
    tmp_path: Path, fault: Reply, expect: str, offline_env: list[str]  # noqa: F811
) -> None:
    replies = iter([fault, fault])

    def responder(body: dict[str, Any]) -> Reply:
        injected = next(replies, None)
        return injected if injected is not None else improving_responder(body)

    with ScriptedLLMServer(responder=responder) as server:
        store, run_id = run_with("openai", server.url, tmp_path / "f.db", iterations=4,
                                 **{"llm.deadline": 3, "llm.max_retries": 1})
    run = store.get_run(run_id)
    assert run.status is RunStatus.FINISHED and run.iterations == 4
    programs = store.programs(run_id)
    assert all(p.status.finished for p in programs)
    calls = store.llm_calls(run_id)
    assert any(c.status != "ok" for c in calls), "the fault was not recorded"
    assert any(p.status is Status.COMPLETE and p.iteration > 0 for p in programs)
    failed = [p for p in programs if p.status is Status.FAILED]
    for program in failed:
        assert program.reason and "failed" in program.reason


def test_all_models_failing_stops_the_run_cleanly(
    tmp_path: Path, offline_env: list[str]  # noqa: F811
) -> None:
    with ScriptedLLMServer(default=Reply("status", status=401)) as server:
        store, run_id = run_with("openai", server.url, tmp_path / "dead.db", iterations=50,
                                 **{"llm.failures_before_bench": 2})
    run = store.get_run(run_id)
    assert run.status is RunStatus.FINISHED
    assert "all models failing" in (run.stop_reason or "")
    assert run.iterations < 50
    assert all(p.status.finished for p in store.programs(run_id))


def test_missing_key_fails_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "nokey.db"
    from evolve.errors import ProviderError

    with pytest.raises((ProviderError, Exception)) as info:
        new_run("smtt", db=str(db), cli={"models": [{"name": "gpt-4o-mini",
                                                     "provider": "openai"}]})
    assert "OPENAI_API_KEY" in str(info.value)
    with Store.open(str(db)) as store:
        assert store.list_runs() == []


def test_code_that_does_not_compile_is_invalid_without_a_sandbox(
    tmp_path: Path, offline_env: list[str]  # noqa: F811
) -> None:
    broken = ("<<<<<<< SEARCH\n            key = max(d[j], 0)  # due dates are never negative: "
              "this is plain EDD\n=======\n            key = max(d[j], t + p[j]\n"
              ">>>>>>> REPLACE\n")
    with ScriptedLLMServer(default=Reply(text=broken)) as server:
        store, run_id = run_with("openai", server.url, tmp_path / "syntax.db", iterations=3)
    children = [p for p in store.programs(run_id) if p.iteration > 0]
    assert children and all(p.status is Status.INVALID for p in children)
    for child in children:
        assert "does not compile" in (child.reason or "") and "line" in (child.reason or "")
        assert store.evaluations(child.id) == []  # never sent to a sandbox
    assert store.get_run(run_id).evaluations == 1  # the seed only
