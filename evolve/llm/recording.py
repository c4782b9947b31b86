"""Record every call; replay a run from its recorded responses.

A call is identified by the hash of its request (model, messages, temperature,
max_tokens): a replayed run that renders the same prompt for the same model finds the
response the original run got, with no network and no cost. The recorder is a callback so
that this package never imports storage; the engine wires it to
``Store.add_llm_call(run_id, **call)``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from evolve.errors import ProviderError
from evolve.llm.base import Completion, Messages
from evolve.llm.reliability import Attempt
from evolve.types import LLMCall


def request_hash(model: str, messages: Messages, temperature: float, max_tokens: int) -> str:
    """sha256 of the canonical JSON of what decides a response."""
    canonical = json.dumps(
        {
            "model": model,
            "messages": messages,
            "temperature": float(temperature),
            "max_tokens": int(max_tokens),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Recorder(Protocol):
    def record(self, call: dict[str, Any]) -> int | None:
        """Store one call; the keys are ``Store.add_llm_call``'s. Returns the row id."""
        ...


class CallbackRecorder:
    """A Recorder from a function, e.g. ``lambda c: store.add_llm_call(run_id, **c).id``."""

    def __init__(self, fn: Callable[[dict[str, Any]], int | None]) -> None:
        self._fn = fn

    def record(self, call: dict[str, Any]) -> int | None:
        return self._fn(call)


class MemoryRecorder:
    """Keeps calls in a list: for runs without a database, and to inspect calls in tests."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def record(self, call: dict[str, Any]) -> int | None:
        self.calls.append(call)
        return len(self.calls)


def attempt_record(
    attempt: Attempt,
    *,
    model: str,
    provider: str,
    messages: Messages,
    temperature: float,
    max_tokens: int,
    template: str | None = None,
    template_hash: str | None = None,
) -> dict[str, Any]:
    """The llm_calls row of one attempt, failed or not."""
    done = attempt.completion
    return {
        "model": model,
        "provider": provider,
        "status": "ok" if done is not None else "error",
        "template": template,
        "template_hash": template_hash,
        "request_hash": request_hash(model, messages, temperature, max_tokens),
        "prompt": messages,
        "response": done.text if done is not None else None,
        "input_tokens": done.input_tokens if done is not None else 0,
        "output_tokens": done.output_tokens if done is not None else 0,
        "cost_usd": done.cost_usd if done is not None else 0.0,
        "latency_s": attempt.latency_s,
        "error": None if attempt.error is None else _error_text(attempt.error),
    }


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


class ReplayMissing(ProviderError):
    """A replayed run asked for something the recorded run never asked: they diverged."""


Lookup = Callable[[str], "str | None"]


class ReplayProvider:
    """Serves recorded responses by request hash instead of calling out.

    Costs nothing and takes no time. A request that was never recorded raises
    ``ReplayMissing`` (not a retryable call error): replay must reproduce, not improvise.
    """

    provider = "replay"

    def __init__(self, model: str, lookup: Lookup, *, source: str = "the recorded run") -> None:
        self.model = model
        self._lookup = lookup
        self._source = source

    async def complete(
        self, messages: Messages, *, temperature: float, max_tokens: int, deadline: float
    ) -> Completion:
        key = request_hash(self.model, messages, temperature, max_tokens)
        text = self._lookup(key)
        if text is None:
            raise ReplayMissing(
                f"replay: {self._source} has no response for this {self.model} request "
                f"(hash {key[:12]}); the replayed run diverged (changed prompts, config or "
                "code?): replay with the same config and templates"
            )
        return Completion(text, 0, 0, 0.0, 0.0, self.model, self.provider)


class ReplayLog:
    """A lookup over recorded calls: a request gets the first unused response recorded for
    the same request hash, else the next unused response in recorded order.

    The fallback matters because a prompt can legitimately differ in run-dependent detail
    (a host-timed metric such as seconds per instance), while a sequential replay asks in
    the recorded order anyway. Every response is served at most once."""

    def __init__(self, calls: Iterable[LLMCall]) -> None:
        self._entries: list[tuple[str, str]] = [
            (call.request_hash or "", call.response)
            for call in sorted(calls, key=lambda c: c.id)
            if call.status == "ok" and call.response is not None
        ]
        self._by_hash: dict[str, deque[int]] = defaultdict(deque)
        for index, (key, _) in enumerate(self._entries):
            self._by_hash[key].append(index)
        self._used: set[int] = set()
        self._next = 0

    def __len__(self) -> int:
        return len(self._entries) - len(self._used)

    def __call__(self, key: str) -> str | None:
        queue = self._by_hash.get(key)
        while queue and queue[0] in self._used:
            queue.popleft()
        if queue:
            index = queue.popleft()
        else:
            while self._next < len(self._entries) and self._next in self._used:
                self._next += 1
            if self._next >= len(self._entries):
                return None
            index = self._next
        self._used.add(index)
        return self._entries[index][1]
