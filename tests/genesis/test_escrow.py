"""genesis_escrow: trades are all or nothing, and of two buyers exactly one gets the artifact."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis, Invocation
from agent_ecology.ledger import (
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    Ledger,
    LedgerError,
    NotPermitted,
    ops,
)


@pytest.fixture
async def genesis(ledger: Ledger, tmp_path: Path) -> AsyncIterator[Genesis]:
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    built = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await built.install(ledger, authority="world")
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="x" * 100)
    )
    yield built


async def call(
    genesis: Genesis, ledger: Ledger, actor: str, method: str, **args: Any
) -> dict[str, Any]:
    inv = Invocation(actor, ledger, ManualClock(0))
    return dict(await genesis.invoke(inv, "genesis_escrow", method, args))


def snapshot(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute("SELECT id, scrip FROM principals ORDER BY id").fetchall(),
            conn.execute("SELECT id, owner_id FROM artifacts ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM escrow_listings ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM stock_holdings ORDER BY 1, 2").fetchall(),
            conn.execute("SELECT count(*) FROM events").fetchall(),
        ]
    finally:
        conn.close()


async def test_a_listed_artifact_is_held_and_sold_in_one_step(
    genesis: Genesis, ledger: Ledger
) -> None:
    listed = await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=30)
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
        await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=5)
    assert (await ledger.stock("alice", "disk")).used == 100  # still on the seller's disk

    sold = await call(genesis, ledger, "bob", "purchase", listing_id=listed["listing_id"])
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
    genesis: Genesis,
    ledger: Ledger,
    db_path: Path,
    setup: dict[str, Any],
    buyer: str,
    error: type[Exception],
    words: str,
) -> None:
    listed = await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", **setup)
    before = snapshot(db_path)
    with pytest.raises(error, match=words):
        await call(genesis, ledger, buyer, "purchase", listing_id=listed["listing_id"])
    assert snapshot(db_path) == before


async def test_a_buyer_without_disk_room_is_refused_and_nothing_moves(
    genesis: Genesis, ledger: Ledger, db_path: Path
) -> None:
    await ledger.submit(
        ops.WriteArtifact(actor="bob", artifact_id="bob/big", content="y" * 950)
    )  # 50 bytes left of 1000
    listed = await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=5)
    before = snapshot(db_path)
    with pytest.raises(InsufficientResource, match="free disk"):
        await call(genesis, ledger, "bob", "purchase", listing_id=listed["listing_id"])
    assert snapshot(db_path) == before


async def test_cancel_returns_the_artifact_to_its_seller_only(
    genesis: Genesis, ledger: Ledger
) -> None:
    listed = await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=5)
    with pytest.raises(NotPermitted, match="is 'alice'"):
        await call(genesis, ledger, "bob", "cancel", listing_id=listed["listing_id"])
    await call(genesis, ledger, "alice", "cancel", listing_id=listed["listing_id"])
    assert (await ledger.artifact("alice/report")).owner_id == "alice"
    with pytest.raises(InvalidRequest, match="cancelled already"):
        await call(genesis, ledger, "alice", "cancel", listing_id=listed["listing_id"])
    with pytest.raises(InvalidRequest, match="cancelled by its seller"):
        await call(genesis, ledger, "bob", "purchase", listing_id=listed["listing_id"])
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="editable again")
    )


async def test_list_shows_what_each_agent_may_buy(genesis: Genesis, ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="bob/a", content="a"))
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="bob/b", content="b"))
    await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=30)
    await call(genesis, ledger, "bob", "deposit", artifact_id="bob/a", price=5)
    await call(genesis, ledger, "bob", "deposit", artifact_id="bob/b", price=8, buyer_id="alice")
    carol = await call(genesis, ledger, "carol", "list")
    assert [x["artifact_id"] for x in carol["listings"]] == ["alice/report", "bob/a"]
    alice = await call(genesis, ledger, "alice", "list", max_price=10)
    assert [x["artifact_id"] for x in alice["listings"]] == ["bob/a", "bob/b"]
    assert alice["listings"][1]["only_for"] == "alice"
    mine = await call(genesis, ledger, "bob", "list", mine=True)
    assert [x["artifact_id"] for x in mine["listings"]] == ["bob/a", "bob/b"]
    page = await call(genesis, ledger, "carol", "list", limit=1)
    assert page["more"] is True
    rest = await call(genesis, ledger, "carol", "list", after=page["next_after"])
    assert [x["artifact_id"] for x in rest["listings"]] == ["bob/a"]


async def test_of_50_racing_buyers_exactly_one_gets_the_listing(
    genesis: Genesis, ledger: Ledger
) -> None:
    buyers = [f"buyer{i:02d}" for i in range(50)]
    for b in buyers:
        await ledger.submit(ops.EnsurePrincipal(principal_id=b, stock={"disk": 1000}))
        await ledger.submit(ops.Mint(dst=b, amount=50, authority="world"))
    listed = await call(genesis, ledger, "alice", "deposit", artifact_id="alice/report", price=40)
    results: dict[str, str] = {}

    async def buy(b: str) -> None:
        try:
            await call(genesis, ledger, b, "purchase", listing_id=listed["listing_id"])
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
