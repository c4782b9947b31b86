"""Plain-text tables shared by the benchmark scripts."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Right-aligned columns, one header line."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def print_measurements(rows: Sequence[tuple[str, str, str]]) -> None:
    """(name, measured, target) rows, as the problems' bench modules return them."""
    width = max(len(name) for name, _, _ in rows)
    print(f"{'benchmark':<{width}}  {'measured':>10}  target")
    for name, measured, target in rows:
        print(f"{name:<{width}}  {measured:>10}  {target}")
