"""Programs on a real ledger: the genesis artifacts installed, a memory pool, the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.agents import Executor, action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis
from agent_ecology.ledger import Ledger, ResourceSpec, ops
from agent_ecology.programs import Programs
from agent_ecology.sandbox import Limits, Sandbox, load
from tests.conftest import AGENTS

MEMORY_LIMIT = 32 << 20  # one instance's memory
DEPTH = 3
HELD = MEMORY_LIMIT * (DEPTH + 1)  # what an invocation holds: an instance per nesting level
MEMORY_QUOTA = 3 * HELD // 2  # room for one invocation at a time, not two
SECONDS_PER_FUEL = 1e-8  # a round rate, so charges are easy to check: 1e8 fuel = 1 s


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return load()


@pytest.fixture
async def genesis(ledger: Ledger, tmp_path: Path) -> Genesis:
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    built = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await built.install(ledger, authority="world")
    await ledger.submit(
        ops.DeclareResource.of(
            ResourceSpec("memory", "stock", "bytes", total=MEMORY_QUOTA * 3, distribution="equal")
        )
    )
    for agent in AGENTS:
        await ledger.submit(ops.EnsurePrincipal(principal_id=agent, stock={"memory": MEMORY_QUOTA}))
        # programs are a few KB: more disk than the ledger tests' 1000 bytes
        await ledger.submit(
            ops.SetQuota(principal=agent, resource="disk", amount=20_000.0, authority="world")
        )
    return built


def limits(**changes: object) -> Limits:
    base = {
        "fuel": 200_000_000,
        "memory_bytes": MEMORY_LIMIT,
        "deadline_s": 5.0,
        "max_depth": DEPTH,
    }
    return Limits(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture
def programs(ledger: Ledger, genesis: Genesis, sandbox: Sandbox, clock: ManualClock) -> Programs:
    return Programs(ledger, sandbox, clock, limits=limits(), seconds_per_fuel=SECONDS_PER_FUEL)


@pytest.fixture
def executor(ledger: Ledger, genesis: Genesis, programs: Programs, clock: ManualClock) -> Executor:
    return Executor(
        ledger, genesis, clock, check_model=lambda model: None, programs=programs,
        fees={"genesis_ledger.transfer": 1},
    )  # fmt: skip
