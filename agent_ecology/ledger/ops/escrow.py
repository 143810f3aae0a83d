"""Escrow: artifacts for scrip, traded without trust.

A seller deposits an artifact it owns with a price (and, if it likes, the one buyer allowed).
While listed, the artifact is owned by the escrow principal, so its seller can no longer
edit, delete, give away or list it again; its bytes stay charged to the seller's ``disk``.
A purchase is one transaction: the buyer's scrip goes to the seller, the bytes move from
the seller's disk to the buyer's, the artifact to the buyer. Of two buyers racing for one
listing, the writer applies one first; the other is told that it was sold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from agent_ecology.ledger.errors import InvalidRequest, NotPermitted, UnknownArtifact
from agent_ecology.ledger.ops.base import Operation
from agent_ecology.ledger.ops.checks import (
    DEBT_PREFIX,
    DISK,
    ESCROW,
    PRINCIPAL_ID,
    ArtifactId,
    Count,
    PrincipalId,
    Scrip,
)
from agent_ecology.ledger.ops.tx import Tx


def _listing(tx: Tx, listing_id: int) -> tuple[str, str, int, str | None, str, int, str | None]:
    row = tx.conn.execute(
        "SELECT artifact_id, seller_id, price, buyer_id, status, size_bytes, sold_to"
        " FROM escrow_listings WHERE id = ?",
        (listing_id,),
    ).fetchone()
    if row is None:
        raise InvalidRequest(
            f"there is no listing {listing_id}; see the active ones with genesis_escrow list"
        )
    return row  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowDeposit(Operation):
    """List an artifact the seller owns for ``price`` scrip (optionally for one buyer only)."""

    kind: ClassVar[str] = "escrow_listed"
    seller: PrincipalId
    artifact_id: ArtifactId
    price: Scrip
    buyer: Annotated[str, PRINCIPAL_ID.named("buyer_id")] | None = None

    def check(self) -> None:
        if self.buyer == self.seller:
            raise InvalidRequest("buyer_id is the seller; leave it out or name another agent")

    def apply(self, tx: Tx) -> dict[str, Any]:
        if tx.principal_kind(self.seller) != "agent":
            raise NotPermitted(self.seller, "only agents sell through the escrow")
        row = tx.conn.execute(
            "SELECT owner_id, size_bytes FROM artifacts WHERE id = ?", (self.artifact_id,)
        ).fetchone()
        if row is None:
            raise UnknownArtifact(self.artifact_id)
        owner, size = str(row[0]), int(row[1])
        if owner == ESCROW:
            raise InvalidRequest(
                f"{self.artifact_id!r} is listed already; cancel that listing to change it"
            )
        if owner != self.seller:
            raise NotPermitted(self.seller, f"{self.artifact_id!r} is owned by {owner!r}")
        if self.buyer is not None and tx.principal_kind(self.buyer) != "agent":
            raise InvalidRequest(f"buyer_id {self.buyer!r} is not an agent")
        # The bytes stay on the seller's disk while listed: the artifact is still theirs
        # to take back, and a cancel must always be able to return it.
        tx.conn.execute(
            "UPDATE artifacts SET owner_id = ?, updated_at = ? WHERE id = ?",
            (ESCROW, tx.now, self.artifact_id),
        )
        cur = tx.conn.execute(
            "INSERT INTO escrow_listings (artifact_id, seller_id, price, buyer_id, status,"
            " size_bytes, created_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
            (self.artifact_id, self.seller, self.price, self.buyer, size, tx.now),
        )
        listing_id = int(cur.lastrowid or 0)
        tx.event(
            "escrow_listed",
            actor=self.seller,
            principal=self.seller,
            counterparty=self.buyer,
            amount=self.price,
            artifact=self.artifact_id,
            details={"listing_id": listing_id},
        )
        return {"listing_id": listing_id, "price": self.price, "buyer_id": self.buyer}


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowPurchase(Operation):
    """Buy a listing: scrip to the seller and the artifact to the buyer, all or nothing."""

    kind: ClassVar[str] = "escrow_sold"
    buyer: PrincipalId
    listing_id: Count

    def apply(self, tx: Tx) -> dict[str, Any]:
        artifact_id, seller, price, only, status, size, sold_to = _listing(tx, self.listing_id)
        if status == "sold":
            raise InvalidRequest(
                f"listing {self.listing_id} was sold to {sold_to!r} already; look for other"
                " listings with genesis_escrow list"
            )
        if status != "active":
            raise InvalidRequest(f"listing {self.listing_id} was cancelled by its seller")
        if self.buyer == seller:
            raise InvalidRequest(
                f"listing {self.listing_id} is your own; cancel it to take {artifact_id!r} back"
            )
        if artifact_id.startswith(DEBT_PREFIX):
            row = tx.conn.execute(
                "SELECT status FROM debts WHERE id = ?", (int(artifact_id[len(DEBT_PREFIX) :]),)
            ).fetchone()
            if row is None or row[0] != "active":
                raise InvalidRequest(
                    f"listing {self.listing_id} sells {artifact_id!r}, a debt that is"
                    f" {row[0] if row else 'gone'}: there is nothing left to collect; its seller"
                    " can cancel the listing"
                )
        if only is not None and only != self.buyer:
            raise NotPermitted(self.buyer, f"listing {self.listing_id} is reserved for {only!r}")
        tx.debit_scrip(self.buyer, price)
        tx.credit_scrip(seller, price)
        if size and tx.disk_metered(self.buyer):
            tx.use_stock(
                self.buyer, DISK, float(size), "free disk (delete an artifact) or get disk quota"
            )
        if size and tx.disk_metered(seller):
            tx.free_stock(seller, DISK, float(size))
        tx.conn.execute(
            "UPDATE artifacts SET owner_id = ?, updated_at = ? WHERE id = ?",
            (self.buyer, tx.now, artifact_id),
        )
        tx.conn.execute(
            "UPDATE escrow_listings SET status = 'sold', sold_to = ?, closed_at = ? WHERE id = ?",
            (self.buyer, tx.now, self.listing_id),
        )
        tx.event(
            "escrow_sold",
            actor=self.buyer,
            principal=self.buyer,
            counterparty=seller,
            amount=price,
            artifact=artifact_id,
            details={"listing_id": self.listing_id},
        )
        return {"listing_id": self.listing_id, "artifact_id": artifact_id, "price": price}


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowCancel(Operation):
    """Take a listing back: only its seller may; the artifact returns to them."""

    kind: ClassVar[str] = "escrow_cancelled"
    seller: PrincipalId
    listing_id: Count

    def apply(self, tx: Tx) -> dict[str, Any]:
        artifact_id, seller, _price, _only, status, _size, _sold = _listing(tx, self.listing_id)
        if seller != self.seller:
            raise NotPermitted(self.seller, f"listing {self.listing_id} is {seller!r}'s")
        if status != "active":
            raise InvalidRequest(f"listing {self.listing_id} is {status} already")
        tx.conn.execute(
            "UPDATE artifacts SET owner_id = ?, updated_at = ? WHERE id = ?",
            (seller, tx.now, artifact_id),
        )
        tx.conn.execute(
            "UPDATE escrow_listings SET status = 'cancelled', closed_at = ? WHERE id = ?",
            (tx.now, self.listing_id),
        )
        tx.event(
            "escrow_cancelled",
            actor=seller,
            principal=seller,
            artifact=artifact_id,
            details={"listing_id": self.listing_id},
        )
        return {"listing_id": self.listing_id, "artifact_id": artifact_id}
