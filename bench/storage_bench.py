"""Store costs on an SQLite file: writes per second and the queries the engine and the
leaderboard run often, at a realistic table size.

``python3 bench/storage_bench.py [PROGRAMS]`` prints one row per operation.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.storage import Store  # noqa: E402
from evolve.types import Status  # noqa: E402

REPEATS = 20


def _timed(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(total: int) -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp, Store.open(str(Path(tmp) / "b.db")) as store:
        runs = [store.create_run("smtt", {}, seed) for seed in range(4)]
        code = "def f(x):\n    return x\n" * 40
        start = time.perf_counter()
        for i in range(total):
            run = runs[i % len(runs)]
            status = Status.COMPLETE if rng.random() < 0.7 else Status.INVALID
            store.add_program(
                run.id, code, f"h{i}", status, i // len(runs), score=rng.uniform(-1e4, 0)
            )
        insert = (time.perf_counter() - start) / total
        target = runs[0].id
        rows = [
            ("add_program (one transaction each)", insert),
            ("best_programs(problem, limit=10)", _timed(lambda: store.best_programs("smtt"))),
            ("best_programs(run_id, limit=10)", _timed(lambda: store.best_programs(run_id=target))),
            ("find_by_hash", _timed(lambda: store.find_by_hash(target, f"h{total // 2}"))),
            ("max_iteration", _timed(lambda: store.max_iteration(target))),
            ("count_programs", _timed(lambda: store.count_programs(target))),
            ("get_program", _timed(lambda: store.get_program(total // 2))),
        ]
    print(f"{total} programs over {len(runs)} runs, SQLite file (WAL)")
    print(f"{'operation':<40} {'ms':>9}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds * 1000:>9.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
