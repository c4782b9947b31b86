"""Retries, Retry-After, hard deadlines and the in-flight cap, through the real SDKs."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from evolve.llm.base import (
    BadResponse,
    CallCancelled,
    Completion,
    DeadlineExceeded,
    RateLimited,
    TransientError,
)
from evolve.llm.reliability import Attempt, Reliable, RetryPolicy
from tests.llm_servers import Reply, ScriptedLLMServer, offline_env
from tests.test_llm_providers import MESSAGES, make

pytestmark = pytest.mark.usefixtures(offline_env.__name__)

FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)


def run(
    client: Reliable, deadline: float = 10.0, attempts: list[Attempt] | None = None
) -> Completion:
    hook = attempts.append if attempts is not None else None
    return asyncio.run(
        client.complete(
            MESSAGES, temperature=0.0, max_tokens=64, deadline=deadline, on_attempt=hook
        )
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic", "litellm-openai", "litellm-anthropic"])
def test_429_waits_exactly_as_long_as_retry_after_says(kind: str) -> None:
    script = [Reply("rate_limit", retry_after=0.8), Reply(text="after the wait")]
    attempts: list[Attempt] = []
    with ScriptedLLMServer(script) as srv:
        started = time.monotonic()
        done = run(Reliable(make(kind, srv.url), policy=FAST), attempts=attempts)
        elapsed = time.monotonic() - started
    assert done.text == "after the wait"
    first, second = srv.seen
    # The back-off alone would be 0.05 s; only the header explains a 0.8 s gap.
    assert second.at - first.at >= 0.8
    assert elapsed >= 0.8
    assert [a.error is None for a in attempts] == [False, True]
    assert isinstance(attempts[0].error, RateLimited)


def test_500s_are_retried_with_backoff_until_an_answer() -> None:
    script = [Reply("server_error"), Reply("server_error"), Reply(text="third time")]
    attempts: list[Attempt] = []
    with ScriptedLLMServer(script) as srv:
        done = run(Reliable(make("openai", srv.url), policy=FAST), attempts=attempts)
    assert done.text == "third time"
    assert len(srv.seen) == 3
    assert [type(a.error).__name__ for a in attempts] == [
        "TransientError",
        "TransientError",
        "NoneType",
    ]
    assert [a.number for a in attempts] == [1, 2, 3]


def test_retries_stop_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    with ScriptedLLMServer(default=Reply("server_error")) as srv:
        with pytest.raises(TransientError):
            run(Reliable(make("anthropic", srv.url), policy=policy))
    assert len(srv.seen) == 3


def test_retry_after_past_the_deadline_fails_now_instead_of_sleeping() -> None:
    with ScriptedLLMServer([Reply("rate_limit", retry_after=30)]) as srv:
        started = time.monotonic()
        with pytest.raises(RateLimited):
            run(Reliable(make("openai", srv.url), policy=FAST), deadline=3.0)
        assert time.monotonic() - started < 2.0
    assert len(srv.seen) == 1


def test_malformed_and_empty_replies_are_not_retried() -> None:
    with ScriptedLLMServer([Reply("malformed"), Reply("empty")], default=Reply(text="x")) as srv:
        with pytest.raises(BadResponse):
            run(Reliable(make("openai", srv.url), policy=FAST))
        with pytest.raises(BadResponse):
            run(Reliable(make("litellm-anthropic", srv.url), policy=FAST))
    assert len(srv.seen) == 2


def test_hard_deadline_bounds_a_stalled_endpoint() -> None:
    with ScriptedLLMServer(default=Reply("slow", delay=5.0)) as srv:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            run(Reliable(make("openai", srv.url), policy=FAST), deadline=0.6)
        elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 2.0


def test_a_stalled_attempt_is_cut_and_retried_within_the_deadline() -> None:
    script = [Reply("slow", delay=5.0), Reply(text="second try")]
    with ScriptedLLMServer(script) as srv:
        started = time.monotonic()
        client = Reliable(make("anthropic", srv.url), policy=FAST, attempt_timeout=0.4)
        done = run(client, deadline=5.0)
        elapsed = time.monotonic() - started
    assert done.text == "second try"
    assert len(srv.seen) == 2
    assert elapsed < 3.0


def test_calls_in_flight_never_exceed_the_cap() -> None:
    async def main(url: str) -> list[str]:
        limiter = asyncio.Semaphore(2)
        client = Reliable(make("openai", url), policy=FAST, limiter=limiter)
        results = await asyncio.gather(
            *(
                client.complete(MESSAGES, temperature=0.0, max_tokens=8, deadline=10)
                for _ in range(6)
            )
        )
        return [r.text for r in results]

    with ScriptedLLMServer(default=Reply(text="ok", delay=0.25)) as srv:
        texts = asyncio.run(main(srv.url))
    assert texts == ["ok"] * 6
    assert srv.max_in_flight == 2


def test_backoff_grows_is_capped_and_jittered_reproducibly() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    delays = [policy.backoff(n, random.Random(7)) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2.0 ** (n - 1))
        assert ceiling * 0.5 <= delay <= ceiling
    assert delays == [policy.backoff(n, random.Random(7)) for n in range(1, 7)]
    assert policy.delay(RateLimited("x", retry_after=3.5), 1, random.Random(0)) == 3.5
    assert policy.delay(RateLimited("x"), 1, random.Random(0)) <= 1.0


def test_a_call_cancelled_in_flight_is_still_reported() -> None:
    attempts: list[Attempt] = []

    async def main(url: str) -> None:
        client = Reliable(make("openai", url), policy=FAST)
        task = asyncio.create_task(
            client.complete(
                MESSAGES, temperature=0, max_tokens=8, deadline=10, on_attempt=attempts.append
            )
        )
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with ScriptedLLMServer(default=Reply("slow", delay=5.0)) as srv:
        asyncio.run(main(srv.url))
    [attempt] = attempts
    assert isinstance(attempt.error, CallCancelled)
    assert 0.2 < attempt.latency_s < 2.0
