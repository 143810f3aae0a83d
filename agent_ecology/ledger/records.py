"""Read-only records the ledger hands out: snapshots, never live views of the database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_ecology.ledger.buckets import Bucket

__all__ = [
    "Artifact",
    "Event",
    "FlowHolding",
    "Principal",
    "PrincipalKind",
    "Receipt",
    "ResourceKind",
    "ResourceSpec",
    "StockHolding",
    "Supply",
]

PrincipalKind = Literal["agent", "system"]
ResourceKind = Literal["stock", "flow"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a write operation did.

    ``seq`` is the sequence number of the event it appended (``None`` when it changed
    nothing, e.g. ensuring a principal that exists). ``replayed`` is true when the operation
    id had been seen before and this is the first result, returned again.
    """

    kind: str
    seq: int | None
    at: float
    details: Mapping[str, Any] = field(default_factory=dict)
    op_id: str | None = None
    replayed: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "seq": self.seq, "at": self.at, "details": dict(self.details)},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, *, op_id: str | None, replayed: bool) -> Receipt:
        data = json.loads(text)
        return cls(data["kind"], data["seq"], data["at"], data["details"], op_id, replayed)


@dataclass(frozen=True, slots=True)
class Principal:
    """An agent or a system principal (the world, a genesis artifact), with its scrip."""

    id: str
    kind: PrincipalKind
    scrip: int
    created_at: float


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """A resource as declared from config.yaml (stock: ``total``; flow: ``rate``, ``capacity``)."""

    name: str
    kind: ResourceKind
    unit: str
    total: float | None = None
    distribution: str | None = None
    rate: float | None = None
    capacity: float | None = None


@dataclass(frozen=True, slots=True)
class StockHolding:
    """A principal's share of a stock resource: its quota and how much of it is in use."""

    principal_id: str
    resource: str
    quota: float
    used: float

    @property
    def available(self) -> float:
        return self.quota - self.used


@dataclass(frozen=True, slots=True)
class FlowHolding:
    """A principal's token bucket for a flow resource; its quota is the ``rate``."""

    principal_id: str
    resource: str
    bucket: Bucket

    @property
    def rate(self) -> float:
        return self.bucket.rate

    @property
    def capacity(self) -> float:
        return self.bucket.capacity

    def available(self, now: float) -> float:
        return self.bucket.available(now)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A stored artifact; ``size_bytes`` (UTF-8 length of ``content``) is charged to the owner."""

    id: str
    owner_id: str
    content: str
    size_bytes: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only event log."""

    seq: int
    at: float
    kind: str
    actor_id: str | None
    principal_id: str | None
    counterparty_id: str | None
    resource: str | None
    amount: float | int | None
    artifact_id: str | None
    op_id: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Supply:
    """Scrip totals: what was minted, what was burned, and what circulates."""

    minted: int
    burned: int
    circulating: int

    @property
    def is_conserved(self) -> bool:
        return self.circulating == self.minted - self.burned
