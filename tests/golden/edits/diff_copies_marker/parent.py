"""Seed program for single-machine total tardiness: earliest due date first (EDD).

Written as a dispatching loop: at each step every unscheduled job gets a key, and the job
with the smallest key runs next. The key may use the current time t, the job's processing
time p[j], due date d[j] and weight w[j].
"""

from __future__ import annotations


# EVOLVE-BLOCK-START
def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    """Return the processing order: a permutation of the job indices 0..n-1."""
    unscheduled = list(range(len(p)))
    order = []
    t = 0
    while unscheduled:
        best = unscheduled[0]
        best_key = float("inf")
        for j in unscheduled:
            finish = t + p[j]  # completion time of job j if it runs next
            key = max(d[j], 0)  # due dates are never negative: this is plain EDD
            if key < best_key:
                best = j
                best_key = key
        unscheduled.remove(best)
        order.append(best)
        t += p[best]
    return order
# EVOLVE-BLOCK-END
