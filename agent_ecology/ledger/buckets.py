"""Token buckets for flow resources, as pure functions (seed 003).

A bucket is described by its stored ``balance`` at ``updated_at``, its ``rate`` (units per
second) and its ``capacity``. What is available at time ``now`` is::

    available = min(capacity, balance + elapsed * rate)

Spending is charged *after* the work it paid for, so a balance may go negative (debt). A
bucket keeps accruing while in debt and is never refilled in one step: there is no
"refresh" moment anywhere. A clock that steps backwards counts as no time passing, and a
stored ``updated_at`` later than now (the clock jumped forward, then back) counts as now: the
next change of the bucket is stamped with the present, so it is never frozen for the length
of the jump.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEBT_TOLERANCE", "Bucket", "available", "settle", "spend"]

DEBT_TOLERANCE = 1e-9
"""A bucket this close below zero counts as zero: float round-off, not debt. The one
definition of "in debt" (:meth:`Bucket.is_in_debt`)."""


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
        """Whether the bucket is below zero at ``now`` (its holder may not act).

        Less than :data:`DEBT_TOLERANCE` below zero is round-off, not debt.
        """
        return self.available(now) < -DEBT_TOLERANCE

    def debt_clears_at(self, now: float) -> float:
        """When the bucket will have accrued back to zero (``now`` if it is not in debt).

        A stored time later than ``now`` counts as ``now``. Infinite for a rate of 0.
        """
        if not self.is_in_debt(now):
            return now
        if self.rate <= 0:
            return float("inf")
        return max(now, min(self.updated_at, now) - self.balance / self.rate)


def settle(bucket: Bucket, now: float) -> Bucket:
    """The same bucket with its accrual up to ``now`` folded into the stored balance.

    It is stamped ``now`` even when its stored time is later (a clock that went back).
    """
    return Bucket(bucket.available(now), now, bucket.rate, bucket.capacity)


def spend(bucket: Bucket, amount: float, now: float) -> Bucket:
    """Charge ``amount`` (>= 0) at ``now``; the result may be negative (debt)."""
    settled = settle(bucket, now)
    return Bucket(settled.balance - amount, settled.updated_at, settled.rate, settled.capacity)
