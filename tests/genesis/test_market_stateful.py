"""All five market artifacts plus transfers, driven by hypothesis; invariants after each step.

Scrip is conserved (the held bids are the oracle's balance, so balances, held bids included,
sum to minted minus burned), no balance is negative, every artifact has one existing owner,
no listing or bid is left half-done, and each agent's disk use equals the bytes it owns or
has listed. The exchange holds exactly what its open orders hold (a bid's scrip, an ask's
quota or units), each stock's quota and each flow's rate are conserved across everyone, the
exchange included, and no agent uses more of a stock than its quota.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from agent_ecology.agents import action_shapes
from agent_ecology.config import OracleSettings, parse_settings
from agent_ecology.genesis import Genesis, Invocation, InvocationError
from agent_ecology.genesis.oracle import resolve
from agent_ecology.ledger import LedgerError, ops
from tests.conftest import AGENTS
from tests.ledger.machine import LedgerMachine

agents = st.sampled_from(AGENTS)
names = st.sampled_from(["x", "y", "z"])
amounts = st.integers(1, 60)


class Market(LedgerMachine):
    def __init__(self) -> None:
        super().__init__()
        config = parse_settings({"world": {"genesis": str(self.dir)}})
        self.genesis = Genesis.build(config, actions_text=action_shapes(), provider="p", agents=3)
        self.run(self.genesis.install(self.ledger, authority="world"))
        for agent in AGENTS:
            self.submit(ops.EnsureAgent(agent_id=agent, config={"model": "m"}))

    def call(self, who: str, artifact: str, method: str, **args: Any) -> Any:
        inv = Invocation(who, self.ledger, self.clock)
        try:
            result = self.run(self.genesis.invoke(inv, f"genesis_{artifact}", method, args))
        except (LedgerError, InvocationError):
            event(f"{artifact}.{method}: refused")
            return None  # a refusal: the invariants check it left nothing behind
        event(f"{artifact}.{method}: done")
        return result

    def sql(self, query: str, *params: Any) -> list[Any]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    # --- the world's moves ----------------------------------------------------------------

    @rule(who=agents, name=names, size=st.integers(1, 120))
    def write(self, who: str, name: str, size: int) -> None:
        with contextlib.suppress(LedgerError):
            self.submit(
                ops.WriteArtifact(
                    actor=who, artifact_id=f"{who}/{name}", content="w " * (size // 2) + name
                )
            )

    @initialize()
    def some_artifacts(self) -> None:
        for agent in AGENTS:
            for name in ("x", "y"):
                text = f"{agent} on {name}: " + " ".join(f"word{i}" for i in range(12))
                self.submit(
                    ops.WriteArtifact(actor=agent, artifact_id=f"{agent}/{name}", content=text)
                )

    @rule(who=agents, to=agents, amount=amounts)
    def pay(self, who: str, to: str, amount: int) -> None:
        self.call(who, "ledger", "transfer", to=to, amount=amount)

    def pick(self, query: str, n: int, *params: Any) -> Any:
        rows = self.sql(query, *params)
        return rows[n % len(rows)] if rows else None

    @rule(who=agents, n=st.integers(0, 20), price=amounts, mine=st.booleans())
    def list_for_sale(self, who: str, n: int, price: int, mine: bool) -> None:
        row = self.pick(
            "SELECT id FROM artifacts WHERE owner_id = ? ORDER BY id"
            if mine
            else "SELECT id FROM artifacts WHERE owner_id != ? ORDER BY id",
            n,
            who,
        )
        if row:
            self.call(who, "escrow", "deposit", artifact_id=row[0], price=price)

    @rule(who=agents, pick=st.integers(0, 10))
    def buy(self, who: str, pick: int) -> None:
        listings = self.sql("SELECT id FROM escrow_listings WHERE status = 'active' ORDER BY id")
        if listings:
            self.call(who, "escrow", "purchase", listing_id=listings[pick % len(listings)][0])

    @rule(who=agents, pick=st.integers(0, 10))
    def cancel(self, who: str, pick: int) -> None:
        listings = self.sql("SELECT id FROM escrow_listings ORDER BY id")
        if listings:
            self.call(who, "escrow", "cancel", listing_id=listings[pick % len(listings)][0])

    @rule(who=agents, n=st.integers(0, 20), amount=amounts)
    def bid(self, who: str, n: int, amount: int) -> None:
        row = self.pick("SELECT id FROM artifacts WHERE id NOT LIKE 'genesis_%' ORDER BY id", n)
        if row:
            self.call(who, "oracle", "bid", artifact_id=row[0], amount=amount)

    @rule(n=st.integers(0, 20))
    def withdraw(self, n: int) -> None:
        row = self.pick(
            "SELECT bidder_id, artifact_id FROM oracle_bids WHERE status = 'active' ORDER BY id", n
        )
        if row:
            self.call(row[0], "oracle", "withdraw", artifact_id=row[1])

    @rule(slots=st.integers(1, 3), paid=st.sampled_from(["burn", "share"]))
    def resolve_oracle(self, slots: int, paid: str) -> None:
        self.clock.advance(60)
        config = OracleSettings(slots=slots, mint_per_point=3, max_mint=20, paid=paid)
        self.run(resolve(self.ledger, config, self.clock.now(), authority="world"))

    @rule(who=agents, lender=agents, principal=amounts, rate=st.sampled_from([0, 0.1, 0.5]))
    def borrow(self, who: str, lender: str, principal: int, rate: float) -> None:
        self.call(
            who,
            "debt",
            "issue",
            creditor_id=lender,
            principal=principal,
            interest_rate=rate,
            due_in=30,
        )

    @rule(n=st.integers(0, 10), stranger=st.sampled_from([None, *AGENTS]))
    def accept(self, n: int, stranger: str | None) -> None:
        row = self.pick("SELECT id, lender_id FROM debts WHERE status = 'proposed'", n)
        if row:
            self.call(stranger or row[1], "debt", "accept", debt_id=row[0])

    @rule(n=st.integers(0, 10), amount=amounts)
    def repay(self, n: int, amount: int) -> None:
        row = self.pick("SELECT id, debtor_id FROM debts WHERE status = 'active'", n)
        if row:
            self.call(row[1], "debt", "repay", debt_id=row[0], amount=amount)

    @rule(n=st.integers(0, 10), method=st.sampled_from(["forgive", "collect"]), who=agents)
    def settle_debt(self, n: int, method: str, who: str) -> None:
        row = self.pick(
            "SELECT d.id, a.owner_id FROM debts d JOIN artifacts a ON a.id = 'debts/' || d.id"
            " WHERE d.status = 'active'",
            n,
        )
        if row:
            owner = row[1] if row[1] in AGENTS else who
            self.call(owner, "debt", method, debt_id=row[0])

    @rule(who=agents, whose=agents)
    def tokenize_right(self, who: str, whose: str) -> None:
        self.call(who, "rights_registry", "tokenize_config_right", agent_id=whose)

    @rule(
        who=agents,
        to=agents,
        kind=st.sampled_from(["rights/config/", "debts/"]),
        key=st.sampled_from(["alice", "bob", "carol", "1", "2", "3"]),
    )
    def give_kernel_artifact(self, who: str, to: str, kind: str, key: str) -> None:
        self.call(who, "ledger", "transfer_ownership", artifact_id=f"{kind}{key}", to=to)

    @rule(seconds=st.sampled_from([1, 10, 31]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # --- the exchange -----------------------------------------------------------------------

    @rule(
        who=agents,
        n=st.integers(0, 10),
        side=st.sampled_from(["bid", "ask"]),
        quantity=st.integers(1, 6),
        price=st.integers(1, 25),
        expires_in=st.sampled_from([None, 5, 40]),
    )
    def order(
        self, who: str, n: int, side: str, quantity: int, price: int, expires_in: int | None
    ) -> None:
        row = self.pick("SELECT good FROM exchange_goods ORDER BY good", n)
        if row:
            args: dict[str, Any] = {"good": row[0], "quantity": quantity, "price": price}
            if expires_in is not None:
                args["expires_in"] = expires_in
            result = self.call(who, "exchange", side, **args)
            if result is not None and result["fills"]:
                event("exchange: an order filled")

    @rule(n=st.integers(0, 10), stranger=st.sampled_from([None, *AGENTS]))
    def cancel_order(self, n: int, stranger: str | None) -> None:
        row = self.pick("SELECT id, trader_id FROM exchange_orders WHERE status = 'open'", n)
        if row:
            self.call(stranger or row[1], "exchange", "cancel", order_id=row[0])

    @rule()
    def sweep_expired(self) -> None:
        self.submit(ops.ExchangeExpire(authority="world"))

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def scrip_is_conserved_and_never_negative(self) -> None:
        ((circulating, minted, burned),) = self.sql(
            "SELECT (SELECT sum(scrip) FROM principals), minted, burned FROM scrip_supply"
        )
        assert circulating == minted - burned
        assert self.sql("SELECT count(*) FROM principals WHERE scrip < 0") == [(0,)]
        ((held,),) = self.sql("SELECT scrip FROM principals WHERE id = 'genesis_oracle'")
        ((bids,),) = self.sql(
            "SELECT coalesce(sum(amount), 0) FROM oracle_bids WHERE status = 'active'"
        )
        assert held == bids, "held scrip differs from the active bids"

    @invariant()
    def the_exchange_holds_exactly_what_its_open_orders_hold(self) -> None:
        ((held,),) = self.sql("SELECT scrip FROM principals WHERE id = 'genesis_exchange'")
        ((bids,),) = self.sql(
            "SELECT coalesce(sum(remaining * price), 0) FROM exchange_orders"
            " WHERE side = 'bid' AND status = 'open'"
        )
        assert held == bids
        # An ask's quota or units are held in the order itself, not by the exchange.
        assert self.sql(
            "SELECT count(*) FROM stock_holdings WHERE principal_id = 'genesis_exchange'"
            " AND quota > 0"
        ) + self.sql(
            "SELECT count(*) FROM flow_buckets WHERE principal_id = 'genesis_exchange'"
            " AND (rate > 0 OR balance > 0)"
        ) == [(0,), (0,)]

    @invariant()
    def quota_and_rate_are_conserved_with_the_asks_and_no_stock_is_overused(self) -> None:
        """Each stock's quota and each flow's rate, summed over everyone plus what open asks
        hold, stays what the world began with (units are not: a bucket that is full loses
        what is returned to it, as the exchange says)."""
        asks = dict(
            self.sql(
                "SELECT g.resource, sum(o.remaining * g.lot) FROM exchange_orders o"
                " JOIN exchange_goods g ON g.good = o.good"
                " WHERE o.side = 'ask' AND o.status = 'open' AND g.side != 'units'"
                " GROUP BY g.resource"
            )
        )
        totals = sorted(
            (resource, total + asks.get(resource, 0.0))
            for resource, total in self.sql(
                "SELECT resource, sum(quota) FROM stock_holdings GROUP BY resource"
                " UNION ALL SELECT resource, sum(rate) FROM flow_buckets GROUP BY resource"
            )
        )
        if not hasattr(self, "totals"):
            self.totals = totals  # the first check: what the world began with
        assert [r for r, _ in totals] == [r for r, _ in self.totals]
        for (_, now), (_, then) in zip(totals, self.totals, strict=True):
            assert abs(now - then) < 1e-6 * max(1.0, then), (totals, self.totals)
        assert self.sql("SELECT count(*) FROM stock_holdings WHERE used > quota + 1e-9") == [(0,)]

    @invariant()
    def every_artifact_has_one_existing_owner(self) -> None:
        assert self.sql(
            "SELECT count(*) FROM artifacts a LEFT JOIN principals p ON p.id = a.owner_id"
            " WHERE p.id IS NULL"
        ) == [(0,)]

    @invariant()
    def no_listing_is_half_done(self) -> None:
        held = {
            r[0] for r in self.sql("SELECT id FROM artifacts WHERE owner_id = 'genesis_escrow'")
        }
        active = [
            r[0]
            for r in self.sql("SELECT artifact_id FROM escrow_listings WHERE status = 'active'")
        ]
        assert sorted(active) == sorted(held) and len(active) == len(set(active))

    @invariant()
    def debts_are_consistent(self) -> None:
        for status, artifact, repaid, due in self.sql(
            "SELECT d.status, a.id, d.repaid, d.amount_due FROM debts d"
            " LEFT JOIN artifacts a ON a.id = 'debts/' || d.id"
        ):
            assert (artifact is not None) == (status not in ("proposed", "withdrawn"))
            assert 0 <= repaid <= due

    @invariant()
    def disk_use_is_what_each_agent_owns_or_has_listed(self) -> None:
        for agent in AGENTS:
            ((used,),) = self.sql(
                "SELECT used FROM stock_holdings WHERE principal_id = ? AND resource = 'disk'",
                agent,
            )
            ((owned,),) = self.sql(
                "SELECT coalesce(sum(size_bytes), 0) FROM artifacts WHERE owner_id = ?", agent
            )
            ((listed,),) = self.sql(
                "SELECT coalesce(sum(size_bytes), 0) FROM escrow_listings"
                " WHERE seller_id = ? AND status = 'active'",
                agent,
            )
            assert abs(used - (owned + listed)) < 1e-6, (agent, used, owned, listed)


TestMarket = Market.TestCase
TestMarket.settings = settings(
    max_examples=25,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
