"""LLM request workloads: Poisson arrivals of a mix of request classes with lognormal lengths.

Each request carries a noisy prediction of its output length (what a length predictor in
front of a real router would give); the true length is only known to the simulator.
The arrival rate is a chosen fraction of an estimate of the cluster's capacity, so that
"load 0.9" means the same thing whatever the engine parameters.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from evaluators.routing_sim import EngineParams, Request


@dataclass(frozen=True)
class RequestClass:
    name: str
    weight: float
    prompt_median: float
    prompt_sigma: float  # sigma of log(length)
    output_median: float
    output_sigma: float

    @property
    def mean_prompt(self) -> float:
        return self.prompt_median * math.exp(self.prompt_sigma**2 / 2)

    @property
    def mean_output(self) -> float:
        return self.output_median * math.exp(self.output_sigma**2 / 2)


# Shapes after public traces of chat (ShareGPT-like), summarisation (long documents in,
# a paragraph out) and generation (a short instruction in, a long text or code out).
CLASSES: tuple[RequestClass, ...] = (
    RequestClass("chat", 0.5, 600, 0.8, 200, 0.8),
    RequestClass("summarisation", 0.25, 3000, 0.5, 120, 0.6),
    RequestClass("generation", 0.25, 150, 0.7, 700, 0.6),
)
MAX_PROMPT = 16_000  # a 16k-token context window
MAX_OUTPUT = 4_096
PREDICTION_SIGMA = 0.5  # predicted = true * exp(N(0, 0.5)): within ~x1.65 two times in three


def instance_capacity(engine: EngineParams, classes: tuple[RequestClass, ...] = CLASSES) -> float:
    """Requests per second one instance sustains, by a steady-state estimate.

    At saturation an instance runs a batch of B sequences, where B is bounded by
    ``max_running`` and by how many average footprints fit in the KV cache. A request then
    costs its prefill tokens plus, per output token, one decode slot and a 1/B share of
    the fixed step time.
    """
    total = sum(c.weight for c in classes)
    prompt = sum(c.weight * c.mean_prompt for c in classes) / total
    output = sum(c.weight * c.mean_output for c in classes) / total
    batch = min(engine.max_running, engine.kv_capacity_tokens / (prompt + output / 2))
    seconds = engine.prefill_per_token_s * prompt + output * (
        engine.decode_per_seq_s + engine.step_base_s / batch
    )
    return 1.0 / seconds


def _lognormal(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    return min(high, max(low, round(median * math.exp(rng.gauss(0.0, sigma)))))


def generate_workload(
    *,
    seed: int,
    requests: int,
    instances: int,
    load: float,
    engine: EngineParams,
    classes: tuple[RequestClass, ...] = CLASSES,
) -> list[Request]:
    """``requests`` Poisson arrivals at ``load`` x the cluster's estimated capacity."""
    rng = random.Random(seed)
    rate = load * instances * instance_capacity(engine, classes)
    weights = [c.weight for c in classes]
    out: list[Request] = []
    now = 0.0
    for rid in range(requests):
        now += rng.expovariate(rate)
        cls = rng.choices(classes, weights)[0]
        prompt = _lognormal(rng, cls.prompt_median, cls.prompt_sigma, 1, MAX_PROMPT)
        output = _lognormal(rng, cls.output_median, cls.output_sigma, 1, MAX_OUTPUT)
        predicted = max(1, round(output * math.exp(rng.gauss(0.0, PREDICTION_SIGMA))))
        out.append(Request(rid, now, prompt, output, predicted, cls.name))
    return out
