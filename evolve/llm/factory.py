"""Providers from config model entries, and the key check that runs before a run starts.

An entry is anything with the attributes of ``ModelSpec`` (``evolve.config.ModelConfig``
has them). Keys are read from the environment here and handed to the SDK client only: they
are never written to the database, a prompt or a sandbox.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from evolve.errors import ConfigError, ProviderError
from evolve.llm.base import Provider
from evolve.llm.budget import Budget
from evolve.llm.cost import PriceTable
from evolve.llm.ensemble import Ensemble, Member
from evolve.llm.recording import Lookup, Recorder

if TYPE_CHECKING:
    from evolve.llm.proposer import LLMProposer, ModelSlot, Render
    from evolve.proposal import Proposer

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

# litellm model prefix -> the variable litellm itself reads for that provider.
LITELLM_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "xai": "XAI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
}

# Servers people run themselves: no key unless the entry names one.
KEYLESS_PREFIXES = {"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile"}


class ModelEntry(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def temperature(self) -> float: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...


@dataclass(frozen=True)
class ModelSpec:
    """A model entry outside the config file (``--model``, tests)."""

    name: str
    provider: str = "litellm"
    weight: float = 1.0
    temperature: float = 0.7
    max_tokens: int = 4096
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float = 120.0


def model_from_cli(text: str) -> ModelSpec:
    """``--model``: ``offline``, ``openai:NAME`` / ``anthropic:NAME`` for the native SDKs,
    anything else is a litellm model string such as ``openai/gpt-4o-mini``."""
    text = text.strip()
    if not text:
        raise ConfigError("--model needs a model name, e.g. --model openai/gpt-4o-mini")
    if text == "offline":
        return ModelSpec(name="offline", provider="offline")
    head, sep, rest = text.partition(":")
    if sep and head in ("openai", "anthropic", "litellm") and rest:
        return ModelSpec(name=rest, provider=head)
    return ModelSpec(name=text, provider="litellm")


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url if "//" in url else f"//{url}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_env_for(entry: ModelEntry) -> str | None:
    """The variable holding the entry's key, or None when it needs none."""
    if entry.provider == "offline":
        return None
    if entry.api_key_env:
        return entry.api_key_env
    if is_loopback_url(entry.base_url):
        return None  # a server on this machine: vLLM and Ollama ignore keys
    if entry.provider in DEFAULT_KEY_ENV:
        return DEFAULT_KEY_ENV[entry.provider]
    prefix = entry.name.split("/", 1)[0] if "/" in entry.name else _bare_prefix(entry.name)
    if prefix in KEYLESS_PREFIXES:
        return None
    return LITELLM_KEY_ENV.get(prefix)


def _bare_prefix(model: str) -> str:
    # litellm maps bare names by family; these two are the common ones.
    if model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-")):
        return "openai"
    if model.startswith("claude"):
        return "anthropic"
    return ""


def check_keys(entries: Iterable[ModelEntry], environ: Mapping[str, str] | None = None) -> None:
    """Fail before the run starts when a model's key is missing, naming the variable."""
    env = os.environ if environ is None else environ
    for entry in entries:
        if entry.provider not in ("litellm", "openai", "anthropic", "offline"):
            raise ConfigError(
                f"model '{entry.name}': unknown provider '{entry.provider}'; use litellm, "
                "openai, anthropic or offline"
            )
        var = key_env_for(entry)
        if var is not None and not env.get(var):
            raise ProviderError(
                f"model '{entry.name}' needs an API key: set the environment variable {var} "
                "(or name another one with api_key_env)"
            )


def price_table(prices: Mapping[str, Any] | None) -> PriceTable:
    """The config's ``prices:`` (mapping of model to dicts or objects with
    ``input_per_mtok`` and ``output_per_mtok``) over litellm's table."""
    overrides: dict[str, dict[str, float]] = {}
    for name, price in (prices or {}).items():
        overrides[name] = {
            key: float(price[key] if isinstance(price, Mapping) else getattr(price, key))
            for key in ("input_per_mtok", "output_per_mtok")
        }
    return PriceTable(overrides)


def build_provider(
    entry: ModelEntry,
    *,
    prices: PriceTable | None = None,
    environ: Mapping[str, str] | None = None,
) -> Provider:
    """The raw provider of an LLM entry (no retries: wrap it in ``Reliable``)."""
    env = os.environ if environ is None else environ
    var = key_env_for(entry)
    api_key = env.get(var) if var else None
    if entry.provider == "openai":
        from evolve.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(entry.name, api_key=api_key, base_url=entry.base_url, prices=prices)
    if entry.provider == "anthropic":
        from evolve.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(
            entry.name, api_key=api_key, base_url=entry.base_url, prices=prices
        )
    if entry.provider == "litellm":
        from evolve.llm.litellm_provider import LiteLLMProvider

        return LiteLLMProvider(entry.name, api_key=api_key, base_url=entry.base_url, prices=prices)
    raise ConfigError(
        f"model '{entry.name}': provider '{entry.provider}' has no LLM client; use litellm, "
        "openai or anthropic"
    )


class LLMSettings(Protocol):
    """The ``llm:`` section of the config (``evolve.config.LLMConfig`` fits)."""

    @property
    def deadline(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def max_in_flight(self) -> int: ...
    @property
    def failures_before_bench(self) -> int: ...
    @property
    def bench_seconds(self) -> float: ...
    @property
    def bandit(self) -> bool: ...


@dataclass(frozen=True)
class LLMDefaults:
    deadline: float = 180.0
    max_retries: int = 4
    max_in_flight: int = 8
    failures_before_bench: int = 3
    bench_seconds: float = 60.0
    bandit: bool = False


def build_proposer(
    entries: Iterable[ModelEntry],
    *,
    seed: int,
    render: Render,
    recorder: Recorder,
    settings: LLMSettings | None = None,
    budget: Budget | None = None,
    prices: PriceTable | None = None,
    offline: Proposer | None = None,
    replay: Lookup | None = None,
    environ: Mapping[str, str] | None = None,
) -> LLMProposer:
    """The run's proposer: every entry with weight > 0 as an ensemble member.

    Keys are checked first (unless replaying, which calls no one). With ``replay`` every
    model answers from the recorded responses instead, keeping its name, so the ensemble
    draws and request hashes are the recorded run's.
    """
    import asyncio

    from evolve.llm.proposer import LLMProposer, ModelSlot
    from evolve.llm.recording import ReplayProvider
    from evolve.llm.reliability import Reliable, RetryPolicy

    cfg = settings or LLMDefaults()
    active = [e for e in entries if e.weight > 0]
    if not active:
        raise ConfigError("every model has weight 0: give at least one model a weight > 0")
    if replay is None:
        check_keys(active, environ)
    table = prices or PriceTable()
    limiter = asyncio.Semaphore(cfg.max_in_flight)
    policy = RetryPolicy(max_attempts=cfg.max_retries + 1)
    members: list[Member[ModelSlot | Proposer]] = []
    for index, entry in enumerate(active):
        if entry.provider == "offline":
            if offline is None:
                raise ConfigError("the offline proposer is listed under models but not available")
            members.append(Member(entry.name, entry.weight, offline))
            continue
        raw: Provider = (
            ReplayProvider(entry.name, replay)
            if replay is not None
            else build_provider(entry, prices=table, environ=environ)
        )
        client = Reliable(
            raw, policy=policy, limiter=limiter, attempt_timeout=entry.timeout, seed=seed + index
        )
        members.append(
            Member(entry.name, entry.weight, ModelSlot(client, entry.temperature, entry.max_tokens))
        )
    ensemble = Ensemble(
        members,
        seed=seed,
        bandit=cfg.bandit,
        bench_after=cfg.failures_before_bench,
        cooldown_s=cfg.bench_seconds,
    )
    return LLMProposer(
        ensemble,
        render=render,
        recorder=recorder,
        deadline=cfg.deadline,
        budget=budget,
        prices=table,
    )
