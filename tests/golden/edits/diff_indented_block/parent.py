"""A dispatcher whose EVOLVE-BLOCK sits inside the loop: only the key is evolved."""


def schedule(p, d, w):
    unscheduled = list(range(len(p)))
    t = 0
    order = []
    while unscheduled:
        mean_p = sum(p[j] for j in unscheduled) / len(unscheduled)
        # EVOLVE-BLOCK-START
        def key(j):
            # earliest due date first
            return d[j]
        # EVOLVE-BLOCK-END
        j = min(unscheduled, key=key)
        unscheduled.remove(j)
        order.append(j)
        t += p[j]
    return order
