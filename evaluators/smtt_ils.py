"""Best-known weighted tardiness for instances too large for the subset DP.

Iterated local search: start from the best of a few dispatching rules, descend with the
insertion and swap neighbourhoods (each move scan vectorised with numpy so one full scan
costs O(n) array operations), perturb with random swaps, keep the best. The iteration
budget is fixed and the random stream seeded, so a reference is reproducible; it is
recorded as best-known, not optimal.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


def _cost(seq: IntArray, p: IntArray, d: IntArray, w: IntArray) -> int:
    c = np.cumsum(p[seq])
    return int((w[seq] * np.maximum(0, c - d[seq])).sum())


def _best_insertion(
    seq: IntArray, i: int, p: IntArray, d: IntArray, w: IntArray
) -> tuple[int, int]:
    """(best total cost, target index) of moving the job at position i anywhere."""
    x = int(seq[i])
    rest = np.delete(seq, i)
    c = np.cumsum(p[rest])
    base = w[rest] * np.maximum(0, c - d[rest])
    prefix = np.concatenate(([0], np.cumsum(base)))
    start = np.concatenate(([0], c))
    own = w[x] * np.maximum(0, start + p[x] - d[x])
    shifted = w[rest] * np.maximum(0, c + p[x] - d[rest])
    suffix = np.concatenate((np.cumsum(shifted[::-1])[::-1], [0]))
    total = prefix + own + suffix
    j = int(np.argmin(total))
    return int(total[j]), j


def _best_swap(seq: IntArray, i: int, p: IntArray, d: IntArray, w: IntArray) -> tuple[int, int]:
    """(best cost change, partner position) of swapping position i with a later one."""
    n = len(seq)
    if i >= n - 1:
        return 0, -1
    c = np.cumsum(p[seq])
    base = w[seq] * np.maximum(0, c - d[seq])
    a = int(seq[i])
    js = np.arange(i + 1, n)
    b = seq[js]
    before = int(c[i - 1]) if i > 0 else 0
    gain = w[b] * np.maximum(0, before + p[b] - d[b]) - base[i]
    gain = gain + w[a] * np.maximum(0, c[js] - d[a]) - base[js]
    # Jobs strictly between i and j move by p_b - p_a; a (len-1)^2 matrix, masked q < j.
    shift = p[b] - p[a]
    mid = seq[i + 1 : n]
    moved = w[mid][:, None] * np.maximum(
        0, c[i + 1 : n][:, None] + shift[None, :] - d[mid][:, None]
    )
    moved = moved - base[i + 1 : n][:, None]
    mask = np.arange(i + 1, n)[:, None] < js[None, :]
    gain = gain + (moved * mask).sum(axis=0)
    k = int(np.argmin(gain))
    return int(gain[k]), int(js[k])


def _descend(seq: IntArray, p: IntArray, d: IntArray, w: IntArray, rng: random.Random) -> IntArray:
    cost = _cost(seq, p, d, w)
    improved = True
    while improved:
        improved = False
        positions = list(range(len(seq)))
        rng.shuffle(positions)
        for i in positions:
            new_cost, j = _best_insertion(seq, i, p, d, w)
            if new_cost < cost:
                x = seq[i]
                seq = np.insert(np.delete(seq, i), j, x)
                cost, improved = new_cost, True
                continue
            delta, j = _best_swap(seq, i, p, d, w)
            if delta < 0:
                seq = seq.copy()
                seq[i], seq[j] = seq[j], seq[i]
                cost, improved = cost + delta, True
    return seq


def _atc(p: IntArray, d: IntArray, w: IntArray, k: float) -> IntArray:
    ps, ds, ws = p.tolist(), d.tolist(), w.tolist()
    left = list(range(len(ps)))
    t = 0
    scale = k * (float(p.mean()) or 1.0)
    out = []
    while left:
        best = max(
            left,
            key=lambda j: (ws[j] / max(ps[j], 1)) * math.exp(-max(0, ds[j] - ps[j] - t) / scale),
        )
        left.remove(best)
        out.append(best)
        t += ps[best]
    return np.asarray(out, dtype=np.int64)


def best_known(
    p: Sequence[int], d: Sequence[int], w: Sequence[int], *, iterations: int = 200, seed: int = 0
) -> tuple[int, list[int]]:
    """The best weighted tardiness the ILS finds, and its order."""
    pa = np.asarray(p, dtype=np.int64)
    da = np.asarray(d, dtype=np.int64)
    wa = np.asarray(w, dtype=np.int64)
    n = len(pa)
    if n <= 1:
        return (_cost(np.arange(n, dtype=np.int64), pa, da, wa), list(range(n)))
    rng = random.Random(seed)
    starts = [np.argsort(da, kind="stable").astype(np.int64)]
    starts += [_atc(pa, da, wa, k) for k in (0.5, 1.0, 2.0, 4.0)]
    best = min(starts, key=lambda s: _cost(s, pa, da, wa))
    best = _descend(best, pa, da, wa, rng)
    best_cost = _cost(best, pa, da, wa)
    current, current_cost = best, best_cost
    for _ in range(iterations):
        trial = current.copy()
        for _ in range(rng.randint(2, 4)):
            i, j = rng.randrange(n), rng.randrange(n)
            trial[i], trial[j] = trial[j], trial[i]
        trial = _descend(trial, pa, da, wa, rng)
        trial_cost = _cost(trial, pa, da, wa)
        # Accept sideways moves so the walk can cross plateaus of equal cost.
        if trial_cost <= current_cost:
            current, current_cost = trial, trial_cost
            if trial_cost < best_cost:
                best, best_cost = trial, trial_cost
    return best_cost, [int(x) for x in best]
