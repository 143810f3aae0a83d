"""Leases: one holder at a time for a named duty, for as long as it keeps renewing.

A sharded run (``agent-ecology run --shards N``) has duties that must run exactly once for
the world (the oracle's resolutions, the exchange's expiry, robonomics' ticks). Every shard
asks for the ``leader`` lease every few seconds with :class:`ClaimLease`; the one that holds
it renews it, the others are told who holds it and until when; if the holder stops renewing
(it was killed), the first to ask after ``expires_at`` takes it over. Times are each
claimant's ledger clock (the system clock): the shards of one SQLite database share a host,
so they share it. A holder stops its duties unless it renewed within two thirds of the lease
(:meth:`agent_ecology.runtime.Runtime._lead`), so two never run them at once while a stalled
one has not noticed. Claims append no event: renewing is not a change of the world, and
who holds what is in the ``leases`` table.
"""

from __future__ import annotations

from typing import TypedDict

from agent_ecology.ledger.errors import InvalidRequest
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import Text
from agent_ecology.ledger.ops.tx import Tx

__all__ = ["ClaimLease", "LeaseDetails", "ReleaseLease"]


class LeaseDetails(TypedDict):
    holder: str
    held: bool
    """Whether the claimant holds the lease now."""
    expires_at: float
    acquired_at: float


@operation("lease_claimed")
class ClaimLease(Operation[LeaseDetails]):
    """Take or renew lease ``name`` for ``holder`` for ``seconds``, unless another holds an
    unexpired one (then say who, and until when)."""

    name: Text
    holder: Text
    seconds: float

    def check(self) -> None:
        if not 0 < self.seconds <= 3600:
            raise InvalidRequest(f"a lease lasts 0 to 3600 seconds, not {self.seconds!r}")

    def apply(self, tx: Tx) -> LeaseDetails:
        row = tx.conn.execute(
            "SELECT holder, acquired_at, expires_at FROM leases WHERE name = ?", (self.name,)
        ).fetchone()
        if row is not None and row[0] != self.holder and float(row[2]) > tx.now:
            return {
                "holder": str(row[0]),
                "held": False,
                "acquired_at": float(row[1]),
                "expires_at": float(row[2]),
            }
        acquired = float(row[1]) if row is not None and row[0] == self.holder else tx.now
        expires = tx.now + self.seconds
        tx.conn.execute(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
            " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
            (self.name, self.holder, acquired, expires),
        )
        return {"holder": self.holder, "held": True, "acquired_at": acquired, "expires_at": expires}


class ReleaseDetails(TypedDict):
    released: bool


@operation("lease_released")
class ReleaseLease(Operation[ReleaseDetails]):
    """Give lease ``name`` up if ``holder`` holds it (a clean stop: the next shard to ask
    takes it at once instead of after it expires)."""

    name: Text
    holder: Text

    def apply(self, tx: Tx) -> ReleaseDetails:
        gone = tx.conn.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder)
        ).rowcount
        return {"released": bool(gone)}
