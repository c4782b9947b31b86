"""``RunConfig``: every knob of a run, validated before anything starts.

Layers, later wins: the problem's ``run_defaults`` (problem.yaml), the ``--config`` YAML
file, ``--set a.b=value`` overrides, then explicit CLI flags. A wrong key or value raises a
one-line ``ConfigError`` that names where it came from, the full dotted key, and what is
allowed; nothing falls back silently to a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from evolve.errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: Any) -> Any:
    """'2h', '90m', '30s', '1h30m' or a number of seconds -> seconds (float)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"'{value}' is not a duration; use seconds or e.g. 90s, 30m, 2h, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[unit.lower()] for n, unit in parts)


Seconds = Annotated[float, BeforeValidator(parse_duration)]
OptionalSeconds = Annotated[float | None, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PopulationConfig(_Strict):
    islands: int = Field(default=4, ge=1)
    migration_interval: int = Field(default=10, ge=1)
    migration_count: int = Field(default=1, ge=0)
    selection: Literal["fitness", "rank", "tournament", "uniform"] = "rank"
    temperature: float = Field(default=1.0, gt=0)
    rank_power: float = Field(default=1.0, ge=0)
    tournament_size: int = Field(default=3, ge=1)
    num_inspirations: int = Field(default=3, ge=0)
    archive_bins: int = Field(default=10, ge=1)
    exploration: float = Field(default=0.2, ge=0, le=1)


class ModelConfig(_Strict):
    name: str
    provider: Literal["litellm", "openai", "anthropic", "offline"] = "litellm"
    weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=4096, ge=1)
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: Seconds = Field(default=120.0, gt=0)


class LLMConfig(_Strict):
    deadline: Seconds = Field(default=180.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_in_flight: int = Field(default=8, ge=1)
    failures_before_bench: int = Field(default=3, ge=1)
    bench_seconds: Seconds = Field(default=60.0, ge=0)
    bandit: bool = False
    replay_run: int | None = None


class PriceConfig(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


def _default_weights() -> dict[str, float]:
    return {"diff": 0.6, "rewrite": 0.2, "crossover": 0.2}


class PromptsConfig(_Strict):
    dir: str | None = None  # user templates, searched before the built-in prompts/
    weights: dict[str, float] = Field(default_factory=_default_weights)


class MutatorConfig(_Strict):
    max_mutations: int = Field(default=3, ge=1)
    crossover_rate: float = Field(default=0.2, ge=0, le=1)


class RunConfig(_Strict):
    problem: str
    seed: int = 0
    iterations: int | None = Field(default=None, ge=0)
    max_evaluations: int | None = Field(default=1000, ge=0)
    budget_usd: float | None = Field(default=None, ge=0)
    time_limit: OptionalSeconds = Field(default=None, gt=0)
    target_score: float | None = None
    stagnation_generations: int | None = Field(default=None, ge=1)
    # Stop when this many proposals in a row give nothing to evaluate (failed edits,
    # duplicates, code that does not compile, model failures).
    max_barren_proposals: int | None = Field(default=500, ge=1)
    concurrency: int = Field(default=4, ge=1)  # proposals in flight
    workers: int = Field(default=2, ge=1)  # sandboxes evaluating at once
    sandbox: Literal["auto", "docker", "process"] = "auto"
    db: str | None = None
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    models: list[ModelConfig] = Field(default_factory=list)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    mutator: MutatorConfig = Field(default_factory=MutatorConfig)

    def resolved(self) -> dict[str, Any]:
        """Every value, defaults included, as JSON-able data (stored with the run)."""
        return self.model_dump(mode="json")


# ---- loading ------------------------------------------------------------------------------

PROBLEM_SOURCE = "problem.yaml run_defaults"
CLI_SOURCE = "command line"


def load_run_config(
    problem_defaults: dict[str, Any],
    config_file: Path | None,
    overrides: list[str],
    cli: dict[str, Any],
    *,
    problem_source: str = PROBLEM_SOURCE,
) -> RunConfig:
    """Merge the four layers (later wins) and validate once, naming the culprit on error.

    ``problem_source`` names the first layer in messages (e.g. ".../problem.yaml run_defaults").
    ``cli`` keys may be dotted ("population.islands"); ``None`` values mean "flag not given".
    """
    # Mapping-valued settings merge key by key across layers, so `--set
    # prompts.weights.diff=0.3` keeps the other default weights (set one to 0 to drop it).
    merged: dict[str, Any] = {"prompts": {"weights": _default_weights()}}
    origins: dict[tuple[str, ...], str] = {}
    _merge(merged, problem_defaults or {}, (), problem_source, origins)
    if config_file is not None:
        _merge(merged, read_yaml(Path(config_file)), (), str(config_file), origins)
    for item in overrides:
        path, value = parse_set(item)
        _merge(merged, _nest(path, value), (), f"--set {item}", origins)
    cli_values = {k: v for k, v in cli.items() if v is not None}
    for key, value in cli_values.items():
        _merge(merged, _nest(tuple(key.split(".")), value), (), CLI_SOURCE, origins)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origins)) from exc


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; check the --config path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (problem, seed, population, ...)")
    return data


def parse_set(item: str) -> tuple[tuple[str, ...], Any]:
    """``a.b=value`` -> (("a", "b"), value parsed as a YAML scalar or list)."""
    key, sep, raw = item.partition("=")
    parts = tuple(p.strip() for p in key.split("."))
    if not sep or not all(parts):
        raise ConfigError(f"--set {item}: expected KEY=VALUE with a dotted key, e.g. seed=3")
    _check_path(parts, f"--set {item}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--set {item}: the value is not valid YAML ({exc.__class__.__name__})"
        ) from exc
    return parts, value


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    assert isinstance(out, dict)
    return out


def _merge(
    into: dict[str, Any],
    layer: dict[str, Any],
    prefix: tuple[str, ...],
    source: str,
    origins: dict[tuple[str, ...], str],
) -> None:
    for key, value in layer.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, path, source, origins)
        else:
            # Lists and scalars replace whole: a later layer's models list is the list.
            into[key] = value
            for old in [p for p in origins if p[: len(path)] == path]:
                del origins[old]
            origins[path] = source


def _source_of(loc: tuple[str, ...], origins: dict[tuple[str, ...], str]) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return "run config"


def _walk(parts: tuple[str, ...]) -> tuple[type[BaseModel] | None, int]:
    """Follow ``parts`` through the schema; return the model owning the last readable part
    and how many parts were consumed before leaving models (into a dict, list or value)."""
    model: type[BaseModel] = RunConfig
    i = 0
    while i < len(parts):
        field = model.model_fields.get(parts[i])
        if field is None:
            return model, i
        inner, skip = _model_in(field.annotation)
        if inner is None or i + skip >= len(parts) and skip:
            return None, i + 1
        model, i = inner, i + 1 + skip
    return model, len(parts)


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, int]:
    """The model a field holds, and 1 if a list index / dict key comes before its keys."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    if get_origin(annotation) in (list, dict):
        item = get_args(annotation)[-1]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, 1
    return None, 0


def _allowed(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _check_path(parts: tuple[str, ...], where: str) -> None:
    model, used = _walk(parts)
    dotted = ".".join(parts)
    for n in range(1, min(used, len(parts) - 1) + 1):
        holder = _walk(parts[: n - 1])[0]
        field = holder.model_fields.get(parts[n - 1]) if holder is not None else None
        if field is not None and get_origin(field.annotation) is list:
            name = ".".join(parts[:n])
            raise ConfigError(
                f"{where}: '{name}' is a list and is set whole, e.g. --set '{name}=[{{name: x}}]'"
            )
    if model is not None and used < len(parts):
        prefix = ".".join(parts[:used])
        level = f"under '{prefix}'" if prefix else "at the top level"
        raise ConfigError(f"{where}: unknown key '{dotted}'; allowed {level}: {_allowed(model)}")
    if model is None and used < len(parts):
        owner = ".".join(parts[:used])
        if get_origin(_field_annotation(parts[:used])) is not dict:
            raise ConfigError(
                f"{where}: '{owner}' is a value, not a section; use --set {owner}=VALUE"
            )


def _field_annotation(parts: tuple[str, ...]) -> Any:
    model, _ = _walk(parts[:-1])
    assert model is not None
    return model.model_fields[parts[-1]].annotation


def _explain(exc: ValidationError, origins: dict[tuple[str, ...], str]) -> str:
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err["loc"])
    dotted = ".".join(loc) or "(top level)"
    source = _source_of(loc, origins)
    if err["type"] == "extra_forbidden":
        model, used = _walk(loc)
        prefix = ".".join(loc[:used])
        level = f"under '{prefix}'" if prefix else "at the top level"
        allowed = _allowed(model) if model is not None else "(see the docs)"
        return f"{source}: unknown key '{dotted}'; allowed {level}: {allowed}"
    if err["type"] == "missing":
        return f"{source}: key '{dotted}' is required"
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: key '{dotted}': {msg}{shown}"


def choices(field: str) -> tuple[str, ...]:
    """The allowed values of a Literal field of RunConfig (for CLI help)."""
    return tuple(get_args(RunConfig.model_fields[field].annotation))
