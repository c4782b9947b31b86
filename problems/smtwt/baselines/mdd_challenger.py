"""Baseline: the "MDD Challenger" rule discovered by an LLM-driven search for SMTT.

At each step the unscheduled job with the smallest mu runs next, where
mu = max(1.1 p + t, d); rho = min(p / (t + max p of unscheduled), 1);
mu *= 1 + rho^2 / (1 + rho^2); mu += p / (t + mean p of unscheduled).
"""

from __future__ import annotations


def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    unscheduled = list(range(len(p)))
    order = []
    t = 0
    while unscheduled:
        p_max = max(p[j] for j in unscheduled)
        p_mean = sum(p[j] for j in unscheduled) / len(unscheduled)
        best = unscheduled[0]
        best_mu = float("inf")
        for j in unscheduled:
            mu = max(1.1 * p[j] + t, d[j])
            rho = min(p[j] / max(t + p_max, 1e-9), 1.0)
            mu *= 1 + rho**2 / (1 + rho**2)
            mu += p[j] / max(t + p_mean, 1e-9)
            if mu < best_mu:
                best = j
                best_mu = mu
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order
