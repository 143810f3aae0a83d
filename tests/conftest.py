"""Shared fixtures: a real SQLite file per test (migrated once, then copied) and a manual clock."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import Ledger, ResourceSpec, ops
from agent_ecology.store import migrate

T0 = 1_000_000.0
AGENTS = ("alice", "bob", "carol")
DISK_QUOTA = 1000.0
COMPUTE = ResourceSpec("compute", "flow", "cpu_seconds", rate=10.0, capacity=100.0)
DISK = ResourceSpec("disk", "stock", "bytes", total=DISK_QUOTA * len(AGENTS), distribution="equal")
BUDGET = ResourceSpec("llm_budget", "stock", "dollars", total=3.0, distribution="equal")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the head revision; tests copy it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate(path))
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "world.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def populate(ledger: Ledger, scrip: int = 100) -> None:
    """Three agents with scrip, disk, a dollar budget and a compute bucket; a 'world' system."""
    for spec in (DISK, BUDGET, COMPUTE):
        await ledger.submit(ops.DeclareResource.of(spec))
    await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
    for agent in AGENTS:
        await ledger.submit(
            ops.EnsurePrincipal(principal_id=agent, stock={"disk": DISK_QUOTA, "llm_budget": 1.0})
        )
        if scrip:
            await ledger.submit(ops.Mint(dst=agent, amount=scrip, authority="world"))


@pytest.fixture
async def ledger(db_path: Path, clock: ManualClock) -> AsyncIterator[Ledger]:
    led = await Ledger.open(db_path, clock=clock)
    await populate(led)
    try:
        yield led
    finally:
        await led.close()
