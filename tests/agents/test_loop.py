"""Agent loops: debt throttling, sleep and wake, failures that stay contained, config rights."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from agent_ecology.agents import AgentState
from agent_ecology.clock import ManualClock, SystemClock
from agent_ecology.config import Settings
from agent_ecology.ledger import Event, Ledger, ops
from agent_ecology.llm import (
    Completion,
    CompletionRequest,
    RequestRejected,
    ScriptedProvider,
    ServerError,
    Usage,
)
from agent_ecology.report import progress_line
from tests.agents.world import T0, running_world, world_settings

if TYPE_CHECKING:  # imported at run time, pytest would try to collect it as a test class
    from tests.agents.world import TestWorld


def cap(request: CompletionRequest) -> int:
    """The output cap a call was sent (every billed call is sent one)."""
    assert request.max_tokens is not None, f"a call of {request.agent_id} was sent no cap"
    return request.max_tokens


NOOP = '{"action": "noop"}'


def by_agent(replies: dict[str, list[str]], default: str = NOOP):  # type: ignore[no-untyped-def]
    """A script function answering each agent from its own queue of replies."""
    queues = {k: list(v) for k, v in replies.items()}

    def answer(request: CompletionRequest) -> str:
        queue = queues.get(request.agent_id)
        return queue.pop(0) if queue else default

    return answer


def sleeper(seconds: float = 3600) -> str:
    return json.dumps({"action": "sleep", "seconds": seconds})


def billed_llm(max_api_cost: float, input: float, output: float) -> dict[str, Any]:
    """The llm section of a billed world: model 'm' at these $ per 1M tokens, capped at 1000."""
    price = {"input": input, "output": output, "max_output_tokens": 1000}
    return {
        "provider": "openai",
        "model": "m",
        "max_api_cost": max_api_cost,
        "prices": {"m": price},
    }


async def run_until_spent(
    settings: Settings, prompt_tokens: int
) -> tuple[TestWorld, ScriptedProvider]:
    """Runs a billed world on the real clock until it stops itself. Every agent answers noop and
    is billed `prompt_tokens` plus its whole output cap, as an honest server at the cap bills."""

    def answer(request: CompletionRequest) -> Completion:
        return Completion(NOOP, Usage(prompt_tokens, request.max_tokens or 0), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(settings, provider, billed=True, clock=SystemClock()) as world:
        with anyio.fail_after(20):
            await world.runtime.stop_event.wait()
    return world, provider


async def test_an_agent_in_debt_waits_exactly_until_its_bucket_is_back_to_zero(
    tmp_path: Path,
) -> None:
    # alice's call uses 150 tokens of a 100-token bucket refilling 10/s: -50, so 5 s of debt.
    usage = Usage(100, 50)
    calls: list[tuple[str, float]] = []

    def answer(request: CompletionRequest) -> Completion:
        calls.append((request.agent_id, request.observation["now"]))
        if request.agent_id == "alice":
            return Completion(NOOP, usage, request.model)
        return Completion(sleeper(), Usage(0, 0), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.FROZEN, "alice frozen")
        bucket = await world.ledger.bucket("alice", "llm_rate")
        assert bucket.available(T0) == pytest.approx(-50.0)
        alice_calls = [c for c in calls if c[0] == "alice"]
        assert len(alice_calls) == 1

        world.clock.advance(4.999)
        await world.settle()
        assert len([c for c in calls if c[0] == "alice"]) == 1, "acted while still in debt"
        assert world.state("alice") is AgentState.FROZEN

        world.clock.advance(0.001)
        await world.until(lambda: len([c for c in calls if c[0] == "alice"]) == 2, "alice")
        assert [c[1] for c in calls if c[0] == "alice"] == [T0, pytest.approx(T0 + 5.0)]


async def test_a_transfer_rescues_an_agent_frozen_in_debt(tmp_path: Path) -> None:
    def answer(request: CompletionRequest) -> Completion:
        if request.agent_id == "alice":
            return Completion(NOOP, Usage(500, 0), request.model)  # deep in debt: -400
        return Completion(sleeper(), Usage(0, 0), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.FROZEN, "alice frozen")
        # bob gives alice most of his llm_rate: the vulture-capitalist rescue of seed 003.
        await world.ledger.submit(
            ops.TransferResource(src="bob", dst="alice", resource="llm_rate", amount=100)
        )
        # Still -300: no turn. Then carol gives too, and alice can act again at once.
        await world.settle()
        assert world.turns("alice") == 1
        await world.ledger.submit(
            ops.TransferResource(src="carol", dst="alice", resource="llm_rate", amount=100)
        )
        await world.settle()
        assert world.state("alice") is AgentState.FROZEN  # -200 still
        world.clock.advance(20.0)
        await world.until(lambda: world.turns("alice") >= 2, "alice acts again")


async def test_sleep_by_duration_wakes_on_time(tmp_path: Path) -> None:
    provider = ScriptedProvider(default=by_agent({"alice": [sleeper(30)]}, default=sleeper()))
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        record = await world.ledger.agent("alice")
        assert record.sleep is not None and record.sleep["deadline"] == T0 + 30
        world.clock.advance(29.9)
        await world.settle()
        assert world.turns("alice") == 1
        world.clock.advance(0.1)
        await world.until(lambda: world.turns("alice") == 2, "alice wakes")
        runtime_loop = world.runtime.loops["alice"]
        assert runtime_loop.last_result is not None
        assert (await world.ledger.agent("alice")).turns == 2


async def test_sleep_until_an_event_of_a_kind_that_concerns_the_agent(tmp_path: Path) -> None:
    wait_for_transfer = json.dumps({"action": "sleep", "until_event": "transfer"})
    provider = ScriptedProvider(default=by_agent({"alice": [wait_for_transfer]}, default=sleeper()))
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        await world.ledger.submit(ops.Transfer(src="bob", dst="carol", amount=5))  # not about alice
        await world.ledger.submit(
            ops.WriteArtifact(actor="bob", artifact_id="bob/x", content="hello")
        )  # about bob only
        await world.ledger.submit(
            ops.TransferArtifact(actor="bob", artifact_id="bob/x", new_owner="alice")
        )  # about alice, other kind
        await world.settle()
        assert world.state("alice") is AgentState.ASLEEP and world.turns("alice") == 1
        await world.ledger.submit(ops.Transfer(src="bob", dst="alice", amount=5))
        await world.until(lambda: world.turns("alice") == 2, "alice wakes on the transfer")
        woke = world.runtime.loops["alice"].last_result
        assert woke is not None
        events = await world.ledger.events(principal="alice", kind="agent_woke")
        assert "transfer" in events[-1].details["reason"]


async def test_sleep_until_a_scrip_threshold(tmp_path: Path) -> None:
    wait_rich = json.dumps(
        {"action": "sleep", "until_balance": {"resource": "scrip", "at_least": 150}}
    )
    provider = ScriptedProvider(default=by_agent({"alice": [wait_rich]}, default=sleeper()))
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        await world.ledger.submit(ops.Transfer(src="bob", dst="alice", amount=30))  # 130: not yet
        await world.settle()
        assert world.turns("alice") == 1
        await world.ledger.submit(ops.Transfer(src="carol", dst="alice", amount=20))  # 150
        await world.until(lambda: world.turns("alice") == 2, "alice wakes at 150")


async def test_sleep_until_a_flow_bucket_refills_wakes_at_the_computed_moment(
    tmp_path: Path,
) -> None:
    # alice spends 90 of 100 llm_rate, then sleeps until it is back to 60 (rate 10/s): 5 s.
    wait_refill = json.dumps(
        {"action": "sleep", "until_balance": {"resource": "llm_rate", "at_least": 60}}
    )

    def answer(request: CompletionRequest) -> Completion:
        if request.agent_id == "alice":
            return Completion(wait_refill, Usage(60, 30), request.model)
        return Completion(sleeper(), Usage(0, 0), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        world.clock.advance(4.9)
        await world.settle()
        assert world.turns("alice") == 1
        world.clock.advance(0.1)
        await world.until(lambda: world.turns("alice") >= 2, "alice wakes at 60")


async def test_one_agents_failures_back_off_and_never_stop_the_others(tmp_path: Path) -> None:
    def answer(request: CompletionRequest) -> Completion:
        if request.agent_id == "alice":
            raise RuntimeError("a bug in a provider")
        if request.agent_id == "bob":
            raise ServerError("down", status=503)
        return Completion(NOOP, Usage(0, 0), request.model)

    settings = world_settings(tmp_path, llm={"provider": "baseline", "max_retries": 0})
    provider = ScriptedProvider(default=answer)
    async with running_world(settings, provider) as world:
        # carol acts freely (the clock does not move, noop turns cost only CPU).
        await world.until(lambda: world.turns("carol") >= 20, "carol keeps acting")
        await world.until(
            lambda: (
                world.state("alice") is AgentState.BACKING_OFF
                and world.state("bob") is AgentState.BACKING_OFF
            ),
            "both back off",
        )
        alice = world.runtime.loops["alice"]
        assert alice.stats.failures_in_a_row == 1
        assert alice.last_result is not None and alice.last_result["error"] == "runtime_error"
        bob = world.runtime.loops["bob"]
        assert bob.last_result is not None and bob.last_result["error"] == "server_error"
        # Backoff doubles: 1 s, then 2 s, then 4 s.
        for failures, wait in ((2, 1.0), (3, 2.0)):
            world.clock.advance(wait)

            def failed(n: int = failures) -> bool:
                return alice.stats.failures_in_a_row == n

            await world.until(failed, f"failure {failures} in a row")
        world.clock.advance(3.9)
        await world.settle()
        assert alice.stats.failures_in_a_row == 3
        # The bob failure shows up, exactly, in bob's next context.
        world.clock.advance(10)
        await world.until(
            lambda: len([r for r in provider.requests if r.agent_id == "bob"]) >= 2, ""
        )
        second = [r for r in provider.requests if r.agent_id == "bob"][1]
        assert "server_error" in second.messages[1].content


async def test_update_config_by_a_non_holder_is_refused_and_the_holder_can(tmp_path: Path) -> None:
    bob_tries = json.dumps({"action": "update_config", "agent_id": "alice", "max_tokens": 7})
    provider = ScriptedProvider(
        default=by_agent({"bob": [bob_tries, sleeper()], "alice": [sleeper(10)]}, default=NOOP)
    )
    settings = world_settings(tmp_path)
    async with running_world(settings, provider) as world:
        await world.until(lambda: world.state("bob") is AgentState.ASLEEP, "bob done")
        result = (await world.ledger.agent("bob")).last_result
        # bob's last result is its sleep; the refusal is in the turn before it.
        events = await world.ledger.events(principal="bob", kind="turn")
        assert events[0].details["ok"] is False and events[0].details["code"] == "not_permitted"
        assert (await world.ledger.agent("alice")).config["max_tokens"] is None
        assert result is not None

        # alice gives bob the right; bob changes alice's max_tokens; alice's next call uses it.
        await world.ledger.submit(
            ops.TransferConfigRight(actor="alice", agent_id="alice", new_holder="bob")
        )
        await world.ledger.submit(
            ops.UpdateAgentConfig(actor="bob", agent_id="alice", changes={"max_tokens": 7})
        )
        with pytest.raises(Exception, match="held by 'bob'"):
            await world.ledger.submit(
                ops.UpdateAgentConfig(actor="alice", agent_id="alice", changes={"max_tokens": 9})
            )
        world.clock.advance(10)
        await world.until(
            lambda: len([r for r in provider.requests if r.agent_id == "alice"]) >= 2, "alice"
        )
        latest = [r for r in provider.requests if r.agent_id == "alice"][-1]
        assert latest.max_tokens == 7


async def test_stopping_ends_every_loop_and_keeps_the_record(tmp_path: Path) -> None:
    provider = ScriptedProvider(default=NOOP)
    async with running_world(world_settings(tmp_path), provider) as world:
        await world.until(lambda: all(world.turns(a) >= 3 for a in ("alice", "bob")), "turns")
        world.runtime.stop("enough")
    report = world.report
    assert report is not None and report.reason == "enough"
    assert report.turns >= 6
    assert report.conserved
    _ = anyio


async def test_notes_configs_and_sleep_carry_over_to_the_next_run(tmp_path: Path) -> None:
    note = json.dumps({"action": "note", "text": "bob pays on time"})
    pace = json.dumps({"action": "update_config", "max_tokens": 42})
    first = ScriptedProvider(
        default=by_agent({"alice": [note, pace, sleeper(1000)]}, default=sleeper())
    )
    settings = world_settings(tmp_path)
    async with running_world(settings, first) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        assert world.turns("alice") == 3
    clock = world.clock

    second = ScriptedProvider(default=sleeper())
    async with running_world(settings, second, clock=clock) as world:
        await world.settle()
        assert world.state("alice") is AgentState.ASLEEP
        assert not [r for r in second.requests if r.agent_id == "alice"]
        clock.advance(1000)
        await world.until(
            lambda: any(r.agent_id == "alice" for r in second.requests), "alice wakes"
        )
        request = next(r for r in second.requests if r.agent_id == "alice")
        context = request.messages[1].content
        assert "bob pays on time" in context
        assert "this is your turn 4" in context
        assert request.max_tokens == 42
        assert '"woke": "the time you set has come"' in context


async def test_an_event_right_after_falling_asleep_still_wakes_the_agent(tmp_path: Path) -> None:
    wait_for_transfer = json.dumps({"action": "sleep", "until_event": "transfer"})
    provider = ScriptedProvider(default=by_agent({"alice": [wait_for_transfer]}, default=sleeper()))
    sent: list[asyncio.Task[object]] = []
    async with running_world(world_settings(tmp_path), provider) as world:
        ledger = world.ledger

        def pay_at_once(events: Sequence[Event]) -> None:
            # bob pays alice the moment her sleep is committed, before her loop goes on.
            for e in events:
                if e.kind == "agent_slept" and e.principal_id == "alice" and not sent:
                    sent.append(
                        asyncio.get_running_loop().create_task(
                            ledger.submit(ops.Transfer(src="bob", dst="alice", amount=5))
                        )
                    )

        ledger.subscribe(pay_at_once)
        await world.until(lambda: world.turns("alice") >= 2, "the payment wakes alice")
        assert sent and sent[0].done()


async def test_an_agent_whose_share_runs_low_thinks_shorter_then_the_run_stops(
    tmp_path: Path,
) -> None:
    # $100 per 1M tokens: a ~4 kB prompt may cost $0.4, a full answer $0.1; shares of $0.6.
    settings = world_settings(
        tmp_path,
        resources={"stock": {"llm_budget": {"total": 1.8, "unit": "dollars"}}},
        llm=billed_llm(max_api_cost=100, input=100, output=100),
    )
    # 200 prompt tokens billed: a tenth of the prompt bound.
    world, provider = await run_until_spent(settings, prompt_tokens=200)
    assert world.report is not None
    assert world.report.reason == "every agent's llm_budget share is spent"
    caps = [cap(r) for r in provider.requests if r.agent_id == "alice"]
    assert caps[0] == 1000 and min(caps) < 1000, "the cap was never lowered to fit the share"
    ledger = await Ledger.open(tmp_path / "world.db")
    try:
        for agent in ("alice", "bob", "carol"):
            holding = await ledger.stock(agent, "llm_budget")
            assert holding.used <= holding.quota
        assert (await ledger.api_budget()).reserved_nd == 0
    finally:
        await ledger.close()


async def test_a_model_the_server_does_not_serve_falls_back_to_the_default(
    tmp_path: Path,
) -> None:
    settings = world_settings(
        tmp_path,
        agents=[{"id": "alice", "model": "gone"}],
        llm={
            "provider": "openai",
            "model": "m",
            "max_retries": 0,
            "prices": {
                "m": {"input": 0, "output": 0, "max_output_tokens": 100},
                "gone": {"input": 0, "output": 0, "max_output_tokens": 100},
            },
        },
        agent_loop={"failure_backoff": 0.001, "failure_backoff_max": 0.001},
    )

    def answer(request: CompletionRequest) -> Completion:
        if request.model == "gone":
            raise RequestRejected("no such model", status=404)
        return Completion(sleeper(), Usage(1, 1), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(settings, provider, billed=True, clock=SystemClock()) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice acts")
    assert [r.model for r in provider.requests] == ["gone", "m"]
    context = provider.requests[1].messages[1].content
    assert "request_rejected" in context
    last = world.runtime.loops["alice"].last_result
    assert last is not None and "used 'm'" in last["message"]


async def test_when_nothing_is_in_flight_the_last_dollars_are_spent_with_a_lower_cap(
    tmp_path: Path,
) -> None:
    # No llm_budget shares: only the world's limit. A ~2.5 kB prompt may cost ~$0.025 and a
    # full answer $0.1; the limit is $0.11, so the full cap never fits, but a lower one does.
    settings = world_settings(
        tmp_path,
        agents=[{"id": "alice"}],
        resources={"flow": {"llm_rate": {"rate": 1e6, "capacity": 1e6}}},
        llm=billed_llm(max_api_cost=0.11, input=10, output=100),
    )
    world, provider = await run_until_spent(settings, prompt_tokens=100)
    assert world.report is not None and "API budget is spent" in world.report.reason
    caps = [cap(r) for r in provider.requests]
    assert caps and max(caps) < 1000  # never the full cap: it never fit
    assert world.report.spent_nd <= 0.11 * 1e9
    assert world.report.spent_nd > 0.07 * 1e9  # it went on spending until little was left


async def test_the_oracle_resolves_at_its_published_instants(tmp_path: Path) -> None:
    # T0 = 1,000,000 s; with a 60 s interval the next instants are 1,000,020 and 1,000,080.
    provider = ScriptedProvider(default=sleeper())
    settings = world_settings(tmp_path, oracle={"interval": 60, "mint_per_point": 1})
    async with running_world(settings, provider) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
        first = provider.requests[0].messages[1].content
        assert "Next oracle resolution at 1970-01-12T13:47:00Z." in first
        await world.ledger.submit(
            ops.WriteArtifact(
                actor="alice", artifact_id="alice/idea", content="a plan for sharing compute"
            )
        )
        await world.ledger.submit(ops.OracleBid(bidder="alice", artifact_id="alice/idea", amount=5))
        world.clock.advance(19.9)
        await world.settle()
        assert await world.ledger.oracle_results() == []
        world.clock.advance(0.1)
        resolved = anyio.Event()

        def watch(events: Sequence[Event]) -> None:
            if any(e.kind == "oracle_resolved" for e in events):
                resolved.set()

        world.ledger.subscribe(watch)
        if not await world.ledger.oracle_results():
            with anyio.fail_after(10):
                await resolved.wait()
        (result,) = await world.ledger.oracle_results()
        assert result.round_at == T0 + 20 and result.artifact_id == "alice/idea"


@pytest.mark.parametrize(
    ("prompt_tokens", "completion_tokens", "output_price"),
    [(10, 50_000, 1.0), (10, 50_000, 100.0), (10**9, 10, 100.0), (10**17, 10**17, 100.0)],
    ids=[
        "ignores-the-cap",
        "ignores-the-cap-past-the-limit",
        "a-billion-prompt-tokens",
        "past-int64",
    ],
)
async def test_a_server_billing_past_the_reservation_is_a_fault_the_run_reports(
    tmp_path: Path, prompt_tokens: int, completion_tokens: int, output_price: float
) -> None:
    settings = world_settings(
        tmp_path,
        # No llm_rate bucket: the billed tokens would freeze the agents in debt for hours.
        resources={"flow": {"compute": {"rate": 10, "capacity": 100, "unit": "cpu_seconds"}}},
        agents=[{"id": "alice", "max_tokens": 1000}, {"id": "bob", "max_tokens": 1000}],
        llm=billed_llm(max_api_cost=1.0, input=0.1, output=output_price),
    )

    def answer(request: CompletionRequest) -> Completion:
        return Completion(NOOP, Usage(prompt_tokens, completion_tokens), request.model)

    provider = ScriptedProvider(default=answer)
    async with running_world(settings, provider, billed=True, clock=SystemClock()) as world:
        await world.until(lambda: world.ledger is not None and world.turns("alice") >= 1, "a turn")
        with anyio.fail_after(10):
            while not (await world.ledger.events(kind="llm_overbilled")):
                await world.runtime.wait_for_change()
        faults = await world.ledger.events(kind="llm_overbilled")
        with anyio.move_on_after(1.0):  # a world taken past its limit stops; others go on
            await world.runtime.stop_event.wait()
        if not world.runtime.stop_event.is_set():
            await world.until(lambda: world.turns("alice") >= 3, "turns refused their model")
        sent = len(provider.requests)
    assert world.report is not None
    # At most the calls already in flight when the first bill came back: one per agent.
    assert 1 <= sent <= 2
    assert faults[0].details["model"] == "m" and faults[0].details["server"] == provider.name
    assert faults[0].amount > 0
    assert isinstance(world.runtime.out, io.StringIO)
    out = world.runtime.out.getvalue()
    assert "LLM server fault" in out and "no more calls to 'm'" in out
    assert "billed past their reservation" in out
    assert world.report.overbilled

    overspent = world.report.spent_nd > world.report.limit_nd
    assert overspent == (output_price == 100.0)
    if overspent:
        assert world.report.reason.startswith("the API budget is spent")
        assert "past its limit" in out
    else:  # the agents go on, told why their model is not called
        codes = [e.details["code"] for e in await _turn_events(tmp_path)]
        assert "model_overbilled" in codes


async def _turn_events(tmp_path: Path) -> list[Event]:
    async with await Ledger.open(tmp_path / "world.db") as ledger:
        return await ledger.events(kind="turn")


async def test_the_status_line_shows_agents_backing_off_apart_from_frozen_ones(
    tmp_path: Path,
) -> None:
    settings = world_settings(tmp_path, agent_loop={"failure_backoff": 1000.0})
    provider = ScriptedProvider(default="no json here")  # every reply is refused
    async with running_world(settings, provider) as world:
        await world.until(
            lambda: all(
                world.state(a) is AgentState.BACKING_OFF for a in ("alice", "bob", "carol")
            ),
            "every agent backing off",
        )
        line = progress_line(world.runtime.loops, world.runtime.budget, 1.0)
    assert "0 frozen, 3 backing off" in line


async def test_a_debt_made_while_the_clock_was_ten_years_ahead_clears_at_its_rate(
    tmp_path: Path,
) -> None:
    """The clock jumps forward, the agent spends into debt, the clock comes back: the stored
    time in the future counts as now, so the debt of 5 s clears in 5 s, not 10 years."""
    ten_years = 10 * 365 * 86400.0
    usage = Usage(100, 50)  # 150 tokens of a 100-token bucket refilling 10/s: 5 s of debt
    calls: list[tuple[str, float]] = []

    def answer(request: CompletionRequest) -> Completion:
        calls.append((request.agent_id, request.observation["now"]))
        if request.agent_id == "alice":
            return Completion(NOOP, usage, request.model)
        return Completion(sleeper(ten_years * 2), Usage(0, 0), request.model)

    provider = ScriptedProvider(default=answer)
    clock = ManualClock(T0 + ten_years)  # the first turn happens while the clock is ahead
    async with running_world(world_settings(tmp_path), provider, clock=clock) as world:
        await world.until(lambda: world.state("alice") is AgentState.FROZEN, "alice frozen")
        stored = await world.ledger.bucket("alice", "llm_rate")
        assert stored.bucket.updated_at == T0 + ten_years
        world.clock.rewind(T0)  # back to the true time
        await world.ledger.submit(
            ops.Transfer(src="bob", dst="alice", amount=1)
        )  # news: alice's gate looks again
        await world.settle()
        world.clock.advance(4.999)
        await world.settle()
        assert len([c for c in calls if c[0] == "alice"]) == 1, "acted while still in debt"
        world.clock.advance(0.002)
        await world.until(lambda: len([c for c in calls if c[0] == "alice"]) == 2, "alice")
