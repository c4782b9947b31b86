"""Exact references for single-machine tardiness.

Unweighted: Lawler's decomposition. In EDD order, the longest job k is preceded by every
other job up to some position delta and followed by the rest, so the problem splits into
two independent subproblems per candidate delta; memoisation on (job set, start time)
makes it pseudo-polynomial. Filters (Potts & Van Wassenhove; Emmons-style exchanges) cut
most positions, and two closed forms (EDD without tardiness, SPT with everything late)
end most recursions early.

Weighted: the subset dynamic program, vectorised with numpy, for n <= 20.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_DP_JOBS = 20  # 2^20 states x 20 jobs of numpy work: about a second


def total_tardiness(
    p: Sequence[int], d: Sequence[int], w: Sequence[int] | None, order: Sequence[int]
) -> int:
    """Sum of w_j * max(0, C_j - d_j) for jobs processed in ``order`` from time 0."""
    t = 0
    total = 0
    if w is None:
        for j in order:
            t += p[j]
            if t > d[j]:
                total += t - d[j]
    else:
        for j in order:
            t += p[j]
            if t > d[j]:
                total += w[j] * (t - d[j])
    return total


class _Lawler:
    """One unweighted instance; jobs are renumbered 0..n-1 in EDD order (ties: SPT)."""

    def __init__(self, p: Sequence[int], d: Sequence[int]) -> None:
        self.edd = sorted(range(len(p)), key=lambda j: (d[j], p[j], j))
        self.p = [p[j] for j in self.edd]
        self.d = [d[j] for j in self.edd]
        # value, and how it was reached: ("edd" | "spt" | delta position) for the sequence.
        self.memo: dict[tuple[int, int, int, int], tuple[int, object]] = {}

    def value(self, jobs: tuple[int, ...], t: int) -> int:
        if not jobs:
            return 0
        p, d = self.p, self.d
        if len(jobs) == 1:
            j = jobs[0]
            return max(0, t + p[j] - d[j])
        # Every job set of the decomposition is {EDD positions a..b with p below a bound};
        # such sets are nested for fixed a, b, so (first, last, size) names one exactly.
        key = (jobs[0], jobs[-1], len(jobs), t)
        hit = self.memo.get(key)
        if hit is not None:
            return hit[0]
        result = self._solve(jobs, t)
        self.memo[key] = result
        return result[0]

    def _solve(self, jobs: tuple[int, ...], t: int) -> tuple[int, object]:
        p, d = self.p, self.d
        m = len(jobs)
        completion = [0] * m  # in EDD order from t; also C_k(delta) below
        c = t
        late = False
        for i, j in enumerate(jobs):
            c += p[j]
            completion[i] = c
            if c > d[j]:
                late = True
        # EDD minimises maximum lateness: if nobody is late in EDD, the optimum is 0.
        if not late:
            return 0, "edd"
        # A job on time even when last goes last: that delays nobody (EDD puts them at
        # the end already, so they are a suffix).
        end = c
        cut = m
        while cut > 1 and d[jobs[cut - 1]] >= end:
            cut -= 1
        if cut < m:
            return self.value(jobs[:cut], t), ("trim", cut)

        kk = 0  # longest job; among ties the last in EDD order, so earlier ties precede it
        shortest = 0
        for i in range(1, m):
            pi = p[jobs[i]]
            if pi >= p[jobs[kk]]:
                kk = i
            if pi < p[jobs[shortest]]:
                shortest = i
        # Emmons: the earliest-due job, if no job is shorter, precedes every other job.
        if p[jobs[0]] <= p[jobs[shortest]]:
            first = jobs[0]
            own = max(0, t + p[first] - d[first])
            return own + self.value(jobs[1:], t + p[first]), "first"
        # If everyone is late in SPT, tardiness = sum(C) - sum(d), which SPT minimises.
        if t + p[jobs[shortest]] >= d[jobs[shortest]]:
            c = t
            sum_c = 0
            for j in sorted(jobs, key=p.__getitem__):
                c += p[j]
                sum_c += c
                if c < d[j]:
                    break
            else:
                return sum_c - sum(d[j] for j in jobs), "spt"

        k = jobs[kk]
        positions = [
            delta
            for delta in range(kk, m)
            # Potts & Van Wassenhove: job delta+1 would finish earlier than k otherwise.
            if (delta == m - 1 or completion[delta] < d[jobs[delta + 1]])
            # Exchange: if job delta is on time right after k, delta-1 is no worse.
            and (delta == kk or completion[delta] > d[jobs[delta]])
        ] or list(range(kk, m))
        head = jobs[:kk]
        best = -1
        best_delta = kk
        for delta in positions:
            ck = completion[delta]
            left = head + jobs[kk + 1 : delta + 1]
            cost = self.value(left, t) + max(0, ck - d[k])
            # Both terms grow with delta (a larger left set, a later k): nothing after
            # this position can beat the best any more.
            if best >= 0 and cost >= best:
                break
            right = jobs[delta + 1 :]
            if best >= 0:
                # Every job on the right finishes at least p_j after k does.
                bound = cost
                for j in right:
                    if ck + p[j] > d[j]:
                        bound += ck + p[j] - d[j]
                if bound >= best:
                    continue
            cost += self.value(right, ck)
            if best < 0 or cost < best:
                best, best_delta = cost, delta
        return best, best_delta

    def sequence(self, jobs: tuple[int, ...], t: int) -> list[int]:
        """An optimal order of ``jobs`` from time t (call after ``value``)."""
        if len(jobs) <= 1:
            return list(jobs)
        self.value(jobs, t)
        how = self.memo[(jobs[0], jobs[-1], len(jobs), t)][1]
        if how == "edd":
            return list(jobs)
        if how == "spt":
            return sorted(jobs, key=lambda j: self.p[j])
        if how == "first":
            return [jobs[0], *self.sequence(jobs[1:], t + self.p[jobs[0]])]
        if isinstance(how, tuple):
            cut = how[1]
            return self.sequence(jobs[:cut], t) + list(jobs[cut:])
        assert isinstance(how, int)
        kk = max(range(len(jobs)), key=lambda i: (self.p[jobs[i]], i))
        left = jobs[:kk] + jobs[kk + 1 : how + 1]
        ck = t + sum(self.p[j] for j in jobs[: how + 1])
        return self.sequence(left, t) + [jobs[kk]] + self.sequence(jobs[how + 1 :], ck)


def solve_unweighted(p: Sequence[int], d: Sequence[int]) -> tuple[int, list[int]]:
    """Optimal total tardiness and an optimal order (original job indices)."""
    # A zero-length job first delays nobody and is on time (d >= 0); the filters assume
    # p >= 1, so such jobs are taken out before the decomposition.
    zero = [j for j in range(len(p)) if p[j] == 0]
    rest = [j for j in range(len(p)) if p[j] != 0]
    solver = _Lawler([p[j] for j in rest], [d[j] for j in rest])
    everyone = tuple(range(len(rest)))
    value = solver.value(everyone, 0)
    order = zero + [rest[solver.edd[j]] for j in solver.sequence(everyone, 0)]
    return value, order


def solve_weighted_dp(
    p: Sequence[int], d: Sequence[int], w: Sequence[int]
) -> tuple[int, list[int]]:
    """Optimal weighted tardiness by dynamic programming over subsets (n <= 20).

    F[S] = min over j in S of F[S - j] + w_j * max(0, P(S) - d_j): the last job of S
    completes at P(S) whatever the order of the others.
    """
    n = len(p)
    if n > MAX_DP_JOBS:
        raise ValueError(f"subset DP is limited to {MAX_DP_JOBS} jobs, got {n}")
    if n == 0:
        return 0, []
    size = 1 << n
    masks = np.arange(size, dtype=np.int64)
    bits = (masks[:, None] >> np.arange(n)) & 1
    load = bits @ np.asarray(p, dtype=np.int64)
    popcount = bits.sum(axis=1)
    big = np.iinfo(np.int64).max // 4
    best = np.full(size, big, dtype=np.int64)
    last = np.full(size, -1, dtype=np.int8)
    best[0] = 0
    for level in range(1, n + 1):
        layer = masks[popcount == level]
        for j in range(n):
            sub = layer[(layer >> j) & 1 == 1]
            cost = best[sub ^ (1 << j)] + w[j] * np.maximum(0, load[sub] - d[j])
            better = cost < best[sub]
            best[sub[better]] = cost[better]
            last[sub[better]] = j
    order: list[int] = []
    mask = size - 1
    while mask:
        j = int(last[mask])
        order.append(j)
        mask ^= 1 << j
    order.reverse()
    return int(best[size - 1]), order
