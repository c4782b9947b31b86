"""Tokens to US dollars: litellm's bundled price table, overridden per model from config.

The table is read from the copy shipped inside litellm (``LITELLM_LOCAL_MODEL_COST_MAP``
is set before the import), so pricing never touches the network. A model found in neither
the overrides nor the table costs 0 and is warned about once, because a local model served
by vLLM or Ollama legitimately costs nothing and must not stop a run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Rough, deliberately generous: a budget check must over-estimate, never under-estimate.
CHARS_PER_TOKEN = 3.0


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def litellm_price_table() -> dict[str, dict[str, Any]]:
    """litellm's bundled ``model_cost`` map, imported without any network access."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    table: dict[str, dict[str, Any]] = litellm.model_cost
    return table


class PriceTable:
    """Prices by model name. ``overrides`` is the config's ``prices:`` mapping
    ``{model: {input_per_mtok, output_per_mtok}}`` and wins over litellm's table."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
        *,
        use_litellm: bool = True,
    ) -> None:
        self._overrides = {
            name: Price(float(p["input_per_mtok"]), float(p["output_per_mtok"]))
            for name, p in (overrides or {}).items()
        }
        self._use_litellm = use_litellm
        self._table: dict[str, dict[str, Any]] | None = None
        self._warned: set[str] = set()

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (``provider/model`` or bare), or None when unknown."""
        for name in _candidates(model):
            if name in self._overrides:
                return self._overrides[name]
        if not self._use_litellm:
            return None
        if self._table is None:
            self._table = litellm_price_table()
        for name in _candidates(model):
            entry = self._table.get(name)
            if entry and "input_cost_per_token" in entry:
                return Price(
                    float(entry["input_cost_per_token"]) * 1e6,
                    float(entry.get("output_cost_per_token", 0.0)) * 1e6,
                )
        return None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """USD for one call; 0 with a one-time warning for a model with no known price."""
        price = self.price(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning(
                    "no price known for model %r: its calls are counted as $0; add it under "
                    "`prices:` in the run config to count its cost",
                    model,
                )
            return 0.0
        return price.cost(input_tokens, output_tokens)

    def estimate(self, model: str, messages: list[dict[str, str]], max_tokens: int) -> float:
        """An upper-bound guess of a call's cost before it is made, for budget reservations."""
        chars = sum(len(m.get("content", "")) + 8 for m in messages)
        price = self.price(model)
        if price is None:
            return 0.0
        return price.cost(int(chars / CHARS_PER_TOKEN) + 1, max_tokens)


def _candidates(model: str) -> list[str]:
    # "openai/gpt-4o-mini" is priced as "gpt-4o-mini"; "openrouter/x/y" may be "x/y" or "y".
    names = [model]
    rest = model
    while "/" in rest:
        rest = rest.split("/", 1)[1]
        names.append(rest)
    return names
