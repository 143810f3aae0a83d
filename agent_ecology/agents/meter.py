"""Measuring the CPU time one agent's turn costs, although all agents share one thread.

Agents run as tasks on one event loop, so a plain CPU clock read before and after a turn
would count every other agent that ran in between. :class:`CpuMeter` wraps the turn's
coroutine and reads the thread's CPU clock around each step the event loop gives it: the sum
is the CPU this turn itself used on the loop thread (context, parsing, acting, and the
client-side work of its LLM call). It is what the ``compute`` bucket is charged.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["CpuMeter"]

T = TypeVar("T")


class CpuMeter:
    """Accumulates the thread CPU time of the coroutines it runs."""

    def __init__(self) -> None:
        self.ns = 0

    @property
    def seconds(self) -> float:
        return self.ns / 1e9

    def run(self, coro: Coroutine[Any, Any, T]) -> _Metered[T]:
        """Await this instead of ``coro`` to have its CPU time counted."""
        return _Metered(coro, self)


class _Metered(Generic[T]):
    def __init__(self, coro: Coroutine[Any, Any, T], meter: CpuMeter) -> None:
        self._coro = coro
        self._meter = meter

    def __await__(self) -> Generator[Any, Any, T]:
        coro, meter, clock = self._coro, self._meter, time.thread_time_ns
        value: Any = None
        error: BaseException | None = None
        while True:
            start = clock()
            try:
                if error is not None:
                    pending, error = error, None
                    yielded = coro.throw(pending)
                else:
                    yielded = coro.send(value)
            except StopIteration as stop:
                meter.ns += clock() - start
                return stop.value  # type: ignore[no-any-return]
            except BaseException:
                meter.ns += clock() - start
                raise
            meter.ns += clock() - start
            try:
                value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation and friends go into the coroutine
                error, value = exc, None
