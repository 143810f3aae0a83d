"""The ledger kernel's public face: every change of state, and the reads that go with it.

::

    async with await Ledger.open("world.db") as ledger:
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=10, op_id="pay-42"))
        print(await ledger.scrip("bob"))

There is one way to change state, :meth:`Ledger.submit` with an operation
(:mod:`agent_ecology.ledger.ops`): it goes to the single writer (group commit, one savepoint
per operation, answered after COMMIT). There is one way to read: every read method runs one
function on the hot reader's connection (:mod:`agent_ecology.ledger.reader`), in its own read
transaction, so a read of several tables sees one snapshot and everything acknowledged so
far; each returns frozen records. Every operation takes an optional ``op_id``: the same id
with the same arguments returns the first receipt without applying twice, with other
arguments it is refused (:class:`IdempotencyConflict`). Driver errors reach callers as
:class:`LedgerUnavailable` (or, for a request the database refuses, :class:`LedgerError`),
translated in one place (:func:`~agent_ecology.ledger.errors.from_driver`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy.exc import DBAPIError

from agent_ecology.clock import Clock, SystemClock
from agent_ecology.ledger import ops, queries, records
from agent_ecology.ledger.errors import LedgerUnavailable, from_driver
from agent_ecology.ledger.kinds import BidStatus, ListingStatus
from agent_ecology.ledger.reader import HotReader
from agent_ecology.ledger.writer import EventListener, Writer, WriterStats
from agent_ecology.store.engine import BUSY_TIMEOUT_MS
from agent_ecology.store.migrate import NewerSchema, migrate

T = TypeVar("T")

__all__ = ["Ledger"]


class Ledger:
    """The ledger of one world database. Create it with :meth:`open`."""

    def __init__(self, path: Path, clock: Clock, writer: Writer, hot: HotReader) -> None:
        self.path = path
        self.clock = clock
        self._writer = writer
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
            raise from_driver(exc, "open", what=str(path)) from exc
        return cls(path, clock, writer, hot)

    async def close(self) -> None:
        """Apply what is queued, then release the database."""
        await self._writer.close()
        await self._hot.close()

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

    async def submit(self, op: ops.Operation[records.Details]) -> records.Receipt[records.Details]:
        """Apply ``op`` and return its receipt once it is durably committed: the one way to
        change state. A refusal raises the :class:`LedgerError` that says why."""
        receipt: records.Receipt[records.Details] = await self._writer.submit(op)
        return receipt

    # --- reads: each one function of the read connection, one snapshot ------------------

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on the ledger's read connection (for components with their own
        tables, e.g. robonomics): it sees every acknowledged write and must not write."""
        return await self._hot.read(query)

    async def principal(self, principal_id: str) -> records.Principal:
        """One principal; :class:`UnknownPrincipal` if there is none with that id."""
        return await self._hot.read(partial(queries.principal, principal_id=principal_id))

    async def principals(
        self, kind: records.PrincipalKind | None = None
    ) -> list[records.Principal]:
        """All principals (of one kind, if given), by id."""
        return await self._hot.read(partial(queries.principals, kind=kind))

    async def scrip(self, principal_id: str) -> int:
        """``principal_id``'s scrip balance."""
        return (await self.principal(principal_id)).scrip

    async def supply(self) -> records.Supply:
        """Minted, burned and circulating scrip (conserved: circulating = minted - burned)."""
        return await self._hot.read(queries.supply)

    async def resources(self) -> list[records.ResourceSpec]:
        """Every declared resource, by name."""
        return await self._hot.read(queries.resources)

    async def stock_allocated(self, resource: str) -> float:
        """The sum of every principal's quota of a stock resource."""
        return await self._hot.read(partial(queries.stock_allocated, resource=resource))

    async def stock(self, principal_id: str, resource: str) -> records.StockHolding:
        """``principal_id``'s share of a stock resource."""
        return await self._hot.read(
            partial(queries.stock, principal_id=principal_id, resource=resource)
        )

    async def bucket(self, principal_id: str, resource: str) -> records.FlowHolding:
        """``principal_id``'s token bucket for a flow resource."""
        return await self._hot.read(
            partial(queries.bucket, principal_id=principal_id, resource=resource)
        )

    async def available(self, principal_id: str, resource: str) -> float:
        """What ``principal_id`` can use of ``resource`` now (a bucket evaluated at the clock)."""
        now = self.clock.now()
        return await self._hot.read(
            partial(queries.available, principal_id=principal_id, resource=resource, now=now)
        )

    async def holdings(
        self, principal_id: str
    ) -> tuple[list[records.StockHolding], list[records.FlowHolding]]:
        """All of ``principal_id``'s stock holdings and buckets, by resource name."""
        return await self._hot.read(partial(queries.holdings, principal_id=principal_id))

    async def account(self, principal_id: str) -> records.Account:
        """``principal_id``'s scrip, stock holdings and buckets."""
        return await self._hot.read(partial(queries.account, principal_id=principal_id))

    async def in_debt(self, principal_id: str) -> list[str]:
        """The flow resources ``principal_id`` is in debt on now (it may not act while any)."""
        _stock, flow = await self.holdings(principal_id)
        now = self.clock.now()
        return [h.resource for h in flow if h.bucket.is_in_debt(now)]

    async def turn_view(
        self,
        agent_id: str,
        *,
        with_account: bool = True,
        artifacts: int = 20,
        for_sale: int = 5,
        programs: int = 8,
    ) -> records.TurnView:
        """What a turn reads before it thinks (:class:`~records.TurnView`), in one read: the
        same as :meth:`account`, :meth:`artifact_index` of its own, :meth:`listings` open to
        it and :meth:`programs` for it (none when ``programs`` is 0), at one instant."""
        return await self._hot.read(
            partial(
                queries.turn_view,
                agent_id=agent_id,
                with_account=with_account,
                artifacts=artifacts,
                for_sale=for_sale,
                programs_limit=programs,
            )
        )

    async def artifact(self, artifact_id: str) -> records.Artifact:
        """One artifact; :class:`UnknownArtifact` if there is none with that id."""
        return await self._hot.read(partial(queries.artifact, artifact_id=artifact_id))

    async def artifacts(self, owner_id: str | None = None) -> list[records.Artifact]:
        """All artifacts (of one owner, if given), by id."""
        return await self._hot.read(partial(queries.artifacts, owner_id=owner_id))

    async def artifact_index(
        self, owner_id: str | None = None, *, limit: int | None = None
    ) -> list[records.ArtifactInfo]:
        """Artifacts without their content (of one owner, if given), by id."""
        return await self._hot.read(partial(queries.artifact_index, owner_id=owner_id, limit=limit))

    async def programs(
        self,
        *,
        owner_id: str | None = None,
        frozen: bool | None = None,
        ids: tuple[str, ...] | None = None,
        for_agent: str | None = None,
        limit: int = 20,
    ) -> list[records.Program]:
        """Executable artifacts (of one owner, frozen or not, among ``ids``), most used first;
        ``for_agent``: others' programs in the order that agent should know them (what it
        invoked lately, then frozen ones, then the newest)."""
        return await self._hot.read(
            partial(
                queries.programs,
                owner_id=owner_id,
                frozen=frozen,
                ids=ids,
                for_agent=for_agent,
                limit=limit,
            )
        )

    async def invocations(
        self, *, invoker_id: str | None = None, artifact_id: str | None = None, limit: int = 20
    ) -> list[records.InvocationRecord]:
        """Invocations (by one invoker, of one program), latest first."""
        return await self._hot.read(
            partial(
                queries.invocations, invoker_id=invoker_id, artifact_id=artifact_id, limit=limit
            )
        )

    async def program_state(self, artifact_id: str, key: str) -> str | None:
        """One key of a program's stored state (JSON text), or None."""
        return await self._hot.read(
            partial(queries.program_state, artifact_id=artifact_id, key=key)
        )

    async def task_board(self, *, listed_only: bool = True) -> list[records.TaskStanding]:
        """The tasks, easiest first: rewards, paid slots left, when each closes."""
        return await self._hot.read(partial(queries.task_board, listed_only=listed_only))

    async def task_results(
        self,
        *,
        task_id: str | None = None,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
    ) -> list[records.TaskResult]:
        """Checked submissions (of one task, by one agent, of one status), latest first."""
        return await self._hot.read(
            partial(
                queries.task_results, task_id=task_id, agent_id=agent_id, status=status,
                limit=limit,
            )
        )  # fmt: skip

    async def prompt_tokens(self, since: float = 0.0) -> tuple[int, int]:
        """``(prompt tokens, of them cached)`` of the LLM calls started since ``since``."""
        return await self._hot.read(partial(queries.prompt_tokens_since, since=since))

    async def task_tally(self, since: float = 0.0) -> records.TaskTally:
        """Submissions checked since ``since`` by outcome, and scrip minted by tasks and by
        the oracle since then."""
        return await self._hot.read(partial(queries.task_tally, since=since))

    async def tasks_solved_by(self, agent_id: str) -> list[str]:
        """The tasks ``agent_id`` was paid for."""
        return await self._hot.read(partial(queries.solved_by, agent_id=agent_id))

    async def listings(
        self,
        *,
        status: ListingStatus | None = ListingStatus.ACTIVE,
        seller: str | None = None,
        open_to: str | None = None,
        max_price: int | None = None,
        after: int = 0,
        limit: int = 20,
    ) -> list[records.Listing]:
        """Escrow listings by id (``open_to``: those that agent may buy), after ``after``."""
        return await self._hot.read(
            partial(
                queries.listings,
                status=status,
                seller=seller,
                open_to=open_to,
                max_price=max_price,
                after=after,
                limit=limit,
            )
        )

    async def debts(self, principal: str | None = None) -> list[records.Debt]:
        """Debts (that ``principal`` owes or holds, or was offered), with their creditor."""
        return await self._hot.read(partial(queries.debts, party=principal))

    async def oracle_bids(
        self, *, status: BidStatus | None = BidStatus.ACTIVE
    ) -> list[records.Bid]:
        """Oracle bids (of one status, if given), oldest first."""
        return await self._hot.read(partial(queries.oracle_bids, status=status))

    async def oracle_results(self, *, limit: int = 20) -> list[records.OracleResult]:
        """The newest oracle results, oldest first."""
        return await self._hot.read(partial(queries.oracle_results, limit=limit))

    async def events(
        self,
        *,
        after: int = 0,
        principal: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[records.Event]:
        """A page of the event log: events after sequence number ``after``, oldest first.

        ``principal`` keeps the events it took part in (as actor, subject or counterparty).
        """
        return await self._hot.read(
            partial(
                queries.events,
                after=after,
                principal=principal,
                kind=kind,
                limit=limit,
                newest_first=newest_first,
            )
        )

    async def agent(self, agent_id: str) -> records.AgentRecord:
        """An agent's runtime state; :class:`UnknownPrincipal` if it has none.

        ``config_holder`` is who holds its config right now (the owner of the right's
        artifact, if it was made one).
        """
        return await self._hot.read(partial(queries.agent, agent_id=agent_id))

    async def agents(self) -> list[records.AgentRecord]:
        """Every agent's runtime state, by id."""
        return await self._hot.read(queries.agents)

    async def notes(self, agent_id: str, *, limit: int = 50) -> list[records.Note]:
        """An agent's newest ``limit`` notes, oldest first."""
        return await self._hot.read(partial(queries.notes, agent_id=agent_id, limit=limit))

    async def api_budget(self) -> records.ApiBudget:
        """The world's dollar limit and where it stands (nanodollars)."""
        return await self._hot.read(queries.api_budget)

    async def llm_calls(self, agent_id: str | None = None) -> list[records.LLMCall]:
        """Every LLM attempt (of one agent, if given), oldest first."""
        return await self._hot.read(partial(queries.llm_calls, agent_id=agent_id))
