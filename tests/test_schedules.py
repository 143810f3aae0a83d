"""The robonomics schedule on a manual clock: ticks at their period, failures never end it."""

from __future__ import annotations

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


async def advance(clock: ManualClock, seconds: float) -> None:
    """Moves the clock, then waits until every task has done what that woke it to do."""
    clock.advance(seconds)
    await wait_all_tasks_blocked()


async def test_ticks_come_once_a_period_and_stop_with_the_run() -> None:
    clock, loop = ManualClock(0.0), FakeLoop()
    said: list[str] = []
    stop = anyio.Event()
    schedule = RobonomicsTicks(loop, clock, period=2.0, stop=stop, say=said.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(schedule.run)
        await wait_all_tasks_blocked()
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
    clock, loop = ManualClock(0.0), FakeLoop(fail=1)
    said: list[str] = []
    stop = anyio.Event()
    schedule = RobonomicsTicks(loop, clock, period=1.0, stop=stop, say=said.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(schedule.run)
        await wait_all_tasks_blocked()
        for _ in range(3):
            await advance(clock, 1.0)
        assert loop.ticks == 2
        stop.set()
    assert said == []


async def test_a_loop_that_lost_its_world_is_said_and_ticks_no_more() -> None:
    clock, loop = ManualClock(0.0), FakeLoop(fail=1, lose_world=True)
    said: list[str] = []
    stop = anyio.Event()
    schedule = RobonomicsTicks(loop, clock, period=1.0, stop=stop, say=said.append)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(schedule.run)
            await wait_all_tasks_blocked()
            clock.advance(1.0)
    assert said == [
        "robonomics stopped: the flow store is locked (it resumes from its saved state)"
    ]
    assert clock.sleepers == 0
