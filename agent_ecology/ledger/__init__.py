"""The ledger kernel: the only code that changes the world's state.

Scrip (integer, never negative, conserved), resources (stock pools and token-bucket flows),
quotas, artifacts and the append-only event log, all in one SQLite file.
"""

from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    CapacityExceeded,
    IdempotencyConflict,
    InsufficientResource,
    InsufficientScrip,
    InvalidRequest,
    LedgerClosed,
    LedgerError,
    LedgerUnavailable,
    NotPermitted,
    PrincipalConflict,
    UnknownArtifact,
    UnknownPrincipal,
    UnknownResource,
)
from agent_ecology.ledger.kernel import Ledger
from agent_ecology.ledger.ops import DISK, RESERVED_ARTIFACT_PREFIX
from agent_ecology.ledger.records import (
    Artifact,
    Event,
    FlowHolding,
    Principal,
    Receipt,
    ResourceSpec,
    StockHolding,
    Supply,
)

__all__ = [
    "DISK",
    "RESERVED_ARTIFACT_PREFIX",
    "Artifact",
    "Bucket",
    "CapacityExceeded",
    "Event",
    "FlowHolding",
    "IdempotencyConflict",
    "InsufficientResource",
    "InsufficientScrip",
    "InvalidRequest",
    "Ledger",
    "LedgerClosed",
    "LedgerError",
    "LedgerUnavailable",
    "NotPermitted",
    "Principal",
    "PrincipalConflict",
    "Receipt",
    "ResourceSpec",
    "StockHolding",
    "Supply",
    "UnknownArtifact",
    "UnknownPrincipal",
    "UnknownResource",
]
