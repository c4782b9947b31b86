"""Islands of MAP-Elites archives: where programs live, who gets to be a parent.

Pure and deterministic: the state is a function of the programs added, in order, and the
only randomness (parent and inspiration choice) comes from the ``random.Random`` handed in.
The engine rebuilds a population from the database on resume with ``Population.rebuild``,
which replays the stored programs in id order and so equals the incremental population.

Migration is scheduled by the program stream itself (every ``migration_interval``
generations, one generation being one evaluated program per island) rather than by the
caller, so a rebuilt population has migrated exactly as the original did. Programs that
finish out of id order (concurrent evaluations) make the live population differ slightly
from the rebuilt one; the rebuilt one is still a pure function of the stored programs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve.errors import ConfigError, EvolveError
from evolve.types import Program, Status

SELECTIONS = ("proportional", "rank", "tournament", "uniform")
_ALIASES = {
    "fitness": "proportional",
    "fitness_proportional": "proportional",
    "roulette": "proportional",
    "power_law": "rank",
    "random": "uniform",
}
# These never reach a sandbox, so their code says nothing about duplicates.
_UNSEEN = (Status.FAILED, Status.EDIT_FAILED)
# Only evaluations advance the migration clock: the engine adds every evaluated program,
# and unevaluated outcomes (EDIT_FAILED, DUPLICATE) may or may not be replayed.
_EVALUATED = (Status.COMPLETE, Status.INVALID, Status.TIMEOUT, Status.FAILED)


@dataclass(frozen=True)
class FeatureAxis:
    """One MAP-Elites axis. Without ``low``/``high`` the range follows the values seen."""

    name: str
    low: float | None = None
    high: float | None = None
    bins: int = 10

    @classmethod
    def from_spec(cls, spec: Any) -> FeatureAxis:
        """From a problem's ``FeatureSpec`` (anything with name, low, high, bins)."""
        return cls(str(spec.name), float(spec.low), float(spec.high), int(spec.bins))


@dataclass(frozen=True)
class PopulationParams:
    islands: int = 4
    migration_interval: int = 10
    migration_count: int = 1
    selection: str = "rank"
    temperature: float = 1.0
    rank_power: float = 1.0
    tournament_size: int = 3
    num_inspirations: int = 3
    archive_bins: int = 10
    exploration: float = 0.2
    features: tuple[FeatureAxis, ...] = ()

    def __post_init__(self) -> None:
        name = _ALIASES.get(self.selection, self.selection)
        if name not in SELECTIONS:
            raise ConfigError(
                f"population.selection '{self.selection}' is unknown; use one of "
                + ", ".join(SELECTIONS)
            )
        object.__setattr__(self, "selection", name)
        if self.islands < 1 or self.archive_bins < 1 or self.tournament_size < 1:
            raise ConfigError("population.islands, archive_bins and tournament_size must be >= 1")
        if self.temperature <= 0:
            raise ConfigError("population.temperature must be > 0")
        if not 0.0 <= self.exploration <= 1.0:
            raise ConfigError("population.exploration must be between 0 and 1")

    @property
    def axes(self) -> tuple[FeatureAxis, ...]:
        if self.features:
            return self.features
        return (
            FeatureAxis("score", bins=self.archive_bins),
            FeatureAxis("code_length", bins=self.archive_bins),
        )

    @classmethod
    def from_config(cls, section: Any, features: Iterable[Any] = ()) -> PopulationParams:
        """From a config section (pydantic model or dict) and a problem's feature specs."""
        raw = section.model_dump() if hasattr(section, "model_dump") else dict(section)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        known["features"] = tuple(FeatureAxis.from_spec(f) for f in features)
        return cls(**known)


def feature_value(program: Program, name: str) -> float:
    if name == "score":
        return float(program.score if program.score is not None else 0.0)
    if name == "code_length":
        return float(len(program.code))
    return float(program.features.get(name, program.metrics.get(name, 0.0)))


def _better(a: Program, b: Program) -> bool:
    """Whether ``a`` beats ``b``: higher score; ties go to the older program."""
    sa = a.score if a.score is not None else -math.inf
    sb = b.score if b.score is not None else -math.inf
    return sa > sb or (sa == sb and a.id < b.id)


@dataclass
class _Island:
    axes: tuple[FeatureAxis, ...]
    cells: dict[tuple[int, ...], Program] = field(default_factory=dict)
    bounds: list[tuple[float, float] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bounds = [
            (a.low, a.high) if a.low is not None and a.high is not None else None for a in self.axes
        ]

    def cell_of(self, program: Program) -> tuple[int, ...]:
        cell = []
        for axis, bound in zip(self.axes, self.bounds, strict=True):
            value = feature_value(program, axis.name)
            if bound is None or bound[1] <= bound[0]:
                cell.append(0)
                continue
            low, high = bound
            index = int((value - low) / (high - low) * axis.bins)
            cell.append(min(max(index, 0), axis.bins - 1))
        return tuple(cell)

    def insert(self, program: Program) -> bool:
        if any(p.id == program.id for p in self.cells.values()):
            return False
        if self._widen(program):
            self._rebin()
        cell = self.cell_of(program)
        incumbent = self.cells.get(cell)
        if incumbent is None or _better(program, incumbent):
            self.cells[cell] = program
            return True
        return False

    def _widen(self, program: Program) -> bool:
        """Stretch adaptive axes to cover ``program``; True if any range changed."""
        changed = False
        for i, axis in enumerate(self.axes):
            if axis.low is not None and axis.high is not None:
                continue
            value = feature_value(program, axis.name)
            bound = self.bounds[i]
            if bound is None:
                self.bounds[i] = (value, value)
                changed = True
            elif not bound[0] <= value <= bound[1]:
                # A margin, so that a slowly improving score does not re-bin every time.
                low, high = min(bound[0], value), max(bound[1], value)
                margin = 0.1 * (high - low)
                low = low - margin if value < bound[0] else low
                high = high + margin if value > bound[1] else high
                self.bounds[i] = (low, high)
                changed = True
        return changed

    def _rebin(self) -> None:
        elites = sorted(self.cells.values(), key=lambda p: p.id)
        self.cells = {}
        for program in elites:
            cell = self.cell_of(program)
            incumbent = self.cells.get(cell)
            if incumbent is None or _better(program, incumbent):
                self.cells[cell] = program

    def elites(self) -> list[Program]:
        return sorted(self.cells.values(), key=lambda p: p.id)


class Population:
    def __init__(
        self,
        params: PopulationParams | None = None,
        rng: random.Random | None = None,
        **overrides: Any,
    ) -> None:
        base = params or PopulationParams()
        self.params = PopulationParams(**{**base.__dict__, **overrides}) if overrides else base
        self.rng = rng if rng is not None else random.Random(0)
        self._islands = [_Island(self.params.axes) for _ in range(self.params.islands)]
        self._hashes: dict[str, int] = {}  # normalised-code hash -> first program id
        self._ids: set[int] = set()
        self._statuses: dict[int, Status] = {}
        self._best: Program | None = None
        self._added = 0
        self._next_island = 0
        self.migrations = 0

    @classmethod
    def rebuild(
        cls,
        programs: Iterable[Program],
        params: Any = None,
        features: Iterable[Any] = (),
        seed: int = 0,
        rng: random.Random | None = None,
    ) -> Population:
        """The population that adding ``programs`` in id order produces (for resume).

        ``params`` is a ``PopulationParams`` or a config section (pydantic model or dict);
        ``features`` are the problem's FeatureSpecs; the rng defaults to one seeded by
        ``seed`` and the number of programs, so a resumed run draws fresh numbers.
        """
        if params is not None and not isinstance(params, PopulationParams):
            params = PopulationParams.from_config(params, features)
        elif features:
            base = params or PopulationParams()
            axes = tuple(FeatureAxis.from_spec(f) for f in features)
            params = PopulationParams(**{**base.__dict__, "features": axes})
        ordered = sorted(programs, key=lambda p: p.id)
        population = cls(params, rng or random.Random(f"population:{seed}:{len(ordered)}"))
        ordered = sorted(programs, key=lambda p: p.id)
        for program in ordered:
            population.add(program)
        population._next_island = len(ordered)
        return population

    # ------------------------------------------------------------------ bookkeeping

    def add(self, program: Program) -> bool:
        """Record a program; True if it entered its island's archive.

        Unfinished programs (PENDING, RUNNING) only mark their code as seen; the same
        program added again once finished counts normally.
        """
        if program.status not in _UNSEEN and program.code_hash:
            self.mark_seen(program.code_hash, program.id)
        if program.id in self._ids or not program.status.finished:
            return False
        self._ids.add(program.id)
        self._statuses[program.id] = program.status
        entered = False
        if (
            program.status is Status.COMPLETE
            and program.score is not None
            and math.isfinite(program.score)
        ):
            if self._best is None or _better(program, self._best):
                self._best = program
            entered = self._islands[program.island % len(self._islands)].insert(program)
        if program.status in _EVALUATED:
            self._added += 1
            interval = self.params.migration_interval * len(self._islands)
            if len(self._islands) > 1 and interval > 0 and self._added % interval == 0:
                self.migrate()
        return entered

    def seen(self, code_hash: str) -> int | None:
        """The id of the first program with this normalised code, or None (falsy) if new."""
        return self._hashes.get(code_hash)

    def mark_seen(self, code_hash: str, program_id: int) -> None:
        first = self._hashes.get(code_hash)
        if first is None or program_id < first:
            self._hashes[code_hash] = program_id

    def features_of(self, code: str, metrics: dict[str, float]) -> dict[str, float]:
        """The descriptor values to store with a program (all axes but the score)."""
        out = {}
        for axis in self.params.axes:
            if axis.name == "code_length":
                out[axis.name] = float(len(code))
            elif axis.name != "score":
                out[axis.name] = float(metrics.get(axis.name, 0.0))
        return out

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self._statuses.values():
            counts[status.value] = counts.get(status.value, 0) + 1
        return counts

    def best(self) -> Program | None:
        return self._best

    def island_of_next(self) -> int:
        island = self._next_island % len(self._islands)
        self._next_island += 1
        return island

    def elites(self, island: int | None = None) -> list[Program]:
        if island is not None:
            return self._islands[island % len(self._islands)].elites()
        unique = {p.id: p for isl in self._islands for p in isl.elites()}
        return [unique[i] for i in sorted(unique)]

    def cell_of(self, island: int, program: Program) -> tuple[int, ...]:
        return self._islands[island % len(self._islands)].cell_of(program)

    def state(self) -> dict[str, Any]:
        """Everything that is a function of the programs added (not of the rng)."""
        return {
            "islands": [
                sorted((cell, p.id) for cell, p in isl.cells.items()) for isl in self._islands
            ],
            "bounds": [list(isl.bounds) for isl in self._islands],
            "best": self._best.id if self._best else None,
            "hashes": sorted(self._hashes.items()),
            "migrations": self.migrations,
        }

    # ------------------------------------------------------------------ migration

    def migrate(self) -> None:
        """Ring migration: each island's best ``migration_count`` elites go to the next."""
        k = self.params.migration_count
        movers = [sorted(isl.cells.values(), key=_rank_key)[:k] for isl in self._islands]
        for i, group in enumerate(movers):
            destination = self._islands[(i + 1) % len(self._islands)]
            for program in group:
                destination.insert(program)
        self.migrations += 1

    # ------------------------------------------------------------------ selection

    def select_parent(self, island: int, rng: random.Random | None = None) -> Program:
        """A COMPLETE program of ``island``'s archive, by the configured strategy."""
        rng = rng or self.rng
        pool = self.elites(island) or self.elites()
        if not pool:
            raise EvolveError(
                "no evaluated program to select a parent from; check why the seed program "
                "failed with `evolve show`"
            )
        if rng.random() < self.params.exploration:
            return rng.choice(pool)
        return select(pool, self.params, rng)

    def select_other_parent(
        self, island: int, parent: Program, rng: random.Random | None = None
    ) -> Program | None:
        """A second parent for crossover, preferably from another island."""
        others = [p for p in self.elites() if p.id != parent.id and p.code_hash != parent.code_hash]
        if not others:
            return None
        away = [p for p in others if p.island % len(self._islands) != island] or others
        return select(away, self.params, rng or self.rng)

    def inspirations(
        self, island: int, parent: Program, k: int | None = None, rng: random.Random | None = None
    ) -> list[Program]:
        """The island's best programs, then diverse ones from other cells (and islands)."""
        rng = rng or self.rng
        k = self.params.num_inspirations if k is None else k
        chosen: list[Program] = []
        taken = {parent.id}
        hashes = {parent.code_hash}

        def take(program: Program) -> None:
            if len(chosen) < k and program.id not in taken and program.code_hash not in hashes:
                chosen.append(program)
                taken.add(program.id)
                hashes.add(program.code_hash)

        local = sorted(self.elites(island), key=_rank_key)
        for program in local[: (k + 1) // 2]:
            take(program)
        parent_cell = self.cell_of(island, parent)
        diverse = [p for p in local if self.cell_of(island, p) != parent_cell]
        local_ids = {p.id for p in local}
        diverse += [p for p in self.elites() if p.id not in local_ids]
        for program in rng.sample(diverse, len(diverse)):
            take(program)
        for program in local:  # too few cells yet: fill with whatever is left
            take(program)
        return chosen


def _rank_key(program: Program) -> tuple[float, int]:
    return (-(program.score if program.score is not None else -math.inf), program.id)


def select(pool: Sequence[Program], params: PopulationParams, rng: random.Random) -> Program:
    """One program of ``pool`` by ``params.selection``; the pool order never matters."""
    ordered = sorted(pool, key=_rank_key)
    if params.selection == "uniform" or len(ordered) == 1:
        return rng.choice(ordered)
    if params.selection == "tournament":
        entrants = rng.sample(ordered, min(params.tournament_size, len(ordered)))
        return min(entrants, key=_rank_key)
    if params.selection == "rank":
        weights = [(rank + 1) ** -params.rank_power for rank in range(len(ordered))]
    else:
        scores = [p.score if p.score is not None else -math.inf for p in ordered]
        top, span = scores[0], (scores[0] - scores[-1]) or 1.0
        weights = [math.exp((s - top) / (params.temperature * span)) for s in scores]
    return rng.choices(ordered, weights)[0]
