"""genesis_oracle: bid at any time; resolution on a published schedule; scores mint scrip."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent_ecology.config import OracleSettings
from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, Method
from agent_ecology.genesis.scoring import OfflineScorer, Scorer
from agent_ecology.ledger import BidStatus, IdempotencyConflict, Ledger, Receipt, ops
from agent_ecology.ledger.ops.checks import ArtifactId, Scrip
from agent_ecology.ledger.ops.oracle import OracleResolveDetails

__all__ = ["make_oracle_artifact", "next_resolution", "resolve"]

ID = ops.ORACLE
_KERNEL_MADE = ("genesis_", *ops.checks.KERNEL_MADE_PREFIXES)


def next_resolution(now: float, interval: float) -> float:
    """The first resolution instant strictly after ``now`` (multiples of ``interval``)."""
    return (math.floor(now / interval) + 1) * interval


async def resolve(
    ledger: Ledger,
    settings: OracleSettings,
    round_at: float,
    *,
    authority: str,
    scorer: Scorer | None = None,
) -> Receipt[OracleResolveDetails] | None:
    """Score every artifact bid on by ``round_at`` and resolve; ``None`` if that instant was
    resolved already (each instant resolves once, across restarts too)."""
    bids = await ledger.oracle_bids(status=BidStatus.ACTIVE)
    artifacts = sorted({b.artifact_id for b in bids if b.placed_at <= round_at})
    everything = await ledger.artifacts()
    texts = {a.id: a.content for a in everything if not a.id.startswith(_KERNEL_MADE)}
    scorer = scorer or OfflineScorer()
    scores = []
    for artifact in artifacts:
        text = texts.get(artifact, "")
        others = [t for i, t in texts.items() if i != artifact]
        scores.append((artifact, await scorer.score(artifact, text, others)))
    try:
        return await ledger.submit(
            ops.OracleResolve(
                authority=authority,
                round_at=round_at,
                scores=tuple(scores),
                slots=settings.slots,
                mint_per_point=settings.mint_per_point,
                max_mint=settings.max_mint,
                paid=settings.paid,
                reserve=settings.reserve,
                op_id=f"oracle:round:{round_at:.3f}",
            )
        )
    except IdempotencyConflict:
        return None


class BidArgs(Args):
    artifact_id: ArtifactId = Field(description="the artifact to score")
    amount: Scrip = Field(description="your total bid in scrip (more than before to raise)")


class ArtifactArgs(Args):
    artifact_id: ArtifactId = Field(description="an artifact you bid on")


class StatusArgs(Args):
    pass


def make_oracle_artifact(settings: OracleSettings) -> GenesisArtifact:
    async def bid(inv: Invocation, a: BidArgs) -> Mapping[str, Any]:
        receipt = await inv.ledger.submit(
            ops.OracleBid(bidder=inv.actor, artifact_id=a.artifact_id, amount=a.amount)
        )
        when = next_resolution(inv.clock.now(), settings.interval)
        return {**receipt.details, "next_resolution": when}

    async def withdraw(inv: Invocation, a: ArtifactArgs) -> Mapping[str, Any]:
        receipt = await inv.ledger.submit(
            ops.OracleWithdraw(bidder=inv.actor, artifact_id=a.artifact_id)
        )
        return dict(receipt.details)

    async def status(inv: Invocation, _a: StatusArgs) -> Mapping[str, Any]:
        mine = [
            b.to_json()
            for b in await inv.ledger.oracle_bids(status=BidStatus.ACTIVE)
            if b.bidder == inv.actor
        ]
        results = [r.to_json() for r in await inv.ledger.oracle_results(limit=10)]
        return {
            "next_resolution": next_resolution(inv.clock.now(), settings.interval),
            "interval_seconds": settings.interval,
            "slots": settings.slots,
            "your_bids": mine,
            "recent_results": results,
        }

    async def check(inv: Invocation, a: ArtifactArgs) -> Mapping[str, Any]:
        bids = [
            b.to_json()
            for b in await inv.ledger.oracle_bids(status=None)
            if b.artifact_id == a.artifact_id
        ]
        results = [
            r.to_json()
            for r in await inv.ledger.oracle_results(limit=1000)
            if r.artifact_id == a.artifact_id
        ]
        return {"artifact_id": a.artifact_id, "bids": bids[-20:], "results": results[-20:]}

    art = GenesisArtifact(
        ID,
        f"The oracle scores artifacts and mints scrip for them. Bid at any time (the bid is held"
        f" in scrip; raise it or withdraw it before the resolution). It resolves every"
        f" {settings.interval:g} s, at multiples of {settings.interval:g} s of Unix time: the top"
        f" {settings.slots} bid(s) of at least {settings.reserve} scrip win (one per artifact;"
        " the earlier bid on a tie) and each pays the highest bid on an artifact that did not"
        f" win, or {settings.reserve} if that is more (second price with a reserve); the"
        " others are refunded. Each winning"
        " artifact is scored 0-10 (novelty against all other artifacts times its richness in"
        " distinct words; duplicates score 0 and padding does not help) and its owner is minted"
        f" min({settings.max_mint}, round(score x {settings.mint_per_point:g})) scrip. What"
        f" winners pay is {'burned' if settings.paid == 'burn' else 'shared among all agents'}.",
    )
    art.add(
        Method(
            "bid",
            "Bid (or raise your bid) to have an artifact scored at the next resolution.",
            BidArgs,
            bid,
            {"artifact_id": "alice/report", "amount": 5},
            returns="{artifact_id, bid, raised_by, next_resolution}",
        )
    )
    art.add(
        Method(
            "withdraw",
            "Take back your bid on an artifact before the resolution; it is refunded.",
            ArtifactArgs,
            withdraw,
            {"artifact_id": "alice/report"},
            returns="{artifact_id, refunded}",
        )
    )
    art.add(
        Method(
            "status",
            "The schedule, your standing bids and the latest results.",
            StatusArgs,
            status,
            {},
            returns="{next_resolution, interval_seconds, slots, your_bids, recent_results}",
        )
    )
    art.add(
        Method(
            "check",
            "Bids and results of one artifact.",
            ArtifactArgs,
            check,
            {"artifact_id": "alice/report"},
            returns="{artifact_id, bids, results}",
        )
    )
    return art
