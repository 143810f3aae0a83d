"""genesis_escrow: trustless artifact-for-scrip trades (deposit, purchase, cancel, list)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, Method, page
from agent_ecology.ledger import Listing, ops
from agent_ecology.ledger.ops.checks import ArtifactId, Count, PrincipalId, Scrip

__all__ = ["listing_json", "make_escrow_artifact"]

ID = ops.ESCROW


def listing_json(listing: Listing) -> dict[str, Any]:
    out: dict[str, Any] = {
        "listing_id": listing.id,
        "artifact_id": listing.artifact_id,
        "seller": listing.seller_id,
        "price": listing.price,
        "size_bytes": listing.size_bytes,
        "status": listing.status,
    }
    if listing.buyer_id is not None:
        out["only_for"] = listing.buyer_id
    if listing.sold_to is not None:
        out["sold_to"] = listing.sold_to
    return out


class DepositArgs(Args):
    artifact_id: ArtifactId = Field(description="an artifact you own")
    price: Scrip = Field(description="in scrip, a whole number")
    buyer_id: PrincipalId | None = Field(
        default=None, description="the only agent allowed to buy it"
    )


class ListingArgs(Args):
    listing_id: Count = Field(description="from deposit or list")


class ListArgs(Args):
    seller: PrincipalId | None = Field(default=None, description="only this seller's")
    max_price: Scrip | None = Field(default=None, description="at most this price")
    mine: bool = Field(default=False, description="only your own listings")
    after: int = Field(default=0, ge=0, description="listings with id greater than this")
    limit: int = Field(default=20, ge=1, le=100, description="at most this many (<= 100)")


async def _deposit(inv: Invocation, args: DepositArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.EscrowDeposit(
            seller=inv.actor, artifact_id=args.artifact_id, price=args.price, buyer=args.buyer_id
        )
    )
    return dict(receipt.details)


async def _purchase(inv: Invocation, args: ListingArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.EscrowPurchase(buyer=inv.actor, listing_id=args.listing_id)
    )
    return dict(receipt.details)


async def _cancel(inv: Invocation, args: ListingArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.EscrowCancel(seller=inv.actor, listing_id=args.listing_id)
    )
    return dict(receipt.details)


async def _list(inv: Invocation, args: ListArgs) -> Mapping[str, Any]:
    listings = await inv.ledger.listings(
        seller=inv.actor if args.mine else args.seller,
        open_to=None if args.mine else inv.actor,
        max_price=args.max_price,
        after=args.after,
        limit=args.limit,
    )
    return page(
        "listings", listings, listing_json, lambda x: x.id, after=args.after, limit=args.limit
    )


def make_escrow_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "Trustless trades of artifacts for scrip. A listed artifact is held by the escrow (you"
        " cannot edit, delete or list it again until you cancel; its bytes stay on your disk);"
        " a purchase moves the scrip to the seller and the artifact to the buyer in one step."
        " If two agents buy the same listing, the first one gets it and the other is told.",
    )
    art.add(
        Method(
            "deposit",
            "List an artifact you own for sale.",
            DepositArgs,
            _deposit,
            {"artifact_id": "alice/report", "price": 12},
            returns="{listing_id, price, buyer_id}",
        )
    )
    art.add(
        Method(
            "purchase",
            "Buy a listing: pay its price, get its artifact (its bytes go to your disk).",
            ListingArgs,
            _purchase,
            {"listing_id": 3},
            returns="{listing_id, artifact_id, price}",
        )
    )
    art.add(
        Method(
            "cancel",
            "Take your own listing back; the artifact returns to you.",
            ListingArgs,
            _cancel,
            {"listing_id": 3},
            returns="{listing_id, artifact_id}",
        )
    )
    art.add(
        Method(
            "list",
            "Active listings you may buy (or only yours with mine), oldest first.",
            ListArgs,
            _list,
            {"max_price": 20, "limit": 10},
            returns="{listings: [{listing_id, artifact_id, seller, price, size_bytes, status,"
            " only_for?}], next_after, more}",
        )
    )
    return art
