"""Reference values for SMTT instances: shipped with the problem, cached on disk, or computed.

A reference is computed once per instance (keyed by a hash of its data) and never during a
run's scoring: built-in problems ship ``references.json`` for their train and test sets,
everything else lands in ``$EVOLVE_CACHE/refs`` (default ``~/.cache/evolve/refs``).

Regenerate a problem's shipped file with ``python -m evaluators.smtt_refs problems/smtt``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluators.smtt_exact import MAX_DP_JOBS, solve_unweighted, solve_weighted_dp
from evaluators.smtt_ils import best_known
from evaluators.smtt_instances import Instance

SHIPPED = "references.json"


@dataclass(frozen=True)
class Reference:
    value: float
    optimal: bool  # False: the best a strong heuristic found (best-known)
    method: str  # "lawler", "subset-dp", "ils", or "file" (given with the instance)


def cache_dir() -> Path:
    root = os.environ.get("EVOLVE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "evolve"
    return base / "refs"


def compute_reference(inst: Instance) -> Reference:
    if not inst.weighted:
        value, _ = solve_unweighted(inst.p, inst.d)
        return Reference(float(value), True, "lawler")
    if inst.n <= MAX_DP_JOBS:
        value, _ = solve_weighted_dp(inst.p, inst.d, inst.w)
        return Reference(float(value), True, "subset-dp")
    value, _ = best_known(inst.p, inst.d, inst.w, iterations=200, seed=0)
    return Reference(float(value), value == 0, "ils")  # zero is a proven lower bound


def _read(path: Path) -> dict[str, Reference]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # a missing or torn cache entry is recomputed, never trusted
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, item in raw.items():
        try:
            out[key] = Reference(float(item["value"]), bool(item["optimal"]), str(item["method"]))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _write_atomic(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; shipped tables must be readable
    os.replace(tmp, path)


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve(
    instances: Sequence[Instance],
    shipped: Path | None = None,
    progress: Callable[[str], None] = _stderr_progress,
) -> list[Reference]:
    """References for ``instances``: given ``opt``, then the shipped file, then the cache;
    whatever is still missing is computed (with a progress line) and cached."""
    known = _read(shipped) if shipped is not None else {}
    out: list[Reference | None] = []
    missing: list[int] = []
    cache = cache_dir()
    for i, inst in enumerate(instances):
        if inst.opt is not None:
            out.append(Reference(inst.opt, False, "file"))
            continue
        ref = known.get(inst.key) or _read(cache / f"{inst.key}.json").get(inst.key)
        out.append(ref)
        if ref is None:
            missing.append(i)
    if missing:
        progress(f"computing {len(missing)} missing reference value(s); cached in {cache}")
    started = time.monotonic()
    for done, i in enumerate(missing, 1):
        inst = instances[i]
        ref = compute_reference(inst)
        out[i] = ref
        try:
            _write_atomic(cache / f"{inst.key}.json", {inst.key: asdict(ref)})
        except OSError:
            pass  # an unwritable cache only costs the recomputation next time
        if done % 10 == 0 or done == len(missing):
            progress(f"  {done}/{len(missing)} references ({time.monotonic() - started:.1f}s)")
    return [r for r in out if r is not None]


def ship(instances: Sequence[Instance], path: Path) -> None:
    """Compute (or reuse) references for ``instances`` and write them as ``path``."""
    refs = resolve(instances, path if path.is_file() else None)
    _write_atomic(path, {inst.key: asdict(ref) for inst, ref in zip(instances, refs, strict=True)})


def main(argv: list[str]) -> int:
    from evaluators.problem import load_problem_dir, load_verifier

    for folder in argv:
        spec = load_problem_dir(Path(folder), "builtin")
        verifier = load_verifier(spec)
        sets = getattr(verifier, "all_instances", None)
        if sets is None:
            print(f"{folder}: verifier has no all_instances(); nothing to ship", file=sys.stderr)
            return 1
        target = spec.dir / SHIPPED
        ship(sets(), target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
