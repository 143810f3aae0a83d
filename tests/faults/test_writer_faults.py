"""The writer fails during reserve and settle: no reservation stays open, the world moves on."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from agent_ecology.clock import SystemClock
from agent_ecology.config import ModelPrice
from agent_ecology.ledger import NANODOLLARS, Ledger, LedgerUnavailable, ops
from agent_ecology.llm import (
    Budget,
    CompletionRequest,
    LLMCaller,
    Message,
    RetryPolicy,
    ScriptedProvider,
)
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider
from tests.agents.world import running_world, world_settings
from tests.conftest import populate
from tests.faults.lock import open_reservations, write_lock_held
from tests.llm.chat_server import ChatServer, Reply, Status

KEY = "sk-faults"
PRICE = ModelPrice(input=1.0, output=1.0, max_output_tokens=100)


@pytest.fixture
async def busy_ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """A ledger whose writes give up after 100 ms of another program's lock."""
    ledger = await Ledger.open(tmp_path / "world.db", busy_timeout_ms=100)
    try:
        await populate(ledger)
        await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
        yield ledger
    finally:
        await ledger.close()


def _busy(tmp_path: Path, seconds: float) -> dict[str, object]:
    """A test world's ``world`` section whose writes give up after ``seconds`` of a lock."""
    return {
        "database": str(tmp_path / "world.db"),
        "genesis": str(tmp_path / "genesis"),
        "busy_timeout": seconds,
    }


def _request() -> CompletionRequest:
    return CompletionRequest("alice", "m", (Message("user", "hello"),), 50)


def _caller(ledger: Ledger, server: ChatServer) -> LLMCaller:
    provider = OpenAICompatibleProvider(api_key=KEY, base_url=server.base_url, timeout=10)
    return LLMCaller(
        provider,
        ledger,
        clock=SystemClock(),
        budget=Budget({"m": PRICE}, billed=True),
        retry=RetryPolicy(max_retries=0),
    )


async def test_a_settle_the_database_refuses_is_retried_until_written(
    busy_ledger: Ledger,
) -> None:
    with ChatServer(default=Reply("ok", delay=0.3), api_key=KEY) as server:
        caller = _caller(busy_ledger, server)
        done: list[float] = []

        async def think() -> None:
            thought = await caller.think(_request())
            assert thought.completion is not None
            done.append(time.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(think)
            for _ in range(500):  # until the call is reserved and sent
                if server.request_count:
                    break
                await anyio.sleep(0.01)
            assert open_reservations(busy_ledger.path) != []
            with write_lock_held(busy_ledger.path):
                await anyio.sleep(1.5)  # the answer comes at 0.3 s; its settle fails 10+ times
                assert done == [] and caller.in_flight == 1
                released = time.monotonic()
        await caller.provider.aclose()
    assert done[0] >= released
    assert open_reservations(busy_ledger.path) == []
    budget = await busy_ledger.api_budget()
    assert budget.reserved_nd == 0 and budget.spent_nd > 0
    assert [c.status for c in await busy_ledger.llm_calls("alice")] == ["settled"]


async def test_a_reservation_the_database_refuses_sends_nothing_and_holds_nothing(
    busy_ledger: Ledger,
) -> None:
    with ChatServer(default=Reply("ok"), api_key=KEY) as server:
        caller = _caller(busy_ledger, server)
        with write_lock_held(busy_ledger.path), pytest.raises(LedgerUnavailable, match="database"):
            await caller.think(_request())
        assert server.request_count == 0
        assert (await busy_ledger.api_budget()).reserved_nd == 0
        assert caller.in_flight == 0
        thought = await caller.think(_request())  # the lock is gone: thinking works again
        assert thought.completion is not None
        await caller.provider.aclose()
    assert open_reservations(busy_ledger.path) == []


async def test_the_world_moves_on_after_the_database_was_locked_past_its_busy_timeout(
    tmp_path: Path,
) -> None:
    """The red team's stall: calls in flight while another program holds the lock longer
    than the busy timeout; a budget small enough that leaked reservations would hold it all."""
    with ChatServer(default=Reply('{"action": "noop"}', delay=0.3), api_key=KEY) as server:
        settings = world_settings(
            tmp_path,
            world=_busy(tmp_path, 0.2),
            agents=[{"id": f"a{i}", "max_tokens": 50} for i in range(5)],
            llm={
                "provider": "openai",
                "base_url": server.base_url,
                "model": "m",
                # A worst case of about a cent a call: five leaked reservations hold it all.
                "max_api_cost": 0.05,
                "prices": {"m": {"input": 1.0, "output": 1.0, "max_output_tokens": 100}},
                "max_retries": 0,
            },
            agent_loop={"failure_backoff": 0.2, "failure_backoff_max": 1.0},
        )
        provider = OpenAICompatibleProvider(api_key=KEY, base_url=server.base_url, timeout=10)
        async with running_world(settings, provider, billed=True, clock=SystemClock()) as world:
            await world.until(lambda: server.request_count >= 5, "calls in flight", limit=15)
            with write_lock_held(tmp_path / "world.db"):
                await anyio.sleep(2.0)
            before = server.request_count
            await world.until(
                lambda: server.request_count >= before + 15, "calls after the lock", limit=20
            )
        assert world.report is not None
    assert open_reservations(tmp_path / "world.db") == []  # nor any left when the run ended
    conn = sqlite3.connect(tmp_path / "world.db")
    try:
        (reserved,) = conn.execute("SELECT reserved_nd FROM api_budget").fetchone()
    finally:
        conn.close()
    assert reserved == 0


async def test_a_database_that_refuses_writes_slows_the_background_clock_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The red team's full disk: 11,959 'trying again' warnings in 20 s. Now: one warning
    for the spell, one when it ends, and the tries back off instead of spinning."""
    settings = world_settings(
        tmp_path,
        world=_busy(tmp_path, 0.05),
        run={"grace": 0.5, "metrics_interval": 0.2},
    )
    caplog.set_level(logging.WARNING, logger="agent_ecology.runtime")
    async with running_world(
        settings, ScriptedProvider(default='{"action": "noop"}'), clock=SystemClock()
    ) as world:
        await world.until(lambda: world.turns("alice") >= 1, "a turn")
        with write_lock_held(tmp_path / "world.db"):
            await anyio.sleep(3.0)
        await anyio.sleep(1.5)  # the clock writes again
    clock_lines = [r.getMessage() for r in caplog.records if r.name == "agent_ecology.runtime"]
    trying = [m for m in clock_lines if "trying again" in m]
    assert len(trying) == 1, clock_lines
    assert any("writing again after" in m for m in clock_lines), clock_lines
    (tries,) = [int(m.split("after ")[1].split()[0]) for m in clock_lines if "writing again" in m]
    assert tries <= 8  # backing off: 1, 2, 4 ... seconds (capped by the interval)
    conn = sqlite3.connect(tmp_path / "world.db")
    try:
        (windows,) = conn.execute(
            "SELECT count(DISTINCT window_start) FROM metric_windows"
        ).fetchone()
    finally:
        conn.close()
    assert windows >= 2


async def test_a_server_error_text_that_is_not_unicode_still_settles_its_call(
    busy_ledger: Ledger,
) -> None:
    bad = {"error": {"message": "bad \ud800 text", "type": "server_error"}}
    with ChatServer(default=Status(500, body=bad), api_key=KEY) as server:
        caller = _caller(busy_ledger, server)
        thought = await caller.think(_request())
        await caller.provider.aclose()
    assert thought.completion is None and thought.error is not None
    assert open_reservations(busy_ledger.path) == []
    assert (await busy_ledger.api_budget()).reserved_nd == 0
    (call,) = await busy_ledger.llm_calls("alice")
    assert call.status == "failed" and call.error is not None and "bad ? text" in call.error
