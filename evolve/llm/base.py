"""The Provider protocol, what a call returns, and the typed errors a call can raise.

Every provider (native SDK, litellm, replay) maps its own exceptions onto the four errors
below so that the retry policy, the ensemble and the recorder never look at an SDK type:
``RateLimited`` and ``TransientError`` are worth retrying, ``PermanentError`` is not, and
``DeadlineExceeded`` means our own hard deadline fired.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from evolve.errors import ProviderError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    """One successful call: the text and what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    model: str
    provider: str


@runtime_checkable
class Provider(Protocol):
    """One model behind one endpoint.

    ``deadline`` is the number of seconds the call may take in all (retries included when
    the provider retries); past it the call raises ``DeadlineExceeded``.
    """

    model: str
    provider: str

    async def complete(
        self,
        messages: Messages,
        *,
        temperature: float,
        max_tokens: int,
        deadline: float,
    ) -> Completion: ...


class CallError(ProviderError):
    """A single LLM call failed. The subclass says whether trying again can help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(CallError):
    """5xx, a dropped connection, an SDK-side timeout: the same request may succeed later."""

    retryable = True


class RateLimited(TransientError):
    """HTTP 429. ``retry_after`` is the server's wish in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class PermanentError(CallError):
    """Bad request, bad key, unknown model, or a reply we cannot read: retrying won't help."""


class BadResponse(PermanentError):
    """The endpoint answered 200 with malformed JSON, no choices, or no text."""


class DeadlineExceeded(CallError):
    """Our own hard deadline fired before the endpoint answered."""


class CallCancelled(CallError):
    """The run stopped (Ctrl-C, shutdown) while the call was in flight. Only recorded:
    the ``asyncio.CancelledError`` itself keeps propagating."""


def error_for_status(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> CallError:
    """The typed error for an HTTP status, reading Retry-After on a 429."""
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(headers or {}))
    # 408 (request timeout), 409 (lock conflict) and every 5xx are the server's trouble.
    if status in (408, 409) or status >= 500:
        return TransientError(message, status=status)
    return PermanentError(message, status=status)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``retry-after`` (seconds or a date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def one_line(text: object, limit: int = 300) -> str:
    """An error message fit for a log line and the llm_calls table."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
