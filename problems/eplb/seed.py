"""EPLB candidate: place replicated MoE experts on GPUs so every GPU does the same work."""

from __future__ import annotations

import heapq

import numpy as np


# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Greedy: give spare slots to the experts with the highest load per replica, then put
    the heaviest replicas first, each on the least loaded GPU that still has a free slot.

    weight: float array [layers, experts], recent load of each logical expert.
    Returns (phy2log [layers, num_replicas], logcnt [layers, experts]), both int64;
    slots are laid out GPU by GPU, num_replicas // num_gpus slots per GPU.
    """
    weight = np.asarray(weight, dtype=np.float64)
    num_layers, num_experts = weight.shape
    slots_per_gpu = num_replicas // num_gpus
    phy2log = np.empty((num_layers, num_replicas), dtype=np.int64)
    logcnt = np.ones((num_layers, num_experts), dtype=np.int64)
    for layer in range(num_layers):
        load = weight[layer]
        counts = logcnt[layer]
        for _ in range(num_replicas - num_experts):
            counts[np.argmax(load / counts)] += 1
        replicas = np.repeat(np.arange(num_experts), counts)
        per_replica = (load / counts)[replicas]
        gpus = [(0.0, gpu) for gpu in range(num_gpus)]
        filled = [0] * num_gpus
        for index in np.argsort(-per_replica, kind="stable"):
            gpu_load, gpu = heapq.heappop(gpus)
            phy2log[layer, gpu * slots_per_gpu + filled[gpu]] = replicas[index]
            filled[gpu] += 1
            if filled[gpu] < slots_per_gpu:
                heapq.heappush(gpus, (gpu_load + float(per_replica[index]), gpu))
    return phy2log, logcnt
# EVOLVE-BLOCK-END
