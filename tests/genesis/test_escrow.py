"""genesis_escrow: trades are all or nothing, and of two buyers exactly one gets the artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.genesis import Genesis
from agent_ecology.ledger import (
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    Ledger,
    LedgerError,
    NotPermitted,
    ops,
)
from tests.genesis.conftest import HOLDINGS, Caller
from tests.genesis.conftest import snapshot as rows


@pytest.fixture
async def escrow(genesis: Genesis, ledger: Ledger, clock: ManualClock) -> Caller:
    """genesis_escrow, with alice's 100-byte report to sell."""
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="x" * 100)
    )
    return Caller(genesis, ledger, clock, "genesis_escrow")


def snapshot(path: Path) -> list[Any]:
    return rows(
        path,
        *HOLDINGS,
        "SELECT * FROM escrow_listings ORDER BY id",
        "SELECT * FROM stock_holdings ORDER BY 1, 2",
        "SELECT count(*) FROM events",
    )


async def test_a_listed_artifact_is_held_and_sold_in_one_step(
    escrow: Caller, ledger: Ledger
) -> None:
    listed = await escrow("alice", "deposit", artifact_id="alice/report", price=30)
    assert (await ledger.artifact("alice/report")).owner_id == "genesis_escrow"
    for attempt in (
        ledger.submit(
            ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="changed")
        ),
        ledger.submit(ops.DeleteArtifact(actor="alice", artifact_id="alice/report")),
    ):
        with pytest.raises(NotPermitted, match="listed for sale"):
            await attempt
    with pytest.raises(InvalidRequest, match="listed already"):
        await escrow("alice", "deposit", artifact_id="alice/report", price=5)
    assert (await ledger.stock("alice", "disk")).used == 100  # still on the seller's disk

    sold = await escrow("bob", "purchase", listing_id=listed["listing_id"])
    assert sold == {"listing_id": listed["listing_id"], "artifact_id": "alice/report", "price": 30}
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (130, 70)
    assert (await ledger.artifact("alice/report")).owner_id == "bob"
    assert (await ledger.stock("alice", "disk")).used == 0
    assert (await ledger.stock("bob", "disk")).used == 100
    assert (await ledger.supply()).is_conserved


@pytest.mark.parametrize(
    ("setup", "buyer", "error", "words"),
    [
        ({"price": 101}, "bob", InsufficientScrip, "needs 101 scrip"),
        ({"price": 5, "buyer_id": "carol"}, "bob", NotPermitted, "reserved for 'carol'"),
        ({"price": 5}, "alice", InvalidRequest, "is your own"),
    ],
)
async def test_refused_purchases_move_nothing(
    escrow: Caller,
    db_path: Path,
    setup: dict[str, Any],
    buyer: str,
    error: type[Exception],
    words: str,
) -> None:
    listed = await escrow("alice", "deposit", artifact_id="alice/report", **setup)
    before = snapshot(db_path)
    with pytest.raises(error, match=words):
        await escrow(buyer, "purchase", listing_id=listed["listing_id"])
    assert snapshot(db_path) == before


async def test_a_buyer_without_disk_room_is_refused_and_nothing_moves(
    escrow: Caller, ledger: Ledger, db_path: Path
) -> None:
    await ledger.submit(
        ops.WriteArtifact(actor="bob", artifact_id="bob/big", content="y" * 950)
    )  # 50 bytes left of 1000
    listed = await escrow("alice", "deposit", artifact_id="alice/report", price=5)
    before = snapshot(db_path)
    with pytest.raises(InsufficientResource, match="free disk"):
        await escrow("bob", "purchase", listing_id=listed["listing_id"])
    assert snapshot(db_path) == before


async def test_cancel_returns_the_artifact_to_its_seller_only(
    escrow: Caller, ledger: Ledger
) -> None:
    listed = await escrow("alice", "deposit", artifact_id="alice/report", price=5)
    with pytest.raises(NotPermitted, match="is 'alice'"):
        await escrow("bob", "cancel", listing_id=listed["listing_id"])
    await escrow("alice", "cancel", listing_id=listed["listing_id"])
    assert (await ledger.artifact("alice/report")).owner_id == "alice"
    with pytest.raises(InvalidRequest, match="cancelled already"):
        await escrow("alice", "cancel", listing_id=listed["listing_id"])
    with pytest.raises(InvalidRequest, match="cancelled by its seller"):
        await escrow("bob", "purchase", listing_id=listed["listing_id"])
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="editable again")
    )


async def test_list_shows_what_each_agent_may_buy(escrow: Caller, ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="bob/a", content="a"))
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="bob/b", content="b"))
    await escrow("alice", "deposit", artifact_id="alice/report", price=30)
    await escrow("bob", "deposit", artifact_id="bob/a", price=5)
    await escrow("bob", "deposit", artifact_id="bob/b", price=8, buyer_id="alice")
    carol = await escrow("carol", "list")
    assert [x["artifact_id"] for x in carol["listings"]] == ["alice/report", "bob/a"]
    alice = await escrow("alice", "list", max_price=10)
    assert [x["artifact_id"] for x in alice["listings"]] == ["bob/a", "bob/b"]
    assert alice["listings"][1]["only_for"] == "alice"
    mine = await escrow("bob", "list", mine=True)
    assert [x["artifact_id"] for x in mine["listings"]] == ["bob/a", "bob/b"]
    page = await escrow("carol", "list", limit=1)
    assert page["more"] is True
    rest = await escrow("carol", "list", after=page["next_after"])
    assert [x["artifact_id"] for x in rest["listings"]] == ["bob/a"]


async def test_of_50_racing_buyers_exactly_one_gets_the_listing(
    escrow: Caller, ledger: Ledger
) -> None:
    buyers = [f"buyer{i:02d}" for i in range(50)]
    for b in buyers:
        await ledger.submit(ops.EnsurePrincipal(principal_id=b, stock={"disk": 1000}))
        await ledger.submit(ops.Mint(dst=b, amount=50, authority="world"))
    listed = await escrow("alice", "deposit", artifact_id="alice/report", price=40)
    results: dict[str, str] = {}

    async def buy(b: str) -> None:
        try:
            await escrow(b, "purchase", listing_id=listed["listing_id"])
            results[b] = "won"
        except LedgerError as exc:
            results[b] = str(exc)

    async with anyio.create_task_group() as tg:
        for b in buyers:
            tg.start_soon(buy, b)
    winners = [b for b, r in results.items() if r == "won"]
    assert len(winners) == 1
    winner = winners[0]
    assert all(f"was sold to {winner!r} already" in r for b, r in results.items() if b != winner)
    assert (await ledger.artifact("alice/report")).owner_id == winner
    assert await ledger.scrip(winner) == 10 and await ledger.scrip("alice") == 140
    assert (await ledger.supply()).is_conserved
