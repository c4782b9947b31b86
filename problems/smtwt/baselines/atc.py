"""Baseline: apparent tardiness cost (Vepsalainen & Morton), look-ahead k tuned per instance.

Priority (w_j / p_j) * exp(-max(0, d_j - p_j - t) / (k * mean p)); the largest runs next.
The rule is run for every k of a small grid and the best resulting order is returned.
"""

from __future__ import annotations

import math

GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def _tardiness(p: list[int], d: list[int], w: list[int], order: list[int]) -> int:
    t = 0
    total = 0
    for j in order:
        t += p[j]
        total += w[j] * max(0, t - d[j])
    return total


def _atc(p: list[int], d: list[int], w: list[int], k: float) -> list[int]:
    unscheduled = list(range(len(p)))
    scale = k * max(sum(p) / len(p), 1e-9)
    order = []
    t = 0
    while unscheduled:
        best = max(
            unscheduled,
            key=lambda j: (w[j] / max(p[j], 1e-9)) * math.exp(-max(0, d[j] - p[j] - t) / scale),
        )
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order


def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    if not p:
        return []
    orders = [_atc(p, d, w, k) for k in GRID]
    return min(orders, key=lambda o: _tardiness(p, d, w, o))
