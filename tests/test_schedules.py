"""The robonomics schedule on a manual clock: ticks at their period, failures never end it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio import wait_all_tasks_blocked

from agent_ecology.clock import ManualClock
from agent_ecology.schedules import RobonomicsTicks


class FakeLoop:
    """Ticks when told; a scripted failure first, optionally losing its world."""

    def __init__(self, *, fail: int = 0, lose_world: bool = False) -> None:
        self.world: object | None = object()
        self.ticks = 0
        self.fail = fail
        self.lose_world = lose_world

    async def tick(self) -> object:
        if self.fail:
            self.fail -= 1
            if self.lose_world:
                self.world = None
            raise RuntimeError("the flow store is locked")
        self.ticks += 1
        return []


@asynccontextmanager
async def running(
    loop: FakeLoop, period: float
) -> AsyncIterator[tuple[ManualClock, anyio.Event, list[str]]]:
    """RobonomicsTicks over ``loop`` on a manual clock from 0, started and settled. Yields the
    clock, the stop event and what the schedule said; the block ends when the schedule does."""
    clock, stop = ManualClock(0.0), anyio.Event()
    said: list[str] = []
    schedule = RobonomicsTicks(loop, clock, period=period, stop=stop, say=said.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(schedule.run)
        await wait_all_tasks_blocked()
        yield clock, stop, said


async def advance(clock: ManualClock, seconds: float) -> None:
    """Moves the clock, then waits until every task has done what that woke it to do."""
    clock.advance(seconds)
    await wait_all_tasks_blocked()


async def test_ticks_come_once_a_period_and_stop_with_the_run() -> None:
    loop = FakeLoop()
    async with running(loop, period=2.0) as (clock, stop, said):
        await advance(clock, 1.9)
        assert loop.ticks == 0
        await advance(clock, 0.1)
        assert loop.ticks == 1
        await advance(clock, 4.0)  # two periods late: both ticks are made up at once
        assert loop.ticks == 3
        await advance(clock, 1.9)
        assert loop.ticks == 3
        stop.set()
    assert said == []


async def test_a_failed_tick_is_not_the_end_of_the_schedule() -> None:
    loop = FakeLoop(fail=1)
    async with running(loop, period=1.0) as (clock, stop, said):
        for _ in range(3):
            await advance(clock, 1.0)
        assert loop.ticks == 2
        stop.set()
    assert said == []


async def test_a_loop_that_lost_its_world_is_said_and_ticks_no_more() -> None:
    loop = FakeLoop(fail=1, lose_world=True)
    with anyio.fail_after(5):
        async with running(loop, period=1.0) as (clock, _stop, said):
            clock.advance(1.0)  # the failed tick ends the schedule: nobody sets the stop event
    assert said == [
        "robonomics stopped: the flow store is locked (it resumes from its saved state)"
    ]
    assert clock.sleepers == 0
