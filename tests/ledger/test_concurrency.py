from __future__ import annotations

import random
from pathlib import Path

import anyio

from agent_ecology.ledger import InsufficientScrip, Ledger, ops

from ..conftest import populate

AGENTS = [f"agent{i:02d}" for i in range(20)]


async def test_100_concurrent_tasks_conserve_scrip(db_path: Path) -> None:
    ledger = await Ledger.open(db_path)
    try:
        await populate(ledger, scrip=0)
        await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
        for agent in AGENTS:
            await ledger.submit(ops.EnsurePrincipal(principal_id=agent))
            await ledger.submit(ops.Mint(dst=agent, amount=50, authority="world"))
        refused = 0

        async def trader(seed: int) -> None:
            nonlocal refused
            rng = random.Random(seed)
            for _ in range(30):
                src, dst = rng.sample(AGENTS, 2)
                try:
                    await ledger.submit(ops.Transfer(src=src, dst=dst, amount=rng.randint(1, 40)))
                except InsufficientScrip:
                    refused += 1

        async with anyio.create_task_group() as tg:
            for seed in range(100):
                tg.start_soon(trader, seed)

        balances = {p.id: p.scrip for p in await ledger.principals() if p.id in AGENTS}
        assert all(b >= 0 for b in balances.values())
        assert sum(balances.values()) == 50 * len(AGENTS)
        supply = await ledger.supply()
        assert supply.is_conserved and supply.minted == 50 * len(AGENTS)
        transfers = await ledger.events(kind="transfer", limit=10_000)
        assert len(transfers) + refused == 100 * 30
        assert refused > 0  # the race for scarce scrip really happened
        # Concurrency became batching: many requests shared a commit.
        assert ledger.writer_stats.largest_batch > 1
        assert ledger.writer_stats.batches < ledger.writer_stats.operations
    finally:
        await ledger.close()
