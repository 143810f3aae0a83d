"""The hot reader: one thread, one read-only connection, answers in batches.

Every agent turn reads a little: its account, its artifacts, its state. Through the async
engine each statement costs a hop to a worker thread and back plus SQLAlchemy's machinery,
which at thousands of turns per second is most of the runtime's CPU. The hot reader takes
every read queued (up to ``max_batch``), runs each in its own short read transaction (so a
multi-statement read sees one snapshot), and answers all of a batch's callers with one hop
back to each event loop, exactly as the writer does for writes. Reads see everything the
writer has acknowledged: an answer is sent only after its COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from agent_ecology.ledger.errors import LedgerClosed, from_driver
from agent_ecology.store.engine import BUSY_TIMEOUT_MS, connect_hot_reader

__all__ = ["HotReader"]

T = TypeVar("T")
Query = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Read:
    query: Query
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for future, value, failed in pairs:
        if future.done():
            continue
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)


class HotReader:
    """Runs every ledger read (the functions of :mod:`~agent_ecology.ledger.queries`) on one
    dedicated thread and connection, each in its own read transaction, many per hop."""

    def __init__(
        self, path: str | Path, *, max_batch: int = 512, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self._path = Path(path)
        self._max_batch = max_batch
        self._busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[_Read | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def start(self) -> None:
        conn = await anyio.to_thread.run_sync(connect_hot_reader, self._path, self._busy_timeout_ms)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name=f"ledger-reader:{self._path.name}", daemon=True
        )
        self._thread.start()

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """``query(conn)`` run in one read transaction on the reader's thread."""
        if self._closed or self._thread is None or not self._thread.is_alive():
            raise LedgerClosed("the ledger is closed; open it again to read")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Read(query, future, loop))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            await anyio.to_thread.run_sync(self._thread.join)

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._answer(conn, batch)
                if stop:
                    return
        finally:
            conn.close()
            error = LedgerClosed("the ledger was closed before this read was answered")
            leftovers = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    leftovers.append((item, error))
            self._deliver([(r, e, True) for r, e in leftovers])

    def _answer(self, conn: sqlite3.Connection, batch: list[_Read]) -> None:
        results: list[tuple[_Read, Any, bool]] = []
        for read in batch:
            if read.future.cancelled():
                continue
            try:
                conn.execute("BEGIN")
                try:
                    results.append((read, read.query(conn), False))
                finally:
                    conn.execute("COMMIT")
            except Exception as exc:  # the caller's error (or the database's), not ours
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):  # one error type for callers: the kernel's
                    exc = from_driver(exc, "read")
                results.append((read, exc, True))
        self._deliver(results)

    @staticmethod
    def _deliver(results: list[tuple[_Read, Any, bool]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, bool]]]
        by_loop = defaultdict(list)
        for read, value, failed in results:
            by_loop[read.loop].append((read.future, value, failed))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(_resolve, pairs)
