"""Kernel operations for agents and their LLM calls: rights, sleep, notes, turns, the budget."""

from __future__ import annotations

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import (
    NANODOLLARS,
    CallStatus,
    Event,
    InsufficientResource,
    InvalidRequest,
    Ledger,
    NotPermitted,
    ops,
)

CONFIG: dict[str, object] = {
    "model": "m",
    "system_prompt": "",
    "max_tokens": None,
    "sleep_policy": {},
}


async def test_agent_state_is_created_once_and_kept(ledger: Ledger) -> None:
    assert (await ledger.submit(ops.EnsureAgent(agent_id="alice", config=CONFIG))).details[
        "created"
    ] is True
    await ledger.submit(
        ops.UpdateAgentConfig(actor="alice", agent_id="alice", changes={"max_tokens": 9})
    )
    assert (
        await ledger.submit(ops.EnsureAgent(agent_id="alice", config={**CONFIG, "model": "x"}))
    ).details == {"created": False}
    record = await ledger.agent("alice")
    assert record.config["max_tokens"] == 9 and record.config["model"] == "m"
    assert record.config_holder == "alice" and record.config_version == 2
    with pytest.raises(InvalidRequest, match="system principal"):
        await ledger.submit(ops.EnsureAgent(agent_id="world", config=CONFIG))


async def test_only_the_holder_changes_a_config_and_the_right_can_move(ledger: Ledger) -> None:
    await ledger.submit(ops.EnsureAgent(agent_id="alice", config=CONFIG))
    with pytest.raises(NotPermitted, match="held by 'alice'"):
        await ledger.submit(
            ops.UpdateAgentConfig(actor="bob", agent_id="alice", changes={"max_tokens": 1})
        )
    await ledger.submit(ops.TransferConfigRight(actor="alice", agent_id="alice", new_holder="bob"))
    await ledger.submit(
        ops.UpdateAgentConfig(actor="bob", agent_id="alice", changes={"max_tokens": 1})
    )
    with pytest.raises(NotPermitted):
        await ledger.submit(
            ops.UpdateAgentConfig(actor="alice", agent_id="alice", changes={"max_tokens": 2})
        )
    with pytest.raises(InvalidRequest, match="unknown key"):
        await ledger.submit(
            ops.UpdateAgentConfig(actor="bob", agent_id="alice", changes={"scrip": 10**6})
        )
    assert (await ledger.agent("alice")).config["max_tokens"] == 1


async def test_notes_keep_the_newest_and_sleep_is_recorded(ledger: Ledger) -> None:
    await ledger.submit(ops.EnsureAgent(agent_id="alice", config=CONFIG))
    for i in range(5):
        await ledger.submit(ops.AddNote(agent_id="alice", text=f"n{i}", keep=3))
    assert [n.text for n in await ledger.notes("alice")] == ["n2", "n3", "n4"]
    await ledger.submit(ops.SetSleep(agent_id="alice", sleep={"deadline": 5.0}))
    assert (await ledger.agent("alice")).sleep == {"deadline": 5.0}
    await ledger.submit(ops.SetSleep(agent_id="alice", sleep=None, reason="time"))
    assert (await ledger.agent("alice")).sleep is None
    with pytest.raises(InvalidRequest, match="at most 2000"):
        await ledger.submit(ops.AddNote(agent_id="alice", text="x" * 2001))


async def test_a_turn_charges_flows_into_debt_and_records_the_result(
    ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.EnsureAgent(agent_id="alice", config=CONFIG))
    await ledger.submit(
        ops.EndTurn(
            agent_id="alice",
            turn=1,
            action="noop",
            ok=True,
            result='{"ok": true}',
            charges=(("compute", 130.0),),
        )
    )
    assert (await ledger.bucket("alice", "compute")).available(clock.now()) == pytest.approx(-30)
    record = await ledger.agent("alice")
    assert record.turns == 1 and record.last_result == {"ok": True}
    with pytest.raises(InvalidRequest, match="flow resources"):
        await ledger.submit(
            ops.EndTurn(agent_id="alice", turn=2, action="noop", ok=True, charges=(("disk", 1),))
        )


async def test_open_reservations_are_charged_in_full_when_abandoned(ledger: Ledger) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    with pytest.raises(NotPermitted):
        await ledger.submit(ops.SetApiLimit(limit_nd=10, authority="alice"))
    await ledger.submit(
        ops.ReserveCall(call_id="c1", agent_id="alice", model="m", attempt=1, reserve_nd=5000)
    )
    receipt = await ledger.submit(ops.AbandonCalls(authority="world"))
    assert receipt.details == {"calls": 1, "charged_nd": 5000}
    budget = await ledger.api_budget()
    assert (budget.spent_nd, budget.reserved_nd) == (5000, 0)
    (call,) = await ledger.llm_calls()
    assert (call.status, call.cost_nd) == ("abandoned", 5000)
    assert (await ledger.stock("alice", "llm_budget")).used == pytest.approx(5000 / NANODOLLARS)
    with pytest.raises(InvalidRequest, match="abandoned already"):
        await ledger.submit(ops.SettleCall(call_id="c1", status=CallStatus.SETTLED, cost_nd=1))


async def test_the_agents_share_is_checked_before_the_worlds(ledger: Ledger) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=10 * NANODOLLARS, authority="world"))
    with pytest.raises(InsufficientResource, match="llm_budget"):
        await ledger.submit(
            ops.ReserveCall(
                call_id="big", agent_id="alice", model="m", attempt=1, reserve_nd=2 * NANODOLLARS
            )
        )
    assert (await ledger.api_budget()).reserved_nd == 0


async def test_subscribers_see_each_committed_event_once_in_order(ledger: Ledger) -> None:
    seen: list[Event] = []
    ledger.subscribe(seen.extend)
    await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=1))
    await ledger.submit(ops.Transfer(src="bob", dst="carol", amount=2))
    with pytest.raises(Exception, match="needs 1000"):
        await ledger.submit(
            ops.Transfer(src="carol", dst="alice", amount=1000)
        )  # refused: no event
    ledger.unsubscribe(seen.extend)
    await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=1))
    assert [(e.kind, e.principal_id, e.amount) for e in seen] == [
        ("transfer", "alice", 1),
        ("transfer", "bob", 2),
    ]
    assert seen[0].seq < seen[1].seq


async def test_abandoning_can_be_limited_to_some_agents_or_all_but_some(ledger: Ledger) -> None:
    """A shard closes only its own agents' open calls; the leader only the world's own."""
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    for call, agent in (("a1", "alice"), ("b1", "bob"), ("c1", "carol")):
        await ledger.submit(
            ops.ReserveCall(call_id=call, agent_id=agent, model="m", attempt=1, reserve_nd=100)
        )
    mine = await ledger.submit(ops.AbandonCalls(authority="world", agents=("alice",)))
    assert mine.details == {"calls": 1, "charged_nd": 100}
    others = await ledger.submit(
        ops.AbandonCalls(authority="world", except_agents=("alice", "bob", "carol"))
    )
    assert others.details == {"calls": 0, "charged_nd": 0}
    none = await ledger.submit(ops.AbandonCalls(authority="world", agents=()))
    assert none.details["calls"] == 0
    status = {c.call_id: c.status for c in await ledger.llm_calls()}
    assert status == {"a1": "abandoned", "b1": "reserved", "c1": "reserved"}
    budget = await ledger.api_budget()
    assert (budget.spent_nd, budget.reserved_nd) == (100, 200)
    rest = await ledger.submit(ops.AbandonCalls(authority="world", except_agents=("bob",)))
    assert rest.details["calls"] == 1  # carol's
    status = {c.call_id: c.status for c in await ledger.llm_calls()}
    assert status == {"a1": "abandoned", "b1": "reserved", "c1": "abandoned"}
