"""Clocks: the one place the runtime asks what time it is.

Time is injected everywhere it matters (token buckets, event stamps) so that tests and
replays can drive it. Times are Unix seconds as floats.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Anything that can tell the current time in Unix seconds."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock (``time.time()``)."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to; safe to read from the ledger's writer thread."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got advance({seconds})")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (which must not be in this clock's past)."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock only moves forward; {when} < {self._now}")
            self._now = float(when)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"
