"""Any ``provider/model`` string litellm knows: hosted APIs, ``ollama/...``, ``hosted_vllm/...``.

litellm is imported inside the call, after ``LITELLM_LOCAL_MODEL_COST_MAP`` is set, so it
never fetches its price map from the network. Its own retries are off (``num_retries=0``,
``max_retries=0``); its exceptions subclass the openai SDK's, so they map the same way.
"""

from __future__ import annotations

import os
import time
from typing import Any

from evolve.llm.base import BadResponse, Completion, Messages
from evolve.llm.cost import PriceTable
from evolve.llm.openai_provider import PLACEHOLDER_KEY, map_openai_error


def import_litellm() -> Any:
    """litellm, configured to stay offline and quiet."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # A model that rejects e.g. temperature should still answer rather than fail the run.
    litellm.drop_params = True
    return litellm


class LiteLLMProvider:
    provider = "litellm"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._prices = prices or PriceTable()

    async def complete(
        self, messages: Messages, *, temperature: float, max_tokens: int, deadline: float
    ) -> Completion:
        litellm = import_litellm()
        extra: dict[str, Any] = {}
        if self._base_url:
            extra["api_base"] = self._base_url
        if self._api_key:
            extra["api_key"] = self._api_key
        elif self._base_url:
            # An OpenAI-compatible local server ignores the key, but the client wants one.
            extra["api_key"] = PLACEHOLDER_KEY
        started = time.perf_counter()
        try:
            response = await litellm.acompletion(
                model=self.model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                timeout=deadline,
                num_retries=0,
                max_retries=0,
                **extra,
            )
        except Exception as exc:  # noqa: BLE001 - mapped to our typed errors or re-raised
            raise map_openai_error(exc) from exc
        latency = time.perf_counter() - started
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise BadResponse("the endpoint answered with no choices")
        text = getattr(choices[0].message, "content", None)
        if not text:
            raise BadResponse("the endpoint answered with an empty message")
        usage = getattr(response, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        return Completion(
            text=str(text),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self._prices.cost(self.model, input_tokens, output_tokens),
            latency_s=latency,
            model=self.model,
            provider=self.provider,
        )
