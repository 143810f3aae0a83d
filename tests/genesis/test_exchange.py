"""genesis_exchange: the matching rules one by one, escrow, expiry, races and refusals.

The world of tests/conftest.py: three agents with 100 scrip, compute buckets of rate 10 and
capacity 100, 1000 bytes of disk each. Its default lots: compute:rate 0.1 per second,
compute:units 1, disk:capacity 10 bytes, llm_budget:capacity 0.01 dollars.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis, InvocationError
from agent_ecology.genesis.exchange import PriceBoard, price_line
from agent_ecology.ledger import (
    EventKind,
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    Ledger,
    LedgerError,
    NotPermitted,
    ops,
)
from agent_ecology.schedules import ExchangeExpiry
from tests.genesis.conftest import HOLDINGS, Caller
from tests.genesis.conftest import snapshot as rows


@pytest.fixture
def exchange(genesis: Genesis, ledger: Ledger, clock: ManualClock) -> Caller:
    return Caller(genesis, ledger, clock, "genesis_exchange")


def snapshot(path: Path) -> list[Any]:
    return rows(
        path,
        *HOLDINGS,
        "SELECT * FROM exchange_orders ORDER BY id",
        "SELECT * FROM exchange_fills ORDER BY id",
        "SELECT * FROM stock_holdings ORDER BY 1, 2",
        "SELECT principal_id, resource, balance, rate FROM flow_buckets ORDER BY 1, 2",
        "SELECT count(*) FROM events",
    )


async def disk_quota(ledger: Ledger, who: str) -> float:
    return (await ledger.stock(who, "disk")).quota


async def test_the_goods_and_their_lots_are_declared_from_the_resources(
    exchange: Caller,
) -> None:
    goods = {g["good"]: g for g in (await exchange("alice", "goods"))["goods"]}
    assert {k: g["lot"] for k, g in goods.items()} == {
        "compute:rate": 0.1,
        "compute:units": 1.0,
        "disk:capacity": 10.0,
        "llm_budget:capacity": 0.01,
    }
    assert all(g["best_bid"] is None and g["last"] is None for g in goods.values())


async def test_price_priority_fills_the_best_ask_first_at_its_own_price(
    exchange: Caller, ledger: Ledger
) -> None:
    await exchange("bob", "ask", good="disk:capacity", quantity=2, price=5)
    await exchange("carol", "ask", good="disk:capacity", quantity=2, price=4)
    out = await exchange("alice", "bid", good="disk:capacity", quantity=3, price=6)
    assert [(f["counterparty"], f["quantity"], f["price"]) for f in out["fills"]] == [
        ("carol", 2, 4),
        ("bob", 1, 5),
    ]
    assert out["status"] == "filled" and out["refunded"] == 2 * (6 - 4) + (6 - 5)
    assert await ledger.scrip("alice") == 100 - (2 * 4 + 5)
    assert await ledger.scrip("carol") == 108 and await ledger.scrip("bob") == 105
    assert await disk_quota(ledger, "alice") == 1030.0
    assert await disk_quota(ledger, "carol") == 980.0
    assert await disk_quota(ledger, "bob") == 980.0  # one lot still held by its open ask
    book = await exchange("alice", "book", good="disk:capacity")
    assert book == {
        "good": "disk:capacity",
        "bids": [],
        "asks": [{"price": 5, "lots": 1, "orders": 1}],
    }


async def test_time_priority_at_one_price_and_the_partial_fill_rests(
    exchange: Caller, ledger: Ledger
) -> None:
    first = await exchange("bob", "ask", good="disk:capacity", quantity=3, price=5)
    await exchange("carol", "ask", good="disk:capacity", quantity=3, price=5)
    out = await exchange("alice", "bid", good="disk:capacity", quantity=2, price=5)
    assert [(f["with_order"], f["quantity"]) for f in out["fills"]] == [(first["order_id"], 2)]
    mine = (await exchange("bob", "orders"))["orders"]
    assert [(o["order_id"], o["quantity"], o["remaining"]) for o in mine] == [
        (first["order_id"], 3, 1)
    ]


async def test_an_incoming_ask_trades_at_the_resting_bids_price(
    exchange: Caller, ledger: Ledger
) -> None:
    await exchange("alice", "bid", good="compute:rate", quantity=10, price=7)
    assert await ledger.scrip("alice") == 30  # 10 lots x 7 held
    out = await exchange("bob", "ask", good="compute:rate", quantity=4, price=5)
    assert [(f["quantity"], f["price"]) for f in out["fills"]] == [(4, 7)]
    assert await ledger.scrip("bob") == 128
    assert (await ledger.bucket("bob", "compute")).rate == pytest.approx(10 - 0.4)
    assert (await ledger.bucket("alice", "compute")).rate == pytest.approx(10 + 0.4)
    goods = {g["good"]: g for g in (await exchange("carol", "goods"))["goods"]}
    assert (goods["compute:rate"]["best_bid"], goods["compute:rate"]["last"]) == (7, 7)


async def test_an_order_that_would_trade_with_its_own_resting_order_is_refused(
    exchange: Caller, ledger: Ledger, db_path: Path
) -> None:
    mine = await exchange("alice", "ask", good="disk:capacity", quantity=2, price=5)
    before = snapshot(db_path)
    with pytest.raises(InvalidRequest) as refused:
        await exchange("alice", "bid", good="disk:capacity", quantity=1, price=6)
    assert str(refused.value) == (
        f"this bid would trade with your own resting order {mine['order_id']} on disk:capacity;"
        " cancel it first (genesis_exchange cancel) or change the price"
    )
    assert snapshot(db_path) == before
    # Not crossing its own order, it may rest beside it.
    await exchange("alice", "bid", good="disk:capacity", quantity=1, price=4)


async def test_cancel_returns_exactly_what_the_order_still_holds(
    exchange: Caller, ledger: Ledger
) -> None:
    bid = await exchange("alice", "bid", good="disk:capacity", quantity=5, price=3)
    await exchange("bob", "ask", good="disk:capacity", quantity=2, price=3)
    assert await ledger.scrip("alice") == 100 - 15
    out = await exchange("alice", "cancel", order_id=bid["order_id"])
    assert out == {
        "order_id": bid["order_id"],
        "returned": {"order_id": bid["order_id"], "scrip": 9},
    }
    assert await ledger.scrip("alice") == 100 - 6
    ask = await exchange("carol", "ask", good="disk:capacity", quantity=4, price=9)
    assert await disk_quota(ledger, "carol") == 960.0
    await exchange("carol", "cancel", order_id=ask["order_id"])
    assert await disk_quota(ledger, "carol") == 1000.0
    with pytest.raises(InvalidRequest, match=r"is cancelled already"):
        await exchange("carol", "cancel", order_id=ask["order_id"])
    other = await exchange("bob", "ask", good="disk:capacity", quantity=1, price=9)
    with pytest.raises(NotPermitted, match="is 'bob'"):
        await exchange("alice", "cancel", order_id=other["order_id"])


async def test_orders_expire_on_the_clock_and_give_back_what_they_held(
    exchange: Caller, ledger: Ledger, clock: ManualClock
) -> None:
    bid = await exchange("alice", "bid", good="disk:capacity", quantity=4, price=5, expires_in=10)
    ask = await exchange("bob", "ask", good="disk:capacity", quantity=3, price=9, expires_in=30)
    clock.advance(9.5)
    assert (await exchange("carol", "book", good="disk:capacity"))["bids"] != []
    clock.advance(1.0)  # the bid's time is up; no sweep has run yet, and the book knows
    assert (await exchange("carol", "book", good="disk:capacity"))["bids"] == []
    # The next order on the exchange closes it first: it cannot trade after its time.
    out = await exchange("carol", "ask", good="disk:capacity", quantity=1, price=1)
    assert out["fills"] == [] and out["status"] == "open"
    assert await ledger.scrip("alice") == 100
    clock.advance(20.0)
    swept = await ledger.submit(ops.ExchangeExpire(authority="world"))
    assert swept.details["expired"] == [{"order_id": ask["order_id"], "quantity": 3}]
    assert await disk_quota(ledger, "bob") == 1000.0
    assert (await ledger.submit(ops.ExchangeExpire(authority="world"))).details["expired"] == []
    with pytest.raises(InvalidRequest, match=rf"order {bid['order_id']} is expired already"):
        await exchange("alice", "cancel", order_id=bid["order_id"])


async def test_racing_bids_never_over_fill_an_ask(exchange: Caller, ledger: Ledger) -> None:
    for agent in ("dave", "erin", "frank", "gina", "hal"):
        await ledger.submit(ops.EnsurePrincipal(principal_id=agent, stock={"disk": 100.0}))
        await ledger.submit(ops.Mint(dst=agent, amount=50, authority="world"))
    await exchange("carol", "ask", good="disk:capacity", quantity=5, price=4)
    results: list[dict[str, Any]] = []

    async def buy(agent: str) -> None:
        results.append(await exchange(agent, "bid", good="disk:capacity", quantity=2, price=4))

    async with anyio.create_task_group() as tg:
        for agent in ("alice", "bob", "dave", "erin", "frank", "gina", "hal"):
            tg.start_soon(buy, agent)
    assert sum(r["filled"] for r in results) == 5
    assert await disk_quota(ledger, "carol") == 950.0
    assert await ledger.scrip("carol") == 120
    open_lots = sum(r["remaining"] for r in results)
    assert await ledger.scrip("genesis_exchange") == open_lots * 4


async def test_bought_units_fill_only_the_room_in_the_buyers_bucket(
    exchange: Caller, ledger: Ledger
) -> None:
    await ledger.submit(ops.Spend(principal="alice", resource="compute", amount=3.0))
    await exchange("bob", "ask", good="compute:units", quantity=10, price=2)
    out = await exchange("alice", "bid", good="compute:units", quantity=10, price=2)
    assert (out["filled"], out["remaining"]) == (3, 7)  # three lots of room, 7 rest
    assert (await ledger.bucket("alice", "compute")).available(ledger.clock.now()) == 100.0


async def test_a_fee_per_fill_is_paid_by_the_seller_and_burned(
    ledger: Ledger, tmp_path: Path, clock: ManualClock
) -> None:
    settings = parse_settings(
        {
            "world": {"genesis": str(tmp_path)},
            "resources": {"stock": {"disk": {"total": 3000, "unit": "bytes"}}},
            "exchange": {"fee": 2, "lots": {"disk:capacity": 1}},
        }
    )
    genesis = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    await genesis.install(ledger, authority="world")
    exchange = Caller(genesis, ledger, clock, "genesis_exchange")
    burned = (await ledger.supply()).burned
    await exchange("bob", "ask", good="disk:capacity", quantity=3, price=5)
    out = await exchange("alice", "bid", good="disk:capacity", quantity=3, price=5)
    assert out["fills"][0]["fee"] == 2
    assert await ledger.scrip("bob") == 100 + 15 - 2
    assert (await ledger.supply()).burned == burned + 2
    assert await disk_quota(ledger, "alice") == 1003.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"quantity": 0},
            "quantity: input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"quantity": -3},
            "quantity: input should be greater than or equal to 1 (got -3)",
        ),
        (
            {"price": 0},
            "price: a scrip amount must be a positive integer, got 0",
        ),
        (
            {"price": math.nan},
            "price: input should be a valid integer (got nan)",
        ),
        (
            {"expires_in": math.nan},
            "expires_in: input should be a finite number (got nan)",
        ),
        (
            {"quantity": 10**12},
            "quantity: input should be less than or equal to 1000000000 (got 1000000000000)",
        ),
    ],
)
async def test_malformed_orders_are_refused_naming_the_argument(
    exchange: Caller, db_path: Path, args: dict[str, Any], message: str
) -> None:
    before = snapshot(db_path)
    order = {"good": "disk:capacity", "quantity": 2, "price": 5, **args}
    with pytest.raises(InvocationError) as refused:
        await exchange("alice", "bid", **order)
    assert message in str(refused.value)
    assert snapshot(db_path) == before


@pytest.mark.parametrize(
    ("side", "args", "error", "message"),
    [
        (
            "bid",
            {"good": "gold:bars"},
            InvalidRequest,
            "there is no good 'gold:bars' on the exchange; its goods: compute:rate,"
            " compute:units, disk:capacity, llm_budget:capacity",
        ),
        (
            "bid",
            {"good": "compute"},
            InvalidRequest,
            "good must name a good as resource:side (compute:rate, compute:units,"
            " disk:capacity, ...), got 'compute'; see genesis_exchange goods",
        ),
        (
            "bid",
            {"quantity": 50, "price": 3},
            InsufficientScrip,
            "'alice' needs 150 scrip but has 100; move at most 100, or earn or receive scrip first",
        ),
        (
            "bid",
            {"quantity": 1_000_000_000, "price": 10**10},
            InvalidRequest,
            "price x quantity is 10,000,000,000,000,000,000 scrip, more than any balance can"
            " hold; order fewer lots or at a lower price",
        ),
        (
            "ask",
            {"quantity": 101},
            InsufficientResource,
            "only unused quota can be sold; ask for fewer lots or free some first",
        ),
        (
            "ask",
            {"good": "compute:rate", "quantity": 101},
            InsufficientResource,
            "your compute rate is 10 per second; ask for fewer lots",
        ),
    ],
)
async def test_orders_beyond_what_is_held_or_for_no_good_are_refused_exactly(
    exchange: Caller,
    db_path: Path,
    side: str,
    args: dict[str, Any],
    error: type[LedgerError],
    message: str,
) -> None:
    before = snapshot(db_path)
    order = {"good": "disk:capacity", "quantity": 2, "price": 5, **args}
    with pytest.raises(error) as refused:
        await exchange("alice", side, **order)
    assert message in str(refused.value)
    assert snapshot(db_path) == before


async def test_only_agents_trade_and_a_system_principal_cannot_sweep_for_them(
    exchange: Caller, ledger: Ledger
) -> None:
    with pytest.raises(NotPermitted, match="only agents trade on the exchange"):
        await exchange("world", "bid", good="disk:capacity", quantity=1, price=1)
    with pytest.raises(NotPermitted, match="only system principals may expire orders"):
        await ledger.submit(ops.ExchangeExpire(authority="alice"))


async def test_the_handbook_page_shows_the_opened_lots_and_its_worked_example_is_true(
    genesis: Genesis, exchange: Caller, ledger: Ledger
) -> None:
    page = genesis.handbook.read("exchange")
    assert "- `compute:rate`: one lot is 0.1" in page and "- `disk:capacity`: one lot is 10" in page
    assert "Fills cost no fee in this world." in page
    # Example 2, as the page tells it: asks at 2 (2 lots) and 3 (1 lot), then bid 5 at 3.
    await exchange("bob", "ask", good="compute:rate", quantity=2, price=2)
    await exchange("carol", "ask", good="compute:rate", quantity=1, price=3)
    out = await exchange("alice", "bid", good="compute:rate", quantity=5, price=3)
    assert "fills 2 lots at 2 and 1 at 3 (7 scrip paid; 2 come back" in page
    assert [(f["quantity"], f["price"]) for f in out["fills"]] == [(2, 2), (1, 3)]
    assert out["refunded"] == 2 and out["remaining"] == 2
    assert await ledger.scrip("alice") == 100 - 7 - 6  # 7 paid, 6 still held for 2 lots at 3
    assert "rests 2 lots at 3 (6 scrip still held)" in page


async def test_the_price_board_follows_orders_fills_and_expiry(
    genesis: Genesis, exchange: Caller, ledger: Ledger, clock: ManualClock
) -> None:
    board = PriceBoard(ledger)
    ledger.subscribe(board.on_events)
    disk = {q.good: q for q in await board.current(clock.now())}["disk:capacity"]
    assert (disk.bid, disk.ask, disk.last) == (None, None, None)
    await exchange("bob", "ask", good="disk:capacity", quantity=3, price=5, expires_in=30)
    await exchange("alice", "bid", good="disk:capacity", quantity=1, price=5)
    await exchange("alice", "bid", good="disk:capacity", quantity=1, price=2)
    disk = {q.good: q for q in await board.current(clock.now())}["disk:capacity"]
    assert (disk.bid, disk.ask, disk.last) == (2, 5, 5)
    assert "disk:capacity (lot 10) 2/5/5" in price_line(await board.current(clock.now()))
    clock.advance(31)  # bob's ask is past its time, though nothing swept it yet
    disk = {q.good: q for q in await board.current(clock.now())}["disk:capacity"]
    assert (disk.bid, disk.ask, disk.last) == (2, None, 5)
    ledger.unsubscribe(board.on_events)


async def test_the_runs_expiry_sweep_returns_what_an_expired_order_held_with_nobody_trading(
    genesis: Genesis, exchange: Caller, ledger: Ledger, clock: ManualClock
) -> None:
    await exchange("alice", "bid", good="disk:capacity", quantity=4, price=5, expires_in=20)
    await exchange("bob", "ask", good="disk:capacity", quantity=2, price=9, expires_in=50)
    assert await ledger.scrip("alice") == 80 and await disk_quota(ledger, "bob") == 980
    stop = anyio.Event()
    sweep = ExchangeExpiry(ledger, clock, authority="world", stop=stop)
    swept: list[anyio.Event] = [anyio.Event(), anyio.Event()]

    def on_events(events: Any) -> None:
        for e in events:
            if e.kind == EventKind.EXCHANGE_EXPIRED:
                next(x for x in swept if not x.is_set()).set()

    ledger.subscribe(on_events)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sweep.run)
        clock.advance(19)
        await anyio.sleep(0.2)
        assert await ledger.scrip("alice") == 80  # not yet due
        clock.advance(1)
        with anyio.fail_after(5):
            await swept[0].wait()
        assert await ledger.scrip("alice") == 100
        assert await disk_quota(ledger, "bob") == 980  # bob's still rests
        clock.advance(30)
        with anyio.fail_after(5):
            await swept[1].wait()
        assert await disk_quota(ledger, "bob") == 1000
        assert (await exchange("alice", "orders"))["orders"] == []
        stop.set()
    ledger.unsubscribe(on_events)
    assert rows(ledger.path, "SELECT status FROM exchange_orders ORDER BY id") == [
        [("expired",), ("expired",)]
    ]
