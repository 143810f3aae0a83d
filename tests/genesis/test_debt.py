"""genesis_debt: loans move scrip only when accepted, follow their artifact, never overdraw."""

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
from agent_ecology.ledger import InsufficientScrip, InvalidRequest, Ledger, NotPermitted, ops
from tests.conftest import T0


@pytest.fixture
async def genesis(ledger: Ledger, tmp_path: Path) -> AsyncIterator[Genesis]:
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    built = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await built.install(ledger, authority="world")
    yield built


async def debt(
    genesis: Genesis, ledger: Ledger, clock: ManualClock, actor: str, method: str, **args: Any
) -> dict[str, Any]:
    inv = Invocation(actor, ledger, clock)
    return dict(await genesis.invoke(inv, "genesis_debt", method, args))


def snapshot(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute("SELECT id, scrip FROM principals ORDER BY id").fetchall(),
            conn.execute("SELECT id, owner_id FROM artifacts ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM debts ORDER BY id").fetchall(),
        ]
    finally:
        conn.close()


async def test_a_loan_is_proposed_accepted_repaid(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    made = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="bob",
        principal=50,
        interest_rate=0.1,
        due_in=600,
    )
    assert made["amount_due"] == 55 and made["due_at"] == T0 + 600
    assert await ledger.scrip("alice") == 100  # nothing moves on a proposal
    with pytest.raises(NotPermitted, match="offered to 'bob'"):
        await debt(genesis, ledger, clock, "carol", "accept", debt_id=made["debt_id"])
    accepted = await debt(genesis, ledger, clock, "bob", "accept", debt_id=made["debt_id"])
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (150, 50)
    assert (await ledger.artifact(accepted["artifact_id"])).owner_id == "bob"
    paid = await debt(genesis, ledger, clock, "alice", "repay", debt_id=made["debt_id"], amount=30)
    assert paid == {"debt_id": made["debt_id"], "paid_to": "bob", "left": 25}
    with pytest.raises(InvalidRequest, match="25 left"):
        await debt(genesis, ledger, clock, "alice", "repay", debt_id=made["debt_id"], amount=26)
    await debt(genesis, ledger, clock, "alice", "repay", debt_id=made["debt_id"], amount=25)
    (state,) = (await debt(genesis, ledger, clock, "bob", "check"))["debts"]
    assert state["status"] == "repaid" and state["repaid"] == 55
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (95, 105)
    assert (await ledger.supply()).is_conserved


async def test_the_debt_follows_its_artifact_and_collection_never_overdraws(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    made = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="bob",
        principal=80,
        interest_rate=0.5,
        due_in=100,
    )
    await debt(genesis, ledger, clock, "bob", "accept", debt_id=made["debt_id"])
    await debt(genesis, ledger, clock, "bob", "transfer", debt_id=made["debt_id"], to="carol")
    await ledger.submit(
        ops.Transfer(src="alice", dst="bob", amount=170)
    )  # alice spends it all elsewhere: 10 left
    with pytest.raises(InvalidRequest, match="collect after that"):
        await debt(genesis, ledger, clock, "carol", "collect", debt_id=made["debt_id"])
    clock.advance(100)
    with pytest.raises(NotPermitted, match="creditor \\('carol'\\)"):
        await debt(genesis, ledger, clock, "bob", "collect", debt_id=made["debt_id"])
    got = await debt(genesis, ledger, clock, "carol", "collect", debt_id=made["debt_id"])
    assert got == {"debt_id": made["debt_id"], "collected": 10, "defaulted": 110}
    assert await ledger.scrip("alice") == 0 and await ledger.scrip("carol") == 110
    (state,) = (await debt(genesis, ledger, clock, "carol", "check", debt_id=1))["debts"]
    assert state["status"] == "defaulted" and state["defaulted"] == 110
    assert (await ledger.supply()).is_conserved


async def test_a_creditor_forgives_and_a_borrower_withdraws(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    one = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="bob",
        principal=10,
        interest_rate=0,
        due_in=60,
    )
    await debt(genesis, ledger, clock, "bob", "accept", debt_id=one["debt_id"])
    with pytest.raises(NotPermitted):
        await debt(genesis, ledger, clock, "alice", "forgive", debt_id=one["debt_id"])
    assert (await debt(genesis, ledger, clock, "bob", "forgive", debt_id=one["debt_id"]))[
        "forgiven"
    ] == 10
    two = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="carol",
        principal=10,
        interest_rate=0,
        due_in=60,
    )
    await debt(genesis, ledger, clock, "alice", "forgive", debt_id=two["debt_id"])
    with pytest.raises(InvalidRequest, match="withdrawn"):
        await debt(genesis, ledger, clock, "carol", "accept", debt_id=two["debt_id"])


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        (
            {"creditor_id": "alice", "principal": 5, "interest_rate": 0, "due_in": 9},
            InvalidRequest,
            "lend to yourself",
        ),
        (
            {"creditor_id": "bob", "principal": 5, "interest_rate": 0, "due_at": 1.0},
            InvalidRequest,
            "not in the future",
        ),
        (
            {"creditor_id": "bob", "principal": 5, "interest_rate": 0},
            InvocationError,
            "exactly one of due_at",
        ),
        (
            {"creditor_id": "bob", "principal": 5, "interest_rate": 11, "due_in": 9},
            InvocationError,
            "interest_rate",
        ),
    ],
)
async def test_bad_proposals_are_refused_and_change_nothing(
    genesis: Genesis,
    ledger: Ledger,
    clock: ManualClock,
    db_path: Path,
    args: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    before = snapshot(db_path)
    with pytest.raises(error, match=words):
        await debt(genesis, ledger, clock, "alice", "issue", **args)
    assert snapshot(db_path) == before


async def test_a_lender_without_the_scrip_cannot_accept_and_nothing_moves(
    genesis: Genesis, ledger: Ledger, clock: ManualClock, db_path: Path
) -> None:
    made = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="bob",
        principal=500,
        interest_rate=0,
        due_in=60,
    )
    before = snapshot(db_path)
    with pytest.raises(InsufficientScrip):
        await debt(genesis, ledger, clock, "bob", "accept", debt_id=made["debt_id"])
    assert snapshot(db_path) == before


async def test_a_debt_sold_through_escrow_pays_its_buyer(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    made = await debt(
        genesis,
        ledger,
        clock,
        "alice",
        "issue",
        creditor_id="bob",
        principal=40,
        interest_rate=0.25,
        due_in=60,
    )
    accepted = await debt(genesis, ledger, clock, "bob", "accept", debt_id=made["debt_id"])
    inv = Invocation("bob", ledger, clock)
    listed = await genesis.invoke(
        inv, "genesis_escrow", "deposit", {"artifact_id": accepted["artifact_id"], "price": 45}
    )
    # While listed, repayments still go to the seller.
    await debt(genesis, ledger, clock, "alice", "repay", debt_id=made["debt_id"], amount=10)
    await genesis.invoke(
        Invocation("carol", ledger, clock),
        "genesis_escrow",
        "purchase",
        {"listing_id": listed["listing_id"]},
    )
    paid = await debt(genesis, ledger, clock, "alice", "repay", debt_id=made["debt_id"], amount=40)
    assert paid["paid_to"] == "carol" and paid["left"] == 0
    assert (await ledger.scrip("bob"), await ledger.scrip("carol")) == (100 - 40 + 10 + 45, 95)
    # Settled: its artifact may go now (an active debt's may not, see the refusal tests).
    await ledger.submit(ops.DeleteArtifact(actor="carol", artifact_id=accepted["artifact_id"]))
