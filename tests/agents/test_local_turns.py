"""Agents thinking on the local model: what each turn is charged, and no dollars."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent_ecology.agents import AgentState
from agent_ecology.llm import Completion, CompletionRequest, ScriptedProvider, Usage
from agent_ecology.llm.local import LocalProvider
from tests.agents.world import running_world, world_settings

pytestmark = pytest.mark.anyio

LOCAL = {
    "provider": "local",
    "model": "test-model",
    "local": {"think_tokens": 4, "free_tokens": 8, "context_tokens": 32, "batch_window": 0.05},
}
FLOWS = {
    "stock": {"disk": {"total": 3000, "unit": "bytes"}},
    "flow": {
        "compute": {"rate": 10, "capacity": 1000, "unit": "cpu_seconds"},
        "llm_rate": {"rate": 10, "capacity": 100_000, "unit": "tokens"},
    },
}


def turn_events(db: Path) -> dict[str, list[dict[str, object]]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT principal_id, details FROM events WHERE kind = 'turn' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, list[dict[str, object]]] = {}
    for agent, details in rows:
        out.setdefault(agent, []).append(json.loads(details))
    return out


async def test_local_turns_are_charged_their_tokens_and_their_share_of_each_batch(
    tmp_path: Path,
) -> None:
    settings = world_settings(tmp_path, llm=LOCAL, resources=FLOWS)
    provider = LocalProvider.from_settings(settings.llm.local)
    async with running_world(settings, provider) as world:
        await world.until(
            lambda: all(world.turns(a) >= 3 for a in ("alice", "bob", "carol")),
            "three turns each",
            limit=60,
        )
    events = turn_events(tmp_path / "world.db")
    batches = list(provider.batcher.batches)
    assert any(len(b.rows) > 1 for b in batches)  # the agents shared batches
    for agent in ("alice", "bob", "carol"):
        rows = [r for b in batches for r in b.rows if r.agent_id == agent]
        turns = events[agent]
        assert len(turns) >= 3 and 0 <= len(rows) - len(turns) <= 1  # one may be unrecorded
        for row, turn in zip(rows, turns, strict=False):
            charges = turn["charges"]
            assert isinstance(charges, dict)
            assert charges["llm_rate"] == row.tokens  # every token the row went through
            assert turn["model_seconds"] == row.seconds > 0  # its share of the batch
            own_cpu = charges["compute"] - row.seconds  # plus the turn's own CPU time
            assert 0 <= own_cpu < 0.5
    for batch in batches:  # the shares add up to each batch's measured time
        assert sum(r.seconds for r in batch.rows) == pytest.approx(batch.seconds)
    assert world.report is not None and world.report.spent_nd == 0  # no dollars
    conn = sqlite3.connect(tmp_path / "world.db")
    try:
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone() == (0,)
    finally:
        conn.close()


async def test_a_completions_model_seconds_are_charged_to_compute(tmp_path: Path) -> None:
    # The accounting on its own, with the model's measurement given: 2.5 s and 300 tokens.
    def answer(request: CompletionRequest) -> Completion:
        return Completion(
            '{"action": "sleep", "seconds": 3600}',
            Usage(200, 100),
            "local",
            compute_seconds=2.5,
        )

    settings = world_settings(tmp_path, resources=FLOWS, agents=[{"id": "alice"}])
    async with running_world(settings, ScriptedProvider(default=answer)) as world:
        await world.until(lambda: world.state("alice") is AgentState.ASLEEP, "alice asleep")
    (turn,) = turn_events(tmp_path / "world.db")["alice"]
    charges = turn["charges"]
    assert isinstance(charges, dict)
    assert charges["llm_rate"] == 300 and turn["model_seconds"] == 2.5
    assert 2.5 <= charges["compute"] < 3.0
