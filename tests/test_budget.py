"""The dollar limit is hard: no interleaving of concurrent agents spends past it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.config import parse_settings
from agent_ecology.ledger import NANODOLLARS, BudgetExhausted, InsufficientResource, Ledger, ops
from agent_ecology.ledger.kinds import CallStatus
from agent_ecology.runtime import Runtime
from tests.conftest import populate
from tests.llm.chat_server import ChatServer, Reply

KEY = "sk-budget"


def _large_usage(request: dict[str, Any]) -> int:
    # As large as an honest server can bill: every prompt byte a token (the bound we reserve).
    return sum(len(m["content"].encode()) for m in request["messages"])


@pytest.mark.parametrize("billed_share", [1.0, 0.1], ids=["worst-case-bills", "small-bills"])
async def test_200_concurrent_agents_never_spend_past_max_api_cost(
    tmp_path: Path, billed_share: float
) -> None:
    """Billing the whole worst case, or a tenth of it (reservations then hold far more than
    is spent): either way the limit holds, and the run goes on until it is really spent."""
    limit = 3.0
    reply = Reply(
        '{"action": "noop"}',
        prompt_tokens=lambda request: int(_large_usage(request) * billed_share),
        completion_tokens=lambda request: int(int(request["max_tokens"]) * billed_share),
        delay=0.02,
    )
    with ChatServer(default=reply, api_key=KEY) as server:
        config = parse_settings(
            {
                "world": {
                    "database": str(tmp_path / "world.db"),
                    "genesis": str(tmp_path / "none"),
                },
                "resources": {"stock": {"llm_budget": {"total": 200.0, "unit": "dollars"}}},
                "agents": [{"id": f"a{i:03d}", "max_tokens": 500} for i in range(200)],
                "llm": {
                    "provider": "openai",
                    "base_url": server.base_url,
                    "model": "big",
                    "max_api_cost": limit,
                    # $10 per 1M tokens: a call of ~5000 tokens costs ~5 cents: ~60 calls.
                    "prices": {"big": {"input": 10, "output": 10, "max_output_tokens": 4000}},
                    "max_retries": 0,
                },
                "run": {"grace": 2.0, "metrics_interval": 60},
            }
        )
        runtime = Runtime(
            config,
            environ={"OPENAI_API_KEY": KEY},
            out=io.StringIO(),
            progress=False,
            handle_signals=False,
        )
        samples: list[int] = []

        async def watch() -> None:
            # A sampler, not a synchronisation: it reads the budget while agents race.
            while not runtime.stop_event.is_set():
                if runtime.ledger is not None:
                    budget = await runtime.ledger.api_budget()
                    samples.append(budget.spent_nd + budget.reserved_nd)
                await runtime.clock.sleep_until(runtime.clock.now() + 0.02)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                report = await runtime.run(duration=None)  # no duration: the budget ends it
                tg.cancel_scope.cancel()

    limit_nd = round(limit * NANODOLLARS)
    assert "API budget is spent" in report.reason
    assert report.spent_nd <= limit_nd
    assert max(samples) <= limit_nd, "reservations and spending together passed the limit"
    assert server.request_count >= 50  # it did spend most of it, concurrently
    ledger = await Ledger.open(tmp_path / "world.db")
    try:
        calls = await ledger.llm_calls()
        assert sum(c.cost_nd or 0 for c in calls) == report.spent_nd
        assert all(c.status in ("settled", "failed") for c in calls)
        assert (await ledger.api_budget()).reserved_nd == 0
        assert report.spent_nd > limit_nd * 0.9  # what was left is less than one call
    finally:
        await ledger.close()


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(0, 3 * NANODOLLARS),
    calls=st.lists(
        st.tuples(st.integers(0, NANODOLLARS + 10), st.floats(0.0, 1.0), st.booleans()),
        max_size=25,
    ),
)
def test_concurrent_reservations_and_settlements_never_pass_the_limit(
    migrated_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    limit: int,
    calls: list[tuple[int, float, bool]],
) -> None:
    """Random calls race: reserve (up to alice's whole $1 share and a little over), then
    settle at a fraction of the reservation, as an honest provider bills."""

    path = tmp_path_factory.mktemp("budget") / "world.db"
    path.write_bytes(migrated_template.read_bytes())

    async def scenario() -> None:
        ledger = await Ledger.open(path)
        try:
            await populate(ledger)
            await ledger.submit(ops.SetApiLimit(limit_nd=limit, authority="world"))
            outcomes: list[int] = []
            costs: list[int] = []

            async def call(i: int, reserve: int, fraction: float, fail: bool) -> None:
                try:
                    await ledger.submit(
                        ops.ReserveCall(
                            call_id=f"c{i}",
                            agent_id="alice",
                            model="m",
                            attempt=1,
                            reserve_nd=reserve,
                        )
                    )
                except (BudgetExhausted, InsufficientResource):
                    return
                budget = await ledger.api_budget()
                outcomes.append(budget.spent_nd + budget.reserved_nd)
                cost = min(reserve, int(reserve * fraction))
                costs.append(cost)
                await ledger.submit(
                    ops.SettleCall(
                        call_id=f"c{i}",
                        status=CallStatus.FAILED if fail else CallStatus.SETTLED,
                        cost_nd=cost,
                    )
                )

            async with anyio.create_task_group() as tg:
                for i, (reserve, fraction, fail) in enumerate(calls):
                    tg.start_soon(call, i, reserve, fraction, fail)
            budget = await ledger.api_budget()
            assert budget.reserved_nd == 0
            assert budget.spent_nd <= limit
            assert all(o <= limit for o in outcomes)
            assert budget.spent_nd == sum(costs)
            holding = await ledger.stock("alice", "llm_budget")
            assert holding.used <= holding.quota
            assert holding.used == pytest.approx(min(1.0, sum(costs) / NANODOLLARS), abs=1e-6)
        finally:
            await ledger.close()

    anyio.run(scenario)


@settings(max_examples=8, deadline=None)
@given(
    limit=st.floats(0.0005, 0.05),
    agents=st.integers(1, 6),
    shares=st.none() | st.floats(0.0001, 0.05),
    fraction=st.floats(0.0, 1.0),
    max_tokens=st.none() | st.integers(1, 3000),
)
def test_a_running_world_never_spends_past_its_limit_or_leaves_a_reservation(
    tmp_path_factory: pytest.TempPathFactory,
    limit: float,
    agents: int,
    shares: float | None,
    fraction: float,
    max_tokens: int | None,
) -> None:
    """The budget's properties in a running world: any limit, shares, caps and honest bills."""
    from agent_ecology.llm import Completion, CompletionRequest, ScriptedProvider, Usage
    from agent_ecology.llm.pricing import prompt_token_bound

    tmp = tmp_path_factory.mktemp("world-budget")

    def bill(request: CompletionRequest) -> Completion:
        prompt = int(prompt_token_bound(request.messages) * fraction)
        return Completion(
            '{"action": "noop"}',
            Usage(prompt, int((request.max_tokens or 0) * fraction)),
            request.model,
        )

    stock = {"llm_budget": {"total": shares * agents, "unit": "dollars"}} if shares else {}
    config = parse_settings(
        {
            "world": {"database": str(tmp / "world.db"), "genesis": str(tmp / "none")},
            "resources": {"stock": stock},
            "agents": [{"id": f"a{i}", "max_tokens": max_tokens} for i in range(agents)],
            "llm": {
                "provider": "openai",
                "model": "m",
                "max_api_cost": limit,
                "prices": {"m": {"input": 1.0, "output": 4.0, "max_output_tokens": 2000}},
            },
            "run": {"grace": 0.5, "metrics_interval": 60},
        }
    )

    async def scenario() -> None:
        runtime = Runtime(
            config,
            provider=ScriptedProvider(default=bill),
            billed=True,
            out=io.StringIO(),
            progress=False,
            handle_signals=False,
        )
        with anyio.fail_after(30):
            report = await runtime.run(duration=2.0)
        assert report.spent_nd <= report.limit_nd == round(limit * NANODOLLARS)
        async with await Ledger.open(tmp / "world.db") as ledger:
            budget = await ledger.api_budget()
            assert budget.reserved_nd == 0
            calls = await ledger.llm_calls()
            assert all(c.status in ("settled", "failed") for c in calls)
            assert sum(c.cost_nd or 0 for c in calls) == budget.spent_nd
            for i in range(agents if shares else 0):
                holding = await ledger.stock(f"a{i}", "llm_budget")
                assert holding.used <= holding.quota + 1e-9

    anyio.run(scenario)
