"""A run's USD budget, with calls in flight reserved against it.

With K proposals in flight, checking only what has been spent would let K calls start
together and cross the budget; so each call reserves an upper-bound estimate first and
settles it with the real cost when it ends. A call that could cross the budget is refused
before it is made: ``spent + reserved + estimate > limit`` raises ``BudgetExceeded``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from evolve.errors import BudgetExceeded


@dataclass(frozen=True)
class Reservation:
    id: int
    estimate: float


class Budget:
    """``limit_usd=None`` means no limit (the spend is still totalled); ``spent_usd`` lets a
    resumed run start from what it had already spent."""

    def __init__(self, limit_usd: float | None, *, spent_usd: float = 0.0) -> None:
        if limit_usd is not None and limit_usd < 0:
            raise ValueError("a budget cannot be negative")
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self._open: dict[int, float] = {}
        self._ids = itertools.count(1)

    @property
    def reserved_usd(self) -> float:
        return sum(self._open.values())

    @property
    def remaining_usd(self) -> float | None:
        if self.limit_usd is None:
            return None
        return self.limit_usd - self.spent_usd - self.reserved_usd

    def reserve(self, estimate: float) -> Reservation:
        """Hold ``estimate`` USD for a call about to start, or refuse the call."""
        estimate = max(0.0, estimate)
        if self.limit_usd is not None:
            committed = self.spent_usd + self.reserved_usd
            if committed + estimate > self.limit_usd:
                raise BudgetExceeded(
                    f"the USD budget of ${self.limit_usd:.4f} would be crossed: spent "
                    f"${self.spent_usd:.4f}, in flight ${self.reserved_usd:.4f}, next call up "
                    f"to ${estimate:.4f}; raise --budget-usd to go on"
                )
        reservation = Reservation(next(self._ids), estimate)
        self._open[reservation.id] = estimate
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the reservation by what the call really cost (0 when it failed unbilled).

        The actual cost is always counted, even beyond the limit: money spent is spent.
        """
        if self._open.pop(reservation.id, None) is None:
            raise ValueError(f"reservation {reservation.id} was already settled")
        self.spent_usd += max(0.0, actual_usd)

    @property
    def exhausted(self) -> bool:
        """True once nothing is left: the engine stops instead of proposing again."""
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd
