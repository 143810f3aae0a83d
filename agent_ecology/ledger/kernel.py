"""The ledger kernel's public face: every change of state, and the reads that go with it.

::

    async with await Ledger.open("world.db") as ledger:
        await ledger.transfer("alice", "bob", 10, op_id="pay-42")
        print(await ledger.scrip("bob"))

Writes go to the single writer (group commit, one savepoint per operation, answered after
COMMIT); reads go through SQLAlchemy's async engine on their own read-only connections and
see everything acknowledged so far. Every write takes an optional ``op_id``: the same id with
the same arguments returns the first receipt without applying twice, with other arguments it
is refused (:class:`IdempotencyConflict`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_ecology.clock import Clock, SystemClock
from agent_ecology.ledger import ops
from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    LedgerUnavailable,
    UnknownArtifact,
    UnknownPrincipal,
    UnknownResource,
)
from agent_ecology.ledger.reader import HotReader
from agent_ecology.ledger.records import (
    Account,
    AgentRecord,
    ApiBudget,
    Artifact,
    ArtifactInfo,
    Event,
    FlowHolding,
    Listing,
    LLMCall,
    Note,
    Principal,
    PrincipalKind,
    Receipt,
    ResourceSpec,
    StockHolding,
    Supply,
)
from agent_ecology.ledger.writer import EventListener, Writer, WriterStats
from agent_ecology.store import schema
from agent_ecology.store.engine import BUSY_TIMEOUT_MS, create_reader
from agent_ecology.store.migrate import NewerSchema, migrate

T = TypeVar("T")

__all__ = ["Ledger"]

_log = logging.getLogger("agent_ecology.ledger")


class Ledger:
    """The ledger of one world database. Create it with :meth:`open`."""

    def __init__(
        self, path: Path, clock: Clock, writer: Writer, reader: AsyncEngine, hot: HotReader
    ) -> None:
        self.path = path
        self.clock = clock
        self._writer = writer
        self._reader = reader
        self._hot = hot

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        run_migrations: bool = True,
        max_batch: int = 1024,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> Ledger:
        """Open (creating and migrating, unless told not to) the database at ``path``.

        ``busy_timeout_ms`` is how long a write waits for a lock held by another program
        before it fails with :class:`LedgerUnavailable`.
        """
        path = Path(path)
        clock = clock or SystemClock()
        writer = Writer(path, clock, max_batch=max_batch, busy_timeout_ms=busy_timeout_ms)
        hot = HotReader(path, busy_timeout_ms=busy_timeout_ms)
        try:
            if run_migrations:
                await migrate(path)
            await writer.start()
            await hot.start()
        except NewerSchema as exc:
            await writer.close()
            await hot.close()
            raise LedgerUnavailable(str(exc)) from exc
        except (OSError, sqlite3.Error, DBAPIError) as exc:
            await writer.close()
            await hot.close()
            raise LedgerUnavailable(
                f"cannot open the world database at {path}: {exc}; check that the path is a"
                " SQLite file (or does not exist yet) and that its folder is writable"
            ) from exc
        return cls(path, clock, writer, create_reader(path), hot)

    async def close(self) -> None:
        """Apply what is queued, then release the database."""
        await self._writer.close()
        await self._hot.close()
        await self._reader.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def subscribe(self, listener: EventListener) -> None:
        """Call ``listener(events)`` on this event loop with the events of every commit.

        Listeners see each committed event once, in sequence order, before the writer's
        callers are answered. They must be quick and must not raise.
        """
        self._writer.add_listener(listener)

    def unsubscribe(self, listener: EventListener) -> None:
        self._writer.remove_listener(listener)

    @property
    def writer_stats(self) -> WriterStats:
        """Batches and operations committed so far."""
        return self._writer.stats

    async def submit(self, op: ops.Operation) -> Receipt:
        """Apply any kernel operation (the typed methods below are thin wrappers of this)."""
        return await self._writer.submit(op)

    # --- world set-up ---------------------------------------------------------------------

    async def declare_resource(
        self, spec: ResourceSpec, *, op_id: str | None = None, rescale: bool = False
    ) -> Receipt:
        """Record a resource (as declared in config.yaml), or its changed parameters.

        ``rescale`` (a calibrated flow): every holder's bucket is scaled by new/old rate and
        capacity, so a recalibration reaches agents that exist, in proportion to what they hold.
        """
        return await self.submit(
            ops.DeclareResource(
                name=spec.name,
                resource_kind=spec.kind,
                unit=spec.unit,
                total=spec.total,
                distribution=spec.distribution,
                rate=spec.rate,
                capacity=spec.capacity,
                rescale=rescale,
                op_id=op_id,
            )
        )

    async def ensure_principal(
        self,
        principal_id: str,
        kind: PrincipalKind = "agent",
        *,
        stock: Mapping[str, float] | None = None,
        flow: Mapping[str, tuple[float, float]] | None = None,
        op_id: str | None = None,
    ) -> Receipt:
        """Create ``principal_id`` if it does not exist; idempotent.

        An agent gets a holding of every declared resource it lacks: stock quotas from
        ``stock`` (default 0), buckets from ``flow`` as ``(rate, capacity)`` (default: the
        resource's declared values), starting full. Existing holdings are left alone.
        """
        return await self.submit(
            ops.EnsurePrincipal(
                principal_id=principal_id,
                principal_kind=kind,
                stock=tuple(sorted((stock or {}).items())),
                flow=tuple(sorted((name, r, c) for name, (r, c) in (flow or {}).items())),
                op_id=op_id,
            )
        )

    # --- scrip ----------------------------------------------------------------------------

    async def transfer(
        self, src: str, dst: str, amount: int, *, op_id: str | None = None
    ) -> Receipt:
        """Move ``amount`` scrip from ``src`` to ``dst`` (unilateral; never below zero)."""
        return await self.submit(ops.Transfer(src=src, dst=dst, amount=amount, op_id=op_id))

    async def mint(
        self, dst: str, amount: int, *, authority: str, op_id: str | None = None
    ) -> Receipt:
        """Create ``amount`` scrip for ``dst``; ``authority`` must be a system principal."""
        return await self.submit(ops.Mint(dst=dst, amount=amount, authority=authority, op_id=op_id))

    async def burn(
        self, src: str, amount: int, *, authority: str, op_id: str | None = None
    ) -> Receipt:
        """Destroy ``amount`` of ``src``'s scrip; ``authority`` must be a system principal."""
        return await self.submit(ops.Burn(src=src, amount=amount, authority=authority, op_id=op_id))

    # --- resources and quotas -------------------------------------------------------------

    async def spend(
        self, principal: str, resource: str, amount: float, *, op_id: str | None = None
    ) -> Receipt:
        """Charge a resource after use: stock within quota, flow possibly into debt."""
        return await self.submit(
            ops.Spend(principal=principal, resource=resource, amount=amount, op_id=op_id)
        )

    async def release(
        self, principal: str, resource: str, amount: float, *, op_id: str | None = None
    ) -> Receipt:
        """Give back stock in use (for example a reservation not needed after all)."""
        return await self.submit(
            ops.Release(principal=principal, resource=resource, amount=amount, op_id=op_id)
        )

    async def transfer_resource(
        self, src: str, dst: str, resource: str, amount: float, *, op_id: str | None = None
    ) -> Receipt:
        """Give part of a flow bucket's balance to another principal (e.g. a rescue from debt)."""
        return await self.submit(
            ops.TransferResource(src=src, dst=dst, resource=resource, amount=amount, op_id=op_id)
        )

    async def set_quota(
        self,
        principal: str,
        resource: str,
        amount: float,
        *,
        authority: str,
        op_id: str | None = None,
    ) -> Receipt:
        """Set a quota (stock allocation, or flow rate); only a system ``authority`` may."""
        return await self.submit(
            ops.SetQuota(
                principal=principal,
                resource=resource,
                amount=amount,
                authority=authority,
                op_id=op_id,
            )
        )

    async def transfer_quota(
        self, src: str, dst: str, resource: str, amount: float, *, op_id: str | None = None
    ) -> Receipt:
        """Permanently move quota: unused stock capacity, or flow rate."""
        return await self.submit(
            ops.TransferQuota(src=src, dst=dst, resource=resource, amount=amount, op_id=op_id)
        )

    # --- artifacts ------------------------------------------------------------------------

    async def write_artifact(
        self, actor: str, artifact_id: str, content: str, *, op_id: str | None = None
    ) -> Receipt:
        """Create an artifact owned by ``actor``, or replace one it owns (disk is charged)."""
        return await self.submit(
            ops.WriteArtifact(actor=actor, artifact_id=artifact_id, content=content, op_id=op_id)
        )

    async def delete_artifact(
        self, actor: str, artifact_id: str, *, op_id: str | None = None
    ) -> Receipt:
        """Delete an artifact ``actor`` owns and free its disk."""
        return await self.submit(
            ops.DeleteArtifact(actor=actor, artifact_id=artifact_id, op_id=op_id)
        )

    async def transfer_artifact(
        self, actor: str, artifact_id: str, new_owner: str, *, op_id: str | None = None
    ) -> Receipt:
        """Give an artifact ``actor`` owns to ``new_owner`` (its disk charge moves with it)."""
        return await self.submit(
            ops.TransferArtifact(
                actor=actor, artifact_id=artifact_id, new_owner=new_owner, op_id=op_id
            )
        )

    # --- agents ---------------------------------------------------------------------------

    async def ensure_agent(
        self, agent_id: str, config: Mapping[str, Any], *, op_id: str | None = None
    ) -> Receipt:
        """Give agent ``agent_id`` its runtime state with ``config`` unless it has some."""
        return await self.submit(
            ops.EnsureAgent(agent_id=agent_id, config=_dumps(config), op_id=op_id)
        )

    async def update_agent_config(
        self, actor: str, agent_id: str, changes: Mapping[str, Any], *, op_id: str | None = None
    ) -> Receipt:
        """Change parts of an agent's config; only the holder of its config right may."""
        return await self.submit(
            ops.UpdateAgentConfig(
                actor=actor, agent_id=agent_id, changes=_dumps(changes), op_id=op_id
            )
        )

    async def tokenize_config_right(
        self, actor: str, agent_id: str, *, op_id: str | None = None
    ) -> Receipt:
        """Turn ``agent_id``'s config right, held by ``actor``, into an artifact it owns."""
        return await self.submit(
            ops.TokenizeConfigRight(actor=actor, agent_id=agent_id, op_id=op_id)
        )

    async def transfer_config_right(
        self, actor: str, agent_id: str, new_holder: str, *, op_id: str | None = None
    ) -> Receipt:
        """Give the right to change ``agent_id``'s config to ``new_holder``."""
        return await self.submit(
            ops.TransferConfigRight(
                actor=actor, agent_id=agent_id, new_holder=new_holder, op_id=op_id
            )
        )

    async def set_sleep(
        self,
        agent_id: str,
        sleep: Mapping[str, Any] | None,
        *,
        reason: str = "",
        op_id: str | None = None,
    ) -> Receipt:
        """Record that an agent sleeps (with its wake conditions), or that it woke (``None``)."""
        text = None if sleep is None else _dumps(sleep)
        return await self.submit(
            ops.SetSleep(agent_id=agent_id, sleep=text, reason=reason, op_id=op_id)
        )

    async def add_note(
        self, agent_id: str, text: str, *, keep: int = 50, op_id: str | None = None
    ) -> Receipt:
        """Append to an agent's notes, keeping its newest ``keep``."""
        return await self.submit(ops.AddNote(agent_id=agent_id, text=text, keep=keep, op_id=op_id))

    # --- the dollar budget ----------------------------------------------------------------

    async def set_api_limit(
        self, limit_nd: int, *, authority: str, op_id: str | None = None
    ) -> Receipt:
        """Set the world's dollar limit in nanodollars (from ``llm.max_api_cost``)."""
        return await self.submit(
            ops.SetApiLimit(authority=authority, limit_nd=limit_nd, op_id=op_id)
        )

    async def abandon_calls(self, *, authority: str) -> Receipt:
        """Charge reservations left open by an interrupted run in full, and close them."""
        return await self.submit(ops.AbandonCalls(authority=authority))

    # --- reads ----------------------------------------------------------------------------

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on the ledger's read connection (for components with their own
        tables, e.g. robonomics): it sees every acknowledged write and must not write."""
        return await self._hot.read(query)

    async def _rows(self, query: sa.Executable) -> Sequence[sa.Row[Any]]:
        async with self._reader.connect() as conn:
            return (await conn.execute(query)).all()

    async def principal(self, principal_id: str) -> Principal:
        """One principal; :class:`UnknownPrincipal` if there is none with that id."""
        rows = await self._rows(
            sa.select(schema.principals).where(schema.principals.c.id == principal_id)
        )
        if not rows:
            raise UnknownPrincipal(principal_id)
        return Principal(*rows[0])

    async def principals(self, kind: PrincipalKind | None = None) -> list[Principal]:
        """All principals (of one kind, if given), by id."""
        query = sa.select(schema.principals).order_by(schema.principals.c.id)
        if kind is not None:
            query = query.where(schema.principals.c.kind == kind)
        return [Principal(*row) for row in await self._rows(query)]

    async def scrip(self, principal_id: str) -> int:
        """``principal_id``'s scrip balance."""
        return (await self.principal(principal_id)).scrip

    async def supply(self) -> Supply:
        """Minted, burned and circulating scrip (conserved: circulating = minted - burned)."""
        t = schema.scrip_supply
        query = sa.select(
            t.c.minted,
            t.c.burned,
            sa.select(
                sa.func.coalesce(sa.func.sum(schema.principals.c.scrip), 0)
            ).scalar_subquery(),
        )
        async with self._reader.connect() as conn:
            minted, burned, circulating = (await conn.execute(query)).one()
        return Supply(int(minted), int(burned), int(circulating))

    async def resources(self) -> list[ResourceSpec]:
        """Every declared resource, by name."""
        t = schema.resources
        rows = await self._rows(
            sa.select(
                t.c.name, t.c.kind, t.c.unit, t.c.total, t.c.distribution, t.c.rate, t.c.capacity
            ).order_by(t.c.name)
        )
        return [ResourceSpec(*row) for row in rows]

    async def stock_allocated(self, resource: str) -> float:
        """The sum of every principal's quota of a stock resource."""
        t = schema.stock_holdings
        rows = await self._rows(
            sa.select(sa.func.coalesce(sa.func.sum(t.c.quota), 0.0)).where(t.c.resource == resource)
        )
        return float(rows[0][0])

    async def stock(self, principal_id: str, resource: str) -> StockHolding:
        """``principal_id``'s share of a stock resource."""
        t = schema.stock_holdings
        rows = await self._rows(
            sa.select(t.c.principal_id, t.c.resource, t.c.quota, t.c.used).where(
                t.c.principal_id == principal_id, t.c.resource == resource
            )
        )
        if not rows:
            await self._explain_missing(principal_id, resource, "stock")
        return StockHolding(*rows[0])

    async def bucket(self, principal_id: str, resource: str) -> FlowHolding:
        """``principal_id``'s token bucket for a flow resource."""
        t = schema.flow_buckets
        rows = await self._rows(
            sa.select(t.c.balance, t.c.updated_at, t.c.rate, t.c.capacity).where(
                t.c.principal_id == principal_id, t.c.resource == resource
            )
        )
        if not rows:
            await self._explain_missing(principal_id, resource, "flow")
        return FlowHolding(principal_id, resource, Bucket(*rows[0]))

    async def available(self, principal_id: str, resource: str) -> float:
        """What ``principal_id`` can use of ``resource`` now (a bucket evaluated at the clock)."""
        kinds = {spec.name: spec.kind for spec in await self.resources()}
        if resource not in kinds:
            raise UnknownResource(resource)
        if kinds[resource] == "stock":
            return (await self.stock(principal_id, resource)).available
        return (await self.bucket(principal_id, resource)).available(self.clock.now())

    async def holdings(self, principal_id: str) -> tuple[list[StockHolding], list[FlowHolding]]:
        """All of ``principal_id``'s stock holdings and buckets, by resource name."""
        s, f = schema.stock_holdings, schema.flow_buckets
        async with self._reader.connect() as conn:
            stock = (
                await conn.execute(
                    sa.select(s.c.principal_id, s.c.resource, s.c.quota, s.c.used)
                    .where(s.c.principal_id == principal_id)
                    .order_by(s.c.resource)
                )
            ).all()
            flow = (
                await conn.execute(
                    sa.select(f.c.resource, f.c.balance, f.c.updated_at, f.c.rate, f.c.capacity)
                    .where(f.c.principal_id == principal_id)
                    .order_by(f.c.resource)
                )
            ).all()
        return (
            [StockHolding(*row) for row in stock],
            [FlowHolding(principal_id, row[0], Bucket(*row[1:])) for row in flow],
        )

    async def account(self, principal_id: str) -> Account:
        """``principal_id``'s scrip, stock holdings and buckets, read in one snapshot."""
        return await self._hot.read(lambda conn: _account(conn, principal_id))

    async def in_debt(self, principal_id: str) -> list[str]:
        """The flow resources ``principal_id`` is in debt on now (it may not act while any)."""
        _stock, flow = await self.holdings(principal_id)
        now = self.clock.now()
        return [h.resource for h in flow if h.bucket.is_in_debt(now)]

    async def artifact(self, artifact_id: str) -> Artifact:
        """One artifact; :class:`UnknownArtifact` if there is none with that id."""

        def query(conn: sqlite3.Connection) -> Artifact:
            row = conn.execute(
                "SELECT id, owner_id, content, size_bytes, created_at, updated_at FROM artifacts"
                " WHERE id = ?",
                (artifact_id,),
            ).fetchone()
            if row is None:
                raise UnknownArtifact(artifact_id)
            return Artifact(*row)

        return await self._hot.read(query)

    async def artifacts(self, owner_id: str | None = None) -> list[Artifact]:
        """All artifacts (of one owner, if given), by id."""
        query = sa.select(schema.artifacts).order_by(schema.artifacts.c.id)
        if owner_id is not None:
            query = query.where(schema.artifacts.c.owner_id == owner_id)
        return [Artifact(*row) for row in await self._rows(query)]

    async def listings(
        self,
        *,
        status: str | None = "active",
        seller: str | None = None,
        open_to: str | None = None,
        max_price: int | None = None,
        after: int = 0,
        limit: int = 20,
    ) -> list[Listing]:
        """Escrow listings by id (``open_to``: those that agent may buy), after ``after``."""
        sql = (
            "SELECT id, artifact_id, seller_id, price, buyer_id, status, size_bytes, created_at,"
            " closed_at, sold_to FROM escrow_listings WHERE id > ?"
        )
        params: list[Any] = [after]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if seller is not None:
            sql += " AND seller_id = ?"
            params.append(seller)
        if open_to is not None:
            sql += " AND (buyer_id IS NULL OR buyer_id = ?) AND seller_id != ?"
            params += [open_to, open_to]
        if max_price is not None:
            sql += " AND price <= ?"
            params.append(max_price)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return await self._hot.read(
            lambda conn: [Listing(*row) for row in conn.execute(sql, params)]
        )

    async def debts(self, principal: str | None = None) -> list[dict[str, Any]]:
        """Debts (that ``principal`` owes or holds, if given), with their current creditor."""
        creditor = ops.checks.effective_owner_sql("a")
        sql = (
            f"SELECT d.id, d.debtor_id, d.lender_id, {creditor}, d.principal, d.interest_rate,"
            " d.amount_due, d.repaid, d.defaulted, d.due_at, d.status FROM debts d"
            f" LEFT JOIN artifacts a ON a.id = '{ops.DEBT_PREFIX}' || d.id"
        )
        keys = (
            "debt_id",
            "debtor",
            "lender",
            "creditor",
            "principal",
            "interest_rate",
            "amount_due",
            "repaid",
            "defaulted",
            "due_at",
            "status",
        )

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = [
                dict(zip(keys, row, strict=True)) for row in conn.execute(sql + " ORDER BY d.id")
            ]
            if principal is None:
                return rows
            return [
                r
                for r in rows
                if principal in (r["debtor"], r["creditor"])
                or (r["status"] == "proposed" and r["lender"] == principal)
            ]

        return await self._hot.read(query)

    async def oracle_bids(self, *, status: str | None = "active") -> list[dict[str, Any]]:
        """Oracle bids (of one status, if given), oldest first."""
        sql = (
            "SELECT id, bidder_id, artifact_id, amount, status, placed_at, round_at, paid"
            " FROM oracle_bids"
        )
        params: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(status)
        keys = (
            "bid_id",
            "bidder",
            "artifact_id",
            "amount",
            "status",
            "placed_at",
            "round_at",
            "paid",
        )
        return await self._hot.read(
            lambda conn: [
                dict(zip(keys, row, strict=True))
                for row in conn.execute(sql + " ORDER BY id", params)
            ]
        )

    async def oracle_results(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """The newest oracle results, oldest first."""
        keys = ("round_at", "artifact_id", "owner", "bidder", "bid", "paid", "score", "minted")
        return await self._hot.read(
            lambda conn: [
                dict(zip(keys, row, strict=True))
                for row in reversed(
                    conn.execute(
                        "SELECT round_at, artifact_id, owner_id, bidder_id, bid, paid, score,"
                        " minted FROM oracle_results ORDER BY id DESC LIMIT ?",
                        (limit,),
                    ).fetchall()
                )
            ]
        )

    async def artifact_index(
        self, owner_id: str | None = None, *, limit: int | None = None
    ) -> list[ArtifactInfo]:
        """Artifacts without their content (of one owner, if given), by id."""
        sql = "SELECT id, owner_id, size_bytes, updated_at FROM artifacts"
        params: list[Any] = []
        if owner_id is not None:
            sql += " WHERE owner_id = ?"
            params.append(owner_id)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return await self._hot.read(
            lambda conn: [ArtifactInfo(*row) for row in conn.execute(sql, params)]
        )

    async def events(
        self,
        *,
        after: int = 0,
        principal: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[Event]:
        """A page of the event log: events after sequence number ``after``, oldest first.

        ``principal`` keeps the events it took part in (as actor, subject or counterparty).
        """
        t = schema.events
        query = sa.select(t).where(t.c.seq > after)
        if principal is not None:
            query = query.where(
                sa.or_(
                    t.c.principal_id == principal,
                    t.c.counterparty_id == principal,
                    t.c.actor_id == principal,
                )
            )
        if kind is not None:
            query = query.where(t.c.kind == kind)
        query = query.order_by(t.c.seq.desc() if newest_first else t.c.seq).limit(limit)
        return [
            Event(
                row.seq,
                row.at,
                row.kind,
                row.actor_id,
                row.principal_id,
                row.counterparty_id,
                row.resource,
                _number(row.amount),
                row.artifact_id,
                row.op_id,
                json.loads(row.details),
            )
            for row in await self._rows(query)
        ]

    async def agent(self, agent_id: str) -> AgentRecord:
        """An agent's runtime state; :class:`UnknownPrincipal` if it has none.

        ``config_holder`` is who holds its config right now (the owner of the right's
        artifact, if it was made one).
        """

        def query(conn: sqlite3.Connection) -> AgentRecord:
            row = conn.execute(_AGENT_SQL + " WHERE s.agent_id = ?", (agent_id,)).fetchone()
            if row is None:
                raise UnknownPrincipal(agent_id)
            return _agent_record(row)

        return await self._hot.read(query)

    async def agents(self) -> list[AgentRecord]:
        """Every agent's runtime state, by id."""
        return await self._hot.read(
            lambda conn: [
                _agent_record(row) for row in conn.execute(_AGENT_SQL + " ORDER BY s.agent_id")
            ]
        )

    async def notes(self, agent_id: str, *, limit: int = 50) -> list[Note]:
        """An agent's newest ``limit`` notes, oldest first."""
        t = schema.agent_notes
        rows = await self._rows(
            sa.select(t.c.id, t.c.at, t.c.text)
            .where(t.c.agent_id == agent_id)
            .order_by(t.c.id.desc())
            .limit(limit)
        )
        return [Note(*row) for row in reversed(rows)]

    async def api_budget(self) -> ApiBudget:
        """The world's dollar limit and where it stands (nanodollars)."""
        return await self._hot.read(
            lambda conn: ApiBudget(
                *conn.execute("SELECT limit_nd, reserved_nd, spent_nd FROM api_budget").fetchone()
            )
        )

    async def llm_calls(self, agent_id: str | None = None) -> list[LLMCall]:
        """Every LLM attempt (of one agent, if given), oldest first."""
        t = schema.llm_calls
        query = sa.select(
            t.c.call_id,
            t.c.agent_id,
            t.c.model,
            t.c.attempt,
            t.c.status,
            t.c.reserved_nd,
            t.c.cost_nd,
            t.c.prompt_tokens,
            t.c.completion_tokens,
            t.c.error,
        ).order_by(t.c.id)
        if agent_id is not None:
            query = query.where(t.c.agent_id == agent_id)
        return [LLMCall(*row) for row in await self._rows(query)]

    async def _explain_missing(self, principal_id: str, resource: str, kind: str) -> NoReturn:
        await self.principal(principal_id)
        specs = {spec.name: spec.kind for spec in await self.resources()}
        if resource not in specs:
            raise UnknownResource(resource)
        if specs[resource] != kind:
            raise UnknownResource(
                resource, f"{resource} is a {specs[resource]} resource, not {kind}"
            )
        raise UnknownResource(resource, f"{principal_id!r} holds no {resource}")


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True)


_AGENT_SQL = (
    f"SELECT s.agent_id, s.config, s.config_version, {ops.HOLDER_SQL}, s.sleep,"
    " s.last_result, s.turns FROM agent_state s"
    f" LEFT JOIN artifacts a ON a.id = '{ops.CONFIG_RIGHT_PREFIX}' || s.agent_id"
)


def _account(conn: sqlite3.Connection, principal_id: str) -> Account:
    row = conn.execute(
        "SELECT id, kind, scrip, created_at FROM principals WHERE id = ?", (principal_id,)
    ).fetchone()
    if row is None:
        raise UnknownPrincipal(principal_id)
    stock = conn.execute(
        "SELECT principal_id, resource, quota, used FROM stock_holdings WHERE principal_id = ?"
        " ORDER BY resource",
        (principal_id,),
    ).fetchall()
    flow = conn.execute(
        "SELECT resource, balance, updated_at, rate, capacity FROM flow_buckets"
        " WHERE principal_id = ? ORDER BY resource",
        (principal_id,),
    ).fetchall()
    return Account(
        Principal(*row),
        tuple(StockHolding(*r) for r in stock),
        tuple(FlowHolding(principal_id, r[0], Bucket(*r[1:])) for r in flow),
    )


def _stored(agent_id: str, what: str, text: Any, default: Any) -> Any:
    """A JSON column of an agent's state; a value that is not a JSON object (a tampered or
    damaged row) is logged and read as ``default``, so that it affects only this agent."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        _log.warning(
            "agent %s: its stored %s is not JSON (%s); using %r", agent_id, what, exc, default
        )
        return default
    if not isinstance(value, dict):
        _log.warning(
            "agent %s: its stored %s is not a JSON object; using %r", agent_id, what, default
        )
        return default
    return value


def _agent_record(row: sa.Row[Any] | tuple[Any, ...]) -> AgentRecord:
    agent_id = str(row[0])
    return AgentRecord(
        agent_id,
        _stored(agent_id, "config", row[1], {}) or {},
        int(row[2]),
        row[3],
        _stored(agent_id, "sleep state", row[4], None),
        _stored(agent_id, "last result", row[5], None),
        int(row[6]),
    )
