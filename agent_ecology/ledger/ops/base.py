"""The operation base class, and applying one with its idempotency key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, ClassVar

from agent_ecology.ledger.errors import (
    IdempotencyConflict,
)
from agent_ecology.ledger.ops.tx import Tx
from agent_ecology.ledger.records import Receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """A request to change state. ``op_id`` makes it idempotent."""

    kind: ClassVar[str] = "operation"
    op_id: str | None = None

    def request_hash(self) -> str:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.pop("op_id")
        text = json.dumps({"kind": self.kind, **fields}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()

    def apply(self, tx: Tx) -> dict[str, Any]:
        raise NotImplementedError


def apply_operation(conn: sqlite3.Connection, op: Operation, now: float) -> Receipt:
    """Apply ``op`` on ``conn`` (inside the caller's savepoint), honouring its ``op_id``."""
    tx = Tx(conn, now, op.op_id)
    request_hash = ""
    if op.op_id is not None:
        request_hash = op.request_hash()
        row = conn.execute(
            "SELECT kind, request_hash, receipt FROM operations WHERE op_id = ?", (op.op_id,)
        ).fetchone()
        if row is not None:
            if row[1] != request_hash:
                raise IdempotencyConflict(op.op_id, row[0], op.kind)
            return Receipt.from_json(row[2], op_id=op.op_id, replayed=True)
    details = op.apply(tx)
    receipt = Receipt(op.kind, tx.seq, now, details, op.op_id, event=tx.record)
    if op.op_id is not None:
        conn.execute(
            "INSERT INTO operations (op_id, kind, request_hash, receipt, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (op.op_id, op.kind, request_hash, receipt.to_json(), now),
        )
    return receipt
