"""The single writer: one thread, one SQLite connection, group commit.

Callers on the event loop put requests on a queue and await a future. The writer thread
takes everything queued (up to ``max_batch``), opens one ``BEGIN IMMEDIATE`` transaction,
applies each request in its own savepoint (a refused request rolls back its savepoint and
nothing else), commits once, and only then answers every caller with one hop back to each
event loop. Under load a whole batch shares one COMMIT and one fsync, so concurrency turns
into throughput; with one caller it costs one commit per request, as it must.

A request is never acknowledged before its COMMIT has returned (``synchronous=FULL``), so
an acknowledged operation survives a crash. If the COMMIT fails, every request in the batch
fails with :class:`LedgerUnavailable` and none was applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from agent_ecology.clock import Clock
from agent_ecology.ledger.errors import LedgerClosed, LedgerUnavailable, from_driver
from agent_ecology.ledger.ops import Operation, apply_operation
from agent_ecology.ledger.records import Event, Receipt
from agent_ecology.store.engine import BUSY_TIMEOUT_MS, connect_writer

__all__ = ["EventListener", "Writer", "WriterStats"]

EventListener = Callable[[Sequence[Event]], None]

_Outcome = Receipt[Any] | BaseException
_Pair = tuple["asyncio.Future[Receipt[Any]]", _Outcome]


@dataclass(slots=True)
class _Request:
    op: Operation[Any]
    future: asyncio.Future[Receipt[Any]]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class WriterStats:
    """Counters for observing group commit (read them from the event loop)."""

    batches: int = 0
    operations: int = 0
    largest_batch: int = 0


def _resolve(pairs: list[_Pair]) -> None:
    for future, outcome in pairs:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class Writer:
    """Applies operations on a dedicated thread and commits them in batches."""

    def __init__(
        self,
        path: str | Path,
        clock: Clock,
        *,
        max_batch: int = 1024,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._path = Path(path)
        self._clock = clock
        self._max_batch = max_batch
        self._busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._listeners: list[tuple[asyncio.AbstractEventLoop, EventListener]] = []
        self.stats = WriterStats()

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(events)`` on the current event loop after each commit.

        It receives the events the batch appended, in order, before any caller of that
        batch is answered; it must be quick and must not raise.
        """
        self._listeners.append((asyncio.get_running_loop(), listener))

    def remove_listener(self, listener: EventListener) -> None:
        self._listeners = [(lp, fn) for lp, fn in self._listeners if fn != listener]

    async def start(self) -> None:
        """Open the writer's connection and start its thread."""
        if self._thread is not None:
            raise RuntimeError("the writer is started already")
        conn = await anyio.to_thread.run_sync(connect_writer, self._path, self._busy_timeout_ms)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name=f"ledger-writer:{self._path.name}", daemon=True
        )
        self._thread.start()

    async def submit(self, op: Operation[Any]) -> Receipt[Any]:
        """Apply ``op`` and return its receipt once it is durably committed.

        If the awaiting task is cancelled, the operation may or may not have been applied;
        send it again with the same ``op_id`` to find out.
        """
        if self._closed or self._thread is None:
            raise LedgerClosed("the ledger is closed; open it again to write")
        if not self._thread.is_alive():
            raise LedgerClosed("the ledger's writer thread has stopped; open the ledger again")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt[Any]] = loop.create_future()
        self._queue.put(_Request(op, future, loop))
        if not self._thread.is_alive():  # it stopped after our check: nobody will read the queue
            self._fail_leftovers()
        return await future

    async def close(self) -> None:
        """Finish what is queued, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            await anyio.to_thread.run_sync(self._thread.join)

    # --- the writer thread ---------------------------------------------------------------

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                try:
                    self._commit(conn, batch)
                except BaseException:
                    # Nothing of this batch was committed (no COMMIT ran); tell its callers.
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    error = LedgerClosed("the ledger's writer stopped on an internal error")
                    self._deliver(batch, [error] * len(batch))
                    raise
        finally:
            conn.close()
            self._fail_leftovers()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Request]) -> None:
        # Reading cancelled() from this thread is a benign race: at worst a cancelled
        # request is applied, which its caller was told may happen.
        live = [req for req in batch if not req.future.cancelled()]
        if not live:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._apply(conn, req.op) for req in live]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            outcomes = [from_driver(exc, "write")] * len(live)
        self.stats.batches += 1
        self.stats.operations += len(live)
        self.stats.largest_batch = max(self.stats.largest_batch, len(live))
        events = [o.event for o in outcomes if isinstance(o, Receipt) and o.event is not None]
        if events:
            for loop, listener in list(self._listeners):
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens
                    loop.call_soon_threadsafe(listener, events)
        self._deliver(live, outcomes)

    def _apply(self, conn: sqlite3.Connection, op: Operation[Any]) -> _Outcome:
        conn.execute("SAVEPOINT op")
        try:
            receipt = apply_operation(conn, op, self._clock.now())
        except sqlite3.Error as exc:
            error = from_driver(exc, op.kind)
            if isinstance(error, LedgerUnavailable):
                raise  # the whole batch fails (I/O error, disk full, ...)
            # A constraint or a value SQLite cannot take: this request's fault, not the
            # database's. Refuse it and keep the rest of the batch.
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return error
        except Exception as exc:  # LedgerError, or a bug: either way only this request fails
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return exc
        conn.execute("RELEASE op")
        return receipt

    def _deliver(self, batch: list[_Request], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pair]] = defaultdict(list)
        for req, outcome in zip(batch, outcomes, strict=True):
            by_loop[req.loop].append((req.future, outcome))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(_resolve, pairs)

    def _fail_leftovers(self) -> None:
        leftovers: list[_Request] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        if leftovers:
            error = LedgerClosed("the ledger was closed before this request was applied")
            self._deliver(leftovers, [error] * len(leftovers))
