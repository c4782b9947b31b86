"""Baseline: one replica per expert plus greedy replication, dealt round-robin to GPUs."""

from __future__ import annotations

import numpy as np


# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Spare slots go to the experts with the highest load per replica; replicas, in
    expert order, are then dealt to GPU 0, 1, ..., num_gpus - 1, 0, 1, ... in turn."""
    weight = np.asarray(weight, dtype=np.float64)
    num_layers, num_experts = weight.shape
    slots_per_gpu = num_replicas // num_gpus
    logcnt = np.ones((num_layers, num_experts), dtype=np.int64)
    rows = np.arange(num_layers)
    for _ in range(num_replicas - num_experts):
        hottest = np.argmax(weight / logcnt, axis=1)
        logcnt[rows, hottest] += 1
    # Replica j goes to GPU j % num_gpus, at that GPU's slot j // num_gpus.
    j = np.arange(num_replicas)
    slot_of_replica = (j % num_gpus) * slots_per_gpu + j // num_gpus
    phy2log = np.empty((num_layers, num_replicas), dtype=np.int64)
    for layer in range(num_layers):
        phy2log[layer, slot_of_replica] = np.repeat(np.arange(num_experts), logcnt[layer])
    return phy2log, logcnt
# EVOLVE-BLOCK-END
