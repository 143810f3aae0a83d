"""What an agent sees of the world beyond its own rows in the ledger.

An agent's :class:`~agent_ecology.agents.context.Observation` has two sides. The loop reads
the agent's own side: its account, artifacts, the listings open to it, its mailbox, notes and
last result. The world's side (the time, the world's dollars, the other agents, the oracle's
next resolution, the robots bound to it, the tasks open to it) is what the runtime knows;
the loop asks one :class:`Observer` for it, once a turn, as a :class:`WorldView`.

:class:`WorldObserver` is the runtime's observer; a test may pass any object with an
``observe`` method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent_ecology.clock import Clock
from agent_ecology.genesis.oracle import next_resolution
from agent_ecology.llm.budget import Budget
from agent_ecology.tasks import OpenTask

__all__ = ["Observer", "WorldObserver", "WorldView"]


@dataclass(frozen=True, slots=True)
class WorldView:
    """The world's side of one agent's Observation, read at one instant."""

    now: float
    budget_left: float | None = None
    """The world's dollars left, when they are billed."""
    budget_limit: float | None = None
    others: Sequence[str] = ()
    """Other agents it may deal with (not itself)."""
    next_resolution: float | None = None
    """When the oracle resolves next."""
    robot: str | None = None
    """A line on the robonomics robots bound to it, if any."""
    tasks: Sequence[OpenTask] = ()
    """The tasks it may still be paid for."""


class Observer(Protocol):
    """What a loop asks the runtime before each turn."""

    def observe(self, agent_id: str) -> WorldView:
        """The world as ``agent_id`` is to see it now."""
        ...


@dataclass(frozen=True, slots=True)
class WorldObserver:
    """The runtime's observer: the clock, the budget's last view, up to 50 neighbours, the
    oracle's schedule and (with robonomics on) each agent's robots."""

    clock: Clock
    budget: Budget
    neighbours: Sequence[str]
    """The agents shown as others (the agent itself is left out of its own view)."""
    oracle_interval: float
    robots: Callable[[str], str | None] | None = None
    """The line on an agent's robots; None without robonomics."""
    tasks: Callable[[str, float], Sequence[OpenTask]] | None = None
    """The tasks an agent may still be paid for at an instant (the task board's)."""

    def observe(self, agent_id: str) -> WorldView:
        now = self.clock.now()
        dollars = self.budget.view()
        return WorldView(
            now=now,
            budget_left=None if dollars is None else dollars[0],
            budget_limit=None if dollars is None else dollars[1],
            others=[i for i in self.neighbours if i != agent_id],
            next_resolution=next_resolution(now, self.oracle_interval),
            robot=None if self.robots is None else self.robots(agent_id),
            tasks=() if self.tasks is None else self.tasks(agent_id, now),
        )
