"""Scrip: transfers (unilateral), and mint and burn (system principals only)."""

from __future__ import annotations

from typing import TypedDict

from agent_ecology.ledger.errors import (
    InvalidRequest,
)
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import PrincipalId, Scrip
from agent_ecology.ledger.ops.programs import check_receiver
from agent_ecology.ledger.ops.tx import Tx


class TransferDetails(TypedDict):
    src_scrip: int
    dst_scrip: int


@operation(EventKind.TRANSFER)
class Transfer(Operation[TransferDetails]):
    """Move scrip from ``src`` to ``dst``; unilateral (the receiver need not agree)."""

    src: PrincipalId
    dst: PrincipalId
    amount: Scrip

    def check(self) -> None:
        if self.src == self.dst:
            raise InvalidRequest(f"cannot transfer scrip from {self.src!r} to itself")

    def apply(self, tx: Tx) -> TransferDetails:
        check_receiver(tx, self.src, self.dst)
        src_scrip, dst_scrip = tx.move_scrip(self.src, self.dst, self.amount)
        details: TransferDetails = {"src_scrip": src_scrip, "dst_scrip": dst_scrip}
        tx.event(
            EventKind.TRANSFER,
            by=self.src,
            counterparty=self.dst,
            amount=self.amount,
            details=details,
        )
        return details


class MintDetails(TypedDict):
    scrip: int


@operation(EventKind.MINT)
class Mint(Operation[MintDetails]):
    """Create scrip for ``dst``; only a system principal (``authority``) may mint."""

    dst: PrincipalId
    amount: Scrip
    authority: PrincipalId

    def apply(self, tx: Tx) -> MintDetails:
        tx.require_system(self.authority, "mint scrip")
        scrip = tx.credit_scrip(self.dst, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET minted = minted + ? WHERE id = 1", (self.amount,))
        tx.event(
            EventKind.MINT,
            actor=self.authority,
            principal=self.dst,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}


class BurnDetails(TypedDict):
    scrip: int


@operation(EventKind.BURN)
class Burn(Operation[BurnDetails]):
    """Destroy scrip held by ``src``; only a system principal (``authority``) may burn."""

    src: PrincipalId
    amount: Scrip
    authority: PrincipalId

    def apply(self, tx: Tx) -> BurnDetails:
        tx.require_system(self.authority, "burn scrip")
        scrip = tx.debit_scrip(self.src, self.amount)
        tx.conn.execute("UPDATE scrip_supply SET burned = burned + ? WHERE id = 1", (self.amount,))
        tx.event(
            EventKind.BURN,
            actor=self.authority,
            principal=self.src,
            amount=self.amount,
            details={"scrip": scrip},
        )
        return {"scrip": scrip}
