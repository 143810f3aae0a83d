"""Public surfaces stay honest: ``__all__`` lists what exists, setuptools ships every package."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
PACKAGES = ["agent_ecology", "agent_ecology.ledger", "agent_ecology.store"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_real_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"


def test_every_package_is_shipped() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = set(pyproject["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "agent_ecology").rglob("__init__.py")
    }
    assert found | {"agent_ecology.migrations"} == shipped


def test_migrations_are_installed_with_the_package() -> None:
    from importlib import resources

    versions = resources.files("agent_ecology.migrations") / "versions"
    assert any(p.name.endswith(".py") for p in versions.iterdir())
