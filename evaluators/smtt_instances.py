"""SMTT instances: the Potts and Van Wassenhove generator and user instance files.

Every instance is deterministic from ``(seed, n, TF, RDD, replicate)`` so that a problem
folder only needs to name its generator parameters, and references computed on one
machine can be looked up by hash on another.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolve.errors import ProblemError

# The tardiness factor and relative range of due dates used throughout the literature.
FACTORS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Instance:
    p: tuple[int, ...]
    d: tuple[int, ...]
    w: tuple[int, ...]
    cls: str  # "TF0.6/RDD0.2" for generated instances, anything for user files
    opt: float | None = None  # a reference supplied with the instance (user files)

    @property
    def n(self) -> int:
        return len(self.p)

    @property
    def weighted(self) -> bool:
        return any(x != 1 for x in self.w)

    @property
    def key(self) -> str:
        """Content hash: the reference cache is keyed by it, so names never go stale."""
        blob = json.dumps([self.p, self.d, self.w], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


def class_name(tf: float, rdd: float) -> str:
    return f"TF{tf:.1f}/RDD{rdd:.1f}"


def _sub_seed(*parts: object) -> int:
    # A stable seed per instance: Python's hash() of str is salted per process.
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def generate(n: int, tf: float, rdd: float, seed: int, *, weighted: bool = False) -> Instance:
    """One Potts-Van Wassenhove instance: p ~ U[1,100], d ~ U[P(1-TF-RDD/2), P(1-TF+RDD/2)]."""
    rng = random.Random(seed)
    p = [rng.randint(1, 100) for _ in range(n)]
    total = sum(p)
    low = math.floor(total * (1.0 - tf - rdd / 2.0))
    high = math.floor(total * (1.0 - tf + rdd / 2.0))
    # Clip the drawn due date, not the range: with TF + RDD/2 > 1 some jobs are due at 0.
    d = [max(0, rng.randint(low, high)) for _ in range(n)]
    w = [rng.randint(1, 10) for _ in range(n)] if weighted else [1] * n
    return Instance(tuple(p), tuple(d), tuple(w), class_name(tf, rdd))


def generate_set(
    sizes: Sequence[int], per_class: int, seed: int, *, weighted: bool = False
) -> list[Instance]:
    """All (n, TF, RDD, replicate) combinations, interleaved so every prefix is diverse.

    Cascade stages take the first k instances; ordering by replicate, then by a fixed
    shuffle of (n, class), makes a short prefix cover many sizes and classes.
    """
    combos = [(n, tf, rdd) for n in sizes for tf in FACTORS for rdd in FACTORS]
    random.Random(_sub_seed("order", seed)).shuffle(combos)
    out: list[Instance] = []
    for rep in range(per_class):
        for n, tf, rdd in combos:
            sub = _sub_seed(seed, n, tf, rdd, rep, weighted)
            out.append(generate(n, tf, rdd, sub, weighted=weighted))
    return out


def _int_list(value: Any, name: str, where: str, n: int | None) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value
    ):
        raise ProblemError(f"{where}: '{name}' must be a list of non-negative integers")
    if n is not None and len(value) != n:
        raise ProblemError(f"{where}: '{name}' has {len(value)} entries, 'p' has {n}")
    return tuple(value)


def load_instances(path: Path, *, weighted: bool) -> list[Instance]:
    """Read ``[{"p": [...], "d": [...], "w": [...]?, "opt": x?, "class": "..."?}, ...]``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProblemError(f"{path}: cannot read instances file ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(raw, list) or not raw:
        raise ProblemError(f"{path}: expected a non-empty JSON list of instance objects")
    out = []
    for i, item in enumerate(raw):
        where = f"{path}: instance {i}"
        if not isinstance(item, dict):
            raise ProblemError(f"{where}: expected an object with keys p, d (w, opt, class)")
        unknown = set(item) - {"p", "d", "w", "opt", "class"}
        if unknown:
            raise ProblemError(
                f"{where}: unknown key(s) {sorted(unknown)}; allowed p, d, w, opt, class"
            )
        if "p" not in item or "d" not in item:
            raise ProblemError(f"{where}: needs both 'p' and 'd'")
        p = _int_list(item["p"], "p", where, None)
        if not p:
            raise ProblemError(f"{where}: 'p' is empty; an instance needs at least one job")
        d = _int_list(item["d"], "d", where, len(p))
        w = _int_list(item["w"], "w", where, len(p)) if "w" in item else (1,) * len(p)
        if not weighted and any(x != 1 for x in w):
            raise ProblemError(f"{where}: 'w' must be all ones for smtt; use smtwt for weights")
        opt = item.get("opt")
        if opt is not None and (
            isinstance(opt, bool) or not isinstance(opt, int | float) or not math.isfinite(opt)
        ):
            raise ProblemError(f"{where}: 'opt' must be a finite number")
        cls = item.get("class", f"file#{i}")
        out.append(Instance(p, d, w, str(cls), None if opt is None else float(opt)))
    return out
