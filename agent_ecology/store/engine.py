"""Connections to the world database: one SQLite file in WAL mode.

Three kinds of connection, each set up the same way (WAL, ``synchronous=FULL``, a busy
timeout, foreign keys on):

- the **migrator** engine (SQLAlchemy async over aiosqlite), used by Alembic only, whose
  transactions start with ``BEGIN IMMEDIATE`` and whose DDL is transactional (a failing
  revision rolls back whole);
- the kernel's **writer** connection (stdlib ``sqlite3``), owned by one thread that commits
  whole batches (see :mod:`agent_ecology.ledger.writer`);
- the kernel's **hot reader** connection (stdlib ``sqlite3``, ``query_only``), owned by one
  thread that answers every read of the kernel in batches, each in its own read transaction
  (see :mod:`agent_ecology.ledger.reader`); it is ``query_only``, so nothing but the writer
  can write.

pysqlite (and so aiosqlite) manages transactions itself and would run DDL outside of them;
we switch that off (``isolation_level = None``) and emit ``BEGIN`` ourselves, as the
SQLAlchemy documentation recommends for SQLite.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "BUSY_TIMEOUT_MS",
    "connect_hot_reader",
    "connect_writer",
    "create_migrator",
    "sqlite_url",
]

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another writer's lock before giving up."""


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of the database file at ``path`` (aiosqlite driver)."""
    return f"sqlite+aiosqlite:///{Path(path)}"


def _pragmas(cursor: Any, *, writable: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys = ON")
    if writable:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
    else:
        cursor.execute("PRAGMA query_only = ON")


def create_migrator(path: str | Path) -> AsyncEngine:
    """An engine for schema migrations: ``BEGIN IMMEDIATE`` and transactional DDL."""
    engine = create_async_engine(sqlite_url(path), poolclass=NullPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _pragmas(cursor, writable=True)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _connect(path: str | Path, busy_timeout_ms: int, *, writable: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        check_same_thread=False,
        timeout=busy_timeout_ms / 1000,
    )
    _pragmas(conn, writable=writable, busy_timeout_ms=busy_timeout_ms)
    return conn


def connect_writer(path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """The kernel writer's own connection; the caller manages transactions explicitly."""
    return _connect(path, busy_timeout_ms, writable=True)


def connect_hot_reader(
    path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """The hot reader's own connection: read-only; the caller opens each read transaction."""
    return _connect(path, busy_timeout_ms, writable=False)
