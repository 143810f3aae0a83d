"""genesis_exchange: resources for scrip at market prices (bid, ask, cancel, book, trades).

The kernel's operations (:mod:`agent_ecology.ledger.ops.exchange`) hold, match and move;
this module is the agent-facing interface, the reads, and the lots a world opens with.
"""

from __future__ import annotations

import json
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
from agent_ecology.ledger import Event, EventKind, Ledger, ResourceSpec, ops
from agent_ecology.ledger.ops.checks import Count, Scrip
from agent_ecology.ledger.ops.exchange import MAX_LOTS, MAX_ORDER_SECONDS

__all__ = [
    "ID",
    "PriceBoard",
    "Quote",
    "default_lots",
    "exchange_page",
    "make_exchange_artifact",
    "price_line",
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


def next_expiry(conn: sqlite3.Connection, now: float) -> float:
    """When the next open order still on the book expires (infinity if none will)."""
    (when,) = conn.execute(
        "SELECT min(expires_at) FROM exchange_orders"
        " WHERE status = 'open' AND expires_at IS NOT NULL AND expires_at > ?",
        (now,),
    ).fetchone()
    return math.inf if when is None else float(when)


_BOOK_EVENTS = frozenset(
    {
        EventKind.EXCHANGE_OPENED,
        EventKind.EXCHANGE_ORDER,
        EventKind.EXCHANGE_CANCELLED,
        EventKind.EXCHANGE_EXPIRED,
    }
)


class PriceBoard:
    """The quotes every agent's context shows, read again only when they may have changed:
    after an exchange event was committed, or when a resting order's time is up.

    Subscribe :meth:`on_events` to the ledger (the runtime does) and ask :meth:`current`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._quotes: list[Quote] | None = None
        self._until = math.inf

    def on_events(self, events: Sequence[Event]) -> None:
        if any(e.kind in _BOOK_EVENTS for e in events):
            self._quotes = None

    async def current(self, now: float) -> list[Quote]:
        if self._quotes is None or now >= self._until:

            def read(conn: sqlite3.Connection) -> tuple[list[Quote], float]:
                return quotes(conn, now), next_expiry(conn, now)

            board, self._until = await self.ledger.read(read)
            self._quotes = board
            return board
        return self._quotes


def _price(p: int | None) -> str:
    return "-" if p is None else str(p)


def price_line(board: Sequence[Quote]) -> str:
    """The quotes in one line, for an agent's context."""
    return "; ".join(
        f"{q.good} (lot {q.lot:g}) {_price(q.bid)}/{_price(q.ask)}/{_price(q.last)}" for q in board
    )


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


# --- the handbook's page ---------------------------------------------------------------------


def _invoke(method: str, **args: Any) -> str:
    body = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in args.items())
    return (
        f'`{{"action": "invoke", "artifact_id": "{ID}", "method": "{method}", "args": {{{body}}}}}`'
    )


def exchange_page(lots: Mapping[str, float], fee: int) -> str:
    """The handbook's page on the exchange, with this world's goods, lots and fee."""
    goods = sorted(lots)
    rate = next((g for g in goods if g.endswith(":rate")), "compute:rate")
    units = next((g for g in goods if g.endswith(":units")), "compute:units")
    resource = rate.split(":")[0]
    rate_lot, units_lot = lots.get(rate, 1.0), lots.get(units, 1.0)
    fee_text = (
        f"Each fill costs its seller a fee of {fee} scrip (taken from the proceeds, burned)."
        if fee
        else "Fills cost no fee in this world."
    )
    buy = _invoke("bid", good=rate, quantity=5, price=3)
    sell = _invoke("ask", good=units, quantity=10, price=2, expires_in=60)
    lines = [
        "# The exchange",
        "",
        f"`{ID}` is a market where agents buy and sell resources for scrip: a continuous"
        " double auction for each good. Selling a rate or a capacity is permanent: the quota"
        " becomes the buyer's (a reallocation, not a loan). Selling units hands over what your"
        " bucket holds now: the way to rescue an agent in debt, or to profit from a surplus.",
        "",
        "## Goods and lots",
        "",
        "A good is `resource:side`: a flow resource's `rate` (quota per second, for good),"
        " its `units` (what its bucket holds now) or a stock resource's `capacity` (quota)."
        " Orders are in whole lots, at a whole number of scrip per lot. This world's goods:",
        "",
        *(f"- `{g}`: one lot is {lots[g]:g}" for g in goods),
        "",
        *(
            []
            if goods
            else ["(The goods are listed here once the exchange opens; `goods` lists them.)"]
        ),
        "Every context shows each good's best bid / best ask / last price (`-`: none yet).",
        "",
        "## Rules",
        "",
        "- A bid holds its scrip (lots x price), an ask holds the quota it sells, until the"
        " order fills, you cancel it or it expires (`expires_in` seconds; default: never).",
        "- An order trades at once with the orders on the other side that it crosses: the best"
        " price first, the earlier first at one price, always at the resting order's price."
        " What is not filled rests on the book.",
        "- Your order may not trade with your own resting order: it is refused; cancel first.",
        f"- Bought units go into your bucket up to its capacity: a bid for `{units}` is cut to"
        " the lots that fit (the rest of its scrip comes back).",
        "- Only unused capacity can be sold (free disk first), only units your bucket holds,"
        " only rate you have.",
        f"- {fee_text}",
        "",
        "## Worked examples",
        "",
        f"1. See the market: {_invoke('goods')}, then one good's depth:"
        f" {_invoke('book', good=rate)}.",
        f"2. Buy {5 * rate_lot:g} {resource} per second for good: {buy} holds 15 scrip."
        " If asks rest at 2 (2 lots) and 3 (1 lot), it"
        " fills 2 lots at 2 and 1 at 3 (7 scrip paid; 2 come back, since 2 lots cost 1"
        " less than your price) and rests 2 lots at 3 (6 scrip still held); the result lists"
        " each fill.",
        f"3. Sell {10 * units_lot:g} {resource} you will not use soon, for at most 60 s:"
        f" {sell}. The units leave"
        " your bucket now; what is unsold after 60 s comes back (what no longer fits is lost).",
        f"4. Take an order back: {_invoke('cancel', order_id=7)} returns exactly what it still"
        " holds. Your open orders: " + _invoke("orders") + ".",
        f"5. What traded: {_invoke('trades', good=rate, limit=10)}.",
        "",
        "A price is what someone would pay: buy what you lack when it is cheaper than what it"
        " earns you, sell what you do not need.",
    ]
    return "\n".join(lines)


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
