"""Token buckets for flow resources, as pure functions (seed 003).

A bucket is described by its stored ``balance`` at ``updated_at``, its ``rate`` (units per
second) and its ``capacity``. What is available at time ``now`` is::

    available = min(capacity, balance + elapsed * rate)

Spending is charged *after* the work it paid for, so a balance may go negative (debt). A
bucket keeps accruing while in debt and is never refilled in one step: there is no
"refresh" moment anywhere. A clock that steps backwards counts as no time passing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bucket", "available", "settle", "spend"]


def available(balance: float, updated_at: float, rate: float, capacity: float, now: float) -> float:
    """What the bucket holds at ``now``: ``min(capacity, balance + elapsed * rate)``.

    A balance already above ``capacity`` (which the kernel never stores) is clipped too.
    """
    elapsed = max(0.0, now - updated_at)
    return min(capacity, balance + elapsed * rate)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A snapshot of one token bucket."""

    balance: float
    updated_at: float
    rate: float
    capacity: float

    def available(self, now: float) -> float:
        """What this bucket holds at ``now``."""
        return available(self.balance, self.updated_at, self.rate, self.capacity, now)

    def is_in_debt(self, now: float) -> bool:
        """Whether the bucket is below zero at ``now`` (its holder may not act)."""
        return self.available(now) < 0


def settle(bucket: Bucket, now: float) -> Bucket:
    """The same bucket with its accrual up to ``now`` folded into the stored balance."""
    return Bucket(bucket.available(now), max(now, bucket.updated_at), bucket.rate, bucket.capacity)


def spend(bucket: Bucket, amount: float, now: float) -> Bucket:
    """Charge ``amount`` (>= 0) at ``now``; the result may be negative (debt)."""
    settled = settle(bucket, now)
    return Bucket(settled.balance - amount, settled.updated_at, settled.rate, settled.capacity)
