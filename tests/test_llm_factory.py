"""Providers from config entries; the key check that fails before a run starts; --model;
an ensemble mixing an LLM with the offline mutator."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from evolve.config import ModelConfig
from evolve.errors import ConfigError, ProviderError
from evolve.llm.anthropic_provider import AnthropicProvider
from evolve.llm.factory import (
    LLMDefaults,
    ModelSpec,
    build_proposer,
    build_provider,
    check_keys,
    key_env_for,
    model_from_cli,
)
from evolve.llm.litellm_provider import LiteLLMProvider
from evolve.llm.openai_provider import OpenAIProvider
from evolve.llm.proposer import library_renderer
from evolve.llm.recording import MemoryRecorder
from evolve.mutators.offline import OfflineProposer
from evolve.prompting import library_for
from tests.llm_servers import Reply, ScriptedLLMServer, offline_env
from tests.test_llm_proposer import IMPROVING_DIFF, PROBLEM, request

pytestmark = pytest.mark.usefixtures(offline_env.__name__)


@pytest.mark.parametrize(
    ("entry", "variable"),
    [
        (ModelSpec("gpt-4o-mini", "openai"), "OPENAI_API_KEY"),
        (ModelSpec("claude-haiku-4-5", "anthropic"), "ANTHROPIC_API_KEY"),
        (ModelSpec("openai/gpt-4o-mini"), "OPENAI_API_KEY"),
        (ModelSpec("anthropic/claude-haiku-4-5"), "ANTHROPIC_API_KEY"),
        (ModelSpec("gemini/gemini-2.0-flash"), "GEMINI_API_KEY"),
        (ModelSpec("gpt-4o"), "OPENAI_API_KEY"),
        (ModelSpec("claude-sonnet-4-5"), "ANTHROPIC_API_KEY"),
        (ModelSpec("gpt-4o-mini", "openai", api_key_env="MY_GATEWAY_KEY"), "MY_GATEWAY_KEY"),
    ],
)
def test_a_missing_key_fails_in_one_line_naming_the_variable(
    entry: ModelSpec, variable: str
) -> None:
    assert key_env_for(entry) == variable
    with pytest.raises(ProviderError) as caught:
        check_keys([ModelSpec("offline", "offline"), entry], environ={})
    message = str(caught.value)
    assert f"set the environment variable {variable}" in message
    assert entry.name in message and "\n" not in message
    check_keys([entry], environ={variable: "sk-something"})


@pytest.mark.parametrize(
    "entry",
    [
        ModelSpec("ollama/qwen2.5-coder:7b"),
        ModelSpec("hosted_vllm/Qwen/Qwen2.5-Coder-32B", base_url="http://10.0.0.5:8000/v1"),
        ModelSpec("openai/local-model", base_url="http://127.0.0.1:8000/v1"),
        ModelSpec("qwen", "openai", base_url="http://localhost:11434/v1"),
        ModelSpec("offline", "offline"),
    ],
)
def test_local_servers_need_no_key(entry: ModelSpec) -> None:
    assert key_env_for(entry) is None
    check_keys([entry], environ={})


def test_the_check_runs_before_any_provider_is_built() -> None:
    entries = [ModelSpec("gpt-4o-mini", "openai")]
    render = library_renderer(library_for(PROBLEM.dir))
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        build_proposer(entries, seed=0, render=render, recorder=MemoryRecorder(), environ={})


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'vertex'"):
        check_keys([ModelSpec("m", "vertex")], environ={})


def test_providers_are_built_with_the_key_from_the_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-b"}
    assert isinstance(build_provider(ModelSpec("gpt-4o", "openai"), environ=env), OpenAIProvider)
    built = build_provider(ModelSpec("claude-sonnet-4-5", "anthropic"), environ=env)
    assert isinstance(built, AnthropicProvider)
    assert isinstance(build_provider(ModelSpec("ollama/llama3"), environ=env), LiteLLMProvider)
    with pytest.raises(ConfigError):
        build_provider(ModelSpec("offline", "offline"), environ=env)


def test_model_flag() -> None:
    assert model_from_cli("offline") == ModelSpec("offline", "offline")
    assert model_from_cli("openai/gpt-4o-mini") == ModelSpec("openai/gpt-4o-mini", "litellm")
    assert model_from_cli("anthropic:claude-sonnet-4-5") == ModelSpec(
        "claude-sonnet-4-5", "anthropic"
    )
    assert model_from_cli("ollama/qwen2.5-coder:7b").provider == "litellm"
    with pytest.raises(ConfigError):
        model_from_cli("  ")


def test_ensemble_mixes_a_model_with_the_offline_mutator(tmp_path: Path) -> None:
    recorder = MemoryRecorder()
    with ScriptedLLMServer(default=Reply(text=IMPROVING_DIFF)) as srv:
        entries = [
            ModelConfig(name="local-coder", provider="openai", base_url=srv.url + "/v1"),
            ModelConfig(name="offline", provider="offline", weight=1.0),
            ModelConfig(name="disabled", provider="anthropic", weight=0.0),
        ]
        proposer = build_proposer(
            entries,
            seed=3,
            render=library_renderer(library_for(PROBLEM.dir)),
            recorder=recorder,
            settings=LLMDefaults(),
            offline=OfflineProposer(seed=3),
            environ={},  # the weight-0 anthropic entry needs no key: it is not used
        )

        async def run() -> list[str]:
            return [(await proposer.propose(request(i))).proposer for i in range(30)]

        served = Counter(asyncio.run(run()))
    assert set(served) == {"local-coder", "offline"}
    assert served["local-coder"] == len(recorder.calls) == len(srv.seen)
    with pytest.raises(ConfigError, match="offline proposer"):
        build_proposer(
            [ModelSpec("offline", "offline")],
            seed=0,
            render=library_renderer(library_for(PROBLEM.dir)),
            recorder=recorder,
        )
