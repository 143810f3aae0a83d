"""The naming rule: an agent creates under its own id; reserved prefixes in any case; no scrip
to system principals."""

from __future__ import annotations

import pytest

from agent_ecology.ledger import Ledger, NotPermitted, ops


@pytest.mark.parametrize(
    "artifact_id",
    [
        "bob/x",
        "Alice/x",
        "ALICE/notes",
        "carol/deep/x",
        "GENESIS_ledger",
        "Genesis_new",
        "Rights/config/bob",
        "RIGHTS/CONFIG/alice",
        "Debts/7",
        "bob",
        "BOB",
        "World",
        "genesis-ledger",
        "Genesis.ledger",
    ],
)
async def test_an_agent_cannot_create_under_another_name_or_a_reserved_prefix(
    ledger: Ledger, artifact_id: str
) -> None:
    with pytest.raises(NotPermitted) as caught:
        await ledger.submit(
            ops.WriteArtifact(actor="alice", artifact_id=artifact_id, content="mine")
        )
    message = str(caught.value)
    assert (
        "alice/" in message
        or "reserved" in message
        or "rights and debts" in message
        or ("genesis artifact" in message)
    )
    assert await ledger.artifact_index("alice") == []


@pytest.mark.parametrize("artifact_id", ["alice/notes", "alice/deep/x", "notes", "alice.v2"])
async def test_an_agent_creates_under_its_own_id_or_a_flat_name(
    ledger: Ledger, artifact_id: str
) -> None:
    receipt = await ledger.submit(
        ops.WriteArtifact(actor="alice", artifact_id=artifact_id, content="mine")
    )
    assert receipt.details["created"] is True


async def test_scrip_sent_to_a_system_principal_is_refused_not_stranded(ledger: Ledger) -> None:
    before = (await ledger.principal("alice")).scrip
    with pytest.raises(NotPermitted, match=r"system principal.*stranded"):
        await ledger.submit(ops.Transfer(src="alice", dst="world", amount=5))
    assert (await ledger.principal("alice")).scrip == before
    assert (await ledger.supply()).is_conserved
