"""Shared by the genesis tests: the installed artifacts, a caller for one, a raw snapshot."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import Clock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis, Invocation
from agent_ecology.ledger import Ledger

HOLDINGS = (
    "SELECT id, scrip FROM principals ORDER BY id",
    "SELECT id, owner_id FROM artifacts ORDER BY id",
)
"""Who holds what: queries for `snapshot` that every market call may change."""


@pytest.fixture
async def genesis(ledger: Ledger, tmp_path: Path) -> Genesis:
    """The genesis artifacts as a three-agent world ships them, installed on `ledger`."""
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    built = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await built.install(ledger, authority="world")
    return built


@dataclass(frozen=True)
class Caller:
    """Calls one genesis artifact's methods as any agent: `await escrow("bob", "purchase", ...)`."""

    genesis: Genesis
    ledger: Ledger
    clock: Clock
    artifact: str

    async def __call__(self, actor: str, method: str, **args: Any) -> dict[str, Any]:
        inv = Invocation(actor, self.ledger, self.clock)
        return dict(await self.genesis.invoke(inv, self.artifact, method, args))


def snapshot(path: Path, *queries: str) -> list[Any]:
    """The rows of each query, read through a connection of its own (not the ledger's)."""
    conn = sqlite3.connect(path)
    try:
        return [conn.execute(query).fetchall() for query in queries]
    finally:
        conn.close()
