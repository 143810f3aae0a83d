"""The kernel's operations: validated requests that the writer applies inside a transaction.

Each operation is declared with ``@operation(kind)``: a frozen, keyword-only dataclass whose
fields say their rules by their annotations, subclassing ``Operation[D]`` where ``D`` is the
TypedDict its receipt's details are (``Ledger.submit`` returns a ``Receipt[D]``). Its
constructor checks the arguments (so a malformed call fails at once, in the caller's task);
``apply`` runs in the writer thread inside the operation's own savepoint, reads and writes
through :class:`Tx`, appends exactly one event
when it changes something, and raises a :class:`~agent_ecology.ledger.errors.LedgerError`
to refuse (the savepoint is then rolled back, so a refused operation leaves nothing behind).

Debits are conditional updates (``UPDATE ... WHERE scrip >= :amount``) whose row count is
checked, and the schema's CHECK constraints back every rule up.
"""

from agent_ecology.ledger.ops.agents import (
    CONFIG_KEYS,
    HOLDER_SQL,
    AddNote,
    EndTurn,
    EnsureAgent,
    SetSleep,
    TokenizeConfigRight,
    TransferConfigRight,
    UpdateAgentConfig,
)
from agent_ecology.ledger.ops.artifacts import (
    DeleteArtifact,
    TransferArtifact,
    WriteArtifact,
    WriteProgram,
)
from agent_ecology.ledger.ops.base import Operation, apply_operation, operation
from agent_ecology.ledger.ops.checks import (
    COMPUTE,
    CONFIG_RIGHT_PREFIX,
    DEBT_PREFIX,
    DISK,
    ESCROW,
    EXCHANGE,
    MEMORY,
    ORACLE,
    RESERVED_ARTIFACT_PREFIX,
    SANDBOX,
)
from agent_ecology.ledger.ops.debt import (
    DebtAccept,
    DebtCollect,
    DebtForgive,
    DebtIssue,
    DebtRepay,
    debt_artifact,
)
from agent_ecology.ledger.ops.escrow import EscrowCancel, EscrowDeposit, EscrowPurchase
from agent_ecology.ledger.ops.exchange import (
    GOOD_SIDES,
    MAX_LOTS,
    ExchangeCancel,
    ExchangeExpire,
    ExchangeOpen,
    ExchangeOrder,
    good_name,
)
from agent_ecology.ledger.ops.leases import ClaimLease, LeaseDetails, ReleaseLease
from agent_ecology.ledger.ops.llm import (
    LLM_BUDGET,
    MAX_CHARGE_ND,
    NANODOLLARS,
    AbandonCalls,
    ReportOverbilling,
    ReserveCall,
    SetApiLimit,
    SettleCall,
)
from agent_ecology.ledger.ops.metrics import RecordMetrics
from agent_ecology.ledger.ops.oracle import (
    OracleBid,
    OracleResolve,
    OracleWithdraw,
    mint_for,
)
from agent_ecology.ledger.ops.programs import (
    AbandonInvocations,
    FinishInvocation,
    FreezeArtifact,
    SetPrice,
    StartInvocation,
)
from agent_ecology.ledger.ops.resources import (
    ReanchorBuckets,
    Release,
    SetQuota,
    Spend,
    TransferQuota,
    TransferResource,
)
from agent_ecology.ledger.ops.scrip import Burn, Mint, Transfer
from agent_ecology.ledger.ops.tasks import (
    AbandonSubmissions,
    FinishSubmission,
    ListTasks,
    StartSubmission,
)
from agent_ecology.ledger.ops.tx import Tx
from agent_ecology.ledger.ops.world import DeclareResource, EnsurePrincipal

__all__ = [
    "COMPUTE",
    "CONFIG_KEYS",
    "CONFIG_RIGHT_PREFIX",
    "DEBT_PREFIX",
    "DISK",
    "ESCROW",
    "EXCHANGE",
    "GOOD_SIDES",
    "HOLDER_SQL",
    "LLM_BUDGET",
    "MAX_CHARGE_ND",
    "MAX_LOTS",
    "MEMORY",
    "NANODOLLARS",
    "ORACLE",
    "RESERVED_ARTIFACT_PREFIX",
    "SANDBOX",
    "AbandonCalls",
    "AbandonInvocations",
    "AbandonSubmissions",
    "AddNote",
    "Burn",
    "ClaimLease",
    "DebtAccept",
    "DebtCollect",
    "DebtForgive",
    "DebtIssue",
    "DebtRepay",
    "DeclareResource",
    "DeleteArtifact",
    "EndTurn",
    "EnsureAgent",
    "EnsurePrincipal",
    "EscrowCancel",
    "EscrowDeposit",
    "EscrowPurchase",
    "ExchangeCancel",
    "ExchangeExpire",
    "ExchangeOpen",
    "ExchangeOrder",
    "FinishInvocation",
    "FinishSubmission",
    "FreezeArtifact",
    "LeaseDetails",
    "ListTasks",
    "Mint",
    "Operation",
    "OracleBid",
    "OracleResolve",
    "OracleWithdraw",
    "ReanchorBuckets",
    "RecordMetrics",
    "Release",
    "ReleaseLease",
    "ReportOverbilling",
    "ReserveCall",
    "SetApiLimit",
    "SetPrice",
    "SetQuota",
    "SetSleep",
    "SettleCall",
    "Spend",
    "StartInvocation",
    "StartSubmission",
    "TokenizeConfigRight",
    "Transfer",
    "TransferArtifact",
    "TransferConfigRight",
    "TransferQuota",
    "TransferResource",
    "Tx",
    "UpdateAgentConfig",
    "WriteArtifact",
    "WriteProgram",
    "apply_operation",
    "debt_artifact",
    "good_name",
    "mint_for",
    "operation",
]
