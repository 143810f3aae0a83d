"""The names the ledger stores as data: event kinds, and the states of listings, debts, calls, bids.

Each is a :class:`~enum.StrEnum`: a member *is* the text stored in SQLite (``EventKind.TRANSFER
== "transfer"``), so rows, JSON and SQL need no conversion, while code names the member and a
misspelt or renamed one is a type error, not a silent mismatch. The schema's CHECK constraints
and the SQL views name the same texts; ``tests/store`` holds the two to each other.
"""

from __future__ import annotations

from enum import StrEnum, unique

__all__ = [
    "BidStatus",
    "CallStatus",
    "DebtStatus",
    "EventKind",
    "InvocationStatus",
    "ListingStatus",
    "OrderStatus",
    "SubmissionStatus",
]


@unique
class EventKind(StrEnum):
    """The ``kind`` of a row of ``events``: what one committed operation did."""

    # principals, resources and scrip
    PRINCIPAL_CREATED = "principal_created"
    HOLDINGS_ADDED = "holdings_added"
    RESOURCE_DECLARED = "resource_declared"
    RESOURCE_UPDATED = "resource_updated"
    BUCKETS_REANCHORED = "buckets_reanchored"
    TRANSFER = "transfer"
    MINT = "mint"
    BURN = "burn"
    SPEND = "spend"
    RELEASE = "release"
    RESOURCE_TRANSFER = "resource_transfer"
    QUOTA_SET = "quota_set"
    QUOTA_TRANSFER = "quota_transfer"
    # artifacts
    ARTIFACT_WRITTEN = "artifact_written"
    ARTIFACT_DELETED = "artifact_deleted"
    ARTIFACT_TRANSFERRED = "artifact_transferred"
    # programs: executable artifacts and their invocations
    PROGRAM_WRITTEN = "program_written"
    ARTIFACT_PRICED = "artifact_priced"
    ARTIFACT_FROZEN = "artifact_frozen"
    INVOCATION_STARTED = "invocation_started"
    INVOCATION_FINISHED = "invocation_finished"
    INVOCATIONS_ABANDONED = "invocations_abandoned"
    # tasks: the user's work, checked by hidden cases, paid by minting
    TASKS_LISTED = "tasks_listed"
    TASK_SUBMITTED = "task_submitted"
    TASK_CHECKED = "task_checked"
    TASK_SUBMISSIONS_ABANDONED = "task_submissions_abandoned"
    # agents
    AGENT_REGISTERED = "agent_registered"
    AGENT_CONFIG_UPDATED = "agent_config_updated"
    CONFIG_RIGHT_TRANSFERRED = "config_right_transferred"
    CONFIG_RIGHT_TOKENIZED = "config_right_tokenized"
    AGENT_SLEPT = "agent_slept"
    AGENT_WOKE = "agent_woke"
    TURN = "turn"
    NOTE_ADDED = "note_added"
    METRICS_WINDOW = "metrics_window"
    # LLM calls and the dollar budget
    LLM_RESERVED = "llm_reserved"
    LLM_CALL = "llm_call"
    LLM_OVERBILLED = "llm_overbilled"
    LLM_CALLS_ABANDONED = "llm_calls_abandoned"
    API_LIMIT_SET = "api_limit_set"
    # escrow
    ESCROW_LISTED = "escrow_listed"
    ESCROW_SOLD = "escrow_sold"
    ESCROW_CANCELLED = "escrow_cancelled"
    # debt
    DEBT_PROPOSED = "debt_proposed"
    DEBT_ACCEPTED = "debt_accepted"
    DEBT_REPAID = "debt_repaid"
    DEBT_WITHDRAWN = "debt_withdrawn"
    DEBT_FORGIVEN = "debt_forgiven"
    DEBT_COLLECTED = "debt_collected"
    # oracle
    ORACLE_BID = "oracle_bid"
    ORACLE_WITHDRAWN = "oracle_withdrawn"
    ORACLE_RESOLVED = "oracle_resolved"
    # the resource exchange
    EXCHANGE_OPENED = "exchange_opened"
    EXCHANGE_ORDER = "exchange_order"
    EXCHANGE_CANCELLED = "exchange_cancelled"
    EXCHANGE_EXPIRED = "exchange_expired"


@unique
class ListingStatus(StrEnum):
    """An escrow listing: ``active`` until it is sold or its seller cancels it."""

    ACTIVE = "active"
    SOLD = "sold"
    CANCELLED = "cancelled"


@unique
class DebtStatus(StrEnum):
    """A debt: ``proposed`` by the debtor, ``active`` once the lender accepts, then closed."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    REPAID = "repaid"
    FORGIVEN = "forgiven"
    DEFAULTED = "defaulted"
    WITHDRAWN = "withdrawn"

    @property
    def closed(self) -> bool:
        """Repaid, forgiven or defaulted: the debt is over (its artifact may be deleted)."""
        return self in (DebtStatus.REPAID, DebtStatus.FORGIVEN, DebtStatus.DEFAULTED)


@unique
class CallStatus(StrEnum):
    """An LLM call: ``reserved`` while it runs, then settled, failed, or abandoned at restart."""

    RESERVED = "reserved"
    SETTLED = "settled"
    FAILED = "failed"
    ABANDONED = "abandoned"


@unique
class BidStatus(StrEnum):
    """An oracle bid: ``active`` until its round decides it (won, lost) or its bidder withdraws."""

    ACTIVE = "active"
    WON = "won"
    LOST = "lost"
    WITHDRAWN = "withdrawn"


@unique
class InvocationStatus(StrEnum):
    """An invocation of a program: ``running``, then ``ok`` or ``failed`` (or ``abandoned``
    when the world stopped during it)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    ABANDONED = "abandoned"


@unique
class SubmissionStatus(StrEnum):
    """A task submission: ``running`` while its cases run, then ``solved`` (paid), ``failed``
    (a case did not pass), ``taken``, ``already_solved`` or ``closed`` (every case passed,
    but meanwhile the paid slots were filled, the submitter was paid, or the task closed), or
    ``abandoned`` when the world stopped during it."""

    RUNNING = "running"
    SOLVED = "solved"
    FAILED = "failed"
    TAKEN = "taken"
    ALREADY_SOLVED = "already_solved"
    CLOSED = "closed"
    ABANDONED = "abandoned"


@unique
class OrderStatus(StrEnum):
    """An order on the exchange: ``open`` until it is filled, cancelled or expires."""

    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
