"""How values that SQL or JSON cannot hold faithfully are stored.

Non-finite floats are the problem: verifiers score an invalid program ``-inf`` and a metric
can be ``nan``. Standard JSON has no spelling for them (PostgreSQL rejects Python's
``NaN``/``Infinity`` tokens) and in SQL a NaN sorts above every number on PostgreSQL, so a
leaderboard would put it first. Hence two consistent rules:

* score-like columns (``score``, ``test_score``, ``best_score``...) store a non-finite value
  as NULL, meaning "no comparable score"; readers get ``None`` back;
* inside JSON columns a non-finite float becomes ``{"$float": "nan" | "inf" | "-inf"}`` and
  is turned back into the float when read, so metrics round-trip exactly.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

_MARK = "$float"


def finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def encode_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {_MARK: repr(value)}  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {str(k): encode_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_json(v) for v in value]
    return value


def decode_json(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _MARK in value:
            return float(value[_MARK])
        return {k: decode_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_json(v) for v in value]
    return value


def utc(value: datetime | None) -> datetime | None:
    """SQLite drops the time zone; every timestamp is written in UTC, so re-attach it."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)
