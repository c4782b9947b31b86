"""Baseline: earliest due date first (EDD); ties keep index order, like the seed."""

from __future__ import annotations


def schedule(p: list[int], d: list[int], w: list[int]) -> list[int]:
    return sorted(range(len(p)), key=lambda j: d[j])
