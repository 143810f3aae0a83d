"""When a sleeping agent wakes: pure decisions over time, events and its own balances.

An agent sleeps by its own choice until the first of: a wall-clock deadline, an event of one
of the given kinds (one that concerns it, or a world-wide one with no subject), or one of its
own balances crossing a threshold. For a flow resource the crossing time by accrual is
computed exactly; transfers and spending are seen through the events that concern it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_ecology.agents.actions import SleepAction
from agent_ecology.ledger import Bucket, Event

__all__ = ["WakeConditions", "concerns"]


def concerns(event: Event, agent_id: str) -> bool:
    """Whether ``event`` is about ``agent_id`` (as actor, subject or counterparty)."""
    return agent_id in (event.principal_id, event.counterparty_id, event.actor_id)


@dataclass(frozen=True, slots=True)
class WakeConditions:
    """What ends a sleep. ``deadline`` is absolute (Unix seconds)."""

    deadline: float | None = None
    event_kinds: tuple[str, ...] = ()
    resource: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    since: float = 0.0

    @classmethod
    def from_action(cls, action: SleepAction, now: float) -> WakeConditions:
        balance = action.until_balance
        return cls(
            deadline=None if action.seconds is None else now + float(action.seconds),
            event_kinds=tuple(action.event_kinds()),
            resource=None if balance is None else balance.resource,
            at_least=None if balance is None or balance.at_least is None else balance.at_least,
            at_most=None if balance is None or balance.at_most is None else balance.at_most,
            since=now,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WakeConditions:
        return cls(
            deadline=data.get("deadline"),
            event_kinds=tuple(data.get("event_kinds", ())),
            resource=data.get("resource"),
            at_least=data.get("at_least"),
            at_most=data.get("at_most"),
            since=float(data.get("since", 0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.since}
        if self.deadline is not None:
            out["deadline"] = self.deadline
        if self.event_kinds:
            out["event_kinds"] = list(self.event_kinds)
        if self.resource is not None:
            out["resource"] = self.resource
            out["at_least" if self.at_least is not None else "at_most"] = (
                self.at_least if self.at_least is not None else self.at_most
            )
        return out

    def describe(self) -> str:
        parts = []
        if self.deadline is not None:
            parts.append(f"until unix time {self.deadline:.0f}")
        if self.event_kinds:
            parts.append(f"until an event of kind {', '.join(self.event_kinds)}")
        if self.resource is not None:
            if self.at_least is not None:
                parts.append(f"until {self.resource} >= {self.at_least:g}")
            else:
                parts.append(f"until {self.resource} <= {self.at_most:g}")
        return " or ".join(parts)

    def is_due(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def wakes_on(self, event: Event, agent_id: str) -> bool:
        """Whether ``event`` ends the sleep by its kind (it must concern the agent or be global)."""
        if event.kind not in self.event_kinds or event.at < self.since:
            return False
        if event.actor_id == agent_id and event.principal_id == agent_id:
            return False  # its own doings do not wake it
        return event.principal_id is None or concerns(event, agent_id)

    def balance_met(self, value: float) -> bool:
        if self.at_least is not None:
            return value >= self.at_least
        if self.at_most is not None:
            return value <= self.at_most
        return False

    def crossing_time(self, bucket: Bucket, now: float) -> float | None:
        """When accrual alone brings a flow bucket to an ``at_least`` threshold (None: never)."""
        if self.at_least is None:
            return None
        if bucket.available(now) >= self.at_least:
            return now
        if bucket.rate <= 0 or self.at_least > bucket.capacity:
            return None
        balance = bucket.available(now)
        return now + (self.at_least - balance) / bucket.rate

    def next_deadline(self, bucket: Bucket | None, now: float) -> float:
        """The earliest time to look again without an event (``inf``: only an event helps)."""
        times = [self.deadline] if self.deadline is not None else []
        if bucket is not None:
            crossing = self.crossing_time(bucket, now)
            if crossing is not None:
                times.append(crossing)
        return min(times) if times else math.inf
