"""Read-only records the ledger hands out: snapshots, never live views of the database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, TypeVar

from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.kinds import BidStatus, CallStatus, DebtStatus, ListingStatus

PrincipalKind = Literal["agent", "system"]
ResourceKind = Literal["stock", "flow"]


Details = TypeVar("Details", bound=Mapping[str, object], covariant=True)
"""What an operation's receipt tells: the TypedDict each operation declares (so a misspelt key
is a type error); a receipt replayed from its stored JSON is the same mapping, untyped."""


@dataclass(frozen=True, slots=True)
class Receipt(Generic[Details]):
    """What a write operation did: its ``details``, typed by the operation.

    ``seq`` is the sequence number of the event it appended (``None`` when it changed
    nothing, e.g. ensuring a principal that exists). ``replayed`` is true when the operation
    id had been seen before and this is the first result, returned again. ``event`` is the
    event row it appended (``None`` when replayed or when nothing changed).
    """

    kind: str
    seq: int | None
    at: float
    details: Details
    op_id: str | None = None
    replayed: bool = False
    event: Event | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "seq": self.seq, "at": self.at, "details": dict(self.details)},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, *, op_id: str | None, replayed: bool) -> Receipt[Any]:
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
    executable: bool = False
    frozen: bool = False
    price: int = 0


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


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent's runtime state as stored: config (and who may change it), sleep, last result."""

    agent_id: str
    config: Mapping[str, Any]
    config_version: int
    config_holder: str
    sleep: Mapping[str, Any] | None
    last_result: Mapping[str, Any] | None
    turns: int


@dataclass(frozen=True, slots=True)
class Note:
    """One of an agent's own notes."""

    id: int
    at: float
    text: str


@dataclass(frozen=True, slots=True)
class ApiBudget:
    """The world's dollar limit in nanodollars: what is spent, held by calls in flight, left."""

    limit_nd: int
    reserved_nd: int
    spent_nd: int

    @property
    def left_nd(self) -> int:
        return self.limit_nd - self.reserved_nd - self.spent_nd


class _Stated:
    """A record with a ``status``: the row's text, kept as the member of ``states``."""

    __slots__ = ()
    states: ClassVar[type[StrEnum]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", self.states(self.status))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class LLMCall(_Stated):
    """One attempt of an LLM call and what it cost."""

    call_id: str
    agent_id: str
    model: str
    attempt: int
    status: CallStatus
    states: ClassVar = CallStatus
    reserved_nd: int
    cost_nd: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """An artifact without its content: who owns it, how big it is, when it last changed."""

    id: str
    owner_id: str
    size_bytes: int
    updated_at: float
    executable: bool = False
    frozen: bool = False
    price: int = 0


@dataclass(frozen=True, slots=True)
class Account:
    """One principal's scrip and holdings, read together (one consistent snapshot)."""

    principal: Principal
    stock: tuple[StockHolding, ...]
    flow: tuple[FlowHolding, ...]

    def bucket(self, resource: str) -> FlowHolding | None:
        return next((h for h in self.flow if h.resource == resource), None)

    def holding(self, resource: str) -> StockHolding | None:
        return next((h for h in self.stock if h.resource == resource), None)


@dataclass(frozen=True, slots=True)
class Listing(_Stated):
    """An escrow listing: an artifact for sale, and what became of it."""

    id: int
    artifact_id: str
    seller_id: str
    price: int
    buyer_id: str | None
    status: ListingStatus
    states: ClassVar = ListingStatus
    size_bytes: int
    created_at: float
    closed_at: float | None
    sold_to: str | None


class _AsJson:
    """A record an agent is shown as a JSON object of its fields."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Debt(_AsJson, _Stated):
    """A loan between agents, with its current creditor (the owner of ``debts/<id>``)."""

    debt_id: int
    debtor: str
    lender: str
    creditor: str | None
    principal: int
    interest_rate: float
    amount_due: int
    repaid: int
    defaulted: int
    due_at: float
    status: DebtStatus
    states: ClassVar = DebtStatus


@dataclass(frozen=True, slots=True)
class Bid(_AsJson, _Stated):
    """An oracle bid: scrip held to have an artifact scored, and what became of it."""

    bid_id: int
    bidder: str
    artifact_id: str
    amount: int
    status: BidStatus
    states: ClassVar = BidStatus
    placed_at: float
    round_at: float | None
    paid: int | None


@dataclass(frozen=True, slots=True)
class OracleResult(_AsJson):
    """One winning artifact of an oracle resolution."""

    round_at: float
    artifact_id: str
    owner: str | None
    bidder: str
    bid: int
    paid: int
    score: float
    minted: int


@dataclass(frozen=True, slots=True)
class Program:
    """An executable artifact as others see it: its price, whether it is frozen, what its
    account holds and how it has been used."""

    id: str
    owner_id: str
    price: int
    frozen: bool
    size_bytes: int
    scrip_held: int
    artifacts_held: int
    invocations: int
    succeeded: int
    revenue: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One invocation of a program (``status`` an InvocationStatus text)."""

    id: str
    invoker_id: str
    artifact_id: str
    owner_id: str
    status: str
    pay: int
    price: int
    memory_bytes: int
    fuel: int | None
    compute_seconds: float | None
    error_kind: str | None
    error: str | None
    started_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class TaskStanding(_AsJson):
    """A task as the world lists it (a row of the ``task_board`` view): what it pays, how
    many paid slots are left, when it closes (Unix time, or None)."""

    id: str
    title: str
    difficulty: int
    reward: int
    solvers: int
    solved: int
    solvers_left: int
    submissions: int
    closes_at: float | None
    attempts: int
    listed: bool


@dataclass(frozen=True, slots=True)
class TaskResult(_AsJson):
    """One checked submission (a row of the ``task_results`` view; ``status`` a
    SubmissionStatus text, ``reason`` public-safe: never a hidden input)."""

    submission_id: str
    task_id: str
    title: str
    agent_id: str
    artifact_id: str
    status: str
    cases_passed: int | None
    cases_total: int
    reason: str | None
    minted: int
    tools_paid: int
    fuel: int | None
    compute_seconds: float | None
    started_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class TaskTally:
    """What tasks did since an instant: scrip minted by tasks and by the oracle, the tasks
    solved at least once, and submissions by ``(status, reason)`` with their counts."""

    minted_by_tasks: int
    minted_by_oracle: int
    tasks_solved: int
    outcomes: tuple[tuple[str, str, int], ...]

    @property
    def submissions(self) -> int:
        return sum(n for _s, _r, n in self.outcomes)

    @property
    def solutions(self) -> int:
        return sum(n for s, _r, n in self.outcomes if s == "solved")


@dataclass(frozen=True, slots=True)
class TurnView:
    """What an agent's turn reads before it thinks, read in one transaction: its account
    (None when the caller has a fresh one), its own artifacts, the listings open to it and
    others' programs."""

    account: Account | None
    own_artifacts: list[ArtifactInfo]
    for_sale: list[Listing]
    programs: list[Program]
