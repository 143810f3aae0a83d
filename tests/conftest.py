"""Shared fixtures: a real SQLite file per test (migrated once, then copied) and a manual clock."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import yaml
from anyio import wait_all_tasks_blocked

from agent_ecology.clock import ManualClock, SystemClock
from agent_ecology.ledger import Ledger, ResourceSpec, ops
from agent_ecology.llm import (
    Completion,
    CompletionRequest,
    ScriptedProvider,
    Usage,
    ZeroIntelligencePolicy,
)
from agent_ecology.store import migrate
from tests.agents.world import running_world, world_settings

REPO = Path(__file__).resolve().parents[1]
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


# --- the databases of real (small) runs, for the report, the dashboard and Datasette ---


@pytest.fixture(scope="session")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world with something of every kind for the report to show: baseline agents trading
    through every market artifact and the exchange, billed for their tokens (so dollars, tokens
    and the cache have data), robonomics ticking; 90 simulated seconds, a metrics window every
    5. The repository's genesis (its five agents, each waking every second, and its tasks)."""
    tmp = tmp_path_factory.mktemp("full")
    policy = ZeroIntelligencePolicy(seed=11)

    def answer(request: CompletionRequest) -> Completion:
        # The baseline's choice, billed as a model's reply: 400 prompt tokens (300 cached), or
        # fewer for a short prompt (the oracle's judge): never more than was reserved, or the
        # model would be stopped for the run as overbilled.
        text = json.dumps(policy.choose(request.observation))
        prompt = min(400, sum(len(m.content.encode()) for m in request.messages))
        usage = Usage(prompt, min(100, request.max_tokens or 100), cached_tokens=prompt * 3 // 4)
        return Completion(text, usage, request.model)

    robonomics = yaml.safe_load((REPO / "config.yaml").read_text())["robonomics"]
    robonomics["enabled"] = True
    settings = world_settings(
        tmp,
        world={"database": str(tmp / "world.db"), "genesis": str(REPO / "genesis")},
        agents=[
            {"id": a, "sleep_policy": {"between_turns": 1}}
            for a in ("alice", "bob", "carol", "dave", "erin")
        ],
        oracle={"interval": 20, "mint_per_point": 5},
        run={"grace": 0.5, "metrics_interval": 5},
        robonomics=robonomics,
        llm={
            "provider": "openai",
            "model": "m",
            "max_api_cost": 1.0,
            "prices": {"m": {"input": 1, "output": 1, "max_output_tokens": 1000}},
        },
        resources={
            "stock": {"disk": {"total": 300_000, "unit": "bytes"}},
            "flow": {
                "compute": {"rate": 10, "capacity": 100, "unit": "cpu_seconds"},
                # small enough that the agents' token spending goes into debt now and then
                "llm_rate": {"rate": 300, "capacity": 1500, "unit": "tokens"},
            },
        },
    )

    async def scenario() -> None:
        async with running_world(settings, ScriptedProvider(default=answer), billed=True) as world:
            for _ in range(90):
                world.clock.advance(1.0)
                for _ in range(3):
                    await wait_all_tasks_blocked()
                    await world.ledger.api_budget()

    anyio.run(scenario)
    return tmp / "world.db"


@pytest.fixture(scope="session")
def billed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Agents answering noop through a billed provider until the dollar limit is spent."""
    tmp = tmp_path_factory.mktemp("billed")

    def answer(request: CompletionRequest) -> Completion:
        return Completion('{"action": "noop"}', Usage(400, 100, cached_tokens=300), request.model)

    async def scenario() -> None:
        settings = world_settings(
            tmp,
            llm={
                "provider": "openai",
                "model": "m",
                "max_api_cost": 0.05,
                "prices": {"m": {"input": 10, "output": 10, "max_output_tokens": 1000}},
            },
            resources={"stock": {"disk": {"total": 3000, "unit": "bytes"}}},
        )
        provider = ScriptedProvider(default=answer)
        async with running_world(settings, provider, billed=True, clock=SystemClock()) as world:
            with anyio.fail_after(20):
                await world.runtime.stop_event.wait()

    anyio.run(scenario)
    return tmp / "world.db"
