"""Baseline: shortest (weighted) processing time first, p_j / w_j (SPT; WSPT with weights)."""

from __future__ import annotations


def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    return sorted(range(len(p)), key=lambda j: (p[j] / w[j], d[j], j))
