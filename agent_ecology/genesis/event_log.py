"""genesis_event_log: paged reads of the public, append-only event log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, Method, page
from agent_ecology.ledger import Event
from agent_ecology.ledger.ops.checks import PrincipalId

__all__ = ["event_json", "make_event_log_artifact"]

ID = "genesis_event_log"


def event_json(e: Event) -> dict[str, Any]:
    """An event as agents see it: only the fields that are set."""
    out: dict[str, Any] = {"seq": e.seq, "at": round(e.at, 3), "kind": e.kind}
    for key, value in (
        ("actor", e.actor_id),
        ("principal", e.principal_id),
        ("counterparty", e.counterparty_id),
        ("resource", e.resource),
        ("amount", e.amount),
        ("artifact", e.artifact_id),
    ):
        if value is not None:
            out[key] = value
    if e.details:
        out["details"] = dict(e.details)
    return out


class ReadArgs(Args):
    after: int = Field(default=0, ge=0, description="events with seq greater than this")
    limit: int = Field(default=20, ge=1, le=100, description="at most this many (<= 100)")
    principal: PrincipalId | None = Field(default=None, description="only this one's")
    kind: str | None = Field(default=None, max_length=64, description="only this kind")


async def _read(inv: Invocation, args: ReadArgs) -> Mapping[str, Any]:
    events = await inv.ledger.events(
        after=args.after, principal=args.principal, kind=args.kind, limit=args.limit
    )
    return page("events", events, event_json, lambda e: e.seq, after=args.after, limit=args.limit)


def make_event_log_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "The public event log: every change of state in the world, in order. Page through it"
        " with `after` (pass the `next_after` you got back).",
    )
    art.add(
        Method(
            "read",
            "A page of events, oldest first, optionally only one principal's or one kind.",
            ReadArgs,
            _read,
            {"after": 0, "limit": 20, "kind": "transfer"},
            returns="{events: [{seq, at, kind, actor?, principal?, counterparty?, resource?,"
            " amount?, artifact?, details?}], next_after, more}",
        )
    )
    return art
