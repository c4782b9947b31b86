"""The native Anthropic SDK (Messages API), any ``base_url``.

System messages are lifted into the ``system`` parameter because the Messages API has no
system role; the reply's text blocks are joined. SDK retries are off, as for OpenAI.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import TYPE_CHECKING, Any

from evolve.llm.base import (
    BadResponse,
    CallError,
    Completion,
    DeadlineExceeded,
    Messages,
    TransientError,
    error_for_status,
    one_line,
)
from evolve.llm.clients import LoopBoundClient
from evolve.llm.cost import PriceTable

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic


class AnthropicProvider:
    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._prices = prices or PriceTable()
        self._clients = LoopBoundClient(self._new_client)

    def _new_client(self) -> AsyncAnthropic:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(api_key=self._api_key, base_url=self._base_url, max_retries=0)

    def _sdk(self) -> AsyncAnthropic:
        return self._clients.get()

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def complete(
        self, messages: Messages, *, temperature: float, max_tokens: int, deadline: float
    ) -> Completion:
        system, turns = split_system(messages)
        sdk = self._sdk()
        extra: dict[str, Any] = {"system": system} if system else {}
        if _takes_temperature(sdk):
            extra["temperature"] = temperature
        started = time.perf_counter()
        try:
            response = await sdk.messages.create(
                model=self.model,
                messages=turns,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                timeout=deadline,
                **extra,
            )
        except Exception as exc:  # noqa: BLE001 - mapped to our typed errors or re-raised
            raise map_anthropic_error(exc) from exc
        latency = time.perf_counter() - started
        text = "".join(
            getattr(block, "text", "") for block in response.content if block.type == "text"
        )
        if not text:
            raise BadResponse(
                f"the endpoint answered with no text (stop_reason={response.stop_reason})"
            )
        input_tokens = response.usage.input_tokens
        output_tokens = response.usage.output_tokens
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self._prices.cost(self.model, input_tokens, output_tokens),
            latency_s=latency,
            model=self.model,
            provider=self.provider,
        )


def _takes_temperature(sdk: AsyncAnthropic) -> bool:
    # Recent SDK releases dropped ``temperature`` from the Messages API (the newest models
    # reject it); older ones still take it. Sending it only when the SDK knows it keeps
    # both working instead of failing every call with a 400.
    return "temperature" in inspect.signature(sdk.messages.create).parameters


def split_system(messages: Messages) -> tuple[str, Messages]:
    """The system prompt (all system messages joined) and the remaining turns."""
    system = "\n\n".join(m["content"] for m in messages if m.get("role") == "system")
    turns = [
        {"role": m["role"], "content": m["content"]} for m in messages if m.get("role") != "system"
    ]
    return system, turns


def map_anthropic_error(exc: BaseException) -> BaseException:
    """Our typed error for an anthropic SDK exception; anything else is returned unchanged."""
    import anthropic

    if isinstance(exc, CallError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        return DeadlineExceeded(f"timed out: {one_line(exc)}")
    if isinstance(exc, json.JSONDecodeError | anthropic.APIResponseValidationError):
        return BadResponse(f"malformed response: {one_line(exc)}")
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientError(f"connection failed: {one_line(exc)}")
    if isinstance(exc, anthropic.APIStatusError):
        return error_for_status(exc.status_code, one_line(exc), dict(exc.response.headers))
    return exc
