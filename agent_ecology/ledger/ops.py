"""The kernel's operations: validated requests that the writer applies inside a transaction.

Each operation is a frozen dataclass. Its constructor checks the arguments (so a malformed
call fails at once, in the caller's task); ``apply`` runs in the writer thread inside the
operation's own savepoint, reads and writes through :class:`Tx`, appends exactly one event
when it changes something, and raises a :class:`~agent_ecology.ledger.errors.LedgerError`
to refuse (the savepoint is then rolled back, so a refused operation leaves nothing behind).

Debits are conditional updates (``UPDATE ... WHERE scrip >= :amount``) whose row count is
checked, and the schema's CHECK constraints back every rule up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

from agent_ecology.ledger import buckets
from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    CapacityExceeded,
    IdempotencyConflict,
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    NotPermitted,
    PrincipalConflict,
    UnknownArtifact,
    UnknownPrincipal,
    UnknownResource,
)
from agent_ecology.ledger.records import Receipt

__all__ = [
    "DISK",
    "RESERVED_ARTIFACT_PREFIX",
    "Burn",
    "DeclareResource",
    "DeleteArtifact",
    "EnsurePrincipal",
    "Mint",
    "Operation",
    "Release",
    "SetQuota",
    "Spend",
    "Transfer",
    "TransferArtifact",
    "TransferQuota",
    "TransferResource",
    "Tx",
    "WriteArtifact",
    "apply_operation",
]

DISK = "disk"
"""The stock resource that artifact sizes are charged to, when it is declared."""

RESERVED_ARTIFACT_PREFIX = "genesis_"
"""Artifact ids with this prefix belong to the world; agents cannot create them."""

MAX_SCRIP = 2**63 - 1
_PRINCIPAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_RESOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


# --- argument checks (run in the caller, before anything is queued) -------------------------


def _principal_id(value: object, role: str) -> str:
    if not isinstance(value, str) or not _PRINCIPAL_ID.fullmatch(value):
        raise InvalidRequest(
            f"{role} must be a principal id (1-64 characters: letters, digits, '_', '.', ':', '-',"
            f" starting with a letter or digit), got {value!r}"
        )
    return value


def _artifact_id(value: object) -> str:
    if not isinstance(value, str) or not _ARTIFACT_ID.fullmatch(value):
        raise InvalidRequest(
            "artifact_id must be 1-128 characters (letters, digits, '_', '.', ':', '/', '-',"
            f" starting with a letter or digit), got {value!r}"
        )
    return value


def _resource_name(value: object) -> str:
    if not isinstance(value, str) or not _RESOURCE_NAME.fullmatch(value):
        raise InvalidRequest(
            f"resource must be a resource name (lowercase letters, digits, '_'), got {value!r}"
        )
    return value


def _scrip_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"scrip amounts are whole numbers; got {value!r} ({type(value).__name__}),"
            " pass a positive int"
        )
    if value <= 0 or value > MAX_SCRIP:
        raise InvalidRequest(f"scrip amount must be a positive integer, got {value}")
    return value


def _resource_amount(value: object, what: str = "amount") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what} must be a number, got {value!r}")
    amount = float(value)
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidRequest(f"{what} must be a positive finite number, got {value!r}")
    return amount


def _non_negative(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what} must be a number, got {value!r}")
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise InvalidRequest(f"{what} must be a finite number >= 0, got {value!r}")
    return amount


def _op_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise InvalidRequest(f"op_id must be a string of 1-200 characters, got {value!r}")
    return value


# --- the transaction helper --------------------------------------------------------------


class Tx:
    """What an operation may do inside its savepoint: typed reads and writes, and one event."""

    def __init__(self, conn: sqlite3.Connection, now: float, op_id: str | None) -> None:
        self.conn = conn
        self.now = now
        self.op_id = op_id
        self.seq: int | None = None

    def event(
        self,
        kind: str,
        *,
        actor: str | None = None,
        principal: str | None = None,
        counterparty: str | None = None,
        resource: str | None = None,
        amount: float | None = None,
        artifact: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        if self.seq is not None:
            raise AssertionError("an operation appends exactly one event")
        cur = self.conn.execute(
            "INSERT INTO events (at, kind, actor_id, principal_id, counterparty_id, resource,"
            " amount, artifact_id, op_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.now,
                kind,
                actor,
                principal,
                counterparty,
                resource,
                amount,
                artifact,
                self.op_id,
                json.dumps(details, sort_keys=True) if details else "{}",
            ),
        )
        self.seq = cur.lastrowid
        assert self.seq is not None
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
            "UPDATE stock_holdings SET used = used + ? WHERE principal_id = ? AND resource = ?"
            " AND used + ? <= quota RETURNING quota - used",
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
                f"{principal!r} has {used:g} {resource} in use and cannot release {amount:g};"
                f" release at most {used:g}"
            )
        return float(row[0])

    def bucket(self, principal: str, resource: str) -> Bucket:
        row = self.conn.execute(
            "SELECT balance, updated_at, rate, capacity FROM flow_buckets"
            " WHERE principal_id = ? AND resource = ?",
            (principal, resource),
        ).fetchone()
        if row is None:
            self._holder(principal, resource)
        return Bucket(float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def put_bucket(self, principal: str, resource: str, bucket: Bucket) -> None:
        self.conn.execute(
            "UPDATE flow_buckets SET balance = ?, updated_at = ?, rate = ?, capacity = ?"
            " WHERE principal_id = ? AND resource = ?",
            (bucket.balance, bucket.updated_at, bucket.rate, bucket.capacity, principal, resource),
        )

    def disk_metered(self, principal: str) -> bool:
        """Whether artifact sizes are charged to ``principal`` (an agent, with disk declared)."""
        if self.principal_kind(principal) != "agent":
            return False
        row = self.conn.execute(
            "SELECT 1 FROM resources WHERE name = ? AND kind = 'stock'", (DISK,)
        ).fetchone()
        return row is not None


# --- operations --------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclareResource(Operation):
    """Record a resource from config.yaml (new, or with changed parameters)."""

    kind: ClassVar[str] = "resource_declared"
    name: str
    resource_kind: str
    unit: str
    total: float | None = None
    distribution: str | None = None
    rate: float | None = None
    capacity: float | None = None

    def __post_init__(self) -> None:
        _resource_name(self.name)
        _op_id(self.op_id)
        if self.resource_kind == "stock":
            _non_negative(self.total, f"resources.stock.{self.name}.total")
        elif self.resource_kind == "flow":
            _non_negative(self.rate, f"resources.flow.{self.name}.rate")
            _non_negative(self.capacity, f"resources.flow.{self.name}.capacity")
        else:
            raise InvalidRequest(
                f"resource kind must be 'stock' or 'flow', got {self.resource_kind!r}"
            )

    def apply(self, tx: Tx) -> dict[str, Any]:
        spec = {
            "unit": self.unit,
            "total": self.total,
            "distribution": self.distribution,
            "rate": self.rate,
            "capacity": self.capacity,
        }
        row = tx.conn.execute(
            "SELECT kind, unit, total, distribution, rate, capacity FROM resources WHERE name = ?",
            (self.name,),
        ).fetchone()
        if row is None:
            tx.conn.execute(
                "INSERT INTO resources (name, kind, unit, total, distribution, rate, capacity,"
                " declared_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.name, self.resource_kind, *spec.values(), tx.now, tx.now),
            )
            tx.event(
                "resource_declared",
                resource=self.name,
                details={"kind": self.resource_kind, **spec},
            )
            return {"created": True, "changed": True}
        if row[0] != self.resource_kind:
            raise InvalidRequest(
                f"resource {self.name!r} is declared as {row[0]} already and cannot become"
                f" {self.resource_kind}; give the new resource another name"
            )
        if tuple(row[1:]) == tuple(spec.values()):
            return {"created": False, "changed": False}
        tx.conn.execute(
            "UPDATE resources SET unit = ?, total = ?, distribution = ?, rate = ?, capacity = ?,"
            " updated_at = ? WHERE name = ?",
            (*spec.values(), tx.now, self.name),
        )
        tx.event("resource_updated", resource=self.name, details=spec)
        return {"created": False, "changed": True}


@dataclass(frozen=True, slots=True, kw_only=True)
class EnsurePrincipal(Operation):
    """Create a principal if missing, and give an agent a holding of every declared resource.

    Holdings that exist are left alone (they may have been traded). A new stock holding gets
    the quota in ``stock`` (default 0); a new bucket gets ``flow[name] = (rate, capacity)``
    (default: the resource's declared rate and capacity) and starts full.
    """

    kind: ClassVar[str] = "principal_created"
    principal_id: str
    principal_kind: str = "agent"
    stock: tuple[tuple[str, float], ...] = ()
    flow: tuple[tuple[str, float, float], ...] = ()

    def __post_init__(self) -> None:
        _principal_id(self.principal_id, "principal_id")
        _op_id(self.op_id)
        if self.principal_kind not in ("agent", "system"):
            raise InvalidRequest(
                f"principal kind must be 'agent' or 'system', got {self.principal_kind!r}"
            )
        if self.principal_kind == "system" and (self.stock or self.flow):
            raise InvalidRequest("system principals are not metered; give them no allocations")
        for name, quota in self.stock:
            _resource_name(name)
            _non_negative(quota, f"stock quota of {name}")
        for name, rate, capacity in self.flow:
            _resource_name(name)
            _non_negative(rate, f"rate of {name}")
            _non_negative(capacity, f"capacity of {name}")

    def apply(self, tx: Tx) -> dict[str, Any]:
        row = tx.conn.execute(
            "SELECT kind FROM principals WHERE id = ?", (self.principal_id,)
        ).fetchone()
        created = row is None
        if row is None:
            tx.conn.execute(
                "INSERT INTO principals (id, kind, scrip, created_at) VALUES (?, ?, 0, ?)",
                (self.principal_id, self.principal_kind, tx.now),
            )
        elif row[0] != self.principal_kind:
            raise PrincipalConflict(self.principal_id, row[0], self.principal_kind)
        added = self._add_holdings(tx) if self.principal_kind == "agent" else []
        if created:
            tx.event(
                "principal_created",
                principal=self.principal_id,
                details={"kind": self.principal_kind, "holdings": added},
            )
        elif added:
            tx.event("holdings_added", principal=self.principal_id, details={"holdings": added})
        return {"created": created, "holdings_added": added}

    def _add_holdings(self, tx: Tx) -> list[str]:
        stock = dict(self.stock)
        flow = {name: (rate, capacity) for name, rate, capacity in self.flow}
        declared = tx.conn.execute("SELECT name, kind, rate, capacity FROM resources").fetchall()
        unknown = (set(stock) | set(flow)) - {name for name, *_ in declared}
        if unknown:
            raise UnknownResource(sorted(unknown)[0])
        added: list[str] = []
        for name, kind, default_rate, default_capacity in declared:
            if kind == "stock":
                cur = tx.conn.execute(
                    "INSERT OR IGNORE INTO stock_holdings (principal_id, resource, quota, used)"
                    " VALUES (?, ?, ?, 0)",
                    (self.principal_id, name, stock.get(name, 0.0)),
                )
            else:
                rate, capacity = flow.get(name, (default_rate, default_capacity))
                cur = tx.conn.execute(
                    "INSERT OR IGNORE INTO flow_buckets (principal_id, resource, rate, capacity,"
                    " balance, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (self.principal_id, name, rate, capacity, capacity, tx.now),
                )
            if cur.rowcount:
                added.append(name)
        return added


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Operation):
    """Move scrip from ``src`` to ``dst``; unilateral (the receiver need not agree)."""

    kind: ClassVar[str] = "transfer"
    src: str
    dst: str
    amount: int

    def __post_init__(self) -> None:
        _principal_id(self.src, "src")
        _principal_id(self.dst, "dst")
        _scrip_amount(self.amount)
        _op_id(self.op_id)
        if self.src == self.dst:
            raise InvalidRequest(f"cannot transfer scrip from {self.src!r} to itself")

    def apply(self, tx: Tx) -> dict[str, Any]:
        src_scrip = tx.debit_scrip(self.src, self.amount)
        dst_scrip = tx.credit_scrip(self.dst, self.amount)
        details = {"src_scrip": src_scrip, "dst_scrip": dst_scrip}
        tx.event(
            "transfer",
            actor=self.src,
            principal=self.src,
            counterparty=self.dst,
            amount=self.amount,
            details=details,
        )
        return details


@dataclass(frozen=True, slots=True, kw_only=True)
class Mint(Operation):
    """Create scrip for ``dst``; only a system principal (``authority``) may mint."""

    kind: ClassVar[str] = "mint"
    dst: str
    amount: int
    authority: str

    def __post_init__(self) -> None:
        _principal_id(self.dst, "dst")
        _principal_id(self.authority, "authority")
        _scrip_amount(self.amount)
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        tx.require_system(self.authority, "mint scrip")
        scrip = tx.credit_scrip(self.dst, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET minted = minted + ? WHERE id = 1", (self.amount,))
        tx.event(
            "mint",
            actor=self.authority,
            principal=self.dst,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}


@dataclass(frozen=True, slots=True, kw_only=True)
class Burn(Operation):
    """Destroy scrip held by ``src``; only a system principal (``authority``) may burn."""

    kind: ClassVar[str] = "burn"
    src: str
    amount: int
    authority: str

    def __post_init__(self) -> None:
        _principal_id(self.src, "src")
        _principal_id(self.authority, "authority")
        _scrip_amount(self.amount)
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        tx.require_system(self.authority, "burn scrip")
        scrip = tx.debit_scrip(self.src, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET burned = burned + ? WHERE id = 1", (self.amount,))
        tx.event(
            "burn",
            actor=self.authority,
            principal=self.src,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}


@dataclass(frozen=True, slots=True, kw_only=True)
class Spend(Operation):
    """Charge ``amount`` of a resource after the work it paid for.

    Stock: taken from the unused quota (refused if it does not fit). Flow: taken from the
    bucket, which may go into debt.
    """

    kind: ClassVar[str] = "spend"
    principal: str
    resource: str
    amount: float

    def __post_init__(self) -> None:
        _principal_id(self.principal, "principal")
        _resource_name(self.resource)
        _resource_amount(self.amount)
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            left = tx.use_stock(self.principal, self.resource, amount)
            details: dict[str, Any] = {"available": left}
        else:
            bucket = buckets.spend(tx.bucket(self.principal, self.resource), amount, tx.now)
            tx.put_bucket(self.principal, self.resource, bucket)
            details = {"balance": bucket.balance}
        tx.event(
            "spend",
            actor=self.principal,
            principal=self.principal,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


@dataclass(frozen=True, slots=True, kw_only=True)
class Release(Operation):
    """Give back ``amount`` of a stock resource in use (flow resources accrue by themselves)."""

    kind: ClassVar[str] = "release"
    principal: str
    resource: str
    amount: float

    def __post_init__(self) -> None:
        _principal_id(self.principal, "principal")
        _resource_name(self.resource)
        _resource_amount(self.amount)
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        if tx.resource_kind(self.resource) != "stock":
            raise InvalidRequest(
                f"{self.resource} is a flow resource: it accrues by itself and cannot be released"
            )
        left = tx.free_stock(self.principal, self.resource, float(self.amount))
        tx.event(
            "release",
            actor=self.principal,
            principal=self.principal,
            resource=self.resource,
            amount=float(self.amount),
            details={"available": left},
        )
        return {"available": left}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResource(Operation):
    """Give some of a flow bucket's balance to another principal (a rescue from debt, a sale).

    The giver must hold ``amount`` now; the receiver's bucket must have room for it, so that
    nothing is lost to the capacity cap. Stock is given by transferring quota instead.
    """

    kind: ClassVar[str] = "resource_transfer"
    src: str
    dst: str
    resource: str
    amount: float

    def __post_init__(self) -> None:
        _principal_id(self.src, "src")
        _principal_id(self.dst, "dst")
        _resource_name(self.resource)
        _resource_amount(self.amount)
        _op_id(self.op_id)
        if self.src == self.dst:
            raise InvalidRequest(f"cannot transfer {self.resource} from {self.src!r} to itself")

    def apply(self, tx: Tx) -> dict[str, Any]:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) != "flow":
            raise InvalidRequest(
                f"{self.resource} is a stock resource; give unused capacity with transfer_quota"
            )
        src = buckets.settle(tx.bucket(self.src, self.resource), tx.now)
        dst = buckets.settle(tx.bucket(self.dst, self.resource), tx.now)
        if src.balance < amount:
            raise InsufficientResource(
                self.src, self.resource, amount, src.balance, "send at most what is available now"
            )
        room = dst.capacity - dst.balance
        if amount > room:
            raise CapacityExceeded(self.dst, self.resource, amount, room)
        src = Bucket(src.balance - amount, src.updated_at, src.rate, src.capacity)
        dst = Bucket(dst.balance + amount, dst.updated_at, dst.rate, dst.capacity)
        tx.put_bucket(self.src, self.resource, src)
        tx.put_bucket(self.dst, self.resource, dst)
        details = {"src_balance": src.balance, "dst_balance": dst.balance}
        tx.event(
            "resource_transfer",
            actor=self.src,
            principal=self.src,
            counterparty=self.dst,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


def _set_rate(tx: Tx, principal: str, resource: str, rate: float) -> None:
    # Accrual up to now happens at the old rate; the new rate counts from now on.
    settled = buckets.settle(tx.bucket(principal, resource), tx.now)
    tx.put_bucket(
        principal, resource, Bucket(settled.balance, settled.updated_at, rate, settled.capacity)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SetQuota(Operation):
    """Set a principal's quota (stock: its allocation; flow: its rate). System only."""

    kind: ClassVar[str] = "quota_set"
    principal: str
    resource: str
    amount: float
    authority: str

    def __post_init__(self) -> None:
        _principal_id(self.principal, "principal")
        _principal_id(self.authority, "authority")
        _resource_name(self.resource)
        _non_negative(self.amount, "quota")
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        tx.require_system(self.authority, "set quotas")
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            _quota, used = tx.stock(self.principal, self.resource)
            if amount < used:
                raise InvalidRequest(
                    f"{self.principal!r} uses {used:g} {self.resource};"
                    " its quota cannot go below that"
                )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = ? WHERE principal_id = ? AND resource = ?",
                (amount, self.principal, self.resource),
            )
        else:
            _set_rate(tx, self.principal, self.resource, amount)
        tx.event(
            "quota_set",
            actor=self.authority,
            principal=self.principal,
            resource=self.resource,
            amount=amount,
        )
        return {"quota": amount}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferQuota(Operation):
    """Permanently move quota: unused stock capacity, or flow rate, from ``src`` to ``dst``."""

    kind: ClassVar[str] = "quota_transfer"
    src: str
    dst: str
    resource: str
    amount: float

    def __post_init__(self) -> None:
        _principal_id(self.src, "src")
        _principal_id(self.dst, "dst")
        _resource_name(self.resource)
        _resource_amount(self.amount)
        _op_id(self.op_id)
        if self.src == self.dst:
            raise InvalidRequest(
                f"cannot transfer {self.resource} quota from {self.src!r} to itself"
            )

    def apply(self, tx: Tx) -> dict[str, Any]:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            quota, used = tx.stock(self.src, self.resource)
            tx.stock(self.dst, self.resource)
            if quota - used < amount:
                raise InsufficientResource(
                    self.src,
                    self.resource,
                    amount,
                    quota - used,
                    "only unused quota can be given; free some first",
                )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = quota - ?"
                " WHERE principal_id = ? AND resource = ?",
                (amount, self.src, self.resource),
            )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = quota + ?"
                " WHERE principal_id = ? AND resource = ?",
                (amount, self.dst, self.resource),
            )
            src_quota, dst_quota = quota - amount, tx.stock(self.dst, self.resource)[0]
        else:
            src, dst = tx.bucket(self.src, self.resource), tx.bucket(self.dst, self.resource)
            if src.rate < amount:
                raise InsufficientResource(
                    self.src,
                    self.resource,
                    amount,
                    src.rate,
                    f"its {self.resource} rate is only {src.rate:g} per second; give at most that",
                )
            src_quota, dst_quota = src.rate - amount, dst.rate + amount
            _set_rate(tx, self.src, self.resource, src_quota)
            _set_rate(tx, self.dst, self.resource, dst_quota)
        details = {"src_quota": src_quota, "dst_quota": dst_quota}
        tx.event(
            "quota_transfer",
            actor=self.src,
            principal=self.src,
            counterparty=self.dst,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteArtifact(Operation):
    """Create an artifact owned by ``actor``, or replace the content of one it owns.

    The change in size is charged to (or freed from) the owner's ``disk``.
    """

    kind: ClassVar[str] = "artifact_written"
    actor: str
    artifact_id: str
    content: str

    def __post_init__(self) -> None:
        _principal_id(self.actor, "actor")
        _artifact_id(self.artifact_id)
        if not isinstance(self.content, str):
            raise InvalidRequest(
                f"artifact content must be text, got {type(self.content).__name__}"
            )
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        size = len(self.content.encode("utf-8"))
        row = tx.conn.execute(
            "SELECT owner_id, size_bytes FROM artifacts WHERE id = ?", (self.artifact_id,)
        ).fetchone()
        if row is None:
            actor_kind = tx.principal_kind(self.actor)
            if self.artifact_id.startswith(RESERVED_ARTIFACT_PREFIX) and actor_kind != "system":
                raise NotPermitted(
                    self.actor,
                    f"artifact ids starting with {RESERVED_ARTIFACT_PREFIX!r} are"
                    " reserved for the world; choose another id",
                )
            old_size = 0
        else:
            if row[0] != self.actor:
                raise NotPermitted(
                    self.actor, f"artifact {self.artifact_id!r} is owned by {row[0]!r}"
                )
            old_size = int(row[1])
        delta = size - old_size
        if delta and tx.disk_metered(self.actor):
            hint = "delete or shrink artifacts you own, or buy disk quota"
            if delta > 0:
                tx.use_stock(self.actor, DISK, float(delta), hint)
            else:
                tx.free_stock(self.actor, DISK, float(-delta))
        if row is None:
            tx.conn.execute(
                "INSERT INTO artifacts (id, owner_id, content, size_bytes, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self.artifact_id, self.actor, self.content, size, tx.now, tx.now),
            )
        else:
            tx.conn.execute(
                "UPDATE artifacts SET content = ?, size_bytes = ?, updated_at = ? WHERE id = ?",
                (self.content, size, tx.now, self.artifact_id),
            )
        details = {"created": row is None, "size_bytes": size, "delta_bytes": delta}
        tx.event(
            "artifact_written",
            actor=self.actor,
            principal=self.actor,
            artifact=self.artifact_id,
            amount=size,
            details=details,
        )
        return details


def _owned(tx: Tx, actor: str, artifact_id: str) -> int:
    row = tx.conn.execute(
        "SELECT owner_id, size_bytes FROM artifacts WHERE id = ?", (artifact_id,)
    ).fetchone()
    if row is None:
        tx.principal_kind(actor)
        raise UnknownArtifact(artifact_id)
    if row[0] != actor:
        raise NotPermitted(actor, f"artifact {artifact_id!r} is owned by {row[0]!r}")
    return int(row[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteArtifact(Operation):
    """Delete an artifact its ``actor`` owns; its size is freed from the owner's ``disk``."""

    kind: ClassVar[str] = "artifact_deleted"
    actor: str
    artifact_id: str

    def __post_init__(self) -> None:
        _principal_id(self.actor, "actor")
        _artifact_id(self.artifact_id)
        _op_id(self.op_id)

    def apply(self, tx: Tx) -> dict[str, Any]:
        size = _owned(tx, self.actor, self.artifact_id)
        if size and tx.disk_metered(self.actor):
            tx.free_stock(self.actor, DISK, float(size))
        tx.conn.execute("DELETE FROM artifacts WHERE id = ?", (self.artifact_id,))
        tx.event(
            "artifact_deleted",
            actor=self.actor,
            principal=self.actor,
            artifact=self.artifact_id,
            amount=size,
        )
        return {"freed_bytes": size}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferArtifact(Operation):
    """Give an artifact to ``new_owner``; its size moves between the owners' ``disk``."""

    kind: ClassVar[str] = "artifact_transferred"
    actor: str
    artifact_id: str
    new_owner: str

    def __post_init__(self) -> None:
        _principal_id(self.actor, "actor")
        _principal_id(self.new_owner, "new_owner")
        _artifact_id(self.artifact_id)
        _op_id(self.op_id)
        if self.actor == self.new_owner:
            raise InvalidRequest(f"{self.actor!r} owns {self.artifact_id!r} already")

    def apply(self, tx: Tx) -> dict[str, Any]:
        size = _owned(tx, self.actor, self.artifact_id)
        tx.principal_kind(self.new_owner)
        if size and tx.disk_metered(self.new_owner):
            tx.use_stock(
                self.new_owner,
                DISK,
                float(size),
                "the receiver must free disk or get more quota first",
            )
        if size and tx.disk_metered(self.actor):
            tx.free_stock(self.actor, DISK, float(size))
        tx.conn.execute(
            "UPDATE artifacts SET owner_id = ?, updated_at = ? WHERE id = ?",
            (self.new_owner, tx.now, self.artifact_id),
        )
        tx.event(
            "artifact_transferred",
            actor=self.actor,
            principal=self.actor,
            counterparty=self.new_owner,
            artifact=self.artifact_id,
            amount=size,
        )
        return {"size_bytes": size}


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
    receipt = Receipt(op.kind, tx.seq, now, details, op.op_id)
    if op.op_id is not None:
        conn.execute(
            "INSERT INTO operations (op_id, kind, request_hash, receipt, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (op.op_id, op.kind, request_hash, receipt.to_json(), now),
        )
    return receipt
