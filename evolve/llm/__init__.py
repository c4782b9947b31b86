"""LLM proposers: providers over the openai, anthropic and litellm SDKs, retries with a hard
deadline, ensembles, cost and budget, record and replay.

Importing this package imports no SDK: each provider imports its SDK inside its methods,
so the CLI starts fast and nothing outside ``evolve.llm`` depends on an LLM client.
"""

from __future__ import annotations

from evolve.llm.base import (
    BadResponse,
    CallCancelled,
    CallError,
    Completion,
    DeadlineExceeded,
    PermanentError,
    Provider,
    RateLimited,
    TransientError,
)
from evolve.llm.budget import Budget, Reservation
from evolve.llm.cost import Price, PriceTable
from evolve.llm.ensemble import Ensemble, Member
from evolve.llm.factory import (
    LLMDefaults,
    ModelSpec,
    build_proposer,
    build_provider,
    check_keys,
    model_from_cli,
    price_table,
)
from evolve.llm.recording import (
    CallbackRecorder,
    MemoryRecorder,
    Recorder,
    ReplayLog,
    ReplayMissing,
    ReplayProvider,
    request_hash,
)
from evolve.llm.reliability import Attempt, Reliable, RetryPolicy

__all__ = [
    "Attempt",
    "BadResponse",
    "Budget",
    "CallCancelled",
    "CallError",
    "CallbackRecorder",
    "Completion",
    "DeadlineExceeded",
    "Ensemble",
    "LLMDefaults",
    "Member",
    "MemoryRecorder",
    "ModelSpec",
    "PermanentError",
    "Price",
    "PriceTable",
    "Provider",
    "RateLimited",
    "Recorder",
    "Reliable",
    "ReplayLog",
    "ReplayMissing",
    "ReplayProvider",
    "Reservation",
    "RetryPolicy",
    "TransientError",
    "build_proposer",
    "build_provider",
    "check_keys",
    "model_from_cli",
    "price_table",
    "request_hash",
]
