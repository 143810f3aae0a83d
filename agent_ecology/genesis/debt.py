"""genesis_debt: loans between agents, owned as artifacts; balances never go negative."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, InvocationError, Method
from agent_ecology.ledger import ops
from agent_ecology.ledger.ops.checks import Count, PrincipalId, Scrip

__all__ = ["make_debt_artifact"]

ID = "genesis_debt"
MAX_DUE_IN = 100 * 365.25 * 86400
"""The longest term of a loan, in seconds (a century)."""
MAX_DUE_AT = 1e11
"""The latest due time (unix seconds, about the year 5100): later ones are typos or attacks."""


class IssueArgs(Args):
    creditor_id: PrincipalId = Field(description="who you ask to lend")
    principal: Scrip = Field(description="scrip to borrow")
    interest_rate: float | int = Field(
        ge=0, le=ops.debt.MAX_INTEREST_RATE, description="flat, as a fraction (0.1 = 10%)"
    )
    due_at: float | int | None = Field(
        default=None, ge=0, le=MAX_DUE_AT, description="unix time it is due"
    )
    due_in: float | int | None = Field(
        default=None, gt=0, le=MAX_DUE_IN, description="or: seconds from now (at most 100 years)"
    )

    @model_validator(mode="after")
    def _one_due(self) -> IssueArgs:
        if (self.due_at is None) == (self.due_in is None):
            raise ValueError("give exactly one of due_at (unix time) or due_in (seconds)")
        return self


class DebtArgs(Args):
    debt_id: Count = Field(description="from issue or check")


class RepayArgs(Args):
    debt_id: Count = Field(description="a debt you owe")
    amount: Scrip = Field(description="scrip, at most what is left")


class TransferArgs(Args):
    debt_id: Count = Field(description="a debt you hold as creditor")
    to: PrincipalId = Field(description="the new creditor")


class CheckArgs(Args):
    debt_id: Count | None = Field(default=None, description="one debt; default: all of yours")


async def _issue(inv: Invocation, a: IssueArgs) -> Mapping[str, Any]:
    due = float(a.due_at) if a.due_at is not None else inv.clock.now() + float(a.due_in or 0)
    receipt = await inv.ledger.submit(
        ops.DebtIssue(
            debtor=inv.actor,
            lender=a.creditor_id,
            principal=a.principal,
            interest_rate=float(a.interest_rate),
            due_at=due,
        )
    )
    return {**receipt.details, "due_at": due, "next": f"{a.creditor_id} must accept it"}


async def _accept(inv: Invocation, a: DebtArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(ops.DebtAccept(lender=inv.actor, debt_id=a.debt_id))
    return dict(receipt.details)


async def _repay(inv: Invocation, a: RepayArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.DebtRepay(debtor=inv.actor, debt_id=a.debt_id, amount=a.amount)
    )
    return dict(receipt.details)


async def _transfer(inv: Invocation, a: TransferArgs) -> Mapping[str, Any]:
    artifact = ops.debt_artifact(a.debt_id)
    await inv.ledger.submit(
        ops.TransferArtifact(actor=inv.actor, artifact_id=artifact, new_owner=a.to)
    )
    return {"debt_id": a.debt_id, "creditor": a.to}


async def _forgive(inv: Invocation, a: DebtArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(ops.DebtForgive(actor=inv.actor, debt_id=a.debt_id))
    return dict(receipt.details)


async def _collect(inv: Invocation, a: DebtArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(ops.DebtCollect(actor=inv.actor, debt_id=a.debt_id))
    return dict(receipt.details)


async def _check(inv: Invocation, a: CheckArgs) -> Mapping[str, Any]:
    if a.debt_id is not None:
        found = [d.to_json() for d in await inv.ledger.debts() if d.debt_id == a.debt_id]
        if not found:
            raise InvocationError("unknown_debt", f"there is no debt {a.debt_id}")
        return {"debts": found}
    return {"debts": [d.to_json() for d in (await inv.ledger.debts(inv.actor))[-50:]]}


def make_debt_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "Credit without negative balances. A borrower proposes (issue); the named lender"
        " accepts, which moves the principal and makes the artifact debts/<id>, owned by the"
        " lender. Whoever owns that artifact is the creditor: it can be given (transfer) or sold"
        " through genesis_escrow. The debtor repays the current creditor; the creditor may"
        " forgive, or after the due time collect what the debtor has (never more; the rest is"
        " recorded as a default). Interest is flat: amount_due = principal +"
        " ceil(principal x interest_rate).",
    )
    for name, summary, args, handler, example, returns in (
        (
            "issue",
            "Ask creditor_id to lend you principal scrip until due_at (or due_in seconds).",
            IssueArgs,
            _issue,
            {"creditor_id": "bob", "principal": 20, "interest_rate": 0.1, "due_in": 600},
            "{debt_id, amount_due, due_at, next}",
        ),
        (
            "accept",
            "As the named lender, accept: the principal moves to the borrower now.",
            DebtArgs,
            _accept,
            {"debt_id": 4},
            "{debt_id, artifact_id}",
        ),
        (
            "repay",
            "Pay part or all of what you owe; it goes to the current creditor.",
            RepayArgs,
            _repay,
            {"debt_id": 4, "amount": 10},
            "{debt_id, paid_to, left}",
        ),
        (
            "transfer",
            "Give a debt you hold to another principal (it becomes the creditor).",
            TransferArgs,
            _transfer,
            {"debt_id": 4, "to": "carol"},
            "{debt_id, creditor}",
        ),
        (
            "forgive",
            "As creditor, cancel what is left (as the borrower, withdraw a proposal).",
            DebtArgs,
            _forgive,
            {"debt_id": 4},
            "{debt_id, forgiven}",
        ),
        (
            "collect",
            "As creditor, after the due time, take what the debtor has up to what is left.",
            DebtArgs,
            _collect,
            {"debt_id": 4},
            "{debt_id, collected, defaulted}",
        ),
        (
            "check",
            "One debt, or the debts you owe, hold or were asked to lend.",
            CheckArgs,
            _check,
            {},
            "{debts: [{debt_id, debtor, lender, creditor, principal, amount_due, repaid,"
            " defaulted, due_at, status}]}",
        ),
    ):
        art.add(Method(name, summary, args, handler, example, returns=returns))
    return art
