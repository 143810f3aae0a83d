from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import (
    CapacityExceeded,
    IdempotencyConflict,
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    Ledger,
    LedgerClosed,
    LedgerUnavailable,
    NotPermitted,
    PrincipalConflict,
    UnknownArtifact,
    UnknownPrincipal,
    UnknownResource,
    ops,
)

# --- scrip ---------------------------------------------------------------------------------


async def test_transfer_moves_scrip_and_logs_one_event(ledger: Ledger) -> None:
    before = (await ledger.events(newest_first=True, limit=1))[0].seq
    receipt = await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=30))
    assert receipt.details == {"src_scrip": 70, "dst_scrip": 130}
    assert await ledger.scrip("alice") == 70
    assert await ledger.scrip("bob") == 130
    events = await ledger.events(after=before)
    assert [(e.kind, e.principal_id, e.counterparty_id, e.amount) for e in events] == [
        ("transfer", "alice", "bob", 30)
    ]
    assert events[0].seq == receipt.seq


async def test_overdraft_is_refused_and_leaves_nothing(ledger: Ledger) -> None:
    before = await ledger.events()
    with pytest.raises(InsufficientScrip) as info:
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=101))
    assert (info.value.needed, info.value.available) == (101, 100)
    assert "has 100" in str(info.value)
    assert await ledger.scrip("alice") == 100
    assert await ledger.events() == before


@pytest.mark.parametrize("amount", [0, -5, 1.5, 2.0, "3", True, None, 2**63])
async def test_bad_scrip_amounts_are_refused(ledger: Ledger, amount: object) -> None:
    with pytest.raises(InvalidRequest, match=r"scrip amount|whole numbers"):
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=amount))  # type: ignore[arg-type]


async def test_unknown_principals_are_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownPrincipal, match="'zed'"):
        await ledger.submit(ops.Transfer(src="alice", dst="zed", amount=1))
    with pytest.raises(UnknownPrincipal, match="'zed'"):
        await ledger.submit(ops.Transfer(src="zed", dst="alice", amount=1))
    assert await ledger.scrip("alice") == 100  # the debit before the failed credit was undone
    with pytest.raises(InvalidRequest, match="principal id"):
        await ledger.submit(ops.Transfer(src="alice", dst="bad id!", amount=1))
    with pytest.raises(InvalidRequest, match="itself"):
        await ledger.submit(ops.Transfer(src="alice", dst="alice", amount=1))


async def test_only_system_principals_mint_and_burn(ledger: Ledger) -> None:
    with pytest.raises(NotPermitted, match="only system principals may mint"):
        await ledger.submit(ops.Mint(dst="alice", amount=10, authority="bob"))
    await ledger.submit(ops.Burn(src="alice", amount=40, authority="world"))
    with pytest.raises(InsufficientScrip):
        await ledger.submit(ops.Burn(src="alice", amount=61, authority="world"))
    supply = await ledger.supply()
    assert (supply.minted, supply.burned, supply.circulating) == (300, 40, 260)
    assert supply.is_conserved


async def test_the_schema_itself_refuses_negative_scrip(ledger: Ledger) -> None:
    conn = sqlite3.connect(ledger.path)
    with pytest.raises(sqlite3.IntegrityError, match=r"scrip_never_negative|CHECK"):
        conn.execute("UPDATE principals SET scrip = -1 WHERE id = 'alice'")
    conn.close()


async def test_events_are_append_only_in_the_schema(ledger: Ledger) -> None:
    conn = sqlite3.connect(ledger.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET amount = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()


async def test_reads_cannot_write(ledger: Ledger) -> None:
    def sneaky(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE principals SET scrip = 0")

    with pytest.raises(LedgerUnavailable, match="readonly"):
        await ledger.read(sneaky)
    assert await ledger.scrip("alice") == 100


# --- idempotency ---------------------------------------------------------------------------


async def test_a_retried_operation_applies_once(ledger: Ledger) -> None:
    pay = ops.Transfer(src="alice", dst="bob", amount=10, op_id="pay-1")
    first = await ledger.submit(pay)
    again = await ledger.submit(pay)
    assert not first.replayed and again.replayed
    assert (again.seq, dict(again.details)) == (first.seq, dict(first.details))
    assert await ledger.scrip("alice") == 90
    assert len(await ledger.events(kind="transfer")) == 1


async def test_a_reused_operation_id_with_other_arguments_is_refused(ledger: Ledger) -> None:
    await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=10, op_id="pay-1"))
    with pytest.raises(IdempotencyConflict, match="pay-1"):
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=11, op_id="pay-1"))
    with pytest.raises(IdempotencyConflict):
        await ledger.submit(ops.Mint(dst="alice", amount=10, authority="world", op_id="pay-1"))
    assert await ledger.scrip("alice") == 90


async def test_a_failed_operation_does_not_burn_its_id(ledger: Ledger) -> None:
    big = ops.Transfer(src="alice", dst="bob", amount=500, op_id="big")
    with pytest.raises(InsufficientScrip):
        await ledger.submit(big)
    await ledger.submit(ops.Mint(dst="alice", amount=400, authority="world"))
    receipt = await ledger.submit(big)
    assert not receipt.replayed
    assert await ledger.scrip("alice") == 0


async def test_op_ids_survive_reopening(db_path: Path, clock: ManualClock, ledger: Ledger) -> None:
    pay = ops.Transfer(src="alice", dst="bob", amount=5, op_id="durable")
    await ledger.submit(pay)
    await ledger.close()
    async with await Ledger.open(db_path, clock=clock) as reopened:
        assert (await reopened.submit(pay)).replayed
        assert await reopened.scrip("alice") == 95


# --- principals ----------------------------------------------------------------------------


async def test_ensure_principal_is_idempotent(ledger: Ledger) -> None:
    receipt = await ledger.submit(ops.EnsurePrincipal(principal_id="alice"))
    assert receipt.details == {"created": False, "holdings_added": []}
    assert receipt.seq is None
    with pytest.raises(PrincipalConflict, match="agent"):
        await ledger.submit(ops.EnsurePrincipal(principal_id="alice", principal_kind="system"))


async def test_a_new_resource_reaches_existing_agents(ledger: Ledger) -> None:
    from agent_ecology.ledger import ResourceSpec

    await ledger.submit(
        ops.DeclareResource.of(ResourceSpec("bandwidth", "flow", "bytes", rate=1, capacity=5))
    )
    receipt = await ledger.submit(ops.EnsurePrincipal(principal_id="alice"))
    assert receipt.details["holdings_added"] == ["bandwidth"]
    assert await ledger.available("alice", "bandwidth") == 5


# --- resources -----------------------------------------------------------------------------


async def test_flow_spending_may_go_into_debt_and_accrues_out(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.Spend(principal="alice", resource="compute", amount=130))
    assert await ledger.available("alice", "compute") == -30
    assert await ledger.in_debt("alice") == ["compute"]
    clock.advance(2.9)
    assert await ledger.in_debt("alice") == ["compute"]
    clock.advance(0.2)
    assert await ledger.in_debt("alice") == []
    clock.advance(100)
    assert await ledger.available("alice", "compute") == 100  # capped


async def test_stock_spending_stays_within_quota(ledger: Ledger) -> None:
    await ledger.submit(ops.Spend(principal="alice", resource="llm_budget", amount=0.75))
    with pytest.raises(InsufficientResource, match="llm_budget") as info:
        await ledger.submit(ops.Spend(principal="alice", resource="llm_budget", amount=0.5))
    assert info.value.available == pytest.approx(0.25)
    await ledger.submit(ops.Release(principal="alice", resource="llm_budget", amount=0.75))
    assert await ledger.available("alice", "llm_budget") == 1.0
    with pytest.raises(InvalidRequest, match="release at most"):
        await ledger.submit(ops.Release(principal="alice", resource="llm_budget", amount=0.1))
    with pytest.raises(InvalidRequest, match="flow resource"):
        await ledger.submit(ops.Release(principal="alice", resource="compute", amount=1))


@pytest.mark.parametrize("amount", [0, -1, float("nan"), float("inf"), "1", True])
async def test_bad_resource_amounts_are_refused(ledger: Ledger, amount: object) -> None:
    with pytest.raises(InvalidRequest):
        await ledger.submit(ops.Spend(principal="alice", resource="compute", amount=amount))  # type: ignore[arg-type]


async def test_unknown_resources_are_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownResource, match="gpu"):
        await ledger.submit(ops.Spend(principal="alice", resource="gpu", amount=1))
    with pytest.raises(InvalidRequest, match="system principal"):
        await ledger.submit(ops.Spend(principal="world", resource="compute", amount=1))


async def test_a_frozen_agent_can_be_rescued_by_a_transfer(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.Spend(principal="alice", resource="compute", amount=120))
    assert await ledger.in_debt("alice") == ["compute"]
    await ledger.submit(ops.TransferResource(src="bob", dst="alice", resource="compute", amount=25))
    assert await ledger.available("alice", "compute") == 5
    assert await ledger.available("bob", "compute") == 75
    assert await ledger.in_debt("alice") == []


async def test_resource_transfers_respect_balance_and_capacity(ledger: Ledger) -> None:
    with pytest.raises(CapacityExceeded, match="room for 0"):
        await ledger.submit(
            ops.TransferResource(src="bob", dst="alice", resource="compute", amount=1)
        )
    await ledger.submit(ops.Spend(principal="bob", resource="compute", amount=90))
    with pytest.raises(InsufficientResource):
        await ledger.submit(
            ops.TransferResource(src="bob", dst="alice", resource="compute", amount=11)
        )
    with pytest.raises(InvalidRequest, match="transfer_quota"):
        await ledger.submit(ops.TransferResource(src="bob", dst="alice", resource="disk", amount=1))


async def test_quota_transfer_moves_flow_rate(ledger: Ledger, clock: ManualClock) -> None:
    await ledger.submit(ops.Spend(principal="alice", resource="compute", amount=100))
    await ledger.submit(ops.Spend(principal="bob", resource="compute", amount=100))
    clock.advance(1)  # both accrue 10 at the old rate
    receipt = await ledger.submit(
        ops.TransferQuota(src="alice", dst="bob", resource="compute", amount=4)
    )
    assert receipt.details == {"src_quota": 6.0, "dst_quota": 14.0}
    clock.advance(2)
    assert await ledger.available("alice", "compute") == pytest.approx(10 + 2 * 6)
    assert await ledger.available("bob", "compute") == pytest.approx(10 + 2 * 14)
    with pytest.raises(InsufficientResource, match="rate is only 6"):
        await ledger.submit(ops.TransferQuota(src="alice", dst="bob", resource="compute", amount=7))


async def test_quota_transfer_moves_unused_stock_capacity(ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="a", content="x" * 600))
    with pytest.raises(InsufficientResource, match="only unused quota"):
        await ledger.submit(ops.TransferQuota(src="alice", dst="bob", resource="disk", amount=401))
    await ledger.submit(ops.TransferQuota(src="alice", dst="bob", resource="disk", amount=400))
    assert (await ledger.stock("alice", "disk")).quota == 600
    assert (await ledger.stock("bob", "disk")).quota == 1400


async def test_set_quota_is_privileged(ledger: Ledger) -> None:
    with pytest.raises(NotPermitted):
        await ledger.submit(
            ops.SetQuota(principal="alice", resource="disk", amount=5000, authority="alice")
        )
    await ledger.submit(
        ops.SetQuota(principal="alice", resource="disk", amount=5000, authority="world")
    )
    assert (await ledger.stock("alice", "disk")).quota == 5000


# --- artifacts -----------------------------------------------------------------------------


async def test_artifacts_charge_their_owner_disk(ledger: Ledger) -> None:
    await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id="notes", content="héllo")
    )  # 6 bytes in UTF-8
    assert (await ledger.stock("alice", "disk")).used == 6
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="notes", content="hi"))
    assert (await ledger.stock("alice", "disk")).used == 2
    with pytest.raises(InsufficientResource, match="disk"):
        await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="big", content="x" * 999))
    art = await ledger.artifact("notes")
    assert (art.owner_id, art.content, art.size_bytes) == ("alice", "hi", 2)
    await ledger.submit(ops.DeleteArtifact(actor="alice", artifact_id="notes"))
    assert (await ledger.stock("alice", "disk")).used == 0
    with pytest.raises(UnknownArtifact):
        await ledger.artifact("notes")


async def test_only_the_owner_changes_an_artifact(ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="tool", content="v1"))
    for attempt in (
        ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="tool", content="v2")),
        ledger.submit(ops.DeleteArtifact(actor="bob", artifact_id="tool")),
        ledger.submit(ops.TransferArtifact(actor="bob", artifact_id="tool", new_owner="carol")),
    ):
        with pytest.raises(NotPermitted, match="owned by 'alice'"):
            await attempt
    assert (await ledger.artifact("tool")).content == "v1"


async def test_transferring_an_artifact_moves_its_disk_charge(ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="tool", content="x" * 300))
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="filler", content="x" * 800))
    with pytest.raises(InsufficientResource, match="receiver"):
        await ledger.submit(
            ops.TransferArtifact(actor="alice", artifact_id="tool", new_owner="bob")
        )
    await ledger.submit(ops.TransferArtifact(actor="alice", artifact_id="tool", new_owner="carol"))
    assert (await ledger.stock("alice", "disk")).used == 0
    assert (await ledger.stock("carol", "disk")).used == 300
    assert (await ledger.artifact("tool")).owner_id == "carol"


async def test_genesis_ids_are_reserved_for_the_world(ledger: Ledger) -> None:
    with pytest.raises(NotPermitted, match="reserved"):
        await ledger.submit(
            ops.WriteArtifact(actor="alice", artifact_id="genesis_ledger", content="mine now")
        )
    await ledger.submit(
        ops.WriteArtifact(
            actor="world", artifact_id="genesis_handbook", content="how the world works"
        )
    )
    assert (await ledger.artifact("genesis_handbook")).owner_id == "world"


# --- lifecycle -----------------------------------------------------------------------------


async def test_a_closed_ledger_refuses_writes(ledger: Ledger) -> None:
    await ledger.close()
    with pytest.raises(LedgerClosed, match="closed"):
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=1))


async def test_a_locked_database_fails_the_batch_and_a_retry_applies_once(
    db_path: Path, clock: ManualClock
) -> None:

    from ..conftest import populate

    retry = ops.Transfer(src="alice", dst="bob", amount=10, op_id="retry-me")
    async with await Ledger.open(db_path, clock=clock, busy_timeout_ms=50) as ledger:
        await populate(ledger)
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            with pytest.raises(LedgerUnavailable, match="same op_id"):
                await ledger.submit(retry)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await ledger.scrip("alice") == 100
        assert not (await ledger.submit(retry)).replayed
        assert (await ledger.submit(retry)).replayed
        assert await ledger.scrip("alice") == 90


async def test_a_path_that_is_not_a_database_is_explained(tmp_path: Path) -> None:
    from agent_ecology.ledger import LedgerUnavailable

    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("this is not SQLite, and it is long enough to have a header" * 20)
    with pytest.raises(LedgerUnavailable, match="cannot open the world database"):
        await Ledger.open(not_a_db)


# --- regressions found in review ------------------------------------------------------------


async def test_disk_is_moved_only_by_artifacts(ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="doc", content="x" * 100))
    with pytest.raises(InvalidRequest, match="accounted by artifact sizes"):
        await ledger.submit(ops.Release(principal="alice", resource="disk", amount=100))
    with pytest.raises(InvalidRequest, match="accounted by artifact sizes"):
        await ledger.submit(ops.Spend(principal="alice", resource="disk", amount=1))
    assert (await ledger.stock("alice", "disk")).used == 100


async def test_disk_declared_late_counts_the_artifacts_already_owned(
    db_path: Path, clock: ManualClock
) -> None:
    from agent_ecology.ledger import ResourceSpec

    async with await Ledger.open(db_path, clock=clock) as ledger:
        await ledger.submit(ops.EnsurePrincipal(principal_id="ann"))
        await ledger.submit(ops.WriteArtifact(actor="ann", artifact_id="old", content="x" * 300))
        await ledger.submit(
            ops.DeclareResource.of(ResourceSpec("disk", "stock", "bytes", total=200))
        )
        await ledger.submit(ops.EnsurePrincipal(principal_id="ann", stock={"disk": 200}))
        holding = await ledger.stock("ann", "disk")
        assert (holding.used, holding.quota) == (300, 300)
        await ledger.submit(ops.DeleteArtifact(actor="ann", artifact_id="old"))
        assert (await ledger.stock("ann", "disk")).used == 0


async def test_an_exact_fit_is_not_refused_for_float_round_off(ledger: Ledger) -> None:
    await ledger.submit(
        ops.SetQuota(principal="alice", resource="llm_budget", amount=0.3, authority="world")
    )
    await ledger.submit(ops.Spend(principal="alice", resource="llm_budget", amount=0.1))
    await ledger.submit(ops.Spend(principal="alice", resource="llm_budget", amount=0.2))
    assert (await ledger.stock("alice", "llm_budget")).available == pytest.approx(0)


async def test_a_database_refusal_fails_only_its_own_request(ledger: Ledger) -> None:
    import asyncio

    from agent_ecology.ledger import LedgerError

    await ledger.submit(
        ops.Mint(dst="carol", amount=2**63 - 1 - 300, authority="world")
    )  # minted total at max
    results = await asyncio.gather(
        ledger.submit(ops.Transfer(src="alice", dst="bob", amount=5)),
        ledger.submit(
            ops.Mint(dst="bob", amount=2**62, authority="world")
        ),  # the minted total would overflow
        return_exceptions=True,
    )
    assert results[0].details == {"src_scrip": 95, "dst_scrip": 105}  # type: ignore[union-attr]
    assert isinstance(results[1], LedgerError) and "refused by the database" in str(results[1])
    assert (await ledger.supply()).is_conserved


async def test_amounts_replay_whether_int_or_float(ledger: Ledger) -> None:
    first = await ledger.submit(
        ops.Spend(principal="alice", resource="compute", amount=5, op_id="s1")
    )
    again = await ledger.submit(
        ops.Spend(principal="alice", resource="compute", amount=5.0, op_id="s1")
    )
    assert again.replayed and again.seq == first.seq


class _Boom(BaseException):
    pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_callers_are_answered_when_the_writer_thread_dies(ledger: Ledger) -> None:
    import asyncio
    import threading
    from dataclasses import dataclass
    from typing import Any, ClassVar

    from agent_ecology.ledger.ops import Operation, Tx

    entered, release = threading.Event(), threading.Event()

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Hold(Operation[Any]):
        kind: ClassVar[str] = "hold"

        def apply(self, tx: Tx) -> dict[str, Any]:
            entered.set()
            release.wait(10)
            return {}

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Explode(Operation[Any]):
        kind: ClassVar[str] = "explode"

        def apply(self, tx: Tx) -> dict[str, Any]:
            raise _Boom("simulated fatal error in the writer thread")

    # Keep the writer busy so that the transfer and the explosion share the next batch.
    held = asyncio.ensure_future(ledger.submit(Hold()))
    assert await asyncio.to_thread(entered.wait, 10)
    batch = [
        asyncio.ensure_future(ledger.submit(ops.Transfer(src="alice", dst="bob", amount=1))),
        asyncio.ensure_future(ledger.submit(Explode())),
    ]
    await asyncio.sleep(0)  # both are queued now
    release.set()
    assert (await held).kind == "hold"
    results = await asyncio.wait_for(asyncio.gather(*batch, return_exceptions=True), timeout=10)
    assert all(isinstance(r, LedgerClosed) for r in results), results
    with pytest.raises(LedgerClosed):  # and every later call, at once
        await asyncio.wait_for(
            ledger.submit(ops.Transfer(src="alice", dst="bob", amount=1)), timeout=10
        )
    assert await ledger.scrip("alice") == 100  # nothing of the failed batch was committed


async def test_a_turn_view_is_the_separate_reads_in_one(full_db: Path, tmp_path: Path) -> None:
    """On a real run's database (artifacts, listings, programs): what one read returns for a
    turn equals the four reads it replaces, for every agent."""
    import shutil

    copy = tmp_path / "world.db"
    shutil.copy(full_db, copy)
    ledger = await Ledger.open(copy, clock=ManualClock(1e6))
    try:
        agents = [r.agent_id for r in await ledger.agents()]
        assert agents
        seen_artifacts = seen_programs = 0
        for agent in agents:
            view = await ledger.turn_view(agent)
            assert view.account == await ledger.account(agent)
            assert view.own_artifacts == await ledger.artifact_index(agent, limit=20)
            assert view.for_sale == await ledger.listings(open_to=agent, limit=5)
            assert view.programs == await ledger.programs(for_agent=agent, limit=8)
            seen_artifacts += len(view.own_artifacts)
            seen_programs += len(view.programs)
            bare = await ledger.turn_view(agent, with_account=False, programs=0)
            assert bare.account is None and bare.programs == []
            assert bare.own_artifacts == view.own_artifacts
        # The comparisons compared something (open listings at the end vary from run to run).
        assert seen_artifacts and seen_programs
    finally:
        await ledger.close()
