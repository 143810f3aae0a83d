"""Escrow: artifacts for scrip, traded without trust.

A seller deposits an artifact it owns with a price (and, if it likes, the one buyer allowed).
While listed, the artifact is owned by the escrow principal, so its seller can no longer
edit, delete, give away or list it again; its bytes stay charged to the seller's ``disk``.
A purchase is one transaction: the buyer's scrip goes to the seller, the bytes move from
the seller's disk to the buyer's, the artifact to the buyer. Of two buyers racing for one
listing, the writer applies one first; the other is told that it was sold.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple, TypedDict

from agent_ecology.ledger.errors import InvalidRequest, NotPermitted, UnknownArtifact
from agent_ecology.ledger.kinds import DebtStatus, EventKind, ListingStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    DEBT_PREFIX,
    ESCROW,
    PRINCIPAL_ID,
    ArtifactId,
    Count,
    PrincipalId,
    Scrip,
)
from agent_ecology.ledger.ops.tx import Tx


class _Listing(NamedTuple):
    artifact_id: str
    seller: str
    price: int
    only: str | None  # the one buyer allowed, if any
    status: ListingStatus
    size: int
    sold_to: str | None


def _listing(tx: Tx, listing_id: int) -> _Listing:
    row = tx.conn.execute(
        "SELECT artifact_id, seller_id, price, buyer_id, status, size_bytes, sold_to"
        " FROM escrow_listings WHERE id = ?",
        (listing_id,),
    ).fetchone()
    if row is None:
        raise InvalidRequest(
            f"there is no listing {listing_id}; see the active ones with genesis_escrow list"
        )
    artifact_id, seller, price, only, status, size, sold_to = row
    return _Listing(artifact_id, seller, price, only, ListingStatus(status), size, sold_to)


class EscrowDepositDetails(TypedDict):
    listing_id: int
    price: int
    buyer_id: str | None


@operation(EventKind.ESCROW_LISTED)
class EscrowDeposit(Operation[EscrowDepositDetails]):
    """List an artifact the seller owns for ``price`` scrip (optionally for one buyer only)."""

    seller: PrincipalId
    artifact_id: ArtifactId
    price: Scrip
    buyer: Annotated[str, PRINCIPAL_ID.named("buyer_id")] | None = None

    def check(self) -> None:
        if self.buyer == self.seller:
            raise InvalidRequest("buyer_id is the seller; leave it out or name another agent")

    def apply(self, tx: Tx) -> EscrowDepositDetails:
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
        tx.give_artifact(self.artifact_id, ESCROW)
        cur = tx.conn.execute(
            "INSERT INTO escrow_listings (artifact_id, seller_id, price, buyer_id, status,"
            " size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.artifact_id,
                self.seller,
                self.price,
                self.buyer,
                ListingStatus.ACTIVE,
                size,
                tx.now,
            ),
        )
        listing_id = int(cur.lastrowid or 0)
        tx.event(
            EventKind.ESCROW_LISTED,
            by=self.seller,
            counterparty=self.buyer,
            amount=self.price,
            artifact=self.artifact_id,
            details={"listing_id": listing_id},
        )
        return {"listing_id": listing_id, "price": self.price, "buyer_id": self.buyer}


class EscrowPurchaseDetails(TypedDict):
    listing_id: int
    artifact_id: str
    price: int


@operation(EventKind.ESCROW_SOLD)
class EscrowPurchase(Operation[EscrowPurchaseDetails]):
    """Buy a listing: scrip to the seller and the artifact to the buyer, all or nothing."""

    buyer: PrincipalId
    listing_id: Count

    def apply(self, tx: Tx) -> EscrowPurchaseDetails:
        artifact_id, seller, price, only, status, size, sold_to = _listing(tx, self.listing_id)
        if status is ListingStatus.SOLD:
            raise InvalidRequest(
                f"listing {self.listing_id} was sold to {sold_to!r} already; look for other"
                " listings with genesis_escrow list"
            )
        if status is not ListingStatus.ACTIVE:
            raise InvalidRequest(f"listing {self.listing_id} was cancelled by its seller")
        if self.buyer == seller:
            raise InvalidRequest(
                f"listing {self.listing_id} is your own; cancel it to take {artifact_id!r} back"
            )
        if artifact_id.startswith(DEBT_PREFIX):
            debt = tx.debt_status(artifact_id)
            if debt is not DebtStatus.ACTIVE:
                raise InvalidRequest(
                    f"listing {self.listing_id} sells {artifact_id!r}, a debt that is"
                    f" {debt or 'gone'}: there is nothing left to collect; its seller"
                    " can cancel the listing"
                )
        if only is not None and only != self.buyer:
            raise NotPermitted(self.buyer, f"listing {self.listing_id} is reserved for {only!r}")
        tx.move_scrip(self.buyer, seller, price)
        tx.give_artifact(
            artifact_id,
            self.buyer,
            size=size,
            from_disk=seller,
            hint="free disk (delete an artifact) or get disk quota",
        )
        tx.conn.execute(
            "UPDATE escrow_listings SET status = ?, sold_to = ?, closed_at = ? WHERE id = ?",
            (ListingStatus.SOLD, self.buyer, tx.now, self.listing_id),
        )
        tx.event(
            EventKind.ESCROW_SOLD,
            by=self.buyer,
            counterparty=seller,
            amount=price,
            artifact=artifact_id,
            details={"listing_id": self.listing_id},
        )
        return {"listing_id": self.listing_id, "artifact_id": artifact_id, "price": price}


class EscrowCancelDetails(TypedDict):
    listing_id: int
    artifact_id: str


@operation(EventKind.ESCROW_CANCELLED)
class EscrowCancel(Operation[EscrowCancelDetails]):
    """Take a listing back: only its seller may; the artifact returns to them."""

    seller: PrincipalId
    listing_id: Count

    def apply(self, tx: Tx) -> EscrowCancelDetails:
        listing = _listing(tx, self.listing_id)
        if listing.seller != self.seller:
            raise NotPermitted(self.seller, f"listing {self.listing_id} is {listing.seller!r}'s")
        if listing.status is not ListingStatus.ACTIVE:
            raise InvalidRequest(f"listing {self.listing_id} is {listing.status} already")
        tx.give_artifact(listing.artifact_id, self.seller)
        tx.conn.execute(
            "UPDATE escrow_listings SET status = ?, closed_at = ? WHERE id = ?",
            (ListingStatus.CANCELLED, tx.now, self.listing_id),
        )
        tx.event(
            EventKind.ESCROW_CANCELLED,
            by=self.seller,
            artifact=listing.artifact_id,
            details={"listing_id": self.listing_id},
        )
        return {"listing_id": self.listing_id, "artifact_id": listing.artifact_id}
