"""Clocks: the one place the runtime asks what time it is, and waits for a time.

Time is injected everywhere it matters (token buckets, event stamps, sleeping agents, debt
waits) so that tests and replays can drive it. Times are Unix seconds as floats.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from typing import Protocol

import anyio

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Anything that can tell the current time in Unix seconds and wait for a later one."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float, *, wake: anyio.Event | None = None) -> None:
        """Return once ``now() >= deadline``, or earlier when ``wake`` is set.

        ``deadline`` may be ``math.inf`` (then only ``wake`` ends the wait).
        """
        ...


class SystemClock:
    """The wall clock (``time.time()``)."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float, *, wake: anyio.Event | None = None) -> None:
        delay = max(0.0, deadline - time.time())
        if wake is None:
            await anyio.sleep(delay)
            return
        with anyio.move_on_after(delay):
            await wake.wait()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to.

    ``now()`` is safe to read from any thread (the ledger's writer reads it). Sleepers are
    woken by :meth:`advance` and :meth:`set`, which must then be called from the event loop
    that the sleepers run on (as tests do).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    def now(self) -> float:
        with self._lock:
            return self._now

    async def sleep_until(self, deadline: float, *, wake: anyio.Event | None = None) -> None:
        timer = anyio.Event()
        entry = None
        with self._lock:
            due = deadline <= self._now
            if not due and deadline != math.inf:
                entry = (deadline, next(self._order), timer)
                heapq.heappush(self._sleepers, entry)
        if due:
            await anyio.lowlevel.checkpoint()
            return
        try:
            if wake is None:
                await timer.wait()
            else:
                async with anyio.create_task_group() as tg:

                    async def first(event: anyio.Event) -> None:
                        await event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(first, timer)
                    tg.start_soon(first, wake)
        finally:
            if entry is not None:  # woken early or cancelled: stop counting this sleeper
                with self._lock:
                    if entry in self._sleepers:
                        self._sleepers.remove(entry)
                        heapq.heapify(self._sleepers)

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting for a later time."""
        with self._lock:
            return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """The earliest time someone is waiting for, if anyone is."""
        with self._lock:
            return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0), wake who is due, return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got advance({seconds})")
        with self._lock:
            self._now += seconds
            now = self._now
        self._wake()
        return now

    def set(self, when: float) -> None:
        """Jump to ``when`` (which must not be in this clock's past) and wake who is due."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock only moves forward; {when} < {self._now}")
            self._now = float(when)
        self._wake()

    def rewind(self, when: float) -> None:
        """Step back to ``when``, as NTP may step a wall clock back; sleepers keep their
        deadlines (in this clock's time), so they sleep the longer."""
        with self._lock:
            self._now = float(when)

    def _wake(self) -> None:
        due: list[anyio.Event] = []
        with self._lock:
            while self._sleepers and self._sleepers[0][0] <= self._now:
                due.append(heapq.heappop(self._sleepers)[2])
        for event in due:
            event.set()

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"
