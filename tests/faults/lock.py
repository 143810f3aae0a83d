"""Another program holding the world database's write lock: the fault a busy disk causes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold ``path``'s write lock (as another process would) until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("COMMIT")
    finally:
        other.close()


def open_reservations(path: Path) -> list[str]:
    """The LLM calls the database still holds reserved, read as a user would with sqlite3."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT call_id FROM llm_calls WHERE status = 'reserved'")
        return [str(r[0]) for r in rows]
    finally:
        conn.close()
