"""The resource exchange: a continuous double auction per good, for scrip.

A **good** is one side of a resource that can change hands: a flow resource's ``rate`` (quota
per second, for good), its ``units`` (what its bucket holds now) or a stock resource's
``capacity`` (quota). It is named ``<resource>:<side>`` (``compute:rate``, ``disk:capacity``)
and traded in whole **lots** of a size fixed when the exchange opens, at whole scrip per lot,
so that every amount the exchange moves is exact.

Orders are escrowed: a bid's scrip (its remaining lots x its price) is held by the
``genesis_exchange`` principal, an ask's quota (its remaining lots x the lot) is taken from
its seller and held in the order itself until it fills, is cancelled or expires. An incoming
order fills against the resting orders of the other side that it crosses, best price first,
the earlier first at one price, at the resting order's price; partial fills leave the rest
resting (or, for an order that crosses its own trader's resting order, the order is refused).
Each order and all its fills are one transaction. A fill's fee (``fee`` scrip, default 0) is
paid by the seller from its proceeds, and burned.

Bought units go into the buyer's bucket up to its capacity: a fill of units is cut to the lots
that fit, and a resting bid that fits none is cancelled (its scrip returned). Units returned
to a seller (cancel, expiry) that no longer fit its bucket are lost, and said so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, NamedTuple, TypedDict

from agent_ecology.ledger import buckets
from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    NotPermitted,
    UnknownPrincipal,
)
from agent_ecology.ledger.kinds import EventKind, OrderStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    EXCHANGE,
    MAX_SCRIP,
    Count,
    PrincipalId,
    Rule,
    Scrip,
    ScripOrZero,
)
from agent_ecology.ledger.ops.tx import Tx

__all__ = [
    "GOOD_SIDES",
    "MAX_LOTS",
    "MAX_ORDER_SECONDS",
    "ExchangeCancel",
    "ExchangeExpire",
    "ExchangeOpen",
    "ExchangeOrder",
    "good_name",
]

GOOD_SIDES = {"flow": ("rate", "units"), "stock": ("capacity",)}
"""What of each kind of resource is traded."""

MAX_LOTS = 1_000_000_000
"""The most lots one order may be for."""

MAX_ORDER_SECONDS = 7 * 24 * 3600.0
"""The longest an order may rest before it expires (``expires_in``)."""

_SIDES = ("bid", "ask")


def good_name(resource: str, side: str) -> str:
    return f"{resource}:{side}"


def _good(value: object, name: str) -> str:
    if not isinstance(value, str) or value.count(":") != 1:
        raise InvalidRequest(
            f"{name} must name a good as resource:side (compute:rate, compute:units,"
            f" disk:capacity, ...), got {value!r}; see genesis_exchange goods"
        )
    return value


def _lots(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LOTS:
        raise InvalidRequest(
            f"{name} must be a whole number of lots from 1 to {MAX_LOTS:,}, got {value!r}"
        )
    return value


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_ORDER_SECONDS:
        raise InvalidRequest(
            f"{name} must be more than 0 and at most {MAX_ORDER_SECONDS:g} seconds (a week),"
            f" got {value!r}"
        )
    return seconds


def _side(value: object, name: str) -> str:
    if value not in _SIDES:
        raise InvalidRequest(f"{name} must be 'bid' or 'ask', got {value!r}")
    return str(value)


Good = Annotated[str, Rule(_good)]
Lots = Annotated[int, Rule(_lots)]
Seconds = Annotated[float, Rule(_seconds)]
Side = Annotated[str, Rule(_side)]


class _GoodRow(NamedTuple):
    resource: str
    kind: str  # rate | units | capacity
    lot: float
    fee: int


def _good_row(tx: Tx, good: str) -> _GoodRow:
    row = tx.conn.execute(
        "SELECT resource, side, lot, fee FROM exchange_goods WHERE good = ?", (good,)
    ).fetchone()
    if row is None:
        known = [str(r[0]) for r in tx.conn.execute("SELECT good FROM exchange_goods ORDER BY 1")]
        raise InvalidRequest(
            f"there is no good {good!r} on the exchange; its goods: {', '.join(known) or 'none'}"
        )
    return _GoodRow(str(row[0]), str(row[1]), float(row[2]), int(row[3]))


# --- quota in and out of orders ---------------------------------------------------------------


def _take(tx: Tx, who: str, good: _GoodRow, amount: float) -> None:
    """Take ``amount`` of ``good`` from ``who`` into an ask (refused if it does not hold it)."""
    if good.kind == "capacity":
        quota, used = tx.stock(who, good.resource)
        if quota - used < amount - 1e-9:
            raise InsufficientResource(
                who,
                good.resource,
                amount,
                quota - used,
                "only unused quota can be sold; ask for fewer lots or free some first",
            )
        tx.conn.execute(
            "UPDATE stock_holdings SET quota = max(used, quota - ?)"
            " WHERE principal_id = ? AND resource = ?",
            (amount, who, good.resource),
        )
        return
    bucket = buckets.settle(tx.bucket(who, good.resource), tx.now)
    if good.kind == "rate":
        if bucket.rate < amount - 1e-12:
            raise InsufficientResource(
                who,
                good.resource,
                amount,
                bucket.rate,
                f"your {good.resource} rate is {bucket.rate:g} per second; ask for fewer lots",
            )
        new = Bucket(bucket.balance, tx.now, max(0.0, bucket.rate - amount), bucket.capacity)
    else:
        if bucket.balance < amount - 1e-9:
            raise InsufficientResource(
                who,
                good.resource,
                amount,
                bucket.balance,
                "only what the bucket holds now can be sold; ask for fewer lots",
            )
        new = Bucket(bucket.balance - amount, tx.now, bucket.rate, bucket.capacity)
    tx.put_bucket(who, good.resource, new)


def _room(tx: Tx, who: str, good: _GoodRow) -> float:
    """How much of ``good`` ``who`` can receive (infinite but for units: its bucket's room)."""
    if good.kind != "units":
        return math.inf
    bucket = tx.bucket(who, good.resource)
    return max(0.0, bucket.capacity - bucket.available(tx.now))


def _give(tx: Tx, who: str, good: _GoodRow, amount: float) -> float:
    """Give ``amount`` of ``good`` to ``who``; returns what did not fit (units only)."""
    if good.kind == "capacity":
        row = tx.conn.execute(
            "UPDATE stock_holdings SET quota = quota + ? WHERE principal_id = ? AND resource = ?"
            " RETURNING quota",
            (amount, who, good.resource),
        ).fetchone()
        if row is None:
            tx.stock(who, good.resource)  # raises: says why it holds none
        return 0.0
    bucket = buckets.settle(tx.bucket(who, good.resource), tx.now)
    if good.kind == "rate":
        tx.put_bucket(
            who,
            good.resource,
            Bucket(bucket.balance, tx.now, bucket.rate + amount, bucket.capacity),
        )
        return 0.0
    fits = min(amount, max(0.0, bucket.capacity - bucket.balance))
    tx.put_bucket(
        who, good.resource, Bucket(bucket.balance + fits, tx.now, bucket.rate, bucket.capacity)
    )
    return amount - fits


# --- closing orders ------------------------------------------------------------------------------


class _Order(NamedTuple):
    id: int
    trader: str
    good: str
    side: str
    price: int
    remaining: int


_ORDER = "SELECT id, trader_id, good, side, price, remaining FROM exchange_orders"


def _close(tx: Tx, order: _Order, status: OrderStatus) -> dict[str, Any]:
    """Close an open order (cancelled or expired): give back what it holds; what was given."""
    back: dict[str, Any] = {"order_id": order.id}
    if order.side == "bid":
        scrip = order.remaining * order.price
        if scrip:
            tx.move_scrip(EXCHANGE, order.trader, scrip)
        back["scrip"] = scrip
    else:
        good = _good_row(tx, order.good)
        amount = order.remaining * good.lot
        lost = _give(tx, order.trader, good, amount) if amount else 0.0
        back["quantity"] = order.remaining
        if lost:
            back["lost"] = lost
    tx.conn.execute(
        "UPDATE exchange_orders SET status = ?, closed_at = ? WHERE id = ?",
        (status, tx.now, order.id),
    )
    return back


_CROSSING_BATCH = 64

# The book's queries name the open status as a literal, not a bound parameter: only then does
# SQLite's planner use the partial indexes (``WHERE status = 'open'``) for every execution of
# the cached statement (about 3x faster on a book with a long history).
_OPEN = f"status = '{OrderStatus.OPEN}'"
_DUE = f"{_OPEN} AND expires_at IS NOT NULL AND expires_at <= ?"


def _crossing(tx: Tx, good: str, side: str, limit: int, bid: bool, wanted: int) -> Iterator[_Order]:
    """The open orders on ``side`` of ``good`` that an incoming order at ``limit`` crosses,
    best price first, then oldest, read in batches (a deep book is not read whole): the first
    batch is no longer than the ``wanted`` lots need (every order holds at least one)."""
    order, worse = ("ASC", ">") if bid else ("DESC", "<")
    crosses = "price <= ?" if bid else "price >= ?"
    query = (
        f"{_ORDER} WHERE good = ? AND side = ? AND {_OPEN} AND {crosses}"
        f" AND (price {worse} ? OR (price = ? AND id > ?))"
        f" ORDER BY price {order}, id ASC LIMIT ?"
    )
    after_price, after_id = (0.0, 0) if bid else (math.inf, 0)
    size = max(1, min(wanted, _CROSSING_BATCH))
    while True:
        batch = [
            _Order(*r)
            for r in tx.conn.execute(
                query, (good, side, limit, after_price, after_price, after_id, size)
            ).fetchall()
        ]
        yield from batch
        if len(batch) < size:
            return
        after_price, after_id = batch[-1].price, batch[-1].id
        size = _CROSSING_BATCH


def _expire_due(tx: Tx) -> list[dict[str, Any]]:
    """Close every open order whose time is up (before any order is matched)."""
    due = [
        _Order(*r)
        for r in tx.conn.execute(f"{_ORDER} WHERE {_DUE} ORDER BY id", (tx.now,)).fetchall()
    ]
    return [_close(tx, order, OrderStatus.EXPIRED) for order in due]


class _Standing(NamedTuple):
    """What an order needs to know before it matches, read in one statement."""

    kind: str  # the trader's principal kind
    scrip: int
    good: _GoodRow | None  # None: no such good
    own: int | None  # the trader's oldest open order that the new one would cross
    due: bool  # whether some open order's time is up


def _standing(tx: Tx, trader: str, good: str, theirs: str, price: int, bid: bool) -> _Standing:
    crosses = "price <= ?" if bid else "price >= ?"
    row = tx.conn.execute(
        "SELECT p.kind, p.scrip, g.resource, g.side, g.lot, g.fee,"
        f" (SELECT id FROM exchange_orders WHERE good = ? AND side = ? AND {_OPEN}"
        f"  AND {crosses} AND trader_id = ? ORDER BY id LIMIT 1),"
        f" EXISTS (SELECT 1 FROM exchange_orders WHERE {_DUE})"
        " FROM principals p LEFT JOIN exchange_goods g ON g.good = ? WHERE p.id = ?",
        (good, theirs, price, trader, tx.now, good, trader),
    ).fetchone()
    if row is None:
        raise UnknownPrincipal(trader)
    kind, scrip, resource, good_side, lot, fee, own, due = row
    row_good = (
        None if resource is None else _GoodRow(str(resource), str(good_side), float(lot), int(fee))
    )
    return _Standing(str(kind), int(scrip), row_good, own, bool(due))


# --- opening the exchange -------------------------------------------------------------------------


class ExchangeOpenDetails(TypedDict):
    goods: dict[str, float]


@operation(EventKind.EXCHANGE_OPENED)
class ExchangeOpen(Operation[ExchangeOpenDetails]):
    """Declare the goods and their lots (system only). A good's lot cannot change while it
    has open orders: they hold quota counted in lots."""

    authority: PrincipalId
    lots: Mapping[str, float]
    fee: ScripOrZero = 0

    def check(self) -> None:
        for good, lot in self.lots.items():
            _good(good, "good")
            if isinstance(lot, bool) or not isinstance(lot, int | float):
                raise InvalidRequest(f"the lot of {good} must be a number, got {lot!r}")
            if not math.isfinite(lot) or lot <= 0:
                raise InvalidRequest(f"the lot of {good} must be a positive number, got {lot!r}")

    def hashed_fields(self) -> dict[str, Any]:
        return {"authority": self.authority, "lots": sorted(self.lots.items()), "fee": self.fee}

    def apply(self, tx: Tx) -> ExchangeOpenDetails:
        tx.require_system(self.authority, "open the exchange")
        changed: dict[str, float] = {}
        for good, lot in sorted(self.lots.items()):
            resource, side = good.split(":")
            kind = tx.resource_kind(resource)
            if side not in GOOD_SIDES[kind]:
                raise InvalidRequest(
                    f"{resource} is a {kind} resource: its goods are "
                    + ", ".join(good_name(resource, s) for s in GOOD_SIDES[kind])
                )
            row = tx.conn.execute(
                "SELECT lot, fee FROM exchange_goods WHERE good = ?", (good,)
            ).fetchone()
            if row is not None and float(row[0]) == float(lot) and int(row[1]) == self.fee:
                continue
            if row is not None and float(row[0]) != float(lot):
                busy = tx.conn.execute(
                    f"SELECT count(*) FROM exchange_orders WHERE good = ? AND {_OPEN}", (good,)
                ).fetchone()[0]
                if busy:
                    raise InvalidRequest(
                        f"{good} has {busy} open order(s) counted in lots of {row[0]:g}; its lot"
                        " can change only when none is open"
                    )
            tx.conn.execute(
                "INSERT INTO exchange_goods (good, resource, side, lot, fee) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (good) DO UPDATE SET lot = excluded.lot, fee = excluded.fee",
                (good, resource, side, float(lot), self.fee),
            )
            changed[good] = float(lot)
        if changed:
            tx.event(
                EventKind.EXCHANGE_OPENED,
                actor=self.authority,
                details={"goods": changed, "fee": self.fee},
            )
        return {"goods": changed}


# --- orders ---------------------------------------------------------------------------------------


class Fill(TypedDict):
    with_order: int
    counterparty: str
    quantity: int
    price: int
    fee: int


class ExchangeOrderDetails(TypedDict):
    order_id: int
    good: str
    side: str
    price: int
    quantity: int
    filled: int
    remaining: int
    status: str
    fills: list[Fill]
    refunded: int
    cancelled_no_room: list[int]
    expired: list[dict[str, Any]]


@operation(EventKind.EXCHANGE_ORDER)
class ExchangeOrder(Operation[ExchangeOrderDetails]):
    """A limit order: buy (``bid``) or sell (``ask``) ``quantity`` lots of ``good`` at
    ``price`` scrip per lot or better; what does not fill at once rests on the book (until
    ``expires_in`` seconds have passed, if given)."""

    trader: PrincipalId
    good: Good
    side: Side
    price: Scrip
    quantity: Lots
    expires_in: Seconds | None = None

    def check(self) -> None:
        if self.price * self.quantity > MAX_SCRIP:
            raise InvalidRequest(
                f"price x quantity is {self.price * self.quantity:,} scrip, more than any"
                " balance can hold; order fewer lots or at a lower price"
            )

    def apply(self, tx: Tx) -> ExchangeOrderDetails:
        bid = self.side == "bid"
        theirs = "ask" if bid else "bid"
        # The trader, the good, a crossed own order and whether any order is due, in one read;
        # read again after the due orders are closed (one of them may have been that own order).
        standing = _standing(tx, self.trader, self.good, theirs, self.price, bid)
        expired: list[dict[str, Any]] = []
        if standing.due:
            expired = _expire_due(tx)
            standing = _standing(tx, self.trader, self.good, theirs, self.price, bid)
        if standing.kind != "agent":
            raise NotPermitted(self.trader, "only agents trade on the exchange")
        good = standing.good or _good_row(tx, self.good)  # (the latter raises: no such good)
        total = self.price * self.quantity
        # What the order offers must be there before anything is matched: a bid's scrip (its
        # balance is checked now and debited once, at the end, net of what the fills paid
        # for less), an ask's quota (taken into the order now).
        if bid:
            if standing.scrip < total:
                raise InsufficientScrip(self.trader, total, standing.scrip)
        else:
            _take(tx, self.trader, good, self.quantity * good.lot)
        if standing.own is not None:
            raise InvalidRequest(
                f"this {self.side} would trade with your own resting order {standing.own} on"
                f" {self.good}; cancel it first (genesis_exchange cancel) or change the price"
            )
        left = self.quantity
        fills: list[Fill] = []
        rows: list[tuple[Any, ...]] = []  # the fills' rows, written once the order has its id
        refunded = paid = to_seller = fees = 0
        no_room: list[int] = []
        for other in _crossing(tx, self.good, theirs, self.price, bid, self.quantity):
            buyer = self.trader if bid else other.trader
            seller = other.trader if bid else self.trader
            q = min(left, other.remaining)
            room = _room(tx, buyer, good)
            if room < q * good.lot - 1e-9:
                q = min(q, int((room + 1e-9) // good.lot))
            if q == 0:
                if bid:
                    break  # this bid's buyer has no room for any lot: it rests
                _close(tx, other, OrderStatus.CANCELLED)  # a resting bid that fits nothing
                no_room.append(other.id)
                continue
            price = other.price  # the resting order's price
            proceeds = price * q
            fee = min(good.fee, proceeds)
            fees += fee
            paid += proceeds
            if bid:  # the buyer pays from its balance (below); the seller is paid now
                if proceeds > fee:
                    tx.credit_scrip(seller, proceeds - fee)
                refunded += (self.price - price) * q  # held at the bid's price, paid at its own
            else:  # the resting bid's scrip is the exchange's: paid out below, in one move
                to_seller += proceeds - fee
            _give(tx, buyer, good, q * good.lot)
            left -= q
            other_left = other.remaining - q
            if other_left:  # (no indexed column changes: a cheaper update)
                tx.conn.execute(
                    "UPDATE exchange_orders SET remaining = ? WHERE id = ?", (other_left, other.id)
                )
            else:
                tx.conn.execute(
                    "UPDATE exchange_orders SET remaining = 0, status = ?, closed_at = ?"
                    " WHERE id = ?",
                    (OrderStatus.FILLED, tx.now, other.id),
                )
            rows.append((other.id, buyer, seller, price, q, fee))
            fills.append(
                {
                    "with_order": other.id,
                    "counterparty": other.trader,
                    "quantity": q,
                    "price": price,
                    "fee": fee,
                }
            )
            if left == 0:  # (before the book is read any further)
                break
        if bid:  # what the fills cost, and what rests: held by the exchange
            if paid + left * self.price:
                tx.debit_scrip(self.trader, paid + left * self.price)
            if left:
                tx.credit_scrip(EXCHANGE, left * self.price)
        elif paid:
            tx.debit_scrip(EXCHANGE, paid)
            if to_seller:
                tx.credit_scrip(self.trader, to_seller)
        if fees:
            tx.conn.execute("UPDATE scrip_supply SET burned = burned + ? WHERE id = 1", (fees,))
        status = OrderStatus.OPEN if left else OrderStatus.FILLED
        cur = tx.conn.execute(
            "INSERT INTO exchange_orders (trader_id, good, side, price, quantity, remaining,"
            " status, created_at, expires_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.trader,
                self.good,
                self.side,
                self.price,
                self.quantity,
                left,
                status,
                tx.now,
                None if self.expires_in is None else tx.now + self.expires_in,
                None if left else tx.now,
            ),
        )
        order_id = int(cur.lastrowid or 0)
        if rows:
            tx.conn.executemany(
                "INSERT INTO exchange_fills (good, bid_id, ask_id, buyer_id, seller_id, price,"
                " quantity, fee, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.good,
                        order_id if bid else other_id,
                        other_id if bid else order_id,
                        buyer,
                        seller,
                        price,
                        q,
                        fee,
                        tx.now,
                    )
                    for other_id, buyer, seller, price, q, fee in rows
                ],
            )
        details: ExchangeOrderDetails = {
            "order_id": order_id,
            "good": self.good,
            "side": self.side,
            "price": self.price,
            "quantity": self.quantity,
            "filled": self.quantity - left,
            "remaining": left,
            "status": str(status),
            "fills": fills,
            "refunded": refunded,
            "cancelled_no_room": no_room,
            "expired": expired,
        }
        tx.event(
            EventKind.EXCHANGE_ORDER,
            by=self.trader,
            resource=good.resource,
            amount=float(self.quantity - left),
            details=details,
        )
        return details


class ExchangeCancelDetails(TypedDict):
    order_id: int
    returned: dict[str, Any]


@operation(EventKind.EXCHANGE_CANCELLED)
class ExchangeCancel(Operation[ExchangeCancelDetails]):
    """Take an open order back: only its trader may; what it still holds is returned."""

    trader: PrincipalId
    order_id: Count

    def apply(self, tx: Tx) -> ExchangeCancelDetails:
        expired = _expire_due(tx)
        row = tx.conn.execute(
            "SELECT id, trader_id, good, side, price, remaining, status FROM exchange_orders"
            " WHERE id = ?",
            (self.order_id,),
        ).fetchone()
        if row is None:
            raise InvalidRequest(
                f"there is no order {self.order_id}; see yours with genesis_exchange orders"
            )
        order, status = _Order(*row[:6]), OrderStatus(row[6])
        if order.trader != self.trader:
            raise NotPermitted(self.trader, f"order {self.order_id} is {order.trader!r}'s")
        if status is not OrderStatus.OPEN:
            if any(e["order_id"] == order.id for e in expired):
                status = OrderStatus.EXPIRED
            raise InvalidRequest(f"order {self.order_id} is {status} already")
        returned = _close(tx, order, OrderStatus.CANCELLED)
        tx.event(
            EventKind.EXCHANGE_CANCELLED,
            by=self.trader,
            details={"order_id": order.id, "returned": returned, "expired": expired},
        )
        return {"order_id": order.id, "returned": returned}


class ExchangeExpireDetails(TypedDict):
    expired: list[dict[str, Any]]


@operation(EventKind.EXCHANGE_EXPIRED)
class ExchangeExpire(Operation[ExchangeExpireDetails]):
    """Close the orders whose time is up, returning what they hold (the world's sweep)."""

    authority: PrincipalId

    def apply(self, tx: Tx) -> ExchangeExpireDetails:
        tx.require_system(self.authority, "expire orders")
        expired = _expire_due(tx)
        if expired:
            tx.event(EventKind.EXCHANGE_EXPIRED, actor=self.authority, details={"expired": expired})
        return {"expired": expired}
