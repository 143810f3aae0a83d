"""The oracle: bids held in scrip at any time, resolved on a schedule, scores minted.

A bid moves the bidder's scrip to the ``genesis_oracle`` principal, which holds it (so the
held bids are part of circulating scrip and conservation is checked as usual). Raising a bid
holds the difference; withdrawing refunds it. A resolution at ``round_at`` considers the bids
placed by then: the top ``slots`` (by amount, the earlier bid first on a tie; one win per
artifact) win and each pays the highest losing bid (second price); everything else is
refunded. Each winning
artifact's owner is minted ``min(max_mint, round(score * mint_per_point))``; what winners
paid is burned, or shared equally among the agents (the remainder of the division burned).
All of it is one transaction, with the results stored.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

from agent_ecology.ledger.errors import InvalidRequest, UnknownArtifact
from agent_ecology.ledger.kinds import BidStatus, EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    KERNEL_MADE_PREFIXES,
    ORACLE,
    ArtifactId,
    PrincipalId,
    Scrip,
    check_artifact_id,
)
from agent_ecology.ledger.ops.tx import Tx


def mint_for(score: float, mint_per_point: float, max_mint: int) -> int:
    """Scrip minted for a winning artifact's score."""
    return max(0, min(max_mint, round(score * mint_per_point)))


def _active(tx: Tx, bidder: str, artifact_id: str) -> tuple[int, int] | None:
    row = tx.conn.execute(
        "SELECT id, amount FROM oracle_bids WHERE bidder_id = ? AND artifact_id = ? AND status = ?",
        (bidder, artifact_id, BidStatus.ACTIVE),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


class OracleBidDetails(TypedDict):
    artifact_id: str
    bid: int
    raised_by: int


@operation(EventKind.ORACLE_BID)
class OracleBid(Operation[OracleBidDetails]):
    """Bid ``amount`` (the new total) to have ``artifact_id`` scored at the next resolution."""

    bidder: PrincipalId
    artifact_id: ArtifactId
    amount: Scrip

    def apply(self, tx: Tx) -> OracleBidDetails:
        if tx.principal_kind(self.bidder) != "agent":
            raise InvalidRequest("only agents bid")
        if self.artifact_id.startswith(("genesis_", *KERNEL_MADE_PREFIXES)):
            raise InvalidRequest(
                f"{self.artifact_id!r} is made by the world, not written: the oracle scores"
                " artifacts agents write"
            )
        if not tx.conn.execute(
            "SELECT 1 FROM artifacts WHERE id = ?", (self.artifact_id,)
        ).fetchone():
            raise UnknownArtifact(self.artifact_id)
        current = _active(tx, self.bidder, self.artifact_id)
        held = 0 if current is None else current[1]
        if self.amount <= held:
            raise InvalidRequest(
                f"your bid on {self.artifact_id!r} is {held} already; bid more to raise it, or"
                " withdraw it"
            )
        tx.move_scrip(self.bidder, ORACLE, self.amount - held)
        if current is None:
            tx.conn.execute(
                "INSERT INTO oracle_bids (bidder_id, artifact_id, amount, status, placed_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (self.bidder, self.artifact_id, self.amount, BidStatus.ACTIVE, tx.now, tx.now),
            )
        else:
            tx.conn.execute(
                "UPDATE oracle_bids SET amount = ?, updated_at = ? WHERE id = ?",
                (self.amount, tx.now, current[0]),
            )
        tx.event(
            EventKind.ORACLE_BID,
            by=self.bidder,
            amount=self.amount,
            artifact=self.artifact_id,
            details={"held_more": self.amount - held},
        )
        return {
            "artifact_id": self.artifact_id,
            "bid": self.amount,
            "raised_by": self.amount - held,
        }


class OracleWithdrawDetails(TypedDict):
    artifact_id: str
    refunded: int


@operation(EventKind.ORACLE_WITHDRAWN)
class OracleWithdraw(Operation[OracleWithdrawDetails]):
    """Take back an active bid: its scrip is refunded."""

    bidder: PrincipalId
    artifact_id: ArtifactId

    def apply(self, tx: Tx) -> OracleWithdrawDetails:
        current = _active(tx, self.bidder, self.artifact_id)
        if current is None:
            raise InvalidRequest(f"you have no active bid on {self.artifact_id!r}")
        bid_id, amount = current
        tx.move_scrip(ORACLE, self.bidder, amount)
        tx.conn.execute(
            "UPDATE oracle_bids SET status = ?, updated_at = ? WHERE id = ?",
            (BidStatus.WITHDRAWN, tx.now, bid_id),
        )
        tx.event(
            EventKind.ORACLE_WITHDRAWN, by=self.bidder, amount=amount, artifact=self.artifact_id
        )
        return {"artifact_id": self.artifact_id, "refunded": amount}


class OracleResolveDetails(TypedDict):
    round_at: float
    winners: list[dict[str, Any]]  # each winner as an oracle result (but round_at) in JSON
    price: int
    burned: int


@operation(EventKind.ORACLE_RESOLVED)
class OracleResolve(Operation[OracleResolveDetails]):
    """Resolve the bids placed by ``round_at`` on the artifacts in ``scores``."""

    authority: PrincipalId
    round_at: float
    scores: tuple[tuple[str, float], ...]
    slots: int
    mint_per_point: float
    max_mint: int
    paid: str = "burn"
    reserve: int = 0

    def check(self) -> None:
        if self.slots < 1:
            raise InvalidRequest(f"slots must be at least 1, got {self.slots}")
        if self.paid not in ("burn", "share"):
            raise InvalidRequest(f"paid must be 'burn' or 'share', got {self.paid!r}")
        for artifact, score in self.scores:
            check_artifact_id(artifact)
            if not math.isfinite(score) or score < 0:
                raise InvalidRequest(f"score of {artifact!r} must be >= 0, got {score}")

    def apply(self, tx: Tx) -> OracleResolveDetails:
        tx.require_system(self.authority, "resolve the oracle")
        bids = tx.conn.execute(
            "SELECT id, bidder_id, artifact_id, amount FROM oracle_bids WHERE status = ?"
            " AND placed_at <= ? ORDER BY amount DESC, id ASC",
            (BidStatus.ACTIVE, self.round_at),
        ).fetchall()
        # Only what was scored competes: a bid that arrived while the scores were computed
        # stays active for the next resolution.
        scores = dict(self.scores)
        bids = [b for b in bids if b[2] in scores]
        # One win per artifact: further bids on a winning artifact are refunded and do not
        # set the price (it is the highest bid on an artifact that did not win). Bids below
        # the reserve cannot win; every winner pays at least the reserve.
        winners: list[Any] = []
        losers: list[Any] = []
        won: set[str] = set()
        for bid in bids:
            if len(winners) < self.slots and bid[2] not in won and int(bid[3]) >= self.reserve:
                winners.append(bid)
                won.add(bid[2])
            else:
                losers.append(bid)
        pricing = [int(b[3]) for b in losers if b[2] not in won]
        price = max([self.reserve, *pricing[:1]])
        results: list[dict[str, Any]] = []
        collected = 0
        for bid_id, bidder, artifact, amount in winners:
            refund = int(amount) - price
            assert refund >= 0, "a winner never pays more than it bid"
            if refund:
                tx.move_scrip(ORACLE, str(bidder), refund)
            collected += price
            owner = tx.effective_owner(artifact)  # a listed artifact pays its seller
            minted = mint_for(scores[artifact], self.mint_per_point, self.max_mint)
            if owner is None or tx.principal_kind(owner) != "agent":
                minted = 0  # deleted since, or held by the world: nobody to pay
            if minted:
                tx.credit_scrip(owner, minted)  # type: ignore[arg-type]
                tx.conn.execute(
                    "UPDATE scrip_supply SET minted = minted + ? WHERE id = 1", (minted,)
                )
            tx.conn.execute(
                "UPDATE oracle_bids SET status = ?, round_at = ?, paid = ?, updated_at = ?"
                " WHERE id = ?",
                (BidStatus.WON, self.round_at, price, tx.now, bid_id),
            )
            tx.conn.execute(
                "INSERT INTO oracle_results (round_at, artifact_id, owner_id, bidder_id, bid, paid,"
                " score, minted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.round_at, artifact, owner, bidder, amount, price, scores[artifact], minted),
            )
            results.append(
                {
                    "artifact_id": artifact,
                    "owner": owner,
                    "bidder": bidder,
                    "bid": amount,
                    "paid": price,
                    "score": scores[artifact],
                    "minted": minted,
                }
            )
        for bid_id, bidder, _artifact, amount in losers:
            tx.move_scrip(ORACLE, str(bidder), int(amount))
            tx.conn.execute(
                "UPDATE oracle_bids SET status = ?, round_at = ?, paid = 0, updated_at = ?"
                " WHERE id = ?",
                (BidStatus.LOST, self.round_at, tx.now, bid_id),
            )
        shared = 0
        if collected and self.paid == "share":
            agents = [
                str(r[0])
                for r in tx.conn.execute(
                    "SELECT id FROM principals WHERE kind = 'agent' ORDER BY id"
                ).fetchall()
            ]
            each = collected // len(agents) if agents else 0
            for agent in agents if each else ():
                tx.move_scrip(ORACLE, agent, each)
            shared = each * len(agents)
        burned = collected - shared
        if burned:
            tx.debit_scrip(ORACLE, burned)
            tx.conn.execute("UPDATE scrip_supply SET burned = burned + ? WHERE id = 1", (burned,))
        tx.event(
            EventKind.ORACLE_RESOLVED,
            actor=self.authority,
            amount=sum(r["minted"] for r in results),
            details={
                "round_at": self.round_at,
                "winners": results,
                "price": price,
                "refunded_losers": len(losers),
                "burned": burned,
                "shared": shared,
            },
        )
        return {"round_at": self.round_at, "winners": results, "price": price, "burned": burned}
