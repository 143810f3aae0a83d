"""One agent's damaged or tampered stored state affects only that agent, with the reason logged."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from agent_ecology.clock import SystemClock
from agent_ecology.llm import ScriptedProvider
from tests.agents.world import log_seen, running_world, world_settings

NOTE = '{"action": "note", "text": "remember this"}'


async def test_tampered_rows_affect_only_their_agent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = world_settings(
        tmp_path, agents=[{"id": a} for a in ("alice", "bob", "carol", "dave")]
    )
    async with running_world(
        settings, ScriptedProvider(default=NOTE), clock=SystemClock()
    ) as world:
        await world.until(
            lambda: all(world.turns(a) >= 2 for a in ("alice", "bob", "carol", "dave")), "turns"
        )
    db = tmp_path / "world.db"
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "UPDATE agent_state SET config = json_set(config, '$.sleep_policy.between_turns',"
            " 'abc') WHERE agent_id = 'alice'"
        )
        conn.execute("UPDATE agent_state SET last_result = 'not json {' WHERE agent_id = 'bob'")
        conn.execute(
            "UPDATE agent_notes SET text = CAST(x'fffe41' AS TEXT) WHERE agent_id = 'carol'"
        )
        conn.execute(
            "UPDATE agent_state SET sleep = '{\"since\": \"abc\"}' WHERE agent_id = 'dave'"
        )
        conn.commit()
    finally:
        conn.close()
    caplog.set_level(logging.WARNING)
    provider = ScriptedProvider(default=NOTE)
    async with running_world(settings, provider, clock=SystemClock()) as world:
        await world.until(
            lambda: all(world.turns(a) >= 2 for a in ("alice", "bob", "carol")), "turns again"
        )
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "alice" in logged and "between_turns 'abc'" in logged
    assert "bob: its stored last result is not JSON" in logged
    assert "carol: its notes cannot be read" in logged
    assert "agent dave cannot start from its stored state" in logged  # the others ran
    assert world.report is not None and world.report.conserved


async def test_a_metrics_window_over_impossible_token_counts_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls reporting 10^19 tokens: the window's sums leave 64 bits; it is skipped with a
    warning and the run goes on (it used to end in an ExceptionGroup)."""
    from agent_ecology.llm import Completion, CompletionRequest, Usage

    def answer(request: CompletionRequest) -> Completion:
        return Completion(NOTE, Usage(10**19, 0), request.model)

    settings = world_settings(tmp_path, run={"grace": 0.5, "metrics_interval": 0.1})
    caplog.set_level(logging.WARNING, logger="agent_ecology.runtime")
    with log_seen("metrics window skipped", logger="agent_ecology.runtime") as skipped:
        async with running_world(
            settings, ScriptedProvider(default=answer), clock=SystemClock()
        ) as world:
            await world.until(lambda: world.turns("alice") >= 1, "a turn")
            await skipped.wait()
            assert not world.runtime.stop_event.is_set()
    assert world.report is not None and world.report.reason == "the test is over"
