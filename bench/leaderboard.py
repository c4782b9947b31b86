"""The leaderboard over 100,000 programs in one SQLite file (target: under 200 ms).

``python3 bench/leaderboard.py [PROGRAMS] [DB]`` bulk-inserts PROGRAMS programs (default
100,000) over 8 runs of 2 problems with an LLM call for most of them, then times the
leaderboard as `evolve leaderboard --no-baselines --json` builds it (query, cost and
evaluations until found, rows) for the common filters, median of several repeats.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from evolve.cli.leaderboard import build_rows  # noqa: E402
from evolve.storage import Store  # noqa: E402
from evolve.storage.leaderboard import LeaderboardQuery  # noqa: E402
from evolve.storage.models import LLMCallRow, ProgramRow  # noqa: E402
from evolve.types import Status  # noqa: E402

REPEATS = 7
RUNS = 8
TARGET_MS = 200.0
STATUSES = [(Status.COMPLETE, 0.6), (Status.INVALID, 0.2), (Status.TIMEOUT, 0.03),
            (Status.DUPLICATE, 0.12), (Status.EDIT_FAILED, 0.05)]
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "offline"]
TEMPLATES = [("diff", "a1" * 32), ("rewrite", "b2" * 32), ("crossover", "c3" * 32)]
CODE = "def schedule(p, d, w):\n    return sorted(range(len(p)), key=lambda j: d[j])\n" * 15


def fill(store: Store, total: int, rng: random.Random) -> None:
    """Bulk inserts (the bench measures reading, not the engine's one-row writes)."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [store.create_run("smtt" if r % 2 == 0 else "eplb", {"problem": "smtt"}, r)
            for r in range(RUNS)]
    statuses, weights = zip(*STATUSES, strict=True)
    per_run = total // RUNS
    with store.engine.begin() as conn:
        call_id = 0
        for run in runs:
            programs, calls = [], []
            for i in range(per_run):
                created = t0 + timedelta(seconds=i)
                status = rng.choices(statuses, weights)[0]
                model = rng.choice(MODELS)
                llm_call_id = None
                if model != "offline" and i > 0:
                    call_id += 1
                    llm_call_id = call_id
                    template, digest = rng.choice(TEMPLATES)
                    calls.append({
                        "id": call_id, "run_id": run.id, "model": model, "provider": "x",
                        "status": "ok", "template": template, "template_hash": digest,
                        "prompt": [], "cost_usd": rng.uniform(0.0001, 0.01),
                        "created_at": created - timedelta(milliseconds=500),
                        "input_tokens": 1000, "output_tokens": 300, "latency_s": 2.0,
                    })
                scored = status is Status.COMPLETE
                gap = rng.lognormvariate(-3, 1)
                programs.append({
                    "run_id": run.id, "problem": run.problem, "code": CODE,
                    "code_hash": f"{run.id}-{i}", "status": status.value, "iteration": i,
                    "generation": i // 50, "island": i % 4, "parent_id": None,
                    "proposer": "seed" if i == 0 else model, "template": None,
                    "score": -gap if scored else None,
                    "test_score": -gap * 1.1 if scored and rng.random() < 0.02 else None,
                    "metrics": {"gap_mean": gap, "solved_fraction": rng.random()}
                    if scored else {},
                    "test_metrics": {}, "features": {}, "llm_call_id": llm_call_id,
                    "created_at": created,
                })
            if calls:
                conn.execute(insert(LLMCallRow), calls)
            conn.execute(insert(ProgramRow), programs)


def timed(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main(total: int, path: Path) -> None:
    rng = random.Random(0)
    with Store.open(str(path)) as store:
        start = time.perf_counter()
        fill(store, total, rng)
        print(f"filled {total:,} programs in {RUNS} runs in {time.perf_counter() - start:.1f} s "
              f"({path})\n")
        cases = [
            ("all problems, top 10", LeaderboardQuery()),
            ("--problem smtt, top 10", LeaderboardQuery(problem="smtt")),
            ("--problem smtt --top 100", LeaderboardQuery(problem="smtt", top=100)),
            ("--run 3", LeaderboardQuery(run_id=3)),
            ("--by test_score", LeaderboardQuery(problem="smtt", by="test_score")),
            ("--by gap_mean --ascending", LeaderboardQuery(problem="smtt", by="gap_mean",
                                                           ascending=True)),
            ("--model openai/gpt-4o-mini", LeaderboardQuery(model="openai/gpt-4o-mini")),
            ("--template a1a1", LeaderboardQuery(template_hash="a1a1")),
            ("--status INVALID", LeaderboardQuery(statuses=(Status.INVALID,))),
        ]
        table(store, cases, "leaderboard (no baselines)")


def table(store: Store, cases: list[tuple[str, LeaderboardQuery]], title: str) -> None:
    print(f"{title:34} {'median ms':>10} {'rows':>6}  target")
    worst = 0.0
    for name, query in cases:
        rows: list[object] = []

        def run(q: LeaderboardQuery = query, out: list[object] = rows) -> None:
            out[:] = build_rows(store, q, with_baselines=False, sandbox_kind="process")[0]

        ms = timed(run)
        worst = max(worst, ms)
        verdict = "ok" if ms < TARGET_MS else "SLOW"
        print(f"{name:34} {ms:10.1f} {len(rows):6}  {verdict}")
    print(f"worst {worst:.1f} ms (target < {TARGET_MS:.0f} ms)\n")

if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if len(sys.argv) > 2:
        main(count, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(count, Path(tmp) / "leaderboard.db")
