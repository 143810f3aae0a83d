"""End to end: baseline agents trade for two and a half minutes of simulated time through every
market artifact, and the invariants hold at the end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from anyio import wait_all_tasks_blocked

from agent_ecology.llm import ZeroIntelligencePolicy
from tests.agents.world import running_world, world_settings


async def test_baseline_agents_use_every_market_artifact(tmp_path: Path) -> None:
    settings = world_settings(
        tmp_path,
        agents=[{"id": a, "sleep_policy": {"between_turns": 1}} for a in ("alice", "bob", "carol")],
        oracle={"interval": 30, "mint_per_point": 5},
        resources={
            "stock": {"disk": {"total": 300_000, "unit": "bytes"}},
            "flow": {"compute": {"rate": 10, "capacity": 100}},
        },
    )
    async with running_world(settings, ZeroIntelligencePolicy(seed=7)) as world:
        for _ in range(150):  # two and a half minutes, a second at a time
            world.clock.advance(1.0)
            for _ in range(3):
                await wait_all_tasks_blocked()
                await world.ledger.api_budget()  # let the ledger's threads answer
    conn = sqlite3.connect(tmp_path / "world.db")
    try:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM events")}
        used = {
            "genesis_ledger": "transfer",
            "genesis_escrow": "escrow_listed",
            "genesis_rights_registry": "config_right_tokenized",
            "genesis_oracle": "oracle_bid",
            "genesis_debt": "debt_proposed",
        }
        assert {a for a, kind in used.items() if kind in kinds} == set(used), kinds
        assert "oracle_resolved" in kinds
        ((conserved,),) = conn.execute("SELECT conserved FROM scrip_totals").fetchall()
        assert conserved == 1
        assert conn.execute("SELECT count(*) FROM principals WHERE scrip < 0").fetchone() == (0,)
        held = {
            r[0] for r in conn.execute("SELECT id FROM artifacts WHERE owner_id = 'genesis_escrow'")
        }
        active = {
            r[0]
            for r in conn.execute("SELECT artifact_id FROM escrow_listings WHERE status = 'active'")
        }
        assert held == active
        ((oracle,),) = conn.execute("SELECT scrip FROM principals WHERE id = 'genesis_oracle'")
        ((bids,),) = conn.execute(
            "SELECT coalesce(sum(amount), 0) FROM oracle_bids WHERE status = 'active'"
        )
        assert oracle == bids
    finally:
        conn.close()
