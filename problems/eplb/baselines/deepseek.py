"""Baseline: DeepSeek's hierarchical EPLB, in numpy, from its published description.

1. Pack expert groups onto nodes (balanced packing: heaviest group first, each to the
   lightest node that still has room), so a group's experts share a node.
2. Within each node, replicate the experts with the highest load per replica until the
   node's slots are used.
3. Pack the node's replicas onto its GPUs with the same balanced packing.
When the groups do not divide evenly among the nodes, the global policy treats the whole
cluster as one node with one group.
"""

from __future__ import annotations

import numpy as np


# EVOLVE-BLOCK-START
def balanced_packing(weight, num_packs):
    """Put items [rows, items] into num_packs packs of equal size, balancing the weight.

    Returns (pack_index, rank_in_pack), both [rows, items]."""
    rows, items = weight.shape
    per_pack = items // num_packs
    if per_pack == 1:
        index = np.tile(np.arange(items, dtype=np.int64), (rows, 1))
        return index, np.zeros_like(index)
    order = np.argsort(-weight, axis=-1, kind="stable")
    pack_index = np.full((rows, items), -1, dtype=np.int64)
    rank_in_pack = np.full((rows, items), -1, dtype=np.int64)
    for row in range(rows):
        pack_weights = [0.0] * num_packs
        pack_items = [0] * num_packs
        values = weight[row]
        for item in order[row]:
            pack = min((p for p in range(num_packs) if pack_items[p] < per_pack),
                       key=pack_weights.__getitem__)
            pack_index[row, item] = pack
            rank_in_pack[row, item] = pack_items[pack]
            pack_weights[pack] += float(values[item])
            pack_items[pack] += 1
    return pack_index, rank_in_pack


def replicate_experts(weight, num_phy):
    """Replicate [rows, num_log] experts into num_phy slots, minimising the largest load
    per replica. Returns (phy2log, rank, logcnt)."""
    rows, num_log = weight.shape
    phy2log = np.tile(np.arange(num_phy, dtype=np.int64), (rows, 1))
    rank = np.zeros((rows, num_phy), dtype=np.int64)
    logcnt = np.ones((rows, num_log), dtype=np.int64)
    arange_rows = np.arange(rows)
    for slot in range(num_log, num_phy):
        hottest = np.argmax(weight / logcnt, axis=-1)
        phy2log[:, slot] = hottest
        rank[:, slot] = logcnt[arange_rows, hottest]
        logcnt[arange_rows, hottest] += 1
    return phy2log, rank, logcnt


def _inverse(perm):
    inv = np.empty_like(perm)
    rows = np.arange(perm.shape[0])[:, None]
    inv[rows, perm] = np.arange(perm.shape[1], dtype=np.int64)
    return inv


def rebalance_hierarchical(weight, num_physical, num_groups, num_nodes, num_gpus):
    num_layers, num_logical = weight.shape
    group_size = num_logical // num_groups
    groups_per_node = num_groups // num_nodes
    phy_per_gpu = num_physical // num_gpus
    log_per_node = num_logical // num_nodes

    # Step 1: groups to nodes; "mlog" numbers experts node by node.
    tokens_per_group = weight.reshape(num_layers, num_groups, group_size).sum(-1)
    group_pack, group_rank = balanced_packing(tokens_per_group, num_nodes)
    log2mlog = (((group_pack * groups_per_node + group_rank) * group_size)[:, :, None]
                + np.arange(group_size, dtype=np.int64)).reshape(num_layers, -1)
    mlog2log = _inverse(log2mlog)

    # Step 2: replicas within each node.
    rows = np.arange(num_layers)[:, None]
    tokens_per_mlog = weight[rows, mlog2log].reshape(-1, log_per_node)
    phy2mlog, _, mlogcnt = replicate_experts(tokens_per_mlog, num_physical // num_nodes)

    # Step 3: a node's replicas to its GPUs.
    per_replica = tokens_per_mlog / mlogcnt
    tokens_per_phy = np.take_along_axis(per_replica, phy2mlog, axis=-1)
    pack_index, rank_in_pack = balanced_packing(tokens_per_phy, num_gpus // num_nodes)
    phy2pphy = pack_index * phy_per_gpu + rank_in_pack
    pphy2phy = _inverse(phy2pphy)

    pphy2mlog = np.take_along_axis(phy2mlog, pphy2phy, axis=-1)
    pphy2mlog = (pphy2mlog.reshape(num_layers, num_nodes, -1)
                 + np.arange(0, num_logical, log_per_node)[None, :, None]).reshape(num_layers, -1)
    pphy2log = np.take_along_axis(mlog2log, pphy2mlog, axis=-1)
    logcnt = np.take_along_axis(mlogcnt.reshape(num_layers, -1), log2mlog, axis=-1)
    return pphy2log, logcnt


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight, dtype=np.float64)
    if num_groups % num_nodes == 0:
        return rebalance_hierarchical(weight, num_replicas, num_groups, num_nodes, num_gpus)
    return rebalance_hierarchical(weight, num_replicas, 1, 1, num_gpus)
# EVOLVE-BLOCK-END
