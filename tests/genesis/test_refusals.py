"""Every refused market call leaves the database exactly as it was, and says what to do."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis, Invocation, InvocationError
from agent_ecology.ledger import Ledger, LedgerError, ops

TABLES = (
    "principals",
    "artifacts",
    "escrow_listings",
    "oracle_bids",
    "oracle_results",
    "debts",
    "stock_holdings",
    "flow_buckets",
    "agent_state",
    "scrip_supply",
    "events",
)


def snapshot(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()


@pytest.fixture
async def world(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[tuple[Genesis, Ledger, ManualClock]]:
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    genesis = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await genesis.install(ledger, authority="world")
    for agent in ("alice", "bob", "carol"):
        await ledger.submit(ops.EnsureAgent(agent_id=agent, config={"model": "m"}))
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="alice/a", content="alpha beta gamma")
    )
    await ledger.submit(
        ops.WriteArtifact(actor="bob", artifact_id="bob/b", content="delta epsilon")
    )
    inv = Invocation("alice", ledger, clock)
    await genesis.invoke(inv, "genesis_escrow", "deposit", {"artifact_id": "alice/a", "price": 9})
    await genesis.invoke(inv, "genesis_oracle", "bid", {"artifact_id": "bob/b", "amount": 10})
    await genesis.invoke(
        inv,
        "genesis_debt",
        "issue",
        {"creditor_id": "bob", "principal": 5, "interest_rate": 0, "due_in": 60},
    )
    yield genesis, ledger, clock


REFUSALS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("bob", "escrow", "deposit", {"artifact_id": "alice/a", "price": 3}, "listed already"),
    ("bob", "escrow", "deposit", {"artifact_id": "nope", "price": 3}, "unknown artifact"),
    ("bob", "escrow", "deposit", {"artifact_id": "bob/b", "price": 0}, "price"),
    ("alice", "escrow", "purchase", {"listing_id": 1}, "your own"),
    ("bob", "escrow", "purchase", {"listing_id": 99}, "no listing 99"),
    ("bob", "escrow", "cancel", {"listing_id": 1}, "is 'alice'"),
    (
        "bob",
        "rights_registry",
        "transfer_quota",
        {"to": "carol", "resource": "disk", "amount": 5000},
        "needs",
    ),
    (
        "bob",
        "rights_registry",
        "transfer_config_right",
        {"agent_id": "alice", "to": "bob"},
        "held by 'alice'",
    ),
    ("bob", "rights_registry", "tokenize_config_right", {"agent_id": "alice"}, "held by 'alice'"),
    ("bob", "rights_registry", "check_quota", {"resource": "gold"}, "no quota of 'gold'"),
    ("alice", "oracle", "bid", {"artifact_id": "bob/b", "amount": 10}, "is 10 already"),
    ("alice", "oracle", "bid", {"artifact_id": "bob/b", "amount": 500}, "needs 490 scrip"),
    ("alice", "oracle", "bid", {"artifact_id": "nope", "amount": 1}, "unknown artifact"),
    ("bob", "oracle", "withdraw", {"artifact_id": "bob/b"}, "no active bid"),
    ("carol", "debt", "accept", {"debt_id": 1}, "offered to 'bob'"),
    ("alice", "debt", "repay", {"debt_id": 1, "amount": 1}, "proposed; nothing to repay"),
    ("bob", "debt", "collect", {"debt_id": 1}, "proposed; nothing to collect"),
    (
        "bob",
        "debt",
        "issue",
        {"creditor_id": "alice", "principal": 5, "interest_rate": 0},
        "due_at",
    ),
    ("bob", "debt", "check", {"debt_id": 42}, "no debt 42"),
    ("bob", "ledger", "transfer", {"to": "carol", "amount": 1000}, "needs 1000 scrip"),
    (
        "alice",
        "ledger",
        "transfer_ownership",
        {"artifact_id": "alice/a", "to": "bob"},
        "listed for sale",
    ),
]


@pytest.mark.parametrize(
    ("actor", "artifact", "method", "args", "words"),
    REFUSALS,
    ids=[f"{a}.{m}:{w}" for _, a, m, _, w in REFUSALS],
)
async def test_a_refusal_changes_nothing_and_explains(
    world: tuple[Genesis, Ledger, ManualClock],
    db_path: Path,
    actor: str,
    artifact: str,
    method: str,
    args: dict[str, Any],
    words: str,
) -> None:
    genesis, ledger, clock = world
    before = snapshot(db_path)
    with pytest.raises((LedgerError, InvocationError)) as info:
        await genesis.invoke(Invocation(actor, ledger, clock), f"genesis_{artifact}", method, args)
    assert words in str(info.value)
    assert snapshot(db_path) == before


async def test_nothing_can_be_given_to_the_escrow_or_the_oracle_directly(
    world: tuple[Genesis, Ledger, ManualClock], db_path: Path
) -> None:
    genesis, ledger, clock = world
    before = snapshot(db_path)
    for who, artifact, method, args in (
        ("bob", "ledger", "transfer_ownership", {"artifact_id": "bob/b", "to": "genesis_escrow"}),
        ("bob", "ledger", "transfer", {"to": "genesis_oracle", "amount": 7}),
        ("bob", "ledger", "transfer", {"to": "genesis_escrow", "amount": 7}),
        (
            "bob",
            "rights_registry",
            "transfer_config_right",
            {"agent_id": "bob", "to": "genesis_escrow"},
        ),
        (
            "bob",
            "debt",
            "issue",
            {"creditor_id": "alice", "principal": 2**62, "interest_rate": 10, "due_in": 9},
        ),
    ):
        with pytest.raises((LedgerError, InvocationError)):
            await genesis.invoke(
                Invocation(who, ledger, clock), f"genesis_{artifact}", method, args
            )
    assert snapshot(db_path) == before


async def test_a_listed_debt_that_was_settled_cannot_be_sold(
    world: tuple[Genesis, Ledger, ManualClock],
) -> None:
    genesis, ledger, clock = world
    bob = Invocation("bob", ledger, clock)
    accepted = await genesis.invoke(bob, "genesis_debt", "accept", {"debt_id": 1})
    await genesis.invoke(
        bob, "genesis_escrow", "deposit", {"artifact_id": accepted["artifact_id"], "price": 3}
    )
    await genesis.invoke(bob, "genesis_debt", "forgive", {"debt_id": 1})
    with pytest.raises(LedgerError, match="nothing left to collect"):
        await genesis.invoke(
            Invocation("carol", ledger, clock), "genesis_escrow", "purchase", {"listing_id": 2}
        )
