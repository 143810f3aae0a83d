"""Running a small world in a test: a Runtime on a manual clock with a scripted provider."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from agent_ecology.agents import AgentState
from agent_ecology.clock import Clock, ManualClock
from agent_ecology.config import Settings, parse_settings
from agent_ecology.llm import Provider
from agent_ecology.runtime import RunReport, Runtime

T0 = 1_000_000.0


def world_settings(tmp_path: Path, **sections: Any) -> Settings:
    """Settings for a test world in ``tmp_path``; ``sections`` replace config.yaml sections."""
    data: dict[str, Any] = {
        "world": {"database": str(tmp_path / "world.db"), "genesis": str(tmp_path / "genesis")},
        "resources": {
            "stock": {"disk": {"total": 3000, "unit": "bytes"}},
            "flow": {
                "compute": {"rate": 10, "capacity": 100, "unit": "cpu_seconds"},
                "llm_rate": {"rate": 10, "capacity": 100, "unit": "tokens"},
            },
        },
        "agents": [{"id": "alice"}, {"id": "bob"}, {"id": "carol"}],
        "llm": {"provider": "baseline", "model": "test-model"},
        "agent_loop": {"failure_backoff": 1.0},
        "run": {"grace": 0.5},
    }
    data.update(sections)
    return parse_settings(data)


class TestWorld:
    """A runtime running in the background of a test."""

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.runtime = runtime
        self._clock = clock
        self.report: RunReport | None = None

    @property
    def clock(self) -> ManualClock:
        """The manual clock the world runs on, for the test to move."""
        assert isinstance(self._clock, ManualClock), "this world runs on a real clock"
        return self._clock

    @property
    def ledger(self) -> Any:
        assert self.runtime.ledger is not None
        return self.runtime.ledger

    def state(self, agent: str) -> AgentState:
        return self.runtime.loops[agent].state

    def turns(self, agent: str) -> int:
        return self.runtime.loops[agent].stats.turns

    async def settle(self) -> None:
        """Let every task run until all of them wait, to check that something did NOT happen.

        The ledger's threads answer through the event loop, so "every task is blocked" can
        be momentary; this waits for it to hold across several hops to those threads.
        """
        for _ in range(20):
            await wait_all_tasks_blocked()
            await self.ledger.api_budget()  # a round trip through the reader thread
            await wait_all_tasks_blocked()

    async def until(self, condition: Callable[[], object], what: str, limit: float = 10.0) -> None:
        """Wait until ``condition()`` holds, looking again after each change the runtime tells.

        The runtime tells a change when an agent's state, turn count or failure count moves,
        so ``condition`` must become true with (or before) one of those: what a turn does
        (a provider call, a row it writes) is followed by the end of that turn. ``limit``
        (wall-clock seconds) only turns a hang into a failure that names ``what``.
        """
        with anyio.move_on_after(limit) as guard:
            while not condition():
                # No await between the look and the wait: a change cannot fall between them.
                await self.runtime.wait_for_change()
        if guard.cancelled_caught:
            pytest.fail(f"{what or 'the condition'}: still not so after {limit:g} s")


class LogSeen(logging.Handler):
    """Tells a test when a record whose message contains ``text`` has been logged.

    A log line is no change the runtime tells (:meth:`TestWorld.until` would not look
    again), so a test that waits for one waits on this. Records may come from any thread.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self._loop = asyncio.get_running_loop()
        self._seen = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self._loop.call_soon_threadsafe(self._seen.set)

    async def wait(self, limit: float = 10.0) -> None:
        """Return once such a record was logged; fail after ``limit`` wall-clock seconds."""
        with anyio.move_on_after(limit):
            await self._seen.wait()
            return
        pytest.fail(f"no log record containing {self.text!r} after {limit:g} s")


@contextmanager
def log_seen(text: str, logger: str = "") -> Iterator[LogSeen]:
    """Watch ``logger`` (and the loggers below it) for a record containing ``text``."""
    seen = LogSeen(text)
    log = logging.getLogger(logger)
    log.addHandler(seen)
    try:
        yield seen
    finally:
        log.removeHandler(seen)


@asynccontextmanager
async def running_world(
    settings: Settings,
    provider: Provider,
    *,
    billed: bool = False,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[TestWorld]:
    clock = clock or ManualClock(T0)
    runtime = Runtime(
        settings,
        provider=provider,
        billed=billed,
        clock=clock,
        out=io.StringIO(),
        progress=False,
        handle_signals=False,
        environ=env or {},
    )
    world = TestWorld(runtime, clock)
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            world.report = await runtime.run(duration=None)

        tg.start_soon(run)
        with anyio.fail_after(10):
            await runtime.started.wait()
        try:
            yield world
        finally:
            runtime.stop("the test is over")
