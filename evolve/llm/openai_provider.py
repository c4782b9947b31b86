"""The native OpenAI SDK against any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, ...).

The SDK is imported inside the methods so that importing ``evolve`` stays fast and only
``evolve.llm`` ever touches an LLM SDK. The SDK's own retries are off (``max_retries=0``):
``evolve.llm.reliability`` is the one place that decides when to try again.
"""

from __future__ import annotations

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
    from openai import AsyncOpenAI

# A local server (vLLM, llama.cpp) ignores the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider:
    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key or PLACEHOLDER_KEY
        self._base_url = base_url
        self._prices = prices or PriceTable()
        self._clients = LoopBoundClient(self._new_client)

    def _new_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        return AsyncOpenAI(api_key=self._api_key, base_url=self._base_url, max_retries=0)

    def _sdk(self) -> AsyncOpenAI:
        return self._clients.get()

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def complete(
        self, messages: Messages, *, temperature: float, max_tokens: int, deadline: float
    ) -> Completion:
        started = time.perf_counter()
        try:
            response = await self._sdk().chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=temperature,
                max_tokens=max_tokens,
                timeout=deadline,
            )
        except Exception as exc:  # noqa: BLE001 - mapped to our typed errors or re-raised
            raise map_openai_error(exc) from exc
        latency = time.perf_counter() - started
        if not response.choices:
            raise BadResponse("the endpoint answered with no choices")
        text = response.choices[0].message.content
        if not text:
            raise BadResponse("the endpoint answered with an empty message")
        usage = response.usage
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self._prices.cost(self.model, input_tokens, output_tokens),
            latency_s=latency,
            model=self.model,
            provider=self.provider,
        )


def map_openai_error(exc: BaseException) -> BaseException:
    """Our typed error for an exception of the openai SDK (or of litellm, whose exceptions
    subclass the openai ones); anything unrecognised is returned unchanged (a bug)."""
    import openai

    if isinstance(exc, CallError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded(f"timed out: {one_line(exc)}")
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return BadResponse(f"malformed response: {one_line(exc)}")
    if _looks_malformed(exc):
        return BadResponse(f"malformed response: {one_line(exc)}")
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(f"connection failed: {one_line(exc)}")
    if isinstance(exc, openai.APIStatusError):
        return error_for_status(exc.status_code, one_line(exc), _headers(exc))
    return exc


def _looks_malformed(exc: BaseException) -> bool:
    # litellm wraps a JSON decode failure into a 500 or a connection error; only its
    # message tells, and retrying a body that does not parse is money thrown away.
    text = str(exc)
    return "Expecting value" in text or "Unable to get json response" in text


def _headers(exc: Any) -> dict[str, str]:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    return dict(headers.items()) if headers is not None else {}
