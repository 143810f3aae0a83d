"""The documentation says what is true: every key is documented, every module it names exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent_ecology import config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

# The README's configuration table: one row per section of config.yaml.
SECTIONS: dict[str, type[BaseModel]] = {
    "world": config.WorldSettings,
    "scrip": config.ScripSettings,
    "resources.stock.<name>": config.StockResource,
    "resources.flow.<name>": config.FlowResource,
    "agents": config.AgentSettings,
    "llm": config.LLMSettings,
    "agent_loop": config.AgentLoopSettings,
    "run": config.RunSettings,
    "oracle": config.OracleSettings,
    "exchange": config.ExchangeSettings,
    "robonomics": config.RobonomicsSettings,
    "sandbox": config.SandboxSettings,
}
MAPPINGS = ("fees",)
"""Sections that are a plain mapping (no keys of their own to document)."""


def config_table() -> dict[str, str]:
    start = README.index("## Configuration: `config.yaml`")
    rows = re.findall(r"^\| `([^`]+)` \| (.*) \|$", README[start:], flags=re.M)
    return dict(rows)


def test_every_section_of_config_yaml_has_a_row() -> None:
    documented = {name.split(".")[0] for name in SECTIONS} | set(MAPPINGS)
    assert documented == set(config.Settings.model_fields)
    assert set(SECTIONS) | set(MAPPINGS) <= config_table().keys()


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_key_of_a_section_is_in_its_row(section: str) -> None:
    row = config_table()[section]
    missing = [k for k in SECTIONS[section].model_fields if not re.search(rf"\b{k}\b", row)]
    assert missing == [], f"README's row for {section} lacks {missing}"


def test_every_local_model_key_is_in_the_local_models_section() -> None:
    start = README.index("## Local models")
    section = README[start : README.index("\n## ", start + 1)]
    missing = [
        k for k in config.LocalModelSettings.model_fields if not re.search(rf"\b{k}\b", section)
    ]
    assert missing == []


def named_modules() -> list[tuple[str, str]]:
    """Every ``agent_ecology.x.y`` a docstring's role or a document's code span names."""
    found = set()
    for path in sorted((ROOT / "agent_ecology").rglob("*.py")):
        for name in re.findall(
            r":(?:mod|class|func|meth|data):`~?(agent_ecology[\w.]*)`", path.read_text()
        ):
            found.add((name, str(path.relative_to(ROOT))))
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for name in re.findall(r"`(agent_ecology(?:\.\w+)+)[`(]", path.read_text()):
            found.add((name, str(path.relative_to(ROOT))))
    return sorted(found)


def resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_search_finds_what_the_documents_name() -> None:
    names = {name for name, _ in named_modules()}
    assert {"agent_ecology.llm.calls.LLMCaller", "agent_ecology.moa.hf.causal_lm"} <= names
    assert not resolves("agent_ecology.llm.caller")  # what llm/errors.py once cited


@pytest.mark.parametrize(("name", "where"), named_modules())
def test_every_module_the_documents_name_exists(name: str, where: str) -> None:
    assert resolves(name), f"{where} names {name}, which does not exist"
