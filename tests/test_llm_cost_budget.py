"""Prices from litellm's bundled table and from config overrides; the USD budget."""

from __future__ import annotations

import logging

import pytest

from evolve.config import PriceConfig
from evolve.errors import BudgetExceeded
from evolve.llm.budget import Budget
from evolve.llm.cost import PriceTable
from evolve.llm.factory import price_table
from tests.llm_servers import offline_env

pytestmark = pytest.mark.usefixtures(offline_env.__name__)


def test_known_model_is_priced_from_litellms_bundled_table() -> None:
    table = PriceTable()
    # gpt-4o-mini lists at $0.15 in / $0.60 out per million tokens.
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("gpt-4o-mini", 0, 1_000_000) == pytest.approx(0.60)
    assert table.cost("openai/gpt-4o-mini", 2000, 1000) == pytest.approx(
        2000 * 0.15e-6 + 1000 * 0.6e-6
    )


def test_override_wins_and_prices_local_models() -> None:
    table = PriceTable(
        {
            "gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
            "ollama/qwen2.5-coder": {"input_per_mtok": 0.05, "output_per_mtok": 0.1},
        }
    )
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.cost("ollama/qwen2.5-coder", 2_000_000, 1_000_000) == pytest.approx(0.2)


def test_config_price_entries_become_overrides() -> None:
    table = price_table({"my-local": PriceConfig(input_per_mtok=3, output_per_mtok=9)})
    assert table.cost("my-local", 1000, 1000) == pytest.approx(0.012)
    assert price_table({"x": {"input_per_mtok": 1, "output_per_mtok": 1}}).cost(
        "x", 10**6, 0
    ) == pytest.approx(1.0)


def test_unknown_model_costs_nothing_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING, logger="evolve.llm.cost"):
        assert table.cost("hosted_vllm/my-finetune", 5000, 5000) == 0.0
        assert table.cost("hosted_vllm/my-finetune", 10, 10) == 0.0
        assert table.cost("ollama/other", 10, 10) == 0.0
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "hosted_vllm/my-finetune" in messages[0] and "prices:" in messages[0]


def test_estimate_is_an_upper_bound_of_a_typical_call() -> None:
    table = PriceTable()
    prompt = "def schedule(p, d, w):\n    return sorted(range(len(p)), key=d.__getitem__)\n" * 40
    messages = [{"role": "user", "content": prompt}]
    estimate = table.estimate("gpt-4o-mini", messages, max_tokens=1000)
    # ~4 characters per token in code; the estimate assumes 3, and the whole max_tokens.
    actual = table.cost("gpt-4o-mini", len(prompt) // 4, 1000)
    assert estimate >= actual > 0
    assert table.estimate("no-such-model", messages, 1000) == 0.0


def test_reservations_count_against_the_budget_until_settled() -> None:
    budget = Budget(1.0)
    first = budget.reserve(0.4)
    second = budget.reserve(0.4)
    assert budget.reserved_usd == pytest.approx(0.8)
    with pytest.raises(BudgetExceeded, match=r"in flight \$0\.8000.*--budget-usd"):
        budget.reserve(0.4)
    budget.settle(first, 0.1)
    third = budget.reserve(0.4)  # 0.1 spent + 0.8 in flight: fits now
    assert budget.remaining_usd == pytest.approx(1.0 - 0.1 - 0.8)
    budget.settle(second, 0.5)
    budget.settle(third, 0.3)
    assert budget.spent_usd == pytest.approx(0.9)
    assert budget.reserved_usd == 0
    assert not budget.exhausted
    with pytest.raises(ValueError, match="already settled"):
        budget.settle(third, 0.3)


def test_budget_resumes_from_spent_and_stops_when_exhausted() -> None:
    budget = Budget(0.5, spent_usd=0.45)
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.06)
    reservation = budget.reserve(0.05)
    budget.settle(reservation, 0.07)  # spent is spent, even past the limit
    assert budget.spent_usd == pytest.approx(0.52)
    assert budget.exhausted
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.0 + 1e-9)


def test_no_limit_still_totals_the_spend() -> None:
    budget = Budget(None)
    for _ in range(3):
        budget.settle(budget.reserve(100.0), 0.25)
    assert budget.spent_usd == pytest.approx(0.75)
    assert budget.remaining_usd is None and not budget.exhausted
