"""Progress of a run: a live rich panel on a terminal, plain periodic log lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evolve.types import Program, Status


@dataclass(frozen=True)
class ProgressSnapshot:
    iteration: int
    evaluations: int
    best_score: float | None
    best_test_score: float | None
    in_flight: int
    cost_usd: float
    elapsed: float
    statuses: dict[Status, int] = field(default_factory=dict)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def describe(s: ProgressSnapshot) -> str:
    rate = s.evaluations / (s.elapsed / 60) if s.elapsed > 0 else 0.0
    statuses = " ".join(f"{k.value.lower()}={v}" for k, v in sorted(s.statuses.items()) if v)
    return (
        f"iter {s.iteration}  evals {s.evaluations} ({rate:.0f}/min)  best {_fmt(s.best_score)}"
        f"  test {_fmt(s.best_test_score)}  in flight {s.in_flight}  ${s.cost_usd:.4f}"
        f"  {s.elapsed:.0f}s  [{statuses}]"
    )


class Progress:
    """Shows run progress. ``live`` uses a rich Live panel (only on a TTY); otherwise one
    line every ``interval`` seconds to ``echo`` (stderr by default)."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        live: bool | None = None,
        interval: float = 10.0,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.live_mode = sys.stderr.isatty() if live is None else live
        self.interval = interval
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self._last_line = 0.0
        self._live: Any = None

    def __enter__(self) -> Progress:
        if self.enabled and self.live_mode:
            from rich.console import Console
            from rich.live import Live

            self._live = Live("starting...", console=Console(stderr=True), refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, snapshot: ProgressSnapshot) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._panel(snapshot))
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.echo(describe(snapshot))

    def champion(self, program: Program) -> None:
        if not self.enabled:
            return
        line = (
            f"new best: program {program.id} (iteration {program.iteration}) "
            f"score {_fmt(program.score)} test {_fmt(program.test_score)}"
        )
        if self._live is not None:
            self._live.console.print(line)
        else:
            self.echo(line)

    @staticmethod
    def _panel(s: ProgressSnapshot) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        rate = s.evaluations / (s.elapsed / 60) if s.elapsed > 0 else 0.0
        rows = [
            ("iteration", str(s.iteration)),
            ("evaluations", f"{s.evaluations}  ({rate:.0f}/min)"),
            ("best train score", _fmt(s.best_score)),
            ("its test score", _fmt(s.best_test_score)),
            ("proposals in flight", str(s.in_flight)),
            ("spent", f"${s.cost_usd:.4f}"),
            ("elapsed", f"{s.elapsed:.0f} s"),
            ("statuses", " ".join(f"{k.value}={v}" for k, v in sorted(s.statuses.items()))),
        ]
        for name, value in rows:
            table.add_row(f"[bold]{name}[/]", value)
        return table
