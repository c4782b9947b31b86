"""Retries, a hard deadline and a cap on calls in flight, around any Provider.

This is the only retry loop in the LLM layer: every provider builds its SDK client with
``max_retries=0`` so that a 429 is not retried three times inside the SDK and then again
here, and so that the deadline below bounds the whole call, retries and back-off included.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from evolve.errors import EvolveError
from evolve.llm.base import (
    CallCancelled,
    CallError,
    Completion,
    DeadlineExceeded,
    Messages,
    PermanentError,
    Provider,
    RateLimited,
    one_line,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter; a server's Retry-After replaces the back-off."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5  # the share of each back-off drawn at random, so clients spread out

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return ceiling * (1.0 - self.jitter * rng.random())

    def delay(self, error: CallError, failures: int, rng: random.Random) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        return self.backoff(failures, rng)


@dataclass(frozen=True)
class Attempt:
    """One try at a call: exactly one of ``completion`` and ``error`` is set."""

    number: int
    completion: Completion | None
    error: CallError | None
    latency_s: float


AttemptHook = Callable[[Attempt], None]


class Reliable:
    """A Provider that retries ``inner`` and never exceeds its deadline.

    ``deadline`` (seconds) bounds the time spent on the call from its first attempt to its
    last answer, back-off included; ``attempt_timeout`` optionally cuts each attempt sooner
    (a stalled attempt is then retried while the deadline allows); time queued for a free slot under ``limiter`` is not
    counted, since a queued call cannot wedge: every call ahead of it has a deadline too.
    ``on_attempt`` sees every attempt, failed or not, so every HTTP call can be recorded.
    """

    def __init__(
        self,
        inner: Provider,
        *,
        policy: RetryPolicy | None = None,
        limiter: asyncio.Semaphore | None = None,
        attempt_timeout: float | None = None,
        seed: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.model = inner.model
        self.provider = inner.provider
        self.policy = policy or RetryPolicy()
        self._limiter = limiter
        self._attempt_timeout = attempt_timeout
        self._rng = random.Random(seed)
        self._sleep = sleep

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    async def complete(
        self,
        messages: Messages,
        *,
        temperature: float,
        max_tokens: int,
        deadline: float,
        on_attempt: AttemptHook | None = None,
    ) -> Completion:
        used = 0.0
        number = 0
        while True:
            number += 1
            allowed = max(deadline - used, 0.001)
            if self._attempt_timeout is not None:
                allowed = min(allowed, self._attempt_timeout)
            completion: Completion | None = None
            error: CallError | None = None
            async with self._slot():
                started = time.monotonic()
                try:
                    completion = await self._attempt(messages, temperature, max_tokens, allowed)
                except CallError as exc:
                    error = exc
                except asyncio.CancelledError:
                    # The endpoint may have billed the call: it still gets its row.
                    if on_attempt is not None:
                        cancelled = CallCancelled("cancelled while in flight: the run is stopping")
                        on_attempt(Attempt(number, None, cancelled, time.monotonic() - started))
                    raise
                latency = time.monotonic() - started
            used += latency
            if on_attempt is not None:
                on_attempt(Attempt(number, completion, error, latency))
            if completion is not None:
                return completion
            assert error is not None
            # A slow attempt cut by the per-attempt timeout may be retried while the
            # call's deadline still has time; the deadline itself is final.
            retryable = error.retryable or (isinstance(error, DeadlineExceeded) and used < deadline)
            if not retryable or number >= self.policy.max_attempts:
                raise error
            wait = self.policy.delay(error, number, self._rng)
            if used + wait >= deadline:
                # Waiting would overrun the deadline: fail now rather than sleep past it.
                raise error
            await self._sleep(wait)
            used += wait

    async def _attempt(
        self, messages: Messages, temperature: float, max_tokens: int, allowed: float
    ) -> Completion:
        try:
            return await asyncio.wait_for(
                self.inner.complete(
                    messages, temperature=temperature, max_tokens=max_tokens, deadline=allowed
                ),
                timeout=allowed,
            )
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"no answer from {self.model} within {allowed:.2f}s (hard deadline)"
            ) from exc
        except EvolveError:
            # Typed call errors go to the retry loop; other EvolveErrors (a replay that
            # diverged) must stop the run, not count as a flaky endpoint.
            raise
        except Exception as exc:  # noqa: BLE001 - a provider bug must fail one call, not the run
            raise PermanentError(f"{type(exc).__name__}: {one_line(exc)}") from exc

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._limiter is None:
            yield
            return
        async with self._limiter:
            yield
