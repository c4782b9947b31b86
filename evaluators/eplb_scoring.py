"""Validation and balance arithmetic of EPLB placements; pure numpy, no sandbox.

A placement is ``phy2log`` [layers, slots] (the logical expert in each physical slot, slots
laid out GPU by GPU) and ``logcnt`` [layers, experts] (replicas per expert). Every answer
is checked in full before it is scored: a placement that drops an expert or claims more
slots than exist would otherwise look better balanced than any honest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluators.eplb_workload import Topology

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class InvalidPlacement(ValueError):
    """An answer that breaks the rules; the message names the layer and the reason."""


def _as_int_array(value: Any, name: str, shape: tuple[int, int]) -> IntArray:
    if not isinstance(value, np.ndarray):
        raise InvalidPlacement(f"{name} must be a numpy integer array, got {type(value).__name__}")
    if value.dtype.kind not in "iu":
        raise InvalidPlacement(f"{name} must have an integer dtype, got {value.dtype}")
    if value.shape != shape:
        raise InvalidPlacement(f"{name} has shape {value.shape}, expected {shape}")
    return value.astype(np.int64, copy=False)


def validate(answer: Any, topo: Topology, num_layers: int) -> tuple[IntArray, IntArray]:
    """Return (phy2log, logcnt) as int64 arrays, or raise InvalidPlacement."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        kind = f"a {type(answer).__name__}"
        if isinstance(answer, (tuple, list)):
            kind += f" of length {len(answer)}"
        raise InvalidPlacement(f"rebalance_experts must return (phy2log, logcnt), got {kind}")
    raw_phy, raw_cnt = answer
    if (
        isinstance(raw_phy, np.ndarray)
        and raw_phy.ndim == 2
        and raw_phy.shape[0] == num_layers
        and raw_phy.shape[1] != topo.num_replicas
    ):
        raise InvalidPlacement(
            f"phy2log has {raw_phy.shape[1]} slots per layer, but num_replicas is "
            f"{topo.num_replicas}: every physical slot must be filled, no more, no fewer"
        )
    phy2log = _as_int_array(raw_phy, "phy2log", (num_layers, topo.num_replicas))
    logcnt = _as_int_array(raw_cnt, "logcnt", (num_layers, topo.num_experts))
    experts = topo.num_experts
    bad = (phy2log < 0) | (phy2log >= experts)
    if bad.any():
        layer, slot = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidPlacement(
            f"layer {layer}: slot {slot} holds expert {int(phy2log[layer, slot])}, "
            f"outside 0..{experts - 1}"
        )
    counts = replica_counts(phy2log, experts)
    missing = counts == 0
    if missing.any():
        layer, expert = (int(i) for i in np.argwhere(missing)[0])
        raise InvalidPlacement(
            f"layer {layer}: expert {expert} has no replica in phy2log; "
            "every expert needs at least one slot"
        )
    mismatch = counts != logcnt
    if mismatch.any():
        layer, expert = (int(i) for i in np.argwhere(mismatch)[0])
        raise InvalidPlacement(
            f"layer {layer}: logcnt[{expert}] = {int(logcnt[layer, expert])} but phy2log "
            f"holds {int(counts[layer, expert])} replicas of expert {expert}"
        )
    return phy2log, counts


def replica_counts(phy2log: IntArray, num_experts: int) -> IntArray:
    """Per layer, how many slots hold each expert (values must already be in range)."""
    layers = phy2log.shape[0]
    flat = (phy2log + np.arange(layers)[:, None] * num_experts).ravel()
    return np.bincount(flat, minlength=layers * num_experts).reshape(layers, num_experts)


@dataclass(frozen=True)
class Balance:
    """Sums over (window, layer) pairs; ratios are taken only at the end so that windows
    with more traffic weigh more, exactly like the per-layer definition."""

    gpu_mean: float = 0.0
    gpu_max: float = 0.0
    slot_mean: float = 0.0
    slot_max: float = 0.0
    cross_node: float = 0.0
    total: float = 0.0

    def __add__(self, other: Balance) -> Balance:
        return Balance(
            self.gpu_mean + other.gpu_mean,
            self.gpu_max + other.gpu_max,
            self.slot_mean + other.slot_mean,
            self.slot_max + other.slot_max,
            self.cross_node + other.cross_node,
            self.total + other.total,
        )

    @property
    def gpu_balancedness(self) -> float:
        return self.gpu_mean / self.gpu_max if self.gpu_max > 0 else 1.0

    @property
    def slot_balancedness(self) -> float:
        return self.slot_mean / self.slot_max if self.slot_max > 0 else 1.0

    @property
    def cross_node_share(self) -> float:
        return self.cross_node / self.total if self.total > 0 else 0.0


def measure(load: npt.NDArray[Any], phy2log: IntArray, logcnt: IntArray, topo: Topology) -> Balance:
    """Score a valid placement on the load of the window that follows it.

    A slot serves its expert's load divided by the expert's replica count; a GPU's load is
    the sum of its slots. Cross-node traffic models group-limited routing: a token's
    experts lie in one group, so the share of a group's load served away from the node
    that serves most of that group has to cross nodes.
    """
    layers = phy2log.shape[0]
    load = np.asarray(load, dtype=np.float64)
    rows = np.arange(layers)[:, None]
    slot = load[rows, phy2log] / logcnt[rows, phy2log]
    gpu = slot.reshape(layers, topo.num_gpus, topo.slots_per_gpu).sum(axis=2)

    group_of_slot = phy2log // (topo.num_experts // topo.num_groups)
    node_of_slot = np.arange(topo.num_replicas) // (topo.slots_per_gpu * topo.gpus_per_node)
    cell = (rows * topo.num_groups + group_of_slot) * topo.num_nodes + node_of_slot
    by_group_node = np.bincount(
        cell.ravel(), weights=slot.ravel(), minlength=layers * topo.num_groups * topo.num_nodes
    )
    by_group_node = by_group_node.reshape(layers * topo.num_groups, topo.num_nodes)
    total = float(by_group_node.sum())
    cross = total - float(by_group_node.max(axis=1).sum())
    return Balance(
        float(gpu.mean(axis=1).sum()),
        float(gpu.max(axis=1).sum()),
        float(slot.mean(axis=1).sum()),
        float(slot.max(axis=1).sum()),
        cross,
        total,
    )


def runtime_penalty(median_seconds: float, budget_seconds: float, per_doubling: float) -> float:
    """Score lost by a median runtime above the budget: ``per_doubling`` per factor of 2."""
    if budget_seconds <= 0 or median_seconds <= budget_seconds:
        return 0.0
    return per_doubling * float(np.log2(median_seconds / budget_seconds))
