"""Baseline: modified due date (Baker & Bertrand), weighted as in Kanet & Li.

At time t the next job minimises max(p_j, d_j - t) / w_j, which for unit weights is the
classic MDD rule max(t + p_j, d_j).
"""

from __future__ import annotations


def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    unscheduled = list(range(len(p)))
    order = []
    t = 0
    while unscheduled:
        best = min(unscheduled, key=lambda j: (max(p[j], d[j] - t) / w[j], d[j], j))
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order
