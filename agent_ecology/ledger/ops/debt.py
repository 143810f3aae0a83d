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
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from agent_ecology.ledger.errors import InvalidRequest, NotPermitted
from agent_ecology.ledger.ops.base import Operation
from agent_ecology.ledger.ops.checks import (
    DEBT_PREFIX,
    DISK,
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


def _debt(tx: Tx, debt_id: int) -> dict[str, Any]:
    row = tx.conn.execute(
        "SELECT debtor_id, lender_id, principal, amount_due, repaid, due_at, status"
        " FROM debts WHERE id = ?",
        (debt_id,),
    ).fetchone()
    if row is None:
        raise InvalidRequest(f"there is no debt {debt_id}; see yours with genesis_debt check")
    keys = ("debtor", "lender", "principal", "amount_due", "repaid", "due_at", "status")
    return dict(zip(keys, row, strict=True))


def creditor(tx: Tx, debt_id: int) -> str:
    """The current creditor: the owner of ``debts/<id>`` (its seller while in escrow)."""
    owner = tx.effective_owner(debt_artifact(debt_id))
    if owner is None:
        raise InvalidRequest(f"debt {debt_id} has no creditor yet: it was never accepted")
    return owner


def _close(tx: Tx, debt_id: int, status: str, defaulted: int = 0) -> None:
    tx.conn.execute(
        "UPDATE debts SET status = ?, defaulted = ?, closed_at = ? WHERE id = ?",
        (status, defaulted, tx.now, debt_id),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtIssue(Operation):
    """The borrower proposes a loan of ``principal`` scrip from ``lender``."""

    kind: ClassVar[str] = "debt_proposed"
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

    def apply(self, tx: Tx) -> dict[str, Any]:
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
            " due_at, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'proposed', ?)",
            (
                self.debtor,
                self.lender,
                self.principal,
                float(self.interest_rate),
                amount_due,
                float(self.due_at),
                tx.now,
            ),
        )
        debt_id = int(cur.lastrowid or 0)
        tx.event(
            "debt_proposed",
            actor=self.debtor,
            principal=self.debtor,
            counterparty=self.lender,
            amount=self.principal,
            details={"debt_id": debt_id, "amount_due": amount_due, "due_at": self.due_at},
        )
        return {"debt_id": debt_id, "amount_due": amount_due}


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtAccept(Operation):
    """The named lender accepts: the principal moves, the debt artifact is made."""

    kind: ClassVar[str] = "debt_accepted"
    lender: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> dict[str, Any]:
        d = _debt(tx, self.debt_id)
        if d["lender"] != self.lender:
            raise NotPermitted(self.lender, f"debt {self.debt_id} was offered to {d['lender']!r}")
        if d["status"] != "proposed":
            raise InvalidRequest(f"debt {self.debt_id} is {d['status']}, not open to accept")
        if tx.now >= d["due_at"]:
            raise InvalidRequest(f"debt {self.debt_id} was due before it was accepted")
        tx.debit_scrip(self.lender, d["principal"])
        tx.credit_scrip(d["debtor"], d["principal"])
        artifact = debt_artifact(self.debt_id)
        content = (
            f"Debt {self.debt_id}: {d['debtor']} owes {d['amount_due']} scrip, due at unix time"
            f" {d['due_at']:.0f}. Whoever owns this artifact is the creditor; see genesis_debt"
            " check for what is left."
        )
        size = len(content.encode("utf-8"))
        if tx.disk_metered(self.lender):
            tx.use_stock(self.lender, DISK, float(size), "free some disk first")
        tx.conn.execute(
            "INSERT INTO artifacts (id, owner_id, content, size_bytes, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (artifact, self.lender, content, size, tx.now, tx.now),
        )
        tx.conn.execute(
            "UPDATE debts SET status = 'active', accepted_at = ? WHERE id = ?",
            (tx.now, self.debt_id),
        )
        tx.event(
            "debt_accepted",
            actor=self.lender,
            principal=self.lender,
            counterparty=d["debtor"],
            amount=d["principal"],
            artifact=artifact,
            details={"debt_id": self.debt_id},
        )
        return {"debt_id": self.debt_id, "artifact_id": artifact}


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtRepay(Operation):
    """The debtor pays ``amount`` of what is left to the current creditor."""

    kind: ClassVar[str] = "debt_repaid"
    debtor: PrincipalId
    debt_id: Count
    amount: Scrip

    def apply(self, tx: Tx) -> dict[str, Any]:
        d = _debt(tx, self.debt_id)
        if d["debtor"] != self.debtor:
            raise NotPermitted(self.debtor, f"debt {self.debt_id} is {d['debtor']!r}'s to repay")
        if d["status"] != "active":
            raise InvalidRequest(f"debt {self.debt_id} is {d['status']}; nothing to repay")
        left = d["amount_due"] - d["repaid"]
        if self.amount > left:
            raise InvalidRequest(f"debt {self.debt_id} has {left} left to repay; pay at most that")
        to = creditor(tx, self.debt_id)
        tx.debit_scrip(self.debtor, self.amount)
        tx.credit_scrip(to, self.amount)
        tx.conn.execute(
            "UPDATE debts SET repaid = repaid + ? WHERE id = ?", (self.amount, self.debt_id)
        )
        if self.amount == left:
            _close(tx, self.debt_id, "repaid")
        tx.event(
            "debt_repaid",
            actor=self.debtor,
            principal=self.debtor,
            counterparty=to,
            amount=self.amount,
            details={"debt_id": self.debt_id, "left": left - self.amount},
        )
        return {"debt_id": self.debt_id, "paid_to": to, "left": left - self.amount}


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtForgive(Operation):
    """The current creditor forgives what is left."""

    kind: ClassVar[str] = "debt_forgiven"
    actor: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> dict[str, Any]:
        d = _debt(tx, self.debt_id)
        if d["status"] == "proposed" and self.actor == d["debtor"]:
            _close(tx, self.debt_id, "withdrawn")
            tx.event(
                "debt_withdrawn",
                actor=self.actor,
                principal=self.actor,
                details={"debt_id": self.debt_id},
            )
            return {"debt_id": self.debt_id, "status": "withdrawn"}
        if d["status"] != "active":
            raise InvalidRequest(f"debt {self.debt_id} is {d['status']}; nothing to forgive")
        owner = creditor(tx, self.debt_id)
        if owner != self.actor:
            raise NotPermitted(self.actor, f"only debt {self.debt_id}'s creditor ({owner!r}) may")
        left = d["amount_due"] - d["repaid"]
        _close(tx, self.debt_id, "forgiven")
        tx.event(
            "debt_forgiven",
            actor=self.actor,
            principal=self.actor,
            counterparty=d["debtor"],
            amount=left,
            details={"debt_id": self.debt_id},
        )
        return {"debt_id": self.debt_id, "forgiven": left}


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtCollect(Operation):
    """After the due time, the creditor takes what the debtor has, up to what is left."""

    kind: ClassVar[str] = "debt_collected"
    actor: PrincipalId
    debt_id: Count

    def apply(self, tx: Tx) -> dict[str, Any]:
        d = _debt(tx, self.debt_id)
        if d["status"] != "active":
            raise InvalidRequest(f"debt {self.debt_id} is {d['status']}; nothing to collect")
        owner = creditor(tx, self.debt_id)
        if owner != self.actor:
            raise NotPermitted(self.actor, f"only debt {self.debt_id}'s creditor ({owner!r}) may")
        if tx.now < d["due_at"]:
            raise InvalidRequest(
                f"debt {self.debt_id} is due at unix time {d['due_at']:.0f}; collect after that"
            )
        left = d["amount_due"] - d["repaid"]
        taken = min(left, tx.scrip(d["debtor"]))
        if taken:
            tx.debit_scrip(d["debtor"], taken)
            tx.credit_scrip(owner, taken)
            tx.conn.execute(
                "UPDATE debts SET repaid = repaid + ? WHERE id = ?", (taken, self.debt_id)
            )
        defaulted = left - taken
        _close(tx, self.debt_id, "defaulted" if defaulted else "repaid", defaulted)
        tx.event(
            "debt_collected",
            actor=self.actor,
            principal=self.actor,
            counterparty=d["debtor"],
            amount=taken,
            details={"debt_id": self.debt_id, "defaulted": defaulted},
        )
        return {"debt_id": self.debt_id, "collected": taken, "defaulted": defaulted}
