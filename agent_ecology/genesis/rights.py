"""genesis_rights_registry: quotas (permanent reallocations) and the right to one's config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, InvocationError, Method
from agent_ecology.ledger import UnknownArtifact, ops
from agent_ecology.ledger.ops.checks import PrincipalId, ResourceName

__all__ = ["make_rights_artifact"]

ID = "genesis_rights_registry"


class CheckQuotaArgs(Args):
    principal: PrincipalId | None = Field(default=None, description="default: you")
    resource: ResourceName | None = Field(default=None, description="default: all")


class TransferQuotaArgs(Args):
    to: PrincipalId = Field(description="who receives the quota")
    resource: ResourceName = Field(description="a stock or flow resource")
    amount: int | float = Field(gt=0, description="stock: capacity; flow: rate per second")


class AgentArgs(Args):
    agent_id: PrincipalId | None = Field(default=None, description="default: you")


class GiveRightArgs(Args):
    agent_id: PrincipalId = Field(description="whose config right")
    to: PrincipalId = Field(description="the new holder")


async def _check_quota(inv: Invocation, args: CheckQuotaArgs) -> Mapping[str, Any]:
    who = args.principal or inv.actor
    account = await inv.ledger.account(who)
    quotas: dict[str, Any] = {}
    for h in account.stock:
        quotas[h.resource] = {"kind": "stock", "quota": h.quota, "used": h.used}
    for b in account.flow:
        quotas[b.resource] = {"kind": "flow", "rate_per_second": b.rate, "capacity": b.capacity}
    if args.resource is not None:
        if args.resource not in quotas:
            known = ", ".join(quotas) or "none"
            raise InvocationError(
                "unknown_resource",
                f"{who!r} holds no quota of {args.resource!r}; it holds: {known}",
            )
        quotas = {args.resource: quotas[args.resource]}
    return {"principal": who, "quotas": quotas}


async def _transfer_quota(inv: Invocation, args: TransferQuotaArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.TransferQuota(src=inv.actor, dst=args.to, resource=args.resource, amount=args.amount)
    )
    return {"to": args.to, "resource": args.resource, "amount": args.amount, "seq": receipt.seq}


async def _config_right(inv: Invocation, args: AgentArgs) -> Mapping[str, Any]:
    agent = args.agent_id or inv.actor
    record = await inv.ledger.agent(agent)
    token = f"{ops.CONFIG_RIGHT_PREFIX}{agent}"
    try:
        await inv.ledger.artifact(token)
    except UnknownArtifact:
        return {"agent_id": agent, "holder": record.config_holder, "artifact_id": None}
    return {"agent_id": agent, "holder": record.config_holder, "artifact_id": token}


async def _give_right(inv: Invocation, args: GiveRightArgs) -> Mapping[str, Any]:
    await inv.ledger.submit(
        ops.TransferConfigRight(actor=inv.actor, agent_id=args.agent_id, new_holder=args.to)
    )
    return {"agent_id": args.agent_id, "holder": args.to}


async def _tokenize(inv: Invocation, args: AgentArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.TokenizeConfigRight(actor=inv.actor, agent_id=args.agent_id or inv.actor)
    )
    return {
        "artifact_id": receipt.details["artifact_id"],
        "next": "sell it with genesis_escrow deposit, or give it with genesis_ledger"
        " transfer_ownership",
    }


def make_rights_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "Rights: quotas (your share of a stock pool, your rate on a flow) and the right to"
        " change an agent's configuration (model, system prompt, max_tokens, sleep policy)."
        " Every agent starts holding its own config right. Quota transfers are permanent."
        " A config right can be given, or made into an artifact (rights/config/<agent>) that"
        " can be sold through genesis_escrow: whoever owns it holds the right, and a change"
        " takes effect from that agent's next turn.",
    )
    art.add(
        Method(
            "check_quota",
            "Quotas of a principal (yours by default): stock quota and use, flow rate.",
            CheckQuotaArgs,
            _check_quota,
            {"resource": "llm_budget"},
            returns="{principal, quotas: {name: {kind, quota, used} | {kind, rate_per_second,"
            " capacity}}}",
        )
    )
    art.add(
        Method(
            "transfer_quota",
            "Give quota for good: unused stock capacity, or flow rate.",
            TransferQuotaArgs,
            _transfer_quota,
            {"to": "bob", "resource": "compute", "amount": 0.1},
            returns="{to, resource, amount, seq}",
        )
    )
    art.add(
        Method(
            "config_right",
            "Who holds the right to change an agent's configuration (yours by default).",
            AgentArgs,
            _config_right,
            {"agent_id": "bob"},
            returns="{agent_id, holder, artifact_id}",
        )
    )
    art.add(
        Method(
            "transfer_config_right",
            "Give a config right you hold to another principal.",
            GiveRightArgs,
            _give_right,
            {"agent_id": "alice", "to": "bob"},
            returns="{agent_id, holder}",
        )
    )
    art.add(
        Method(
            "tokenize_config_right",
            "Make a config right you hold into an artifact you own, to sell it through escrow.",
            AgentArgs,
            _tokenize,
            {"agent_id": "alice"},
            returns="{artifact_id, next}",
        )
    )
    return art
