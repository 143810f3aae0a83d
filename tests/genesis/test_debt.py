"""genesis_debt: loans move scrip only when accepted, follow their artifact, never overdraw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.genesis import Genesis, InvocationError
from agent_ecology.ledger import InsufficientScrip, InvalidRequest, Ledger, NotPermitted, ops
from tests.conftest import T0
from tests.genesis.conftest import HOLDINGS, Caller
from tests.genesis.conftest import snapshot as rows


@pytest.fixture
def debt(genesis: Genesis, ledger: Ledger, clock: ManualClock) -> Caller:
    return Caller(genesis, ledger, clock, "genesis_debt")


@pytest.fixture
def escrow(genesis: Genesis, ledger: Ledger, clock: ManualClock) -> Caller:
    return Caller(genesis, ledger, clock, "genesis_escrow")


def snapshot(path: Path) -> list[Any]:
    return rows(path, *HOLDINGS, "SELECT * FROM debts ORDER BY id")


async def test_a_loan_is_proposed_accepted_repaid(debt: Caller, ledger: Ledger) -> None:
    made = await debt(
        "alice", "issue", creditor_id="bob", principal=50, interest_rate=0.1, due_in=600
    )
    assert made["amount_due"] == 55 and made["due_at"] == T0 + 600
    assert await ledger.scrip("alice") == 100  # nothing moves on a proposal
    with pytest.raises(NotPermitted, match="offered to 'bob'"):
        await debt("carol", "accept", debt_id=made["debt_id"])
    accepted = await debt("bob", "accept", debt_id=made["debt_id"])
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (150, 50)
    assert (await ledger.artifact(accepted["artifact_id"])).owner_id == "bob"
    paid = await debt("alice", "repay", debt_id=made["debt_id"], amount=30)
    assert paid == {"debt_id": made["debt_id"], "paid_to": "bob", "left": 25}
    with pytest.raises(InvalidRequest, match="25 left"):
        await debt("alice", "repay", debt_id=made["debt_id"], amount=26)
    await debt("alice", "repay", debt_id=made["debt_id"], amount=25)
    (state,) = (await debt("bob", "check"))["debts"]
    assert state["status"] == "repaid" and state["repaid"] == 55
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (95, 105)
    assert (await ledger.supply()).is_conserved


async def test_the_debt_follows_its_artifact_and_collection_never_overdraws(
    debt: Caller, ledger: Ledger, clock: ManualClock
) -> None:
    made = await debt(
        "alice", "issue", creditor_id="bob", principal=80, interest_rate=0.5, due_in=100
    )
    await debt("bob", "accept", debt_id=made["debt_id"])
    await debt("bob", "transfer", debt_id=made["debt_id"], to="carol")
    await ledger.submit(
        ops.Transfer(src="alice", dst="bob", amount=170)
    )  # alice spends it all elsewhere: 10 left
    with pytest.raises(InvalidRequest, match="collect after that"):
        await debt("carol", "collect", debt_id=made["debt_id"])
    clock.advance(100)
    with pytest.raises(NotPermitted, match="creditor \\('carol'\\)"):
        await debt("bob", "collect", debt_id=made["debt_id"])
    got = await debt("carol", "collect", debt_id=made["debt_id"])
    assert got == {"debt_id": made["debt_id"], "collected": 10, "defaulted": 110}
    assert await ledger.scrip("alice") == 0 and await ledger.scrip("carol") == 110
    (state,) = (await debt("carol", "check", debt_id=1))["debts"]
    assert state["status"] == "defaulted" and state["defaulted"] == 110
    assert (await ledger.supply()).is_conserved


async def test_a_creditor_forgives_and_a_borrower_withdraws(debt: Caller) -> None:
    one = await debt("alice", "issue", creditor_id="bob", principal=10, interest_rate=0, due_in=60)
    await debt("bob", "accept", debt_id=one["debt_id"])
    with pytest.raises(NotPermitted):
        await debt("alice", "forgive", debt_id=one["debt_id"])
    assert (await debt("bob", "forgive", debt_id=one["debt_id"]))["forgiven"] == 10
    two = await debt(
        "alice", "issue", creditor_id="carol", principal=10, interest_rate=0, due_in=60
    )
    await debt("alice", "forgive", debt_id=two["debt_id"])
    with pytest.raises(InvalidRequest, match="withdrawn"):
        await debt("carol", "accept", debt_id=two["debt_id"])


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
    debt: Caller,
    db_path: Path,
    args: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    before = snapshot(db_path)
    with pytest.raises(error, match=words):
        await debt("alice", "issue", **args)
    assert snapshot(db_path) == before


async def test_a_lender_without_the_scrip_cannot_accept_and_nothing_moves(
    debt: Caller, db_path: Path
) -> None:
    made = await debt(
        "alice", "issue", creditor_id="bob", principal=500, interest_rate=0, due_in=60
    )
    before = snapshot(db_path)
    with pytest.raises(InsufficientScrip):
        await debt("bob", "accept", debt_id=made["debt_id"])
    assert snapshot(db_path) == before


async def test_a_debt_sold_through_escrow_pays_its_buyer(
    debt: Caller, escrow: Caller, ledger: Ledger
) -> None:
    made = await debt(
        "alice", "issue", creditor_id="bob", principal=40, interest_rate=0.25, due_in=60
    )
    accepted = await debt("bob", "accept", debt_id=made["debt_id"])
    listed = await escrow("bob", "deposit", artifact_id=accepted["artifact_id"], price=45)
    # While listed, repayments still go to the seller.
    await debt("alice", "repay", debt_id=made["debt_id"], amount=10)
    await escrow("carol", "purchase", listing_id=listed["listing_id"])
    paid = await debt("alice", "repay", debt_id=made["debt_id"], amount=40)
    assert paid["paid_to"] == "carol" and paid["left"] == 0
    assert (await ledger.scrip("bob"), await ledger.scrip("carol")) == (100 - 40 + 10 + 45, 95)
    # Settled: its artifact may go now (an active debt's may not, see the refusal tests).
    await ledger.submit(ops.DeleteArtifact(actor="carol", artifact_id=accepted["artifact_id"]))
