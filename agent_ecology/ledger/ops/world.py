"""Setting a world up: declaring resources and creating principals with their holdings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Annotated, Any, NotRequired, Self, TypedDict

from agent_ecology.ledger.buckets import Bucket, settle
from agent_ecology.ledger.errors import (
    InvalidRequest,
    PrincipalConflict,
    UnknownResource,
)
from agent_ecology.ledger.kinds import EventKind, ListingStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    DISK,
    RESOURCE,
    PrincipalId,
    check_non_negative,
    check_resource_name,
    check_text,
)
from agent_ecology.ledger.ops.tx import Tx
from agent_ecology.ledger.records import ResourceSpec


class DeclareResourceDetails(TypedDict):
    created: bool
    changed: bool
    rescaled: NotRequired[int]


@operation(EventKind.RESOURCE_DECLARED)
class DeclareResource(Operation[DeclareResourceDetails]):
    """Record a resource from config.yaml (new, or with changed parameters)."""

    name: Annotated[str, RESOURCE.named("resource")]
    resource_kind: str
    unit: str
    total: float | None = None
    distribution: str | None = None
    rate: float | None = None
    capacity: float | None = None
    rescale: bool = False  # a calibrated flow: scale every holder's bucket to the new rate

    @classmethod
    def of(cls, spec: ResourceSpec, *, rescale: bool = False, op_id: str | None = None) -> Self:
        """The declaration of ``spec`` (as config.yaml gives it).

        ``rescale`` (a calibrated flow): every holder's bucket is scaled by new/old rate and
        capacity, so a recalibration reaches agents that exist, in proportion to what they
        hold.
        """
        return cls(
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

    def check(self) -> None:
        check_text(self.unit, f"unit of {self.name}")
        if self.distribution is not None:
            check_text(self.distribution, f"distribution of {self.name}")
        if self.resource_kind == "stock":
            check_non_negative(self.total, f"resources.stock.{self.name}.total")
        elif self.resource_kind == "flow":
            check_non_negative(self.rate, f"resources.flow.{self.name}.rate")
            check_non_negative(self.capacity, f"resources.flow.{self.name}.capacity")
        else:
            raise InvalidRequest(
                f"resource kind must be 'stock' or 'flow', got {self.resource_kind!r}"
            )

    def apply(self, tx: Tx) -> DeclareResourceDetails:
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
                EventKind.RESOURCE_DECLARED,
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
        rescaled = 0
        if self.rescale and self.resource_kind == "flow" and row[4] and row[5]:
            rescaled = self._rescale(tx, float(row[4]), float(row[5]))
        tx.event(
            EventKind.RESOURCE_UPDATED, resource=self.name, details={**spec, "rescaled": rescaled}
        )
        return {"created": False, "changed": True, "rescaled": rescaled}

    def _rescale(self, tx: Tx, old_rate: float, old_capacity: float) -> int:
        """Scale every holder's bucket by new/old, so that traded shares keep their proportions
        and the sum of all rates follows the calibration; balances are settled first."""
        assert self.rate is not None and self.capacity is not None
        by_rate, by_capacity = self.rate / old_rate, self.capacity / old_capacity
        holders = [
            r[0]
            for r in tx.conn.execute(
                "SELECT principal_id FROM flow_buckets WHERE resource = ?", (self.name,)
            )
        ]
        for principal in holders:
            now = settle(tx.bucket(principal, self.name), tx.now)
            capacity = now.capacity * by_capacity
            balance = min(now.balance, capacity)
            tx.put_bucket(
                principal, self.name, Bucket(balance, now.updated_at, now.rate * by_rate, capacity)
            )
        return len(holders)


class EnsurePrincipalDetails(TypedDict):
    created: bool
    holdings_added: list[str]


@operation(EventKind.PRINCIPAL_CREATED)
class EnsurePrincipal(Operation[EnsurePrincipalDetails]):
    """Create a principal if missing, and give an agent a holding of every declared resource.

    Holdings that exist are left alone (they may have been traded). A new stock holding gets
    the quota in ``stock`` (default 0); a new bucket gets ``flow[name] = (rate, capacity)``
    (default: the resource's declared rate and capacity) and starts full.
    """

    principal_id: PrincipalId
    principal_kind: str = "agent"
    stock: Mapping[str, float] = field(default_factory=dict)
    flow: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def check(self) -> None:
        if not isinstance(self.stock, Mapping) or not isinstance(self.flow, Mapping):
            raise InvalidRequest(
                "stock maps a resource name to a quota and flow maps one to (rate, capacity);"
                f" got stock={type(self.stock).__name__}, flow={type(self.flow).__name__}"
            )
        object.__setattr__(self, "stock", dict(self.stock))
        object.__setattr__(self, "flow", dict(self.flow))
        for name, pair in self.flow.items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise InvalidRequest(
                    f"flow of {name!r} must be (rate, capacity), got {pair!r}; flow maps a"
                    " resource name to its rate and capacity"
                )
        if self.principal_kind not in ("agent", "system"):
            raise InvalidRequest(
                f"principal kind must be 'agent' or 'system', got {self.principal_kind!r}"
            )
        if self.principal_kind == "system" and (self.stock or self.flow):
            raise InvalidRequest("system principals are not metered; give them no allocations")
        for name, quota in self.stock.items():
            check_resource_name(name)
            check_non_negative(quota, f"stock quota of {name}")
        for name, (rate, capacity) in self.flow.items():
            check_resource_name(name)
            check_non_negative(rate, f"rate of {name}")
            check_non_negative(capacity, f"capacity of {name}")

    def hashed_fields(self) -> dict[str, Any]:
        # Hashed as the sorted pairs and triples they were sent as before they were mappings,
        # so that an op_id recorded then replays now.
        return {
            **Operation.hashed_fields(self),  # (no bare super(): slots remake the class)
            "stock": sorted(self.stock.items()),
            "flow": sorted((name, r, c) for name, (r, c) in self.flow.items()),
        }

    def apply(self, tx: Tx) -> EnsurePrincipalDetails:
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
                EventKind.PRINCIPAL_CREATED,
                principal=self.principal_id,
                details={"kind": self.principal_kind, "holdings": added},
            )
        elif added:
            tx.event(
                EventKind.HOLDINGS_ADDED, principal=self.principal_id, details={"holdings": added}
            )
        return {"created": created, "holdings_added": added}

    def _owned_bytes(self, tx: Tx) -> int:
        # Bytes listed in escrow stay on their seller's disk.
        row = tx.conn.execute(
            "SELECT (SELECT coalesce(sum(size_bytes), 0) FROM artifacts WHERE owner_id = ?)"
            " + (SELECT coalesce(sum(size_bytes), 0) FROM escrow_listings"
            " WHERE seller_id = ? AND status = ?)",
            (self.principal_id, self.principal_id, ListingStatus.ACTIVE),
        ).fetchone()
        return int(row[0])

    def _add_holdings(self, tx: Tx) -> list[str]:
        stock = dict(self.stock)
        flow = dict(self.flow)
        declared = tx.conn.execute("SELECT name, kind, rate, capacity FROM resources").fetchall()
        unknown = (set(stock) | set(flow)) - {name for name, *_ in declared}
        if unknown:
            raise UnknownResource(sorted(unknown)[0])
        added: list[str] = []
        for name, kind, default_rate, default_capacity in declared:
            if kind == "stock":
                # Artifacts written before disk was declared count as used from now on; the
                # quota grows to hold them if it must, so the holding is valid from the start.
                used = self._owned_bytes(tx) if name == DISK else 0
                quota = max(stock.get(name, 0.0), float(used))
                cur = tx.conn.execute(
                    "INSERT OR IGNORE INTO stock_holdings (principal_id, resource, quota, used)"
                    " VALUES (?, ?, ?, ?)",
                    (self.principal_id, name, quota, used),
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
