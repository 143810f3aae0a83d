"""Committed events, routed to the agents they concern, as they are committed.

The ledger calls :meth:`EventBus.publish` after each commit. Each agent has a
:class:`Mailbox`: its recent events (for its context) and a wake-up flag its loop waits on
while it sleeps, is frozen or backs off. Nothing here triggers a turn: it only ends waits
that the agent itself chose or that its debt imposed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import anyio

from agent_ecology.ledger import Event, EventKind

__all__ = ["BOOKKEEPING", "EventBus", "Mailbox"]

BOOKKEEPING = frozenset(
    {
        EventKind.TURN,
        EventKind.LLM_RESERVED,
        EventKind.LLM_CALL,
        EventKind.AGENT_SLEPT,
        EventKind.AGENT_WOKE,
        EventKind.NOTE_ADDED,
    }
)
"""An agent's own bookkeeping: recorded, but not repeated back to it as news."""

_NOT_NEWS = frozenset({EventKind.METRICS_WINDOW})
_BUDGET_MOVES = frozenset(
    {EventKind.LLM_CALL, EventKind.LLM_CALLS_ABANDONED, EventKind.API_LIMIT_SET}
)


class Mailbox:
    """One agent's view of the event stream."""

    def __init__(self, agent_id: str, keep: int) -> None:
        self.agent_id = agent_id
        self.recent: deque[Event] = deque(maxlen=keep)
        self.unseen: list[Event] = []
        self._wake = anyio.Event()
        self.config_changed = False

    @property
    def wake(self) -> anyio.Event:
        """Set when something arrives; take a fresh one with :meth:`rearm` before waiting."""
        return self._wake

    def rearm(self) -> anyio.Event:
        if self._wake.is_set():
            self._wake = anyio.Event()
        return self._wake

    def poke(self) -> None:
        self._wake.set()

    def deliver(self, event: Event) -> None:
        if event.actor_id == self.agent_id and event.kind in BOOKKEEPING:
            return  # its own bookkeeping: neither news nor a reason to wake
        self.unseen.append(event)
        if len(self.unseen) > 1000:  # a sleeper only needs to see recent ones
            del self.unseen[:500]
        self.recent.append(event)
        if event.kind == EventKind.AGENT_CONFIG_UPDATED and event.principal_id == self.agent_id:
            self.config_changed = True
        self._wake.set()

    def take_unseen(self) -> list[Event]:
        out, self.unseen = self.unseen, []
        return out


class EventBus:
    """Routes each committed event to the mailboxes of the agents it concerns."""

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self.mailboxes: dict[str, Mailbox] = {}
        self._settled = anyio.Event()

    def settled(self) -> anyio.Event:
        """An event set at the next settlement of any LLM call (or change of the limit)."""
        if self._settled.is_set():
            self._settled = anyio.Event()
        return self._settled

    def mailbox(self, agent_id: str) -> Mailbox:
        box = self.mailboxes.get(agent_id)
        if box is None:
            box = self.mailboxes[agent_id] = Mailbox(agent_id, self.keep)
        return box

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind in _BUDGET_MOVES:
                self._settled.set()
            if event.kind in _NOT_NEWS:
                continue
            if event.principal_id is None and event.counterparty_id is None:
                targets: Iterable[Mailbox] = self.mailboxes.values()  # the whole world's news
            else:
                ids = {event.principal_id, event.counterparty_id, event.actor_id}
                targets = [self.mailboxes[i] for i in ids if i in self.mailboxes]
            for box in targets:
                box.deliver(event)

    def poke_all(self) -> None:
        for box in self.mailboxes.values():
            box.poke()
