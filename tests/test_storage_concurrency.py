"""SQLite under stress: two writer processes at once, and a writer killed mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from evolve.storage import Store
from evolve.types import Status

REPO = Path(__file__).resolve().parent.parent


WRITER = textwrap.dedent(
    """
    import sys
    from evolve.storage import Store
    from evolve.types import Status

    url, run_id, tag, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    store = Store.open(url)
    for i in range(count):
        p = store.add_program(run_id, f"{tag} {i} " + "x" * 2000, f"{tag}-{i}", Status.PENDING, i)
        print(p.id, i, flush=True)
    """
)


def _writer(tmp_path: Path, url: str, run_id: int, tag: str, count: int) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), url, str(run_id), tag, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_write_1000_programs_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with Store.open(url) as s:
        run = s.create_run("p", {}, 0)
    procs = [_writer(tmp_path, url, run.id, tag, 1000) for tag in ("a", "b")]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert len(out.splitlines()) == 1000
    with Store.open(url) as s:
        progs = s.programs(run.id)
        assert len(progs) == 2000
        for tag in ("a", "b"):
            assert sorted(p.iteration for p in progs if p.code_hash.startswith(tag)) == list(
                range(1000)
            )
        assert len({p.id for p in progs}) == 2000


def test_sigkill_mid_run_keeps_every_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as s:
        run = s.create_run("p", {}, 0)
    proc = _writer(tmp_path, url, run.id, "k", 1_000_000)
    assert proc.stdout is not None
    committed: dict[int, int] = {}
    for line in proc.stdout:
        pid, i = map(int, line.split())
        committed[pid] = i
        if len(committed) >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store.open(url) as s:
        stored = {p.id: p for p in s.programs(run.id)}
        for pid, i in committed.items():
            assert stored[pid].code.startswith(f"k {i} ")
            assert stored[pid].code_hash == f"k-{i}"
        # Rows keep being committed between the last line we read and the kill.
        assert len(stored) >= len(committed)
        assert sorted(p.iteration for p in stored.values()) == list(range(len(stored)))
        s.add_program(run.id, "after the crash", "new", Status.PENDING, len(stored))
