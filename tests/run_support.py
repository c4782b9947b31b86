"""A database filled by a real short run plus synthetic rows, for the leaderboard, inspect
and report tests, and the `evolve` subprocess helper they share."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evolve.storage import Store
from evolve.types import Status

REPO = Path(__file__).resolve().parent.parent


def evolve(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full.pop("EVOLVE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout,
    )


def real_run(db: Path, evaluations: int = 20) -> None:
    """`evolve run smtt` with the offline mutator in the process sandbox (about 10 s)."""
    out = evolve("run", "smtt", "--max-evaluations", str(evaluations), "--sandbox", "process",
                 "--db", str(db), "--quiet", cwd=db.parent)
    assert out.returncode == 0, out.stdout + out.stderr


@dataclass(frozen=True)
class Synthetic:
    """Ids of the hand-made run (problem smtt) and of a run of another problem."""

    run_id: int
    other_run_id: int
    seed: int
    gpt: int  # written by "gpt-test" with template hash aaa111..., overfits
    claude: int  # crossover by "claude-test", template hash bbb222..., best of the run
    duplicate: int
    edit_failed: int
    invalid: int
    late: int  # COMPLETE, after every LLM call


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def add_synthetic(store: Store) -> Synthetic:
    code = "def schedule(p, d, w):\n    return list(range(len(p)))  # {tag}\n"
    run = store.create_run("smtt", {"problem": "smtt"}, seed=7)

    def program(tag: str, status: Status, iteration: int, **fields: object) -> int:
        return store.add_program(run.id, code.format(tag=tag), f"hash-{tag}", status,
                                 iteration, **fields).id

    seed = program("seed", Status.COMPLETE, 0, score=-0.5, test_score=-0.5,
                   metrics={"gap_mean": 0.5}, created_at=_at(0))
    c1 = store.add_llm_call(run.id, "gpt-test", "openai", "ok", template="diff",
                            template_hash="aaa111" + "0" * 58, cost_usd=0.10,
                            created_at=_at(1)).id
    gpt = program("gpt", Status.COMPLETE, 1, parent_id=seed, llm_call_id=c1,
                  proposer="gpt-test", template="diff", score=-0.02, test_score=-0.05,
                  metrics={"gap_mean": 0.02}, created_at=_at(2))
    c2 = store.add_llm_call(run.id, "claude-test", "anthropic", "ok", template="crossover",
                            template_hash="bbb222" + "0" * 58, cost_usd=0.25,
                            created_at=_at(3)).id
    claude = program("claude", Status.COMPLETE, 2, parent_id=gpt, other_parent_id=seed,
                     llm_call_id=c2, proposer="claude-test", template="crossover",
                     score=-0.015, test_score=-0.016, metrics={"gap_mean": 0.015},
                     feedback="worst class TF0.4", created_at=_at(4))
    duplicate = program("dup", Status.DUPLICATE, 3, parent_id=claude,
                        reason="same normalised code as program 1", created_at=_at(5))
    edit_failed = program("edit", Status.EDIT_FAILED, 3, parent_id=claude,
                          reason="SEARCH block not found", created_at=_at(5))
    c3 = store.add_llm_call(run.id, "gpt-test", "openai", "ok", template="diff",
                            template_hash="aaa111" + "0" * 58, cost_usd=1.0,
                            created_at=_at(6)).id
    invalid = program("invalid", Status.INVALID, 4, parent_id=claude, llm_call_id=c3,
                      proposer="gpt-test", template="diff",
                      reason="schedule() returned a list that is not a permutation",
                      created_at=_at(7))
    late = program("late", Status.COMPLETE, 5, parent_id=seed, proposer="offline",
                   score=-0.3, metrics={"gap_mean": 0.3}, created_at=_at(8))
    other = store.create_run("eplb", {"problem": "eplb"}, seed=1)
    store.add_program(other.id, "x = 1\n", "hash-eplb", Status.COMPLETE, 0, score=5.0,
                      metrics={"balance": 0.9}, created_at=_at(9))
    return Synthetic(run.id, other.id, seed, gpt, claude, duplicate, edit_failed, invalid,
                     late)
