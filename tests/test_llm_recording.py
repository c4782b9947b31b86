"""Request hashes, the replay log and the replay provider."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evolve.llm.recording import ReplayLog, ReplayMissing, ReplayProvider, request_hash
from evolve.storage.store import Store

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "improve"}]


def test_request_hash_is_canonical_and_covers_what_decides_the_answer() -> None:
    base = request_hash("gpt-4o-mini", MESSAGES, 0.7, 1000)
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert request_hash("gpt-4o-mini", reordered, 0.7, 1000) == base
    assert request_hash("gpt-4o-mini", MESSAGES, 0.7, 1000.0) == base  # type: ignore[arg-type]
    assert len(base) == 64 and int(base, 16) >= 0
    changed = {
        request_hash("gpt-4o", MESSAGES, 0.7, 1000),
        request_hash("gpt-4o-mini", MESSAGES, 0.8, 1000),
        request_hash("gpt-4o-mini", MESSAGES, 0.7, 1001),
        request_hash(
            "gpt-4o-mini", [*MESSAGES[:1], {"role": "user", "content": "improve!"}], 0.7, 1000
        ),
    }
    assert base not in changed and len(changed) == 4


def test_replay_serves_exactly_the_recorded_text_in_recorded_order(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'replay.db'}")
    try:
        run = store.create_run("smtt", {}, 0)
        key = request_hash("m", MESSAGES, 0.7, 100)
        other = request_hash("m", MESSAGES, 0.0, 100)
        texts = ["first  answer\n\twith whitespace ✓\n", "second answer"]
        for text in texts:
            store.add_llm_call(
                run.id, "m", "openai", "error", request_hash=key, prompt=MESSAGES, error="500"
            )
            store.add_llm_call(
                run.id, "m", "openai", "ok", request_hash=key, prompt=MESSAGES, response=text
            )
        store.add_llm_call(run.id, "m", "openai", "ok", request_hash=other, response="cold")
        log = ReplayLog(store.llm_calls(run.id))
    finally:
        store.close()
    assert len(log) == 3
    provider = ReplayProvider("m", log, source="run 1")

    async def ask(temperature: float) -> str:
        done = await provider.complete(
            MESSAGES, temperature=temperature, max_tokens=100, deadline=1
        )
        assert done.cost_usd == 0.0 and done.provider == "replay"
        return done.text

    answers = [asyncio.run(ask(0.7)) for _ in range(2)]
    # Repeats of one prompt get that prompt's answers in recorded order.
    assert answers == texts
    # A prompt that differs (say, in a host-timed metric) gets the next unused answer in
    # recorded order, so a sequential replay still reproduces the run.
    assert asyncio.run(ask(0.3)) == "cold"
    # Every answer is served once: past the end, replay refuses to improvise.
    with pytest.raises(ReplayMissing, match=r"run 1 has no response .* diverged"):
        asyncio.run(ask(0.7))
