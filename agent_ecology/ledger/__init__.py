"""The ledger kernel: the only code that changes the world's state.

Scrip (integer, never negative, conserved), resources (stock pools and token-bucket flows),
quotas, artifacts and the append-only event log, all in one SQLite file.
"""

from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    BudgetExhausted,
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
from agent_ecology.ledger.ops import DISK, LLM_BUDGET, NANODOLLARS, RESERVED_ARTIFACT_PREFIX
from agent_ecology.ledger.records import (
    Account,
    AgentRecord,
    ApiBudget,
    Artifact,
    ArtifactInfo,
    Event,
    FlowHolding,
    LLMCall,
    Note,
    Principal,
    Receipt,
    ResourceSpec,
    StockHolding,
    Supply,
)

__all__ = [
    "DISK",
    "LLM_BUDGET",
    "NANODOLLARS",
    "RESERVED_ARTIFACT_PREFIX",
    "Account",
    "AgentRecord",
    "ApiBudget",
    "Artifact",
    "ArtifactInfo",
    "Bucket",
    "BudgetExhausted",
    "CapacityExceeded",
    "Event",
    "FlowHolding",
    "IdempotencyConflict",
    "InsufficientResource",
    "InsufficientScrip",
    "InvalidRequest",
    "LLMCall",
    "Ledger",
    "LedgerClosed",
    "LedgerError",
    "LedgerUnavailable",
    "NotPermitted",
    "Note",
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
