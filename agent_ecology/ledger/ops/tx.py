"""What an operation may do inside its savepoint: typed reads and writes, and one event."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any, NoReturn

from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    NotPermitted,
    UnknownPrincipal,
    UnknownResource,
)
from agent_ecology.ledger.kinds import DebtStatus, EventKind
from agent_ecology.ledger.ops.checks import DEBT_PREFIX, DISK, effective_owner_sql
from agent_ecology.ledger.records import Event


class Tx:
    """What an operation may do inside its savepoint: typed reads and writes, and one event."""

    def __init__(self, conn: sqlite3.Connection, now: float, op_id: str | None) -> None:
        self.conn = conn
        self.now = now
        self.op_id = op_id
        self.seq: int | None = None
        self.record: Event | None = None

    def event(
        self,
        kind: EventKind,
        *,
        by: str | None = None,
        actor: str | None = None,
        principal: str | None = None,
        counterparty: str | None = None,
        resource: str | None = None,
        amount: float | None = None,
        artifact: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append the operation's one event. ``by``: a principal acting on its own account
        (both ``actor`` and ``principal``)."""
        if self.seq is not None:
            raise AssertionError("an operation appends exactly one event")
        if by is not None:
            if actor is not None or principal is not None:  # (kept under python -O too)
                raise AssertionError("by= is both actor and principal: give one or the other")
            actor = principal = by
        row = (self.now, kind, actor, principal, counterparty, resource, amount, artifact)
        cur = self.conn.execute(
            "INSERT INTO events (at, kind, actor_id, principal_id, counterparty_id, resource,"
            " amount, artifact_id, op_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, self.op_id, json.dumps(details, sort_keys=True) if details else "{}"),
        )
        self.seq = cur.lastrowid
        assert self.seq is not None
        self.record = Event(self.seq, *row, self.op_id, dict(details) if details else {})
        return self.seq

    def principal_kind(self, principal: str) -> str:
        row = self.conn.execute("SELECT kind FROM principals WHERE id = ?", (principal,)).fetchone()
        if row is None:
            raise UnknownPrincipal(principal)
        return str(row[0])

    def require_system(self, authority: str, action: str) -> None:
        if self.principal_kind(authority) != "system":
            raise NotPermitted(
                authority,
                f"only system principals may {action}; agents earn scrip and quota"
                " through the oracle, trades and transfers",
            )

    def scrip(self, principal: str) -> int:
        row = self.conn.execute(
            "SELECT scrip FROM principals WHERE id = ?", (principal,)
        ).fetchone()
        if row is None:
            raise UnknownPrincipal(principal)
        return int(row[0])

    def debit_scrip(self, principal: str, amount: int) -> int:
        row = self.conn.execute(
            "UPDATE principals SET scrip = scrip - ? WHERE id = ? AND scrip >= ? RETURNING scrip",
            (amount, principal, amount),
        ).fetchone()
        if row is None:
            raise InsufficientScrip(principal, amount, self.scrip(principal))
        return int(row[0])

    def credit_scrip(self, principal: str, amount: int) -> int:
        row = self.conn.execute(
            "UPDATE principals SET scrip = scrip + ? WHERE id = ? RETURNING scrip",
            (amount, principal),
        ).fetchone()
        if row is None:
            raise UnknownPrincipal(principal)
        return int(row[0])

    def move_scrip(self, src: str, dst: str, amount: int) -> tuple[int, int]:
        """Move ``amount`` of scrip from ``src`` to ``dst``; returns both new balances."""
        return self.debit_scrip(src, amount), self.credit_scrip(dst, amount)

    def resource_kind(self, resource: str) -> str:
        row = self.conn.execute("SELECT kind FROM resources WHERE name = ?", (resource,)).fetchone()
        if row is None:
            raise UnknownResource(resource)
        return str(row[0])

    def _holder(self, principal: str, resource: str) -> NoReturn:
        """Explain why ``principal`` has no row for ``resource``."""
        kind = self.principal_kind(principal)
        self.resource_kind(resource)
        if kind == "system":
            raise InvalidRequest(
                f"{principal!r} is a system principal and holds no {resource}; system principals"
                " are not metered"
            )
        raise UnknownResource(resource, f"{principal!r} holds no {resource}")

    def stock(self, principal: str, resource: str) -> tuple[float, float]:
        row = self.conn.execute(
            "SELECT quota, used FROM stock_holdings WHERE principal_id = ? AND resource = ?",
            (principal, resource),
        ).fetchone()
        if row is None:
            self._holder(principal, resource)
        return float(row[0]), float(row[1])

    def use_stock(self, principal: str, resource: str, amount: float, hint: str = "") -> float:
        """Take ``amount`` of ``principal``'s unused ``resource``; returns what is left."""
        row = self.conn.execute(
            # The tolerance lets an exact fit through despite float round-off (0.1 + 0.2);
            # min() keeps the stored value within the schema's CHECK (used <= quota).
            "UPDATE stock_holdings SET used = min(quota, used + ?) WHERE principal_id = ?"
            " AND resource = ? AND used + ? <= quota + 1e-9 RETURNING quota - used",
            (amount, principal, resource, amount),
        ).fetchone()
        if row is None:
            quota, used = self.stock(principal, resource)
            raise InsufficientResource(principal, resource, amount, quota - used, hint)
        return float(row[0])

    def free_stock(self, principal: str, resource: str, amount: float) -> float:
        # max(0, ...) absorbs float round-off when freeing exactly what was used.
        row = self.conn.execute(
            "UPDATE stock_holdings SET used = max(0.0, used - ?) WHERE principal_id = ?"
            " AND resource = ? AND used - ? >= -1e-9 RETURNING quota - used",
            (amount, principal, resource, amount),
        ).fetchone()
        if row is None:
            _quota, used = self.stock(principal, resource)
            raise InvalidRequest(
                f"{principal!r} has {used:.12g} {resource} in use and cannot release"
                f" {amount:.12g}; release at most {used:.12g}"
            )
        return float(row[0])

    def bucket(self, principal: str, resource: str) -> Bucket:
        found = self.find_bucket(principal, resource)
        if found is None:
            self._holder(principal, resource)
        return found

    def find_bucket(self, principal: str, resource: str) -> Bucket | None:
        """``principal``'s bucket of ``resource``; None when it holds none."""
        row = self.conn.execute(
            "SELECT balance, updated_at, rate, capacity FROM flow_buckets"
            " WHERE principal_id = ? AND resource = ?",
            (principal, resource),
        ).fetchone()
        if row is None:
            return None
        return Bucket(float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def put_bucket(self, principal: str, resource: str, bucket: Bucket) -> None:
        self.conn.execute(
            "UPDATE flow_buckets SET balance = ?, updated_at = ?, rate = ?, capacity = ?"
            " WHERE principal_id = ? AND resource = ?",
            (bucket.balance, bucket.updated_at, bucket.rate, bucket.capacity, principal, resource),
        )

    def effective_owner(self, artifact_id: str) -> str | None:
        """Who owns ``artifact_id`` (its seller while listed in escrow); None if it is gone."""
        row = self.conn.execute(
            f"SELECT {effective_owner_sql('a')} FROM artifacts a WHERE a.id = ?", (artifact_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def make_kernel_artifact(self, artifact_id: str, owner: str, content: str) -> None:
        """Create an artifact only the kernel makes (a debt's, a right's), charged to the
        disk of ``owner`` like any artifact of theirs."""
        size = len(content.encode("utf-8"))
        if self.disk_metered(owner):
            self.use_stock(owner, DISK, float(size), "free some disk first")
        self.conn.execute(
            "INSERT INTO artifacts (id, owner_id, content, size_bytes, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (artifact_id, owner, content, size, self.now, self.now),
        )

    def give_artifact(
        self, artifact_id: str, to: str, *, size: int = 0, from_disk: str = "", hint: str = ""
    ) -> None:
        """Make ``to`` the owner of ``artifact_id``; its ``size`` bytes move to the disk of
        whoever pays for what ``to`` holds from that of ``from_disk``'s payer (where disk is
        metered; ``hint`` says what to do if it is full). A program brings along what its
        account holds and stores (its owner pays for those)."""
        self.refuse_program_in_program(artifact_id, to)
        if size:
            size += self.program_footprint(artifact_id)
        payer = self.disk_payer(to) if size else None
        if payer is not None:
            self.use_stock(payer, DISK, float(size), hint)
        before = self.disk_payer(from_disk) if size and from_disk else None
        if before is not None:
            self.free_stock(before, DISK, float(size))
        self.conn.execute(
            "UPDATE artifacts SET owner_id = ?, updated_at = ? WHERE id = ?",
            (to, self.now, artifact_id),
        )

    def refuse_program_in_program(self, artifact_id: str, to: str) -> None:
        """A program's account holds data, debts and rights, never a program (nor itself):
        so whoever pays for what an account holds is always one step away, an agent."""
        is_program = self.conn.execute(
            "SELECT 1 FROM artifacts WHERE id = ? AND executable = 1", (artifact_id,)
        ).fetchone()
        if is_program is None:
            return
        to_program = self.conn.execute(
            "SELECT 1 FROM artifacts WHERE id = ? AND executable = 1", (to,)
        ).fetchone()
        if to_program is not None:
            raise NotPermitted(
                to,
                f"{artifact_id!r} is a program, and a program's account holds no programs;"
                " give it to an agent (or sell it through genesis_escrow)",
            )

    def disk_payer(self, principal: str) -> str | None:
        """The agent whose disk pays for what ``principal`` holds: an agent itself, a
        program's account its owner; None where nothing is charged (the world's own)."""
        if self.disk_metered(principal):
            return principal
        row = self.conn.execute(
            f"SELECT {effective_owner_sql('a')} FROM artifacts a WHERE a.id = ?"
            " AND a.executable = 1",
            (principal,),
        ).fetchone()
        if row is not None and row[0] is not None and self.disk_metered(str(row[0])):
            return str(row[0])
        return None

    def program_footprint(self, artifact_id: str) -> int:
        """Bytes a program's account holds (artifacts) and stores (state); 0 for data."""
        row = self.conn.execute(
            "SELECT (SELECT COALESCE(sum(size_bytes), 0) FROM artifacts WHERE owner_id = a.id)"
            " + (SELECT COALESCE(sum(size_bytes), 0) FROM artifact_state"
            " WHERE artifact_id = a.id) FROM artifacts a WHERE a.id = ? AND a.executable = 1",
            (artifact_id,),
        ).fetchone()
        return 0 if row is None else int(row[0])

    def debt_status(self, artifact_id: str) -> DebtStatus | None:
        """The state of the debt whose artifact is ``artifact_id``; None if it is not one."""
        if not artifact_id.startswith(DEBT_PREFIX):
            return None
        row = self.conn.execute(
            "SELECT status FROM debts WHERE id = ?", (artifact_id[len(DEBT_PREFIX) :],)
        ).fetchone()
        return None if row is None else DebtStatus(row[0])

    def disk_metered(self, principal: str) -> bool:
        """Whether artifact sizes are charged to ``principal`` (an agent, with disk declared)."""
        if self.principal_kind(principal) != "agent":
            return False
        row = self.conn.execute(
            "SELECT 1 FROM resources WHERE name = ? AND kind = 'stock'", (DISK,)
        ).fetchone()
        return row is not None


def scope_sql(
    column: str, only: tuple[str, ...] | None, never: tuple[str, ...]
) -> tuple[str, list[str]]:
    """`` AND column IN (...) AND column NOT IN (...)`` for ``only`` (None: no limit) and
    ``never``, with its parameters."""
    sql = ""
    params: list[str] = []
    if only is not None:
        sql += f" AND {column} IN ({', '.join('?' * len(only)) or 'NULL'})"
        params.extend(only)
    if never:
        sql += f" AND {column} NOT IN ({', '.join('?' * len(never))})"
        params.extend(never)
    return sql, params
