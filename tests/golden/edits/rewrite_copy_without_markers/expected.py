"""Seed program for single-machine total tardiness: earliest due date first (EDD).

Written as a dispatching loop: at each step every unscheduled job gets a key, and the job
with the smallest key runs next. The key may use the current time t, the job's processing
time p[j], due date d[j] and weight w[j].
"""

from __future__ import annotations


# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    """Modified due date: the job whose max(d_j, t + p_j) is smallest runs next."""
    unscheduled = list(range(len(p)))
    order = []
    t = 0
    while unscheduled:
        best = min(unscheduled, key=lambda j: (max(d[j], t + p[j]), p[j]))
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order
# EVOLVE-BLOCK-END
