"""genesis_ledger: balances, unilateral transfers of scrip and resources, artifact ownership."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, InvocationError, Method
from agent_ecology.ledger import Account, Receipt, ops
from agent_ecology.ledger.ops.checks import ArtifactId, PrincipalId, ResourceName

__all__ = ["account_json", "make_ledger_artifact"]

ID = "genesis_ledger"


def account_json(account: Account, now: float) -> dict[str, Any]:
    """An account as the JSON agents see: scrip, stock (available of quota), flow buckets."""
    return {
        "principal": account.principal.id,
        "scrip": account.principal.scrip,
        "stock": {
            h.resource: {"available": round(h.available, 9), "quota": h.quota, "used": h.used}
            for h in account.stock
        },
        "flow": {
            h.resource: {
                "available": round(h.available(now), 6),
                "capacity": h.capacity,
                "rate_per_second": h.rate,
                "in_debt": h.bucket.is_in_debt(now),
            }
            for h in account.flow
        },
    }


class BalanceArgs(Args):
    principal: PrincipalId | None = Field(
        default=None, description="whose balances; default: yours"
    )


class TransferArgs(Args):
    to: PrincipalId = Field(description="the receiver's id")
    amount: int | float = Field(description="scrip: a positive whole number; a resource: > 0")
    resource: ResourceName | None = Field(
        default=None,
        description="give this instead of scrip: part of a flow bucket's balance, or unused"
        " stock quota (llm_budget, disk), for good",
    )


class TransferOwnershipArgs(Args):
    artifact_id: ArtifactId = Field(description="an artifact you own")
    to: PrincipalId = Field(description="the new owner's id")


async def _balance(inv: Invocation, args: BalanceArgs) -> Mapping[str, Any]:
    account = await inv.ledger.account(args.principal or inv.actor)
    return account_json(account, inv.clock.now())


async def _transfer(inv: Invocation, args: TransferArgs) -> Mapping[str, Any]:
    if args.resource is None or args.resource == "scrip":
        if isinstance(args.amount, float) and not args.amount.is_integer():
            raise InvocationError(
                "invalid_arguments",
                f"scrip is whole numbers; amount {args.amount} is not (send a whole number)",
            )
        amount = int(args.amount)
        receipt = await inv.ledger.submit(ops.Transfer(src=inv.actor, dst=args.to, amount=amount))
        return {"transferred": amount, "to": args.to, "seq": receipt.seq}
    kinds = {spec.name: spec.kind for spec in await inv.ledger.resources()}
    given_by: Receipt[Mapping[str, object]]
    if kinds.get(args.resource) == "stock":
        # A stock resource is given as quota: the unused part of your share, for good.
        given_by = await inv.ledger.submit(
            ops.TransferQuota(
                src=inv.actor, dst=args.to, resource=args.resource, amount=args.amount
            )
        )
        given = "quota"
    else:
        given_by = await inv.ledger.submit(
            ops.TransferResource(
                src=inv.actor, dst=args.to, resource=args.resource, amount=args.amount
            )
        )
        given = "balance"
    return {
        "transferred": args.amount,
        "resource": args.resource,
        "as": given,
        "to": args.to,
        "seq": given_by.seq,
    }


async def _transfer_ownership(inv: Invocation, args: TransferOwnershipArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.TransferArtifact(actor=inv.actor, artifact_id=args.artifact_id, new_owner=args.to)
    )
    return {"artifact_id": args.artifact_id, "owner": args.to, "seq": receipt.seq}


class FreezeArgs(Args):
    artifact_id: ArtifactId = Field(description="a program you own")


class SetPriceArgs(Args):
    artifact_id: ArtifactId = Field(description="a program you own (not frozen)")
    price: int = Field(ge=0, le=10**12, description="scrip per successful invocation")


async def _freeze(inv: Invocation, args: FreezeArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.FreezeArtifact(actor=inv.actor, artifact_id=args.artifact_id)
    )
    return {"artifact_id": args.artifact_id, "frozen": True, "seq": receipt.seq}


async def _set_price(inv: Invocation, args: SetPriceArgs) -> Mapping[str, Any]:
    receipt = await inv.ledger.submit(
        ops.SetPrice(actor=inv.actor, artifact_id=args.artifact_id, price=args.price)
    )
    return {"artifact_id": args.artifact_id, "price": args.price, "seq": receipt.seq}


def make_ledger_artifact() -> GenesisArtifact:
    art = GenesisArtifact(
        ID,
        "The ledger: read balances and pay. Transfers are unilateral: you can give your own"
        " scrip, resources and artifacts to anyone without their consent (for example to rescue"
        " an agent frozen in debt), and nobody can take yours.",
    )
    art.add(
        Method(
            "balance",
            "Scrip, stock quotas and flow buckets of a principal (yours by default).",
            BalanceArgs,
            _balance,
            {"principal": "bob"},
            returns="{principal, scrip, stock: {name: {available, quota, used}},"
            " flow: {name: {available, capacity, rate_per_second, in_debt}}}",
        )
    )
    art.add(
        Method(
            "transfer",
            "Give scrip (default), part of a flow bucket's balance, or unused stock quota to"
            " another principal.",
            TransferArgs,
            _transfer,
            {"to": "bob", "amount": 5},
            returns="{transferred, to, seq}",
        )
    )
    art.add(
        Method(
            "transfer_ownership",
            "Give an artifact you own to another principal; its disk charge moves with it.",
            TransferOwnershipArgs,
            _transfer_ownership,
            {"artifact_id": "alice/price-list", "to": "bob"},
            returns="{artifact_id, owner, seq}",
        )
    )
    art.add(
        Method(
            "freeze",
            "Freeze a program you own, for good: nobody (you included) can rewrite, reprice or"
            " delete it again. Others can trust only frozen programs to keep their rules.",
            FreezeArgs,
            _freeze,
            {"artifact_id": "alice/splitter"},
            returns="{artifact_id, frozen, seq}",
        )
    )
    art.add(
        Method(
            "set_price",
            "Set the scrip a program you own charges per successful invocation (paid to you).",
            SetPriceArgs,
            _set_price,
            {"artifact_id": "alice/wordcount", "price": 2},
            returns="{artifact_id, price, seq}",
        )
    )
    return art
