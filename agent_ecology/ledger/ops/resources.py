"""Resources and quotas: spending, releasing, giving buckets away, moving quota."""

from __future__ import annotations

from typing import Annotated, NotRequired, TypedDict

from agent_ecology.ledger import buckets
from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import (
    CapacityExceeded,
    InsufficientResource,
    InvalidRequest,
)
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    NON_NEGATIVE,
    Amount,
    PrincipalId,
    ResourceName,
    check_not_disk,
)
from agent_ecology.ledger.ops.tx import Tx


class SpendDetails(TypedDict):
    available: NotRequired[float]
    balance: NotRequired[float]


@operation(EventKind.SPEND)
class Spend(Operation[SpendDetails]):
    """Charge ``amount`` of a resource after the work it paid for.

    Stock: taken from the unused quota (refused if it does not fit). Flow: taken from the
    bucket, which may go into debt.
    """

    principal: PrincipalId
    resource: ResourceName
    amount: Amount

    def check(self) -> None:
        check_not_disk(self.resource, "spent")

    def apply(self, tx: Tx) -> SpendDetails:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            left = tx.use_stock(self.principal, self.resource, amount)
            details: SpendDetails = {"available": left}
        else:
            bucket = buckets.spend(tx.bucket(self.principal, self.resource), amount, tx.now)
            tx.put_bucket(self.principal, self.resource, bucket)
            details = {"balance": bucket.balance}
        tx.event(
            EventKind.SPEND,
            by=self.principal,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


class ReleaseDetails(TypedDict):
    available: float


@operation(EventKind.RELEASE)
class Release(Operation[ReleaseDetails]):
    """Give back ``amount`` of a stock resource in use (flow resources accrue by themselves)."""

    principal: PrincipalId
    resource: ResourceName
    amount: Amount

    def check(self) -> None:
        check_not_disk(self.resource, "released")

    def apply(self, tx: Tx) -> ReleaseDetails:
        if tx.resource_kind(self.resource) != "stock":
            raise InvalidRequest(
                f"{self.resource} is a flow resource: it accrues by itself and cannot be released"
            )
        left = tx.free_stock(self.principal, self.resource, float(self.amount))
        tx.event(
            EventKind.RELEASE,
            by=self.principal,
            resource=self.resource,
            amount=float(self.amount),
            details={"available": left},
        )
        return {"available": left}


class TransferResourceDetails(TypedDict):
    src_balance: float
    dst_balance: float


@operation(EventKind.RESOURCE_TRANSFER)
class TransferResource(Operation[TransferResourceDetails]):
    """Give some of a flow bucket's balance to another principal (a rescue from debt, a sale).

    The giver must hold ``amount`` now; the receiver's bucket must have room for it, so that
    nothing is lost to the capacity cap. Stock is given by transferring quota instead.
    """

    src: PrincipalId
    dst: PrincipalId
    resource: ResourceName
    amount: Amount

    def check(self) -> None:
        if self.src == self.dst:
            raise InvalidRequest(f"cannot transfer {self.resource} from {self.src!r} to itself")

    def apply(self, tx: Tx) -> TransferResourceDetails:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) != "flow":
            raise InvalidRequest(
                f"{self.resource} is a stock resource; give unused capacity with transfer_quota"
            )
        src = buckets.settle(tx.bucket(self.src, self.resource), tx.now)
        dst = buckets.settle(tx.bucket(self.dst, self.resource), tx.now)
        if src.balance < amount:
            raise InsufficientResource(
                self.src, self.resource, amount, src.balance, "send at most what is available now"
            )
        room = dst.capacity - dst.balance
        if amount > room:
            raise CapacityExceeded(self.dst, self.resource, amount, room)
        src = Bucket(src.balance - amount, src.updated_at, src.rate, src.capacity)
        dst = Bucket(dst.balance + amount, dst.updated_at, dst.rate, dst.capacity)
        tx.put_bucket(self.src, self.resource, src)
        tx.put_bucket(self.dst, self.resource, dst)
        details: TransferResourceDetails = {"src_balance": src.balance, "dst_balance": dst.balance}
        tx.event(
            EventKind.RESOURCE_TRANSFER,
            by=self.src,
            counterparty=self.dst,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


def _set_rate(tx: Tx, principal: str, resource: str, rate: float) -> None:
    # Accrual up to now happens at the old rate; the new rate counts from now on.
    settled = buckets.settle(tx.bucket(principal, resource), tx.now)
    tx.put_bucket(
        principal, resource, Bucket(settled.balance, settled.updated_at, rate, settled.capacity)
    )


class SetQuotaDetails(TypedDict):
    quota: float


@operation(EventKind.QUOTA_SET)
class SetQuota(Operation[SetQuotaDetails]):
    """Set a principal's quota (stock: its allocation; flow: its rate). System only."""

    principal: PrincipalId
    resource: ResourceName
    amount: Annotated[float, NON_NEGATIVE.named("quota")]  # as a float, as it always was
    authority: PrincipalId

    def apply(self, tx: Tx) -> SetQuotaDetails:
        tx.require_system(self.authority, "set quotas")
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            _quota, used = tx.stock(self.principal, self.resource)
            if amount < used:
                raise InvalidRequest(
                    f"{self.principal!r} uses {used:g} {self.resource};"
                    " its quota cannot go below that"
                )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = ? WHERE principal_id = ? AND resource = ?",
                (amount, self.principal, self.resource),
            )
        else:
            _set_rate(tx, self.principal, self.resource, amount)
        tx.event(
            EventKind.QUOTA_SET,
            actor=self.authority,
            principal=self.principal,
            resource=self.resource,
            amount=amount,
        )
        return {"quota": amount}


class TransferQuotaDetails(TypedDict):
    src_quota: float
    dst_quota: float


@operation(EventKind.QUOTA_TRANSFER)
class TransferQuota(Operation[TransferQuotaDetails]):
    """Permanently move quota: unused stock capacity, or flow rate, from ``src`` to ``dst``."""

    src: PrincipalId
    dst: PrincipalId
    resource: ResourceName
    amount: Amount

    def check(self) -> None:
        if self.src == self.dst:
            raise InvalidRequest(
                f"cannot transfer {self.resource} quota from {self.src!r} to itself"
            )

    def apply(self, tx: Tx) -> TransferQuotaDetails:
        amount = float(self.amount)
        if tx.resource_kind(self.resource) == "stock":
            quota, used = tx.stock(self.src, self.resource)
            tx.stock(self.dst, self.resource)
            if quota - used < amount:
                raise InsufficientResource(
                    self.src,
                    self.resource,
                    amount,
                    quota - used,
                    "only unused quota can be given; free some first",
                )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = quota - ?"
                " WHERE principal_id = ? AND resource = ?",
                (amount, self.src, self.resource),
            )
            tx.conn.execute(
                "UPDATE stock_holdings SET quota = quota + ?"
                " WHERE principal_id = ? AND resource = ?",
                (amount, self.dst, self.resource),
            )
            src_quota, dst_quota = quota - amount, tx.stock(self.dst, self.resource)[0]
        else:
            src, dst = tx.bucket(self.src, self.resource), tx.bucket(self.dst, self.resource)
            if src.rate < amount:
                raise InsufficientResource(
                    self.src,
                    self.resource,
                    amount,
                    src.rate,
                    f"its {self.resource} rate is only {src.rate:g} per second; give at most that",
                )
            src_quota, dst_quota = src.rate - amount, dst.rate + amount
            _set_rate(tx, self.src, self.resource, src_quota)
            _set_rate(tx, self.dst, self.resource, dst_quota)
        details: TransferQuotaDetails = {"src_quota": src_quota, "dst_quota": dst_quota}
        tx.event(
            EventKind.QUOTA_TRANSFER,
            by=self.src,
            counterparty=self.dst,
            resource=self.resource,
            amount=amount,
            details=details,
        )
        return details


class ReanchorBucketsDetails(TypedDict):
    resources: int


@operation(EventKind.BUCKETS_REANCHORED)
class ReanchorBuckets(Operation[ReanchorBucketsDetails]):
    """Stamp ``now`` on every flow bucket of ``principal_id`` whose stored time is later.

    After the clock jumps forward and back, a bucket changed during the jump holds a time in
    the future and accrues nothing until the clock catches up; its stored time counts as now
    instead, so a debt clears as fast as its rate says.
    """

    principal_id: PrincipalId

    def apply(self, tx: Tx) -> ReanchorBucketsDetails:
        rows = tx.conn.execute(
            "SELECT resource FROM flow_buckets WHERE principal_id = ? AND updated_at > ?",
            (self.principal_id, tx.now),
        ).fetchall()
        for (resource,) in rows:
            tx.put_bucket(
                self.principal_id,
                str(resource),
                buckets.settle(tx.bucket(self.principal_id, str(resource)), tx.now),
            )
        if rows:
            tx.event(
                EventKind.BUCKETS_REANCHORED,
                principal=self.principal_id,
                details={"resources": [str(r[0]) for r in rows]},
            )
        return {"resources": len(rows)}
