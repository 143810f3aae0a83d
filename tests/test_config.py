from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.agents import load_roster
from agent_ecology.config import ConfigError, Settings, load_settings, parse_settings

REPO = Path(__file__).parents[1]


def _problems(data: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(data)
    return str(info.value)


def test_the_shipped_config_and_genesis_agents_are_valid() -> None:
    settings = load_settings(REPO / "config.yaml")
    assert settings.resources.stock and settings.resources.flow
    assert settings.world.database.is_absolute() and settings.world.genesis.is_absolute()
    roster = load_roster(settings)
    assert [a.id for a in roster] == ["alice", "bob", "carol", "dave", "erin"]
    assert all(a.config["model"] in settings.llm.prices for a in roster)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("")
    assert load_settings(path).model_dump() == Settings().model_dump() | {
        "world": {
            "database": tmp_path / "data/world.db",
            "system_principal": "world",
            "genesis": tmp_path / "genesis",
            "busy_timeout": 10.0,
        }
    }


def test_unknown_keys_are_named_with_their_path() -> None:
    text = _problems({"resources": {"flow": {"compute": {"rate": 1, "capacity": 2, "rat": 3}}}})
    assert "resources.flow.compute.rat: unknown key (did you mean 'rate'?)" in text
    assert "allowed here: capacity, rate, unit" in text
    assert "agents[1].name: unknown key" in _problems(
        {"agents": [{"id": "a"}, {"id": "b", "name": "x"}]}
    )
    assert "resourcs: unknown key (did you mean 'resources'?)" in _problems({"resourcs": {}})


def test_bad_values_say_what_was_expected() -> None:
    text = _problems({"resources": {"flow": {"compute": {"rate": -1, "capacity": 10}}}})
    assert (
        "resources.flow.compute.rate: input should be greater than or equal to 0 (got -1)" in text
    )
    assert "scrip.initial: input should be a valid integer" in _problems(
        {"scrip": {"initial": 1.5}}
    )
    assert "resources.stock.disk.total: input should be a valid number" in _problems(
        {"resources": {"stock": {"disk": {"total": "lots"}}}}
    )
    assert "resources.stock.Disk: must be a name" in _problems(
        {"resources": {"stock": {"Disk": {"total": 1}}}}
    )
    assert "resources.flow.compute.capacity: required key is missing" in _problems(
        {"resources": {"flow": {"compute": {"rate": 1}}}}
    )
    assert "appears twice" in _problems({"agents": [{"id": "a"}, {"id": "a"}]})
    assert "both as stock and as flow" in _problems(
        {"resources": {"stock": {"x": {"total": 1}}, "flow": {"x": {"rate": 1, "capacity": 1}}}}
    )
    assert "top level must be a mapping" in _problems(["a", "list"])


def test_every_problem_is_reported_at_once() -> None:
    error_text = _problems({"scrip": {"initial": -1}, "world": {"databse": "x"}})
    assert "scrip.initial" in error_text and "world.databse" in error_text


def test_secrets_are_never_read_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "secrets are not read from config.yaml" in _problems({"llm": {"api_key": "sk-123"}})
    settings = parse_settings({"llm": {"api_key_env": "MY_KEY"}})
    assert settings.api_key({}) is None
    key = settings.api_key({"MY_KEY": "sk-abc"})
    assert key is not None and key.get_secret_value() == "sk-abc"
    assert "sk-abc" not in repr(key)


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("scrip:\n  initial: 1\nscrip:\n  initial: 2\n")
    with pytest.raises(ConfigError, match="duplicate key 'scrip'"):
        load_settings(path)


def test_malformed_yaml_and_missing_files_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("resources: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.yaml")


def test_a_new_resource_needs_only_config() -> None:
    settings = parse_settings(
        {
            "resources": {"flow": {"bandwidth": {"rate": 5, "capacity": 50, "unit": "bytes"}}},
            "agents": [{"id": "a"}, {"id": "b"}],
        }
    )
    assert settings.resources.flow["bandwidth"].rate == 5
