"""Debt: credit between agents without negative balances (seed 003, "Scrip and Debt").

A borrower proposes a loan to a lender; when the lender accepts, the principal moves to the
borrower and the artifact ``debts/<id>`` is made, owned by the lender. Whoever owns that
artifact is the creditor: it can be given or sold like any artifact (through escrow too; its
seller stays the creditor while it is listed). The borrower repays (in part or whole) to the
current creditor; the creditor may forgive; after the due time the creditor may collect,
which takes what the borrower has, never more, and records the rest as a default. Interest
is simple and flat: ``amount_due = principal + ceil(principal * interest_rate)``.
"""

from __future__ import annotations

import math
from typing import Annotated, NamedTuple, NotRequired, TypedDict

from agent_ecology.ledger.errors import InvalidRequest, NotPermitted
from agent_ecology.ledger.kinds import DebtStatus, EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    DEBT_PREFIX,
    MAX_SCRIP,
    PRINCIPAL_ID,
    Count,
    NonNegative,
    PrincipalId,
    Scrip,
)
from agent_ecology.ledger.ops.tx import Tx

MAX_INTEREST_RATE = 10.0


def debt_artifact(debt_id: int) -> str:
    return f"{DEBT_PREFIX}{debt_id}"


class _Debt(NamedTuple):
    debtor: str
    lender: str
    principal: int
    amount_due: int
    repaid: int
    due_at: float
    status: DebtStatus

    @property
    def left(self) -> int:
        return self.amount_due - self.repaid


def _debt(tx: Tx, debt_id: int) -> _Debt:
    row = tx.conn.execute(
        "SELECT debtor_id, lender_id, principal, amount_due, repaid, due_at, status"
        " FROM debts WHERE id = ?",
        (debt_id,),
    ).fetchone()
    if row is None:
        raise InvalidRequest(f"there is no debt {debt_id}; see yours with genesis_debt check")
    debtor, lender, principal, amount_due, repaid, due_at, status = row
    return _Debt(debtor, lender, principal, amount_due, repaid, due_at, DebtStatus(status))


def _active(d: _Debt, debt_id: int, what: str) -> None:
    if d.status is not DebtStatus.ACTIVE:
        raise InvalidRequest(f"debt {debt_id} is {d.status}; nothing to {what}")


def _creditor_acts(tx: Tx, d: _Debt, debt_id: int, actor: str, what: str) -> str:
    """Refuse unless the debt is active and ``actor`` is its creditor (whom it returns)."""
    _active(d, debt_id, what)
    owner = creditor(tx, debt_id)
    if owner != actor:
        raise NotPermitted(actor, f"only debt {debt_id}'s creditor ({owner!r}) may")
    return owner


def creditor(tx: Tx, debt_id: int) -> str:
    """The current creditor: the owner of ``debts/<id>`` (its seller while in escrow)."""
    owner = tx.effective_owner(debt_artifact(debt_id))
    if owner is None:
        raise InvalidRequest(f"debt {debt_id} has no creditor yet: it was never accepted")
    return owner


def _pay(tx: Tx, debt_id: int, debtor: str, to: str, amount: int) -> None:
    tx.move_scrip(debtor, to, amount)
    tx.conn.execute("UPDATE debts SET repaid = repaid + ? WHERE id = ?", (amount, debt_id))


def _close(tx: Tx, debt_id: int, status: DebtStatus, defaulted: int = 0) -> None:
    tx.conn.execute(
        "UPDATE debts SET status = ?, defaulted = ?, closed_at = ? WHERE id = ?",
        (status, defaulted, tx.now, debt_id),
    )


class DebtIssueDetails(TypedDict):
    debt_id: int
    amount_due: int


@operation(EventKind.DEBT_PROPOSED)
class DebtIssue(Operation[DebtIssueDetails]):
    """The borrower proposes a loan of ``principal`` scrip from ``lender``."""

    debtor: PrincipalId
    lender: Annotated[str, PRINCIPAL_ID.named("creditor_id")]
    principal: Scrip
    interest_rate: NonNegative
    due_at: NonNegative

    def check(self) -> None:
        if self.interest_rate > MAX_INTEREST_RATE:
            raise InvalidRequest(
                f"interest_rate is a fraction of the principal (0.1 = 10%), at most"
                f" {MAX_INTEREST_RATE:g}; got {self.interest_rate:g}"
            )
        if self.debtor == self.lender:
            raise InvalidRequest("you cannot lend to yourself; name another agent as creditor")

    def apply(self, tx: Tx) -> DebtIssueDetails:
        for who in (self.debtor, self.lender):
            if tx.principal_kind(who) != "agent":
                raise InvalidRequest(f"{who!r} is not an agent; debts are between agents")
        if self.due_at <= tx.now:
            raise InvalidRequest(
                f"due_at ({self.due_at:.0f}) is not in the future; the time now is {tx.now:.0f}"
            )
        amount_due = self.principal + math.ceil(self.principal * float(self.interest_rate))
        if amount_due > MAX_SCRIP:
            raise InvalidRequest(
                f"principal {self.principal} with interest {self.interest_rate:g} is more scrip"
                " than can exist; borrow less"
            )
        cur = tx.conn.execute(
            "INSERT INTO debts (debtor_id, lender_id, principal, interest_rate, amount_due,"
            " due_at, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.debtor,
                self.lender,
                self.principal,
                float(self.interest_rate),
                amount_due,
                float(self.due_at),
                DebtStatus.PROPOSED,
                tx.now,
            ),
        )
        debt_id = int(cur.lastrowid or 0)
        tx.event(
            EventKind.DEBT_PROPOSED,
            by=self.debtor,
            counterparty=self.lender,
            amount=self.principal,
            details={"debt_id": debt_id, "amount_due": amount_due, "due_at": self.due_at},
        )
        return {"debt_id": debt_id, "amount_due": amount_due}


class DebtAcceptDetails(TypedDict):
    debt_id: int
    artifact_id: str


@operation(EventKind.DEBT_ACCEPTED)
class DebtAccept(Operation[DebtAcceptDetails]):
    """The named lender accepts: the principal moves, the debt artifact is made."""

    lender: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> DebtAcceptDetails:
        d = _debt(tx, self.debt_id)
        if d.lender != self.lender:
            raise NotPermitted(self.lender, f"debt {self.debt_id} was offered to {d.lender!r}")
        if d.status is not DebtStatus.PROPOSED:
            raise InvalidRequest(f"debt {self.debt_id} is {d.status}, not open to accept")
        if tx.now >= d.due_at:
            raise InvalidRequest(f"debt {self.debt_id} was due before it was accepted")
        tx.move_scrip(self.lender, d.debtor, d.principal)
        artifact = debt_artifact(self.debt_id)
        content = (
            f"Debt {self.debt_id}: {d.debtor} owes {d.amount_due} scrip, due at unix time"
            f" {d.due_at:.0f}. Whoever owns this artifact is the creditor; see genesis_debt"
            " check for what is left."
        )
        tx.make_kernel_artifact(artifact, self.lender, content)
        tx.conn.execute(
            "UPDATE debts SET status = ?, accepted_at = ? WHERE id = ?",
            (DebtStatus.ACTIVE, tx.now, self.debt_id),
        )
        tx.event(
            EventKind.DEBT_ACCEPTED,
            by=self.lender,
            counterparty=d.debtor,
            amount=d.principal,
            artifact=artifact,
            details={"debt_id": self.debt_id},
        )
        return {"debt_id": self.debt_id, "artifact_id": artifact}


class DebtRepayDetails(TypedDict):
    debt_id: int
    paid_to: str
    left: int


@operation(EventKind.DEBT_REPAID)
class DebtRepay(Operation[DebtRepayDetails]):
    """The debtor pays ``amount`` of what is left to the current creditor."""

    debtor: PrincipalId
    debt_id: Count
    amount: Scrip

    def apply(self, tx: Tx) -> DebtRepayDetails:
        d = _debt(tx, self.debt_id)
        if d.debtor != self.debtor:
            raise NotPermitted(self.debtor, f"debt {self.debt_id} is {d.debtor!r}'s to repay")
        _active(d, self.debt_id, "repay")
        left = d.left
        if self.amount > left:
            raise InvalidRequest(f"debt {self.debt_id} has {left} left to repay; pay at most that")
        to = creditor(tx, self.debt_id)
        _pay(tx, self.debt_id, d.debtor, to, self.amount)
        if self.amount == left:
            _close(tx, self.debt_id, DebtStatus.REPAID)
        tx.event(
            EventKind.DEBT_REPAID,
            by=self.debtor,
            counterparty=to,
            amount=self.amount,
            details={"debt_id": self.debt_id, "left": left - self.amount},
        )
        return {"debt_id": self.debt_id, "paid_to": to, "left": left - self.amount}


class DebtForgiveDetails(TypedDict):
    debt_id: int
    forgiven: NotRequired[int]
    status: NotRequired[str]


@operation(EventKind.DEBT_FORGIVEN)
class DebtForgive(Operation[DebtForgiveDetails]):
    """The current creditor forgives what is left."""

    actor: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> DebtForgiveDetails:
        d = _debt(tx, self.debt_id)
        if d.status is DebtStatus.PROPOSED and self.actor == d.debtor:
            _close(tx, self.debt_id, DebtStatus.WITHDRAWN)
            tx.event(EventKind.DEBT_WITHDRAWN, by=self.actor, details={"debt_id": self.debt_id})
            return {"debt_id": self.debt_id, "status": DebtStatus.WITHDRAWN.value}
        _creditor_acts(tx, d, self.debt_id, self.actor, "forgive")
        left = d.left
        _close(tx, self.debt_id, DebtStatus.FORGIVEN)
        tx.event(
            EventKind.DEBT_FORGIVEN,
            by=self.actor,
            counterparty=d.debtor,
            amount=left,
            details={"debt_id": self.debt_id},
        )
        return {"debt_id": self.debt_id, "forgiven": left}


class DebtCollectDetails(TypedDict):
    debt_id: int
    collected: int
    defaulted: int


@operation(EventKind.DEBT_COLLECTED)
class DebtCollect(Operation[DebtCollectDetails]):
    """After the due time, the creditor takes what the debtor has, up to what is left."""

    actor: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> DebtCollectDetails:
        d = _debt(tx, self.debt_id)
        owner = _creditor_acts(tx, d, self.debt_id, self.actor, "collect")
        if tx.now < d.due_at:
            raise InvalidRequest(
                f"debt {self.debt_id} is due at unix time {d.due_at:.0f}; collect after that"
            )
        left = d.left
        taken = min(left, tx.scrip(d.debtor))
        if taken:
            _pay(tx, self.debt_id, d.debtor, owner, taken)
        defaulted = left - taken
        _close(
            tx, self.debt_id, DebtStatus.DEFAULTED if defaulted else DebtStatus.REPAID, defaulted
        )
        tx.event(
            EventKind.DEBT_COLLECTED,
            by=self.actor,
            counterparty=d.debtor,
            amount=taken,
            details={"debt_id": self.debt_id, "defaulted": defaulted},
        )
        return {"debt_id": self.debt_id, "collected": taken, "defaulted": defaulted}
