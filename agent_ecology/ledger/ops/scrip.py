"""Scrip: transfers (unilateral), and mint and burn (system principals only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agent_ecology.ledger.errors import (
    InvalidRequest,
    NotPermitted,
)
from agent_ecology.ledger.ops.base import Operation
from agent_ecology.ledger.ops.checks import HOLDERS, PrincipalId, Scrip
from agent_ecology.ledger.ops.tx import Tx


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Operation):
    """Move scrip from ``src`` to ``dst``; unilateral (the receiver need not agree)."""

    kind: ClassVar[str] = "transfer"
    src: PrincipalId
    dst: PrincipalId
    amount: Scrip

    def check(self) -> None:
        if self.src == self.dst:
            raise InvalidRequest(f"cannot transfer scrip from {self.src!r} to itself")

    def apply(self, tx: Tx) -> dict[str, Any]:
        if self.dst in HOLDERS:
            raise NotPermitted(
                self.src,
                f"{self.dst!r} holds scrip only for bids and sales it manages; pay agents, or"
                " bid through genesis_oracle",
            )
        if tx.principal_kind(self.dst) == "system":
            raise NotPermitted(
                self.src,
                f"{self.dst!r} is a system principal: scrip sent to it would be stranded;"
                " pay agents (burn scrip you want out of circulation)",
            )
        src_scrip = tx.debit_scrip(self.src, self.amount)
        dst_scrip = tx.credit_scrip(self.dst, self.amount)
        details = {"src_scrip": src_scrip, "dst_scrip": dst_scrip}
        tx.event(
            "transfer",
            actor=self.src,
            principal=self.src,
            counterparty=self.dst,
            amount=self.amount,
            details=details,
        )
        return details


@dataclass(frozen=True, slots=True, kw_only=True)
class Mint(Operation):
    """Create scrip for ``dst``; only a system principal (``authority``) may mint."""

    kind: ClassVar[str] = "mint"
    dst: PrincipalId
    amount: Scrip
    authority: PrincipalId

    def apply(self, tx: Tx) -> dict[str, Any]:
        tx.require_system(self.authority, "mint scrip")
        scrip = tx.credit_scrip(self.dst, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET minted = minted + ? WHERE id = 1", (self.amount,))
        tx.event(
            "mint",
            actor=self.authority,
            principal=self.dst,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}


@dataclass(frozen=True, slots=True, kw_only=True)
class Burn(Operation):
    """Destroy scrip held by ``src``; only a system principal (``authority``) may burn."""

    kind: ClassVar[str] = "burn"
    src: PrincipalId
    amount: Scrip
    authority: PrincipalId

    def apply(self, tx: Tx) -> dict[str, Any]:
        tx.require_system(self.authority, "burn scrip")
        scrip = tx.debit_scrip(self.src, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET burned = burned + ? WHERE id = 1", (self.amount,))
        tx.event(
            "burn",
            actor=self.authority,
            principal=self.src,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}
