"""genesis_exchange: resources for scrip at market prices (bid, ask, cancel, book, trades).

The kernel's operations (:mod:`agent_ecology.ledger.ops.exchange`) hold, match and move;
this module is the agent-facing interface, the reads, and the lots a world opens with.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from agent_ecology.genesis.base import (
    Args,
    GenesisArtifact,
    Invocation,
    InvocationError,
    Method,
    page,
)
from agent_ecology.ledger import ResourceSpec, ops
from agent_ecology.ledger.ops.checks import Count, Scrip
from agent_ecology.ledger.ops.exchange import MAX_LOTS, MAX_ORDER_SECONDS

__all__ = [
    "ID",
    "Quote",
    "default_lots",
    "make_exchange_artifact",
    "quotes",
]

ID = ops.EXCHANGE


def _power_of_ten_below(x: float) -> float:
    return 10.0 ** math.floor(math.log10(x)) if x > 0 and math.isfinite(x) else 1.0


def default_lots(specs: Sequence[ResourceSpec], agents: int) -> dict[str, float]:
    """Each good's lot: the power of ten at or below a hundredth of one agent's starting
    quota of it (its rate, its bucket's capacity, its share of a stock), so that an agent
    holds on the order of a hundred lots of each."""
    lots: dict[str, float] = {}
    for spec in specs:
        if spec.kind == "flow":
            lots[ops.good_name(spec.name, "rate")] = _power_of_ten_below((spec.rate or 0) / 100)
            lots[ops.good_name(spec.name, "units")] = _power_of_ten_below(
                (spec.capacity or 0) / 100
            )
        else:
            share = (spec.total or 0) / max(1, agents)
            lots[ops.good_name(spec.name, "capacity")] = _power_of_ten_below(share / 100)
    return lots


# --- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """A good's prices now: best bid, best ask, the last fill (None where there is none)."""

    good: str
    lot: float
    bid: int | None
    ask: int | None
    last: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "good": self.good,
            "lot": self.lot,
            "best_bid": self.bid,
            "best_ask": self.ask,
            "last": self.last,
        }


def quotes(conn: sqlite3.Connection, now: float | None = None) -> list[Quote]:
    """Every good's quote; orders past their expiry (not yet swept) are left out."""
    t = math.inf if now is None else now
    rows = conn.execute(
        "SELECT g.good, g.lot,"
        " (SELECT max(price) FROM exchange_orders o WHERE o.good = g.good AND o.side = 'bid'"
        "   AND o.status = 'open' AND (o.expires_at IS NULL OR o.expires_at > ?)),"
        " (SELECT min(price) FROM exchange_orders o WHERE o.good = g.good AND o.side = 'ask'"
        "   AND o.status = 'open' AND (o.expires_at IS NULL OR o.expires_at > ?)),"
        " (SELECT price FROM exchange_fills f WHERE f.good = g.good ORDER BY f.id DESC LIMIT 1)"
        " FROM exchange_goods g ORDER BY g.good",
        (t, t),
    ).fetchall()
    return [Quote(str(r[0]), float(r[1]), r[2], r[3], r[4]) for r in rows]


def _book(conn: sqlite3.Connection, good: str, depth: int, now: float) -> dict[str, Any]:
    def side(name: str, order: str) -> list[dict[str, int]]:
        rows = conn.execute(
            "SELECT price, sum(remaining), count(*) FROM exchange_orders"
            " WHERE good = ? AND side = ? AND status = 'open'"
            " AND (expires_at IS NULL OR expires_at > ?)"
            f" GROUP BY price ORDER BY price {order} LIMIT ?",
            (good, name, now, depth),
        ).fetchall()
        return [{"price": int(p), "lots": int(q), "orders": int(n)} for p, q, n in rows]

    return {"good": good, "bids": side("bid", "DESC"), "asks": side("ask", "ASC")}


# --- the methods ------------------------------------------------------------------------------


class OrderArgs(Args):
    good: str = Field(description="resource:side, e.g. compute:rate (see goods)")
    quantity: int = Field(ge=1, le=MAX_LOTS, description="whole lots (see goods for a lot)")
    price: Scrip = Field(description="scrip per lot, a whole number")
    expires_in: float | None = Field(
        default=None,
        gt=0,
        le=MAX_ORDER_SECONDS,
        allow_inf_nan=False,
        description="seconds the order may rest on the book; default: until filled or cancelled",
    )


class CancelArgs(Args):
    order_id: Count = Field(description="from bid, ask or orders")


class BookArgs(Args):
    good: str = Field(description="resource:side, e.g. compute:rate")
    depth: int = Field(default=10, ge=1, le=100, description="price levels per side (<= 100)")


class TradesArgs(Args):
    good: str | None = Field(default=None, description="only this good's")
    after: int = Field(default=0, ge=0, description="fills with id greater than this")
    limit: int = Field(default=20, ge=1, le=100, description="at most this many (<= 100)")


class OrdersArgs(Args):
    after: int = Field(default=0, ge=0, description="orders with id greater than this")
    limit: int = Field(default=20, ge=1, le=100, description="at most this many (<= 100)")


class NoArgs(Args):
    pass


def _order(side: str) -> Any:
    async def handler(inv: Invocation, args: OrderArgs) -> Mapping[str, Any]:
        receipt = await inv.ledger.submit(
            ops.ExchangeOrder(
                trader=inv.actor,
                good=args.good,
                side=side,
                price=args.price,
                quantity=args.quantity,
                expires_in=args.expires_in,
            )
        )
        d = receipt.details
        out = {k: d[k] for k in ("order_id", "good", "filled", "remaining", "status", "fills")}
        if d["refunded"]:
            out["refunded"] = d["refunded"]
        return out

    return handler


async def _cancel(inv: Invocation, args: CancelArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(ops.ExchangeCancel(trader=inv.actor, order_id=args.order_id))
    return dict(receipt.details)


async def _goods(inv: Invocation, args: NoArgs) -> Mapping[str, Any]:
    now = inv.clock.now()
    return {"goods": [q.to_json() for q in await inv.ledger.read(lambda c: quotes(c, now))]}


async def _book_method(inv: Invocation, args: BookArgs) -> Mapping[str, Any]:
    now = inv.clock.now()
    known = await inv.ledger.read(
        lambda c: [str(r[0]) for r in c.execute("SELECT good FROM exchange_goods ORDER BY 1")]
    )
    if args.good not in known:
        raise InvocationError(
            "invalid_arguments",
            f"there is no good {args.good!r} on the exchange; its goods: {', '.join(known)}",
        )
    return await inv.ledger.read(lambda c: _book(c, args.good, args.depth, now))


async def _trades(inv: Invocation, args: TradesArgs) -> Mapping[str, Any]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        where = "id > ?" + (" AND good = ?" if args.good else "")
        params: tuple[Any, ...] = (args.after, args.good) if args.good else (args.after,)
        return conn.execute(
            "SELECT id, good, buyer_id, seller_id, price, quantity, fee, at FROM exchange_fills"
            f" WHERE {where} ORDER BY id LIMIT ?",
            (*params, args.limit),
        ).fetchall()

    rows = await inv.ledger.read(read)
    return page(
        "trades",
        rows,
        lambda r: {
            "fill_id": r[0],
            "good": r[1],
            "buyer": r[2],
            "seller": r[3],
            "price": r[4],
            "lots": r[5],
            "fee": r[6],
            "at": r[7],
        },
        lambda r: int(r[0]),
        after=args.after,
        limit=args.limit,
    )


async def _orders(inv: Invocation, args: OrdersArgs) -> Mapping[str, Any]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return conn.execute(
            "SELECT id, good, side, price, quantity, remaining, expires_at FROM exchange_orders"
            " WHERE trader_id = ? AND status = 'open' AND id > ? ORDER BY id LIMIT ?",
            (inv.actor, args.after, args.limit),
        ).fetchall()

    rows = await inv.ledger.read(read)
    return page(
        "orders",
        rows,
        lambda r: {
            "order_id": r[0],
            "good": r[1],
            "side": r[2],
            "price": r[3],
            "quantity": r[4],
            "remaining": r[5],
            "expires_at": r[6],
        },
        lambda r: int(r[0]),
        after=args.after,
        limit=args.limit,
    )


def make_exchange_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "A market for resources: a continuous double auction per good, for scrip. Goods:"
        " a flow resource's rate (quota per second, for good: compute:rate), its units (what"
        " its bucket holds now: compute:units) and a stock resource's capacity (quota:"
        " disk:capacity), each in whole lots (see goods). An order is held until it fills,"
        " you cancel it or it expires: a bid holds its scrip, an ask the quota it sells. It"
        " trades at once with orders on the other side at its price or better, best price"
        " first, at the resting order's price; what is left rests on the book.",
    )
    art.add(
        Method(
            "goods",
            "Every good: its lot, best bid, best ask and last price.",
            NoArgs,
            _goods,
            {},
            returns="{goods: [{good, lot, best_bid, best_ask, last}]}",
        )
    )
    for side, verb in (("bid", "Buy"), ("ask", "Sell")):
        art.add(
            Method(
                side,
                f"{verb} up to quantity lots of a good at price scrip per lot or better.",
                OrderArgs,
                _order(side),
                {"good": "compute:rate", "quantity": 5, "price": 3 if side == "bid" else 4},
                returns="{order_id, good, filled, remaining, status, fills: [{with_order,"
                " counterparty, quantity, price, fee}], refunded?}",
            )
        )
    art.add(
        Method(
            "cancel",
            "Take your open order back: what it still holds returns to you.",
            CancelArgs,
            _cancel,
            {"order_id": 7},
            returns="{order_id, returned: {scrip | quantity}}",
        )
    )
    art.add(
        Method(
            "book",
            "A good's open orders by price level: bids highest first, asks lowest first.",
            BookArgs,
            _book_method,
            {"good": "compute:rate", "depth": 5},
            returns="{good, bids: [{price, lots, orders}], asks: [...]}",
        )
    )
    art.add(
        Method(
            "trades",
            "Fills, oldest first (of one good, or all).",
            TradesArgs,
            _trades,
            {"good": "compute:rate", "limit": 10},
            returns="{trades: [{fill_id, good, buyer, seller, price, lots, fee, at}],"
            " next_after, more}",
        )
    )
    art.add(
        Method(
            "orders",
            "Your open orders, oldest first.",
            OrdersArgs,
            _orders,
            {"limit": 10},
            returns="{orders: [{order_id, good, side, price, quantity, remaining,"
            " expires_at}], next_after, more}",
        )
    )
    return art
