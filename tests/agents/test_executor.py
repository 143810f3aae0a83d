"""Actions carried out through the kernel: each result or refusal as the agent will read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_ecology.agents import Executor, action_shapes, parse_action
from agent_ecology.agents.executor import Outcome
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis
from agent_ecology.ledger import Ledger, ops
from agent_ecology.llm.budget import UnpricedModel

CONFIG: dict[str, object] = {
    "model": "m",
    "system_prompt": "",
    "max_tokens": None,
    "sleep_policy": {},
}


def check_model(model: str) -> None:
    if model != "m":
        raise UnpricedModel(model, ["m"])


@pytest.fixture
async def executor(ledger: Ledger, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Executor]:
    for agent in ("alice", "bob", "carol"):
        await ledger.submit(ops.EnsureAgent(agent_id=agent, config=CONFIG))
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    genesis = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await genesis.install(ledger, authority="world")
    yield Executor(ledger, genesis, clock, check_model=check_model, max_notes=2)


async def do(executor: Executor, text: str, actor: str = "alice") -> Outcome:
    return await executor.perform(actor, parse_action(text))


async def test_read_artifact_slices_long_content(executor: Executor, ledger: Ledger) -> None:
    await ledger.submit(
        ops.WriteArtifact(actor="bob", artifact_id="bob/long", content="0123456789" * 10)
    )
    out = await do(executor, '{"action": "read_artifact", "artifact_id": "bob/long", "limit": 30}')
    assert out.ok and out.data["content"] == "0123456789" * 3 and out.data["next_offset"] == 30
    out = await do(executor, '{"action": "read_artifact", "artifact_id": "bob/long", "offset": 90}')
    assert out.data["content"] == "0123456789" and "next_offset" not in out.data


async def test_write_edit_delete_and_the_disk_they_use(executor: Executor, ledger: Ledger) -> None:
    out = await do(
        executor, '{"action": "write_artifact", "artifact_id": "alice/p", "content": "a b a"}'
    )
    assert out.ok and "created alice/p (5 bytes)" in out.message
    out = await do(
        executor, '{"action": "edit_artifact", "artifact_id": "alice/p", "old": "a", "new": "x"}'
    )
    assert not out.ok and out.code == "edit_ambiguous" and "2 times" in out.message
    out = await do(
        executor, '{"action": "edit_artifact", "artifact_id": "alice/p", "old": "z", "new": "x"}'
    )
    assert out.code == "edit_no_match"
    out = await do(
        executor,
        '{"action": "edit_artifact", "artifact_id": "alice/p", "old": "a b", "new": "hello"}',
    )
    assert out.ok and (await ledger.artifact("alice/p")).content == "hello a"
    out = await do(
        executor,
        '{"action": "edit_artifact", "artifact_id": "alice/p", "old": "a", "new": "b"}',
        actor="bob",
    )
    assert out.code == "not_permitted" and "owned by 'alice'" in out.message
    assert (await ledger.stock("alice", "disk")).used == 7
    out = await do(executor, '{"action": "delete_artifact", "artifact_id": "alice/p"}')
    assert out.ok and (await ledger.stock("alice", "disk")).used == 0


async def test_refusals_carry_the_kernels_code_and_advice(executor: Executor) -> None:
    big = "x" * 1001
    out = await do(
        executor, f'{{"action": "write_artifact", "artifact_id": "alice/big", "content": "{big}"}}'
    )
    assert out.code == "insufficient_resource" and "delete or shrink" in out.message
    out = await do(
        executor, '{"action": "write_artifact", "artifact_id": "genesis_mine", "content": "x"}'
    )
    assert out.code == "not_permitted" and "reserved for the world" in out.message
    out = await do(executor, '{"action": "delete_artifact", "artifact_id": "nope"}')
    assert out.code == "unknown_artifact"


async def test_queries_are_answered(executor: Executor, ledger: Ledger) -> None:
    await ledger.submit(ops.WriteArtifact(actor="bob", artifact_id="bob/a", content="hello"))
    out = await do(executor, '{"action": "query", "what": "balances", "principal": "bob"}')
    assert out.data["scrip"] == 100 and "compute" in out.data["flow"]
    out = await do(executor, '{"action": "query", "what": "agents"}')
    assert [a["id"] for a in out.data["agents"]] == ["alice", "bob", "carol"]
    out = await do(executor, '{"action": "query", "what": "artifacts", "owner": "bob"}')
    assert out.data["artifacts"] == [{"id": "bob/a", "owner": "bob", "size_bytes": 5}]
    out = await do(executor, '{"action": "query", "what": "artifact", "artifact_id": "bob/a"}')
    assert out.data["preview"] == "hello"
    out = await do(executor, '{"action": "query", "what": "artifact"}')
    assert not out.ok and "needs an artifact_id" in out.message
    out = await do(executor, '{"action": "query", "what": "events", "kind": "mint"}')
    assert len(out.data["events"]) == 3


async def test_sleep_is_recorded_and_impossible_thresholds_refused(
    executor: Executor, ledger: Ledger, clock: ManualClock
) -> None:
    out = await do(
        executor,
        '{"action": "sleep", "until_balance": {"resource": "gold", "at_least": 1}}',
    )
    assert out.code == "unknown_resource" and "scrip" in out.message
    out = await do(
        executor,
        '{"action": "sleep", "until_balance": {"resource": "compute", "at_least": 101}}',
    )
    assert out.code == "unreachable_threshold" and "capacity 100" in out.message
    out = await do(executor, '{"action": "sleep", "seconds": 30, "until_event": "transfer"}')
    assert out.ok and out.sleep is not None
    record = await ledger.agent("alice")
    assert record.sleep == {
        "since": clock.now(),
        "deadline": clock.now() + 30,
        "event_kinds": ["transfer"],
    }


async def test_notes_keep_the_newest(executor: Executor, ledger: Ledger) -> None:
    for text in ("one", "two", "three"):
        out = await do(executor, f'{{"action": "note", "text": "{text}"}}')
    assert "oldest 1 note(s) were dropped" in out.message
    assert [n.text for n in await ledger.notes("alice")] == ["two", "three"]


async def test_update_config_needs_the_right_and_a_usable_model(
    executor: Executor, ledger: Ledger
) -> None:
    out = await do(executor, '{"action": "update_config", "max_tokens": 64}')
    assert out.ok and (await ledger.agent("alice")).config["max_tokens"] == 64
    out = await do(executor, '{"action": "update_config", "model": "gpt-9"}')
    assert out.code == "unusable_model" and "no price" in out.message
    out = await do(executor, '{"action": "update_config", "agent_id": "bob", "max_tokens": 1}')
    assert out.code == "not_permitted" and "held by 'bob'" in out.message
    await ledger.submit(ops.TransferConfigRight(actor="bob", agent_id="bob", new_holder="alice"))
    out = await do(executor, '{"action": "update_config", "agent_id": "bob", "max_tokens": 1}')
    assert out.ok and (await ledger.agent("bob")).config["max_tokens"] == 1
    out = await do(executor, '{"action": "update_config", "max_tokens": 5}', actor="bob")
    assert out.code == "not_permitted"
