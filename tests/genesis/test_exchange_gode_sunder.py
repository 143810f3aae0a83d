"""The mechanism regression of Gode and Sunder (1993), run through the real exchange.

Five buyers with induced values and five sellers with induced costs (three units each, a
fixed schedule) trade one good in periods. Each step a random trader with a unit left places
a one-lot order (replacing its open one, if any); after a trade the book is cleared, as in
their market. Zero-intelligence traders with the budget constraint (ZI-C) bid at random at
or below the value of their next unit and ask at or above its cost; unconstrained ones (ZI-U)
at random anywhere. Allocative efficiency is the surplus realised (the values of the units
bought less the costs of the units sold) over the most the schedule allows.

Ten markets (one good each, the same traders) run side by side, twenty periods each: the
writer batches their orders, and each period's random draws are its own. A ZI-C period ends
once no buyer's next unit is worth what some seller's next unit costs (no constrained orders
can cross after that), which changes no outcome and saves most of the steps.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import Ledger, ResourceSpec, ops

VALUES = {
    "b1": (190, 170, 150),
    "b2": (180, 160, 140),
    "b3": (175, 130, 100),
    "b4": (150, 120, 90),
    "b5": (125, 95, 70),
}
COSTS = {
    "s1": (30, 60, 90),
    "s2": (40, 75, 110),
    "s3": (55, 85, 130),
    "s4": (70, 100, 145),
    "s5": (80, 115, 160),
}
TOP = 200  # the highest price anyone may name
MARKETS, PERIODS, STEPS = 10, 20, 250


def max_surplus() -> int:
    values = sorted((v for vs in VALUES.values() for v in vs), reverse=True)
    costs = sorted(c for cs in COSTS.values() for c in cs)
    return sum(max(0, v - c) for v, c in zip(values, costs, strict=True))


@pytest.fixture
async def market(tmp_path: Path) -> AsyncIterator[Ledger]:
    ledger = await Ledger.open(tmp_path / "world.db", clock=ManualClock(1e6))
    goods = [f"w{m}" for m in range(MARKETS)]
    for good in goods:
        await ledger.submit(ops.DeclareResource.of(ResourceSpec(good, "stock", "units", total=1e9)))
    await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
    await ledger.submit(ops.EnsurePrincipal(principal_id=ops.EXCHANGE, principal_kind="system"))
    for buyer in VALUES:
        await ledger.submit(ops.EnsurePrincipal(principal_id=buyer))
        await ledger.submit(ops.Mint(dst=buyer, amount=10**9, authority="world"))
    for seller in COSTS:
        await ledger.submit(
            ops.EnsurePrincipal(
                principal_id=seller, stock={g: 6.0 * PERIODS for g in goods}
            )  # both runs
        )
    await ledger.submit(
        ops.ExchangeOpen(authority="world", lots={f"{g}:capacity": 1.0 for g in goods})
    )
    try:
        yield ledger
    finally:
        await ledger.close()


def tradeable(traded: dict[str, int]) -> bool:
    """Whether some buyer's next unit is worth at least some seller's next unit costs: only
    then can a ZI-C bid (at most the value) cross a ZI-C ask (at least the cost)."""
    values = [VALUES[b][traded[b]] for b in VALUES if traded[b] < 3]
    costs = [COSTS[s][traded[s]] for s in COSTS if traded[s] < 3]
    return bool(values and costs) and max(values) >= min(costs)


async def period(ledger: Ledger, good: str, rng: random.Random, constrained: bool) -> int:
    """One period on ``good``; the surplus it realised."""
    traded = dict.fromkeys([*VALUES, *COSTS], 0)
    open_orders: dict[str, int] = {}
    surplus = 0

    async def cancel(trader: str) -> None:
        order = open_orders.pop(trader, None)
        if order is not None:
            await ledger.submit(ops.ExchangeCancel(trader=trader, order_id=order))

    for _ in range(STEPS):
        active = [t for t, n in traded.items() if n < 3]
        trader = rng.choice(active)
        await cancel(trader)
        buyer = trader in VALUES
        limit = (VALUES if buyer else COSTS)[trader][traded[trader]]
        if constrained:
            price = rng.randint(1, limit) if buyer else rng.randint(limit, TOP)
        else:
            price = rng.randint(1, TOP)
        receipt = await ledger.submit(
            ops.ExchangeOrder(
                trader=trader, good=good, side="bid" if buyer else "ask", price=price, quantity=1
            )
        )
        fills = receipt.details["fills"]
        if not fills:
            open_orders[trader] = receipt.details["order_id"]
            continue
        (fill,) = fills
        other = fill["counterparty"]
        del open_orders[other]
        b, s = (trader, other) if buyer else (other, trader)
        surplus += VALUES[b][traded[b]] - COSTS[s][traded[s]]
        traded[b] += 1
        traded[s] += 1
        for t in list(open_orders):  # after a trade the book is cleared
            await cancel(t)
        if all(traded[t] == 3 for t in VALUES) or all(traded[t] == 3 for t in COSTS):
            break
        if constrained and not tradeable(traded):
            break  # no constrained bid can now meet a constrained ask: the rest is futile
    for t in list(open_orders):
        await cancel(t)
    return surplus


async def efficiencies(ledger: Ledger, *, constrained: bool, seed: int) -> list[float]:
    best = max_surplus()
    out: list[float] = []

    async def run_market(m: int) -> None:
        for p in range(PERIODS):
            rng = random.Random(f"{seed}:{m}:{p}")
            out.append(await period(ledger, f"w{m}:capacity", rng, constrained) / best)

    async with anyio.create_task_group() as tg:
        for m in range(MARKETS):
            tg.start_soon(run_market, m)
    return out


async def test_zi_c_traders_reach_95_percent_efficiency_and_zi_u_traders_do_not(
    market: Ledger,
) -> None:
    assert max_surplus() == 895  # by hand: 160 + 140 + 120 + 110 + 90 + 75 + 70 + 55 + 40 + 25 + 10
    zi_c = await efficiencies(market, constrained=True, seed=1993)
    zi_u = await efficiencies(market, constrained=False, seed=1993)
    assert len(zi_c) == len(zi_u) == MARKETS * PERIODS == 200
    mean_c, mean_u = sum(zi_c) / len(zi_c), sum(zi_u) / len(zi_u)
    print(f"allocative efficiency over 200 periods: ZI-C {mean_c:.1%}, ZI-U {mean_u:.1%}")
    assert mean_c >= 0.95, mean_c
    assert min(zi_c) > 0.75  # a constrained trader never trades at a loss: no period goes bad
    assert mean_u <= mean_c - 0.10, (mean_c, mean_u)  # the constraint, not the traders, allocates
    # The exchange held nothing back: every order is closed, every lot and scrip accounted.
    conn_rows = await market.read(
        lambda c: c.execute(
            "SELECT (SELECT count(*) FROM exchange_orders WHERE status = 'open'),"
            " (SELECT scrip FROM principals WHERE id = 'genesis_exchange'),"
            " (SELECT sum(quota) FROM stock_holdings WHERE resource = 'w0')"
        ).fetchone()
    )
    assert tuple(conn_rows) == (0, 0, 6.0 * PERIODS * len(COSTS))
