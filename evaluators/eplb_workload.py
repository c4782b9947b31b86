"""Synthetic MoE expert-load traces for the EPLB problem, generated from a seed.

Each layer's experts have a log-popularity that starts at N(0, sigma) and drifts from one
window to the next as a stationary AR(1) process; a window's token counts are a multinomial
draw from the softmax of the log-popularities. Windows are produced one at a time on
purpose: while the candidate answers window i, window i+1 has not been computed yet, so no
amount of poking at the host can reveal it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Topology:
    """The cluster a placement is made for (DeepSeek-V3-like by default)."""

    num_layers: int = 58
    num_experts: int = 256
    num_groups: int = 8
    num_nodes: int = 4
    num_gpus: int = 32
    num_replicas: int = 288

    def check(self) -> None:
        """Raise ValueError when the numbers cannot describe a real cluster."""
        positive = (
            self.num_layers,
            self.num_experts,
            self.num_groups,
            self.num_nodes,
            self.num_gpus,
            self.num_replicas,
        )
        if min(positive) < 1:
            raise ValueError("every topology number must be at least 1")
        if self.num_experts % self.num_groups:
            raise ValueError(
                f"num_experts {self.num_experts} is not a multiple of num_groups {self.num_groups}"
            )
        if self.num_gpus % self.num_nodes:
            raise ValueError(
                f"num_gpus {self.num_gpus} is not a multiple of num_nodes {self.num_nodes}"
            )
        if self.num_replicas % self.num_gpus:
            raise ValueError(
                f"num_replicas {self.num_replicas} is not a multiple of num_gpus {self.num_gpus}"
            )
        if self.num_replicas < self.num_experts:
            raise ValueError(
                f"num_replicas {self.num_replicas} is below num_experts "
                f"{self.num_experts}: some expert could get no slot"
            )

    @property
    def slots_per_gpu(self) -> int:
        return self.num_replicas // self.num_gpus

    @property
    def gpus_per_node(self) -> int:
        return self.num_gpus // self.num_nodes


@dataclass(frozen=True)
class Workload:
    """How a trace is drawn. ``windows`` counts every window, including the first, which
    is only ever an input; placements are scored on windows 1..windows-1."""

    sigma: float = 1.0
    rho: float = 0.9
    tokens_per_layer: int = 3_300_000
    windows: int = 30

    def check(self) -> None:
        if self.sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {self.rho}")
        if self.tokens_per_layer < 1:
            raise ValueError("tokens_per_layer must be at least 1")
        if self.windows < 2:
            raise ValueError("windows must be at least 2 (one to place from, one to score on)")


Seed = int | Sequence[int]  # a Sequence seeds a numpy SeedSequence: (base, trace number)


def stream_windows(topology: Topology, workload: Workload, seed: Seed) -> Iterator[IntArray]:
    """Yield ``workload.windows`` token-count arrays of shape [layers, experts], lazily."""
    rng = np.random.default_rng(list(seed) if isinstance(seed, Sequence) else seed)
    shape = (topology.num_layers, topology.num_experts)
    log_pop = rng.normal(0.0, workload.sigma, size=shape)
    # Innovation scale that keeps the marginal N(0, sigma) stationary across windows.
    innovation = workload.sigma * float(np.sqrt(1.0 - workload.rho**2))
    for index in range(workload.windows):
        if index:
            log_pop = workload.rho * log_pop + rng.normal(0.0, innovation, size=shape)
        shifted = np.exp(log_pop - log_pop.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        counts = rng.multinomial(workload.tokens_per_layer, probs)
        yield np.asarray(counts, dtype=np.int64)


def all_windows(topology: Topology, workload: Workload, seed: Seed) -> IntArray:
    """The whole trace as one [windows, layers, experts] array (tests and benchmarks)."""
    return np.stack(list(stream_windows(topology, workload, seed)))
