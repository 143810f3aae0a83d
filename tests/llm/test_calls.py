"""Metered calls: every attempt reserved before it is sent and charged what it cost."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from agent_ecology.clock import ManualClock, SystemClock
from agent_ecology.config import ModelPrice
from agent_ecology.ledger import NANODOLLARS, BudgetExhausted, InsufficientResource, Ledger, ops
from agent_ecology.ledger.kinds import CallStatus
from agent_ecology.llm import (
    CompletionRequest,
    LLMCaller,
    MalformedResponse,
    Message,
    ModelOverbilled,
    ProviderTimeout,
    RetryPolicy,
    ScriptedProvider,
    Usage,
    cost_nd,
    worst_case_nd,
)
from agent_ecology.llm.budget import Budget
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider
from tests.llm.chat_server import ChatServer, Hang, Malformed, Reply, Status

PRICE = ModelPrice(input=0.15, output=0.60, max_output_tokens=1000)
KEY = "sk-test"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(api_key=KEY) as chat_server:
        yield chat_server


async def _caller(
    ledger: Ledger, server: ChatServer, *, attempt_timeout: float = 5.0, retries: int = 3
) -> LLMCaller:
    provider = OpenAICompatibleProvider(
        api_key=KEY, base_url=server.base_url, timeout=attempt_timeout
    )
    return LLMCaller(
        provider,
        ledger,
        clock=SystemClock(),
        budget=Budget({"m": PRICE}, billed=True),
        retry=RetryPolicy(max_retries=retries, backoff=0.01, backoff_max=0.05),
    )


@pytest.fixture
async def caller(ledger: Ledger, server: ChatServer) -> AsyncIterator[LLMCaller]:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))  # $1
    c = await _caller(ledger, server)
    try:
        yield c
    finally:
        await c.provider.aclose()


def request(max_tokens: int | None = 100) -> CompletionRequest:
    return CompletionRequest(
        "alice", "m", (Message("system", "rules"), Message("user", "hello")), max_tokens
    )


async def _spent(ledger: Ledger) -> tuple[int, int]:
    budget = await ledger.api_budget()
    return budget.spent_nd, budget.reserved_nd


async def test_an_answer_is_charged_exactly_its_reported_usage(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Reply('{"action": "noop"}', prompt_tokens=17, completion_tokens=9))
    thought = await caller.think(request())
    assert thought.completion is not None and thought.completion.text == '{"action": "noop"}'
    expected = cost_nd(PRICE, Usage(17, 9))
    assert thought.cost_nd == expected and thought.usage == Usage(17, 9)
    assert await _spent(ledger) == (expected, 0)
    (call,) = await ledger.llm_calls("alice")
    assert (call.status, call.cost_nd, call.prompt_tokens, call.completion_tokens) == (
        "settled",
        expected,
        17,
        9,
    )
    assert call.reserved_nd == worst_case_nd(PRICE, request().messages, 100)
    holding = await ledger.stock("alice", "llm_budget")
    assert holding.used == pytest.approx(expected / NANODOLLARS)


async def test_a_429_is_retried_after_retry_after_and_only_the_answer_costs(
    ledger: Ledger, server: ChatServer, clock: ManualClock
) -> None:
    """On the manual clock: the retry waits exactly the 30 s the server asked for."""
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    caller = LLMCaller(
        OpenAICompatibleProvider(api_key=KEY, base_url=server.base_url, timeout=5),
        ledger,
        clock=clock,
        budget=Budget({"m": PRICE}, billed=True),
        retry=RetryPolicy(max_retries=3, backoff=0.01, backoff_max=0.05),
    )
    server.enqueue(
        Status(429, headers={"Retry-After": "30"}),
        Reply("ok", prompt_tokens=5, completion_tokens=5),
    )
    start = clock.now()
    thoughts = []
    async with anyio.create_task_group() as tg:

        async def think() -> None:
            thoughts.append(await caller.think(request()))

        tg.start_soon(think)
        for _ in range(500):  # the 429 is answered over HTTP, in real time
            if clock.next_deadline() is not None:
                break
            await anyio.sleep(0.01)
        assert clock.next_deadline() == start + 30  # as the server said
        clock.advance(29.999)
        await anyio.sleep(0.05)
        assert server.request_count == 1 and not thoughts
        clock.advance(0.001)
    await caller.provider.aclose()
    (thought,) = thoughts
    assert thought.completion is not None and thought.attempts == 2
    assert server.request_count == 2
    calls = await ledger.llm_calls("alice")
    assert [(c.attempt, c.status, c.cost_nd) for c in calls] == [
        (1, "failed", 0),
        (2, "settled", cost_nd(PRICE, Usage(5, 5))),
    ]
    assert await _spent(ledger) == (cost_nd(PRICE, Usage(5, 5)), 0)


async def test_a_500_is_retried_and_each_attempt_recorded(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Status(500), Status(503), Reply("ok", prompt_tokens=1, completion_tokens=1))
    thought = await caller.think(request())
    assert thought.completion is not None and thought.attempts == 3
    assert [c.status for c in await ledger.llm_calls("alice")] == ["failed", "failed", "settled"]


async def test_a_malformed_answer_is_charged_its_worst_case_and_not_retried(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Malformed("{not json"))
    thought = await caller.think(request())
    assert thought.completion is None and isinstance(thought.error, MalformedResponse)
    worst = worst_case_nd(PRICE, request().messages, 100)
    assert thought.attempts == 1 and thought.cost_nd == worst
    assert await _spent(ledger) == (worst, 0)


async def test_timeouts_are_retried_and_each_charged_its_worst_case(
    ledger: Ledger, server: ChatServer
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    caller = await _caller(ledger, server, attempt_timeout=0.2, retries=1)
    try:
        server.enqueue(Hang(2.0), Hang(2.0))
        thought = await caller.think(request())
    finally:
        await caller.provider.aclose()
    assert isinstance(thought.error, ProviderTimeout) and thought.attempts == 2
    worst = worst_case_nd(PRICE, request().messages, 100)
    assert await _spent(ledger) == (2 * worst, 0)


async def test_a_call_the_world_budget_cannot_cover_is_never_sent(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    worst = worst_case_nd(PRICE, request().messages, 100)
    await ledger.submit(ops.SetApiLimit(limit_nd=worst - 1, authority="world"))
    with pytest.raises(BudgetExhausted, match=r"raise llm\.max_api_cost"):
        await caller.think(request())
    assert server.request_count == 0
    await ledger.submit(ops.SetApiLimit(limit_nd=worst, authority="world"))
    assert (await caller.think(request())).completion is not None


async def test_a_call_the_agents_own_share_cannot_cover_is_never_sent(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    # alice's llm_budget is $1; without a max_tokens of its own, the worst case is bigger.
    big = ModelPrice(input=1000.0, output=1000.0, max_output_tokens=2000)
    caller.budget.prices["m"] = big
    await ledger.submit(ops.SetApiLimit(limit_nd=100 * NANODOLLARS, authority="world"))
    with pytest.raises(InsufficientResource, match="llm_budget"):
        await caller.think(request(max_tokens=None))
    assert server.request_count == 0
    assert await _spent(ledger) == (0, 0)


async def test_a_cancelled_call_is_settled_at_its_worst_case(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Hang(5.0))
    with anyio.move_on_after(0.3):
        await caller.think(request())
    worst = worst_case_nd(PRICE, request().messages, 100)
    assert await _spent(ledger) == (worst, 0)
    assert [c.status for c in await ledger.llm_calls("alice")] == ["failed"]


async def test_a_server_that_ignores_max_tokens_is_recorded_as_it_billed(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Reply("ok", prompt_tokens=10, completion_tokens=5000))  # ignores max_tokens
    thought = await caller.think(request(max_tokens=10))
    billed = cost_nd(PRICE, Usage(10, 5000))
    assert thought.cost_nd == billed
    assert (await ledger.api_budget()).spent_nd == billed  # recorded truthfully
    events = await ledger.events(kind="llm_call")
    assert events[-1].details["over_reservation"] is True
    (fault,) = await ledger.events(kind="llm_overbilled")
    reserved = worst_case_nd(PRICE, request().messages, 10)
    assert fault.details["model"] == "m"
    assert fault.details["server"] == caller.provider.name
    assert fault.amount == pytest.approx((billed - reserved) / NANODOLLARS)
    # No further call to that model is started: the next think is refused before any request.
    with pytest.raises(ModelOverbilled, match=r"'m'.*stopped"):
        await caller.think(request(max_tokens=10))
    assert server.request_count == 1
    assert (await ledger.api_budget()).reserved_nd == 0


async def test_usage_too_large_for_an_integer_column_settles_and_closes_the_reservation(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    server.enqueue(Reply("ok", prompt_tokens=10**17, completion_tokens=10**17))
    thought = await caller.think(request(max_tokens=10))
    assert thought.completion is not None
    budget = await ledger.api_budget()
    assert budget.reserved_nd == 0  # nothing leaked
    assert budget.spent_nd == ops.MAX_CHARGE_ND  # the largest charge one call records
    (fault,) = await ledger.events(kind="llm_overbilled")
    assert fault.details["billed_dollars"] == pytest.approx(
        cost_nd(PRICE, Usage(10**17, 10**17)) / NANODOLLARS
    )
    assert [c.status for c in await ledger.llm_calls("alice")] == ["settled"]


async def test_without_a_cap_the_model_limit_is_sent_and_reserved(
    caller: LLMCaller, ledger: Ledger, server: ChatServer
) -> None:
    await caller.think(request(max_tokens=None))
    assert server.requests[-1]["max_tokens"] == PRICE.max_output_tokens
    (call,) = await ledger.llm_calls("alice")
    assert call.reserved_nd == worst_case_nd(PRICE, request().messages, None)
    await caller.think(request(max_tokens=10**6))  # above the model's limit: clamped
    assert server.requests[-1]["max_tokens"] == PRICE.max_output_tokens


async def test_a_call_cancelled_while_its_reservation_commits_is_settled_unsent(
    ledger: Ledger,
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    scripted = ScriptedProvider(default='{"action": "noop"}')
    caller = LLMCaller(
        scripted, ledger, clock=SystemClock(), budget=Budget({"m": PRICE}, billed=True)
    )
    other = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the writer's next transaction has to wait
        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()

            async def think() -> None:
                with scope:
                    await caller.think(request())

            tg.start_soon(think)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()  # the run stops while the reservation is being committed
            other.execute("ROLLBACK")  # then the disk lets the writer go on
    finally:
        other.close()
    assert (await ledger.api_budget()).reserved_nd == 0
    (call,) = await ledger.llm_calls("alice")
    assert (call.status, call.cost_nd) == ("failed", 0)
    assert call.error is not None and "before it was sent" in call.error
    assert scripted.requests == []


async def test_a_reservation_one_nanodollar_over_the_share_still_settles(
    ledger: Ledger,
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=5 * NANODOLLARS, authority="world"))
    # alice's llm_budget quota is exactly $1; the float tolerance admits 1 nanodollar more.
    await ledger.submit(
        ops.ReserveCall(
            call_id="edge", agent_id="alice", model="m", attempt=1, reserve_nd=NANODOLLARS + 1
        )
    )
    await ledger.submit(ops.SettleCall(call_id="edge", status=CallStatus.SETTLED, cost_nd=123))
    assert (await ledger.api_budget()).reserved_nd == 0
    holding = await ledger.stock("alice", "llm_budget")
    assert holding.used == pytest.approx(123 / NANODOLLARS)
