"""Shards in one process: two runtimes on one database, each with part of the roster, the
leader lease deciding who runs the world's duties, events crossing between them."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from agent_ecology.clock import SystemClock
from agent_ecology.config import Settings
from agent_ecology.llm import ScriptedProvider
from agent_ecology.runtime import Runtime
from agent_ecology.world import open_world

from .world import world_settings

NOOP = '{"action": "noop"}'
PAY_ALICE = json.dumps(
    {
        "action": "invoke",
        "artifact_id": "genesis_ledger",
        "method": "transfer",
        "args": {"to": "alice", "amount": 7},
    }
)


def _settings(tmp_path: Path, **run: float) -> Settings:
    (tmp_path / "genesis").mkdir(exist_ok=True)
    return world_settings(
        tmp_path,
        agents=[{"id": "alice"}, {"id": "bob"}, {"id": "carol"}],
        run={"grace": 0.5, "metrics_interval": 0.5, **run},
        oracle={"interval": 0.5},
    )


@asynccontextmanager
async def shards(
    settings: Settings, providers: list[ScriptedProvider]
) -> AsyncIterator[list[Runtime]]:
    ledger, _ = await open_world(settings)  # made once, as `run --shards` does
    await ledger.close()
    n = len(providers)
    runtimes = [
        Runtime(
            settings,
            provider=provider,
            billed=False,
            clock=SystemClock(),
            out=io.StringIO(),
            progress=False,
            handle_signals=False,
            shard=(k, n),
        )
        for k, provider in enumerate(providers)
    ]
    async with anyio.create_task_group() as tg:
        for runtime in runtimes:
            # One after the other: opening runs Alembic, whose context is one per process.
            tg.start_soon(runtime.run, None)
            with anyio.fail_after(20):
                await runtime.started.wait()
        try:
            yield runtimes
        finally:
            for runtime in runtimes:
                runtime.stop("the test is over")


def _events_seen_by(provider: ScriptedProvider, agent: str) -> list[str]:
    """The 'recent events' part of each prompt ``agent`` was sent."""
    seen = []
    for request in provider.requests:
        if request.agent_id != agent:
            continue
        text = "\n".join(m.content for m in request.messages)
        _, found, events = text.partition("Recent events that concern you")
        if found:
            seen.append(events)
    return seen


def _said(runtime: Runtime) -> str:
    assert isinstance(runtime.out, io.StringIO)
    return runtime.out.getvalue()


def _told(provider: ScriptedProvider, agent: str, *words: str) -> bool:
    return any(all(w in events for w in words) for events in _events_seen_by(provider, agent))


async def test_shards_split_the_roster_share_events_and_one_leads(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    here, there = ScriptedProvider(default=NOOP), ScriptedProvider([PAY_ALICE], default=NOOP)
    async with shards(settings, [here, there]) as (first, second):
        assert set(first.loops) == {"alice", "carol"} and set(second.loops) == {"bob"}
        # bob (shard 1) pays alice (shard 0): alice's next prompts tell her, so the event
        # crossed from one process's ledger writer to the other's event bus.
        with anyio.fail_after(10):
            while not _told(here, "alice", '"transfer"', "bob"):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        with anyio.fail_after(10):
            while not (first.leading.is_set() or second.leading.is_set()):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        assert first.leading.is_set() != second.leading.is_set()  # one leader, not two
        leader = first if first.leading.is_set() else second
        # The database says so too: the lease is the leader's, under its own name.
        with contextlib.closing(sqlite3.connect(tmp_path / "world.db")) as conn:
            holders = conn.execute("SELECT name, holder FROM leases").fetchall()
        assert holders == [("leader", leader.holder)]
        # Each agent is run by one shard only: no other shard's provider saw it.
        assert {r.agent_id for r in here.requests} == {"alice", "carol"}
        assert {r.agent_id for r in there.requests} == {"bob"}
    outputs = [_said(first), _said(second)]
    assert sum("leads: it runs the oracle" in out for out in outputs) == 1, outputs
    assert all("scrip: conserved" in out for out in outputs), outputs


async def test_the_leader_lease_passes_on_when_its_holder_stops(tmp_path: Path) -> None:
    settings = _settings(tmp_path, lease_seconds=0.6)
    async with shards(settings, [ScriptedProvider(default=NOOP)] * 2) as (first, second):
        with anyio.fail_after(10):
            while not (first.leading.is_set() or second.leading.is_set()):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        leader, other = (first, second) if first.leading.is_set() else (second, first)
        await anyio.sleep(1.0)  # a few renewals: the other shard is refused meanwhile
        assert not other.leading.is_set()
        leader.stop("the leader goes away")
        with anyio.fail_after(5):
            await other.leading.wait()
    assert "lost the leader lease" not in _said(leader)


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0)])
def test_a_shard_outside_its_count_is_refused(tmp_path: Path, shard: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="K/N needs 0 <= K < N"):
        Runtime(_settings(tmp_path), provider=ScriptedProvider(), shard=shard)
