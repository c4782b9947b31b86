"""RunConfig: layering, durations, and one clear line for every kind of mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolve.config import RunConfig, choices, load_run_config, parse_duration
from evolve.errors import ConfigError


def _write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(*args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_run_config(*args, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    cfg = load_run_config({}, None, [], {"problem": "smtt"})
    assert cfg == RunConfig(problem="smtt")
    assert (cfg.seed, cfg.max_evaluations, cfg.concurrency, cfg.workers) == (0, 1000, 4, 2)
    assert cfg.population.selection == "rank" and cfg.population.islands == 4
    assert cfg.prompts.weights == {"diff": 0.6, "rewrite": 0.2, "crossover": 0.2}
    assert cfg.models == [] and cfg.llm.deadline == 180.0
    assert choices("sandbox") == ("auto", "docker", "process")


def test_layers_later_wins(tmp_path: Path) -> None:
    problem = {"max_evaluations": 500, "seed": 1, "population": {"islands": 2, "temperature": 3.0}}
    path = _write(tmp_path, "seed: 2\npopulation:\n  islands: 3\nworkers: 5\n")
    cfg = load_run_config(
        problem,
        path,
        ["seed=3", "population.selection=tournament", "models=[{name: m1, weight: 2}]"],
        {"problem": "smtt", "seed": 4, "iterations": None, "population.migration_interval": 7},
    )
    assert cfg.max_evaluations == 500  # only the problem set it
    assert cfg.population.temperature == 3.0  # nested keys merge, not replace
    assert cfg.population.islands == 3  # file beats problem
    assert cfg.workers == 5
    assert cfg.population.selection == "tournament"  # --set
    assert cfg.seed == 4  # CLI beats --set
    assert cfg.iterations is None  # a CLI flag left unset does not override
    assert cfg.population.migration_interval == 7
    assert [(m.name, m.weight, m.provider) for m in cfg.models] == [("m1", 2.0, "litellm")]


def test_lists_replace_and_weights_merge(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  - {name: a}\n  - {name: b}\n")
    sets = ["models=[{name: c}]", "prompts.weights.diff=0.9"]
    cfg = load_run_config({}, path, sets, {"problem": "p"})
    assert [m.name for m in cfg.models] == ["c"]
    assert cfg.prompts.weights == {"diff": 0.9, "rewrite": 0.2, "crossover": 0.2}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200.0), ("90m", 5400.0), ("30s", 30.0), ("1h30m", 5400.0), ("45", 45.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    cfg = load_run_config({}, None, [f"time_limit={text}"], {"problem": "p"})
    assert cfg.time_limit == seconds


def test_duration_from_yaml_and_cli(tmp_path: Path) -> None:
    path = _write(tmp_path, "time_limit: 2h\nllm:\n  deadline: 90s\n")
    assert load_run_config({}, path, [], {"problem": "p"}).llm.deadline == 90.0
    assert load_run_config({}, path, [], {"problem": "p", "time_limit": "10m"}).time_limit == 600


def test_resolved_is_json_and_complete() -> None:
    sets = ["prices.m.input_per_mtok=1", "prices.m.output_per_mtok=2"]
    cfg = load_run_config({}, None, sets, {"problem": "p"})
    data = cfg.resolved()
    assert json.loads(json.dumps(data)) == data
    assert data["prices"] == {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}
    assert data["population"]["tournament_size"] == 3
    assert RunConfig.model_validate(data) == cfg


# ---- errors: one line naming where, which key, and what is allowed ---------------------------


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "population:\n  islandz: 3\n")
    msg = _error({}, path, [], {"problem": "p"})
    assert str(path) in msg
    assert "unknown key 'population.islandz'" in msg
    assert "allowed under 'population': islands, migration_interval" in msg


def test_unknown_top_level_key_in_problem_defaults() -> None:
    msg = _error({"iteratons": 3}, None, [], {"problem": "p"})
    assert msg.startswith("problem.yaml run_defaults: unknown key 'iteratons'")
    assert "allowed at the top level: problem, seed, iterations" in msg
    msg = _error({"seed": "x"}, None, [], {"problem": "p"}, problem_source="/p/problem.yaml")
    assert msg.startswith("/p/problem.yaml: key 'seed'")


def test_unknown_key_inside_a_list_item(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  - name: a\n    temprature: 1\n")
    msg = _error({}, path, [], {"problem": "p"})
    assert "unknown key 'models.0.temprature'" in msg
    assert "allowed under 'models.0': name, provider, weight, temperature" in msg


def test_wrong_type_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "workers: many\n")
    msg = _error({}, path, [], {"problem": "p"})
    assert msg.startswith(f"{path}: key 'workers'")
    assert "valid integer" in msg and "'many'" in msg


def test_wrong_choice_lists_the_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, "sandbox: kvm\n")
    msg = _error({}, path, [], {"problem": "p"})
    assert f"{path}: key 'sandbox'" in msg
    assert "'auto', 'docker' or 'process'" in msg


def test_wrong_value_from_set_names_the_override() -> None:
    msg = _error({}, None, ["population.selection=best"], {"problem": "p"})
    assert msg.startswith("--set population.selection=best: key 'population.selection'")
    assert "'fitness', 'rank', 'tournament' or 'uniform'" in msg
    msg = _error({}, None, ["concurrency=0"], {"problem": "p"})
    assert "key 'concurrency'" in msg and "greater than or equal to 1" in msg


def test_bad_duration() -> None:
    msg = _error({}, None, ["time_limit=soon"], {"problem": "p"})
    assert "key 'time_limit'" in msg and "not a duration" in msg and "2h" in msg
    assert "key 'time_limit'" in _error({}, None, ["time_limit=-5"], {"problem": "p"})
    # A required duration cannot be switched off with null; an optional one can.
    assert "key 'llm.deadline'" in _error({}, None, ["llm.deadline=null"], {"problem": "p"})
    assert load_run_config({}, None, ["time_limit=null"], {"problem": "p"}).time_limit is None


def test_bad_set_path() -> None:
    msg = _error({}, None, ["population.islandz=3"], {"problem": "p"})
    assert msg.startswith("--set population.islandz=3: unknown key 'population.islandz'")
    assert "allowed under 'population': islands" in msg
    msg = _error({}, None, ["popluation.islands=3"], {"problem": "p"})
    assert "unknown key 'popluation.islands'; allowed at the top level: problem" in msg
    msg = _error({}, None, ["seed.x=3"], {"problem": "p"})
    assert "'seed' is a value, not a section" in msg
    msg = _error({}, None, ["models.0.name=x"], {"problem": "p"})
    assert "'models' is a list and is set whole" in msg


@pytest.mark.parametrize("item", ["seed", "=3", "a..b=1", ".x=1"])
def test_bad_set_syntax(item: str) -> None:
    msg = _error({}, None, [item], {"problem": "p"})
    assert msg.startswith(f"--set {item}: expected KEY=VALUE")


def test_bad_set_value_yaml() -> None:
    msg = _error({}, None, ["models=[{name: x"], {"problem": "p"})
    assert "--set models=[{name: x: the value is not valid YAML" in msg


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    msg = _error({}, missing, [], {"problem": "p"})
    assert msg == f"config file {missing} not found; check the --config path"


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "seed: 1\npopulation:\n  islands: [1, 2\nworkers: 3\n")
    msg = _error({}, path, [], {"problem": "p"})
    assert msg.startswith(f"{path} line ") and "not valid YAML" in msg


def test_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- 1\n- 2\n")
    assert "expected a mapping" in _error({}, path, [], {"problem": "p"})


def test_missing_problem() -> None:
    assert "key 'problem' is required" in _error({}, None, [], {})


def test_empty_file_is_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    assert load_run_config({}, path, [], {"problem": "p"}).seed == 0
