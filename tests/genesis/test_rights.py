"""genesis_rights_registry: quotas move for good; config rights are given or sold, and only
their holder can change an agent's configuration."""

from __future__ import annotations

from typing import Any

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.genesis import Genesis, Invocation, InvocationError
from agent_ecology.ledger import InvalidRequest, Ledger, NotPermitted, ops

CONFIG: dict[str, object] = {
    "model": "m",
    "system_prompt": "",
    "max_tokens": None,
    "sleep_policy": {},
}


@pytest.fixture
async def genesis(genesis: Genesis, ledger: Ledger) -> Genesis:
    """The installed genesis artifacts (tests/genesis/conftest.py), the agents configured."""
    for agent in ("alice", "bob", "carol"):
        await ledger.submit(ops.EnsureAgent(agent_id=agent, config=CONFIG))
    return genesis


async def call(
    genesis: Genesis, ledger: Ledger, actor: str, artifact: str, method: str, **args: Any
) -> dict[str, Any]:
    inv = Invocation(actor, ledger, ManualClock(0))
    return dict(await genesis.invoke(inv, artifact, method, args))


async def rights(genesis: Genesis, ledger: Ledger, actor: str, method: str, **args: Any) -> Any:
    return await call(genesis, ledger, actor, "genesis_rights_registry", method, **args)


async def test_quotas_are_checked_and_moved_for_good(genesis: Genesis, ledger: Ledger) -> None:
    mine = await rights(genesis, ledger, "alice", "check_quota")
    assert mine["quotas"]["disk"] == {"kind": "stock", "quota": 1000.0, "used": 0.0}
    assert mine["quotas"]["compute"]["rate_per_second"] == 10.0
    await rights(genesis, ledger, "alice", "transfer_quota", to="bob", resource="compute", amount=4)
    await rights(genesis, ledger, "alice", "transfer_quota", to="bob", resource="disk", amount=250)
    bob = await rights(genesis, ledger, "bob", "check_quota")
    assert bob["quotas"]["compute"]["rate_per_second"] == 14.0
    assert bob["quotas"]["disk"]["quota"] == 1250.0
    with pytest.raises(InvocationError, match="holds no quota of 'gold'"):
        await rights(genesis, ledger, "bob", "check_quota", resource="gold")


async def test_a_config_right_can_be_given_and_only_the_holder_changes_the_config(
    genesis: Genesis, ledger: Ledger
) -> None:
    assert (await rights(genesis, ledger, "bob", "config_right", agent_id="alice")) == {
        "agent_id": "alice",
        "holder": "alice",
        "artifact_id": None,
    }
    with pytest.raises(NotPermitted, match="held by 'alice'"):
        await rights(genesis, ledger, "bob", "transfer_config_right", agent_id="alice", to="bob")
    await rights(genesis, ledger, "alice", "transfer_config_right", agent_id="alice", to="bob")
    await ledger.submit(
        ops.UpdateAgentConfig(actor="bob", agent_id="alice", changes={"max_tokens": 5})
    )
    with pytest.raises(NotPermitted):
        await ledger.submit(
            ops.UpdateAgentConfig(actor="alice", agent_id="alice", changes={"max_tokens": 6})
        )


async def test_a_tokenized_right_is_sold_through_escrow_and_follows_its_artifact(
    genesis: Genesis, ledger: Ledger
) -> None:
    made = await rights(genesis, ledger, "alice", "tokenize_config_right")
    token = made["artifact_id"]
    assert token == "rights/config/alice"
    with pytest.raises(InvalidRequest, match="artifact already"):
        await rights(genesis, ledger, "alice", "tokenize_config_right")
    for attempt in (
        ledger.submit(ops.WriteArtifact(actor="alice", artifact_id=token, content="mine forever")),
        ledger.submit(ops.DeleteArtifact(actor="alice", artifact_id=token)),
        ledger.submit(
            ops.WriteArtifact(actor="bob", artifact_id="rights/config/bob2", content="forged")
        ),
    ):
        with pytest.raises(NotPermitted):
            await attempt
    listed = await call(
        genesis, ledger, "alice", "genesis_escrow", "deposit", artifact_id=token, price=25
    )
    # While listed, the seller still holds the right.
    assert (await ledger.agent("alice")).config_holder == "alice"
    await call(
        genesis, ledger, "carol", "genesis_escrow", "purchase", listing_id=listed["listing_id"]
    )
    assert (await ledger.agent("alice")).config_holder == "carol"
    await ledger.submit(
        ops.UpdateAgentConfig(actor="carol", agent_id="alice", changes={"model": "m2"})
    )
    with pytest.raises(NotPermitted, match="held by 'carol'"):
        await ledger.submit(
            ops.UpdateAgentConfig(actor="alice", agent_id="alice", changes={"model": "m3"})
        )
    with pytest.raises(InvalidRequest, match="transfer_ownership"):
        await rights(genesis, ledger, "carol", "transfer_config_right", agent_id="alice", to="bob")
    await call(
        genesis,
        ledger,
        "carol",
        "genesis_ledger",
        "transfer_ownership",
        artifact_id=token,
        to="bob",
    )
    assert (await ledger.agent("alice")).config_holder == "bob"
    assert (await ledger.scrip("alice"), await ledger.scrip("carol")) == (125, 75)
