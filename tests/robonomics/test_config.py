"""The robonomics: section is validated like the rest of config.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_ecology.config import ConfigError, load_settings, parse_settings

BASE: dict[str, Any] = {
    "tasks": {"weld": {"kind": "complex"}},
    "oracles": [{"name": "line", "task": "weld"}],
    "robots": [{"name": "r1", "oracle": "line"}],
}


def problems(**changes: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings({"robonomics": {**BASE, **changes}})
    return str(info.value)


def test_the_shipped_section_is_valid_and_off() -> None:
    settings = load_settings(Path(__file__).parents[2] / "config.yaml")
    assert not settings.robonomics.enabled and len(settings.robonomics.robots) == 2


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"oracles": [{"name": "line", "task": "paint"}]}, "'paint' is not a task (weld)"),
        ({"robots": [{"name": "r1", "oracle": "nope"}]}, "'nope' is not an oracle (line)"),
        ({"robots": [{"name": "r1", "oracle": "line"}] * 2}, "'r1' appears twice"),
        ({"mining": {"elasticity": 1.0}}, "elasticity"),
        ({"mining": {"draw": {"complex": 1.0}}}, "mining.draw needs a value for ['simple']"),
        ({"tasks": {"weld": {"kind": "hard"}}}, "kind"),
        ({"ticks_per_step": 0}, "ticks_per_step"),
        ({"giskard": {"token_torq_capacity": -1}}, "token_torq_capacity"),
        ({"enabled": True, "robots": []}, "robonomics.robots is empty"),
        ({"robot": []}, "robot"),  # unknown key, with a did-you-mean
    ],
)
def test_bad_sections_are_refused_saying_where(changes: dict[str, Any], words: str) -> None:
    assert words in problems(**changes)


def test_a_relative_flow_log_is_beside_config_yaml_and_an_absolute_one_stays(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("robonomics: {log_path: logs/flow.txt}\n")
    assert load_settings(config).robonomics.log_path == tmp_path / "logs" / "flow.txt"
    config.write_text(f"robonomics: {{log_path: {tmp_path / 'flow.txt'}}}\n")
    assert load_settings(config).robonomics.log_path == tmp_path / "flow.txt"


def test_the_section_s_errors_name_the_full_key_path() -> None:
    text = problems(robots=[{"name": "R1", "oracle": "line"}])
    assert "robonomics.robots[0].name: must be a name of lowercase letters" in text
    assert "robonomics.mining.elasticity: input should be less than 1" in problems(
        mining={"elasticity": 1.0}
    )
