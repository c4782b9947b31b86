"""The real openai and anthropic SDKs and litellm against loopback wire-protocol servers:
replies, usage and cost, and how every injected fault maps onto our typed errors."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from evolve.llm.anthropic_provider import AnthropicProvider
from evolve.llm.base import (
    BadResponse,
    CallError,
    Completion,
    DeadlineExceeded,
    PermanentError,
    Provider,
    RateLimited,
    TransientError,
)
from evolve.llm.cost import PriceTable
from evolve.llm.litellm_provider import LiteLLMProvider
from evolve.llm.openai_provider import OpenAIProvider
from tests.llm_servers import FAKE_KEYS, Reply, ScriptedLLMServer, offline_env

pytestmark = pytest.mark.usefixtures(offline_env.__name__)

KINDS = ["openai", "anthropic", "litellm-openai", "litellm-anthropic"]
MESSAGES = [
    {"role": "system", "content": "You improve scheduling heuristics."},
    {"role": "user", "content": "Make the seed better."},
]


def make(kind: str, url: str, prices: PriceTable | None = None) -> Provider:
    prices = prices or PriceTable()
    if kind == "openai":
        return OpenAIProvider(
            "gpt-4o-mini", api_key=FAKE_KEYS["OPENAI_API_KEY"], base_url=url + "/v1", prices=prices
        )
    if kind == "anthropic":
        key = FAKE_KEYS["ANTHROPIC_API_KEY"]
        return AnthropicProvider("claude-haiku-4-5", api_key=key, base_url=url, prices=prices)
    if kind == "litellm-openai":
        key = FAKE_KEYS["OPENAI_API_KEY"]
        return LiteLLMProvider(
            "openai/gpt-4o-mini", api_key=key, base_url=url + "/v1", prices=prices
        )
    key = FAKE_KEYS["ANTHROPIC_API_KEY"]
    return LiteLLMProvider("anthropic/claude-haiku-4-5", api_key=key, base_url=url, prices=prices)


def call(provider: Provider, deadline: float = 5.0) -> Completion:
    return asyncio.run(
        provider.complete(MESSAGES, temperature=0.3, max_tokens=256, deadline=deadline)
    )


def fails_with(provider: Provider, deadline: float = 5.0) -> CallError:
    with pytest.raises(CallError) as caught:
        call(provider, deadline)
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_reply_text_usage_and_cost(kind: str) -> None:
    with ScriptedLLMServer(
        [Reply(text="<<<<<<< SEARCH", input_tokens=1000, output_tokens=500)]
    ) as srv:
        done = call(make(kind, srv.url))
    assert done.text == "<<<<<<< SEARCH"
    assert (done.input_tokens, done.output_tokens) == (1000, 500)
    # gpt-4o-mini: $0.15 / $0.60 per Mtok; claude-haiku-4-5: $1 / $5 per Mtok (litellm's table)
    expected = 1000 * 0.15e-6 + 500 * 0.6e-6 if "openai" in kind else 1000 * 1e-6 + 500 * 5e-6
    assert done.cost_usd == pytest.approx(expected)
    assert done.latency_s > 0
    assert done.provider == ("litellm" if kind.startswith("litellm") else kind)
    [seen] = srv.seen
    assert seen.path == ("/v1/chat/completions" if "openai" in kind else "/v1/messages")
    assert seen.body["max_tokens"] == 256
    if "anthropic" in kind:
        # The Messages API has no system role: the system prompt travels in `system`.
        assert "improve scheduling" in str(seen.body["system"])
        assert [m["role"] for m in seen.body["messages"]] == ["user"]
    else:
        assert [m["role"] for m in seen.body["messages"]] == ["system", "user"]
        assert seen.body["temperature"] == 0.3


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_carries_retry_after(kind: str) -> None:
    with ScriptedLLMServer([Reply("rate_limit", retry_after=7)]) as srv:
        error = fails_with(make(kind, srv.url))
    assert isinstance(error, RateLimited)
    assert error.retry_after == pytest.approx(7)
    assert len(srv.seen) == 1, "the SDK must not retry on its own (max_retries=0)"


@pytest.mark.parametrize("kind", KINDS)
def test_server_error_is_transient_and_not_retried_by_the_sdk(kind: str) -> None:
    with ScriptedLLMServer([Reply("server_error")]) as srv:
        error = fails_with(make(kind, srv.url))
    assert isinstance(error, TransientError) and not isinstance(error, RateLimited)
    assert len(srv.seen) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_json_is_a_bad_response(kind: str) -> None:
    with ScriptedLLMServer([Reply("malformed")]) as srv:
        error = fails_with(make(kind, srv.url))
    assert isinstance(error, BadResponse)
    assert not error.retryable


@pytest.mark.parametrize("kind", KINDS)
def test_empty_choices_is_a_bad_response(kind: str) -> None:
    with ScriptedLLMServer([Reply("empty")]) as srv:
        error = fails_with(make(kind, srv.url))
    assert isinstance(error, BadResponse)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_key_is_permanent(kind: str) -> None:
    with ScriptedLLMServer([Reply("status", status=401)]) as srv:
        error = fails_with(make(kind, srv.url))
    assert isinstance(error, PermanentError)
    assert not error.retryable


@pytest.mark.parametrize("kind", KINDS)
def test_slow_reply_times_out_at_the_deadline(kind: str) -> None:
    with ScriptedLLMServer([Reply("slow", delay=3.0)]) as srv:
        started = time.monotonic()
        error = fails_with(make(kind, srv.url), deadline=0.5)
        elapsed = time.monotonic() - started
    assert isinstance(error, DeadlineExceeded)
    assert 0.4 < elapsed < 2.5


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_listening_is_a_transient_connection_error(kind: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: connection refused
    error = fails_with(make(kind, f"http://127.0.0.1:{port}"))
    assert isinstance(error, TransientError)


def test_the_network_guard_refuses_the_internet(offline_env: list[str]) -> None:
    provider = OpenAIProvider("gpt-4o-mini", api_key="sk-test", base_url="http://192.0.2.1/v1")
    error = fails_with(provider)
    assert isinstance(error, TransientError)
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and len(chain) < 20:
        chain.append(link)
        link = link.__cause__ or link.__context__
    assert any("network is off" in str(e) for e in chain), chain
    assert offline_env == ["connect ('192.0.2.1', 80)"]
    offline_env.clear()  # refused on purpose


def test_a_local_vllm_server_through_litellm_needs_no_key_and_costs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with ScriptedLLMServer([Reply(text="local answer")]) as srv:
        provider = LiteLLMProvider("hosted_vllm/Qwen/Qwen2.5-Coder-7B", base_url=srv.url + "/v1")
        done = call(provider)
    assert done.text == "local answer"
    assert done.cost_usd == 0.0 and done.input_tokens == 120
    [seen] = srv.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "Qwen/Qwen2.5-Coder-7B"
