"""Robonomics throughput: flow-ticks per second with 1, 100 and 10,000 robots at once.

    .venv/bin/python benchmarks/robonomics.py [--robots 1 100 10000] [--ticks 40]

Each robot has its own Oracle (so all of them run the TokenTorq loop at once: a
ProductionStartFlag, a TokenTorqAuth, a DrainRequest, a TokenTorqDrain for some ticks, then
a TorqFountain), all bound to one agent so that Isaac mints every tick. The loop runs for
``--ticks`` ticks twice in the same process:

- **in memory** (the baseline): ``Robonomics.tick()`` only;
- **saved**: each tick is also written to a real SQLite ledger (WAL, ``synchronous=FULL``)
  as the runtime does: the mints through the kernel, then the changed actors and flows and
  the log lines in one transaction.

A flow-tick is one flow's ``tick()``. Reported: flow-ticks per second for both, the ratio
saved / in memory, and the share of the saved run's time spent writing state.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from agent_ecology.config import parse_settings
from agent_ecology.robonomics.setup import Loop, world_from
from agent_ecology.robonomics.store import save
from agent_ecology.world import open_world


def settings_for(robots: int, db: Path) -> Any:
    return parse_settings(
        {
            "world": {"database": str(db)},
            "agents": [{"id": "alice"}],
            "robonomics": {
                "ticks_per_step": 4,
                "giskard": {"token_torq_capacity": 2.5 * robots},
                "tasks": {"weld": {"kind": "complex", "complexity": 1.0, "ticks": 40}},
                "oracles": [{"name": f"o{i}", "task": "weld"} for i in range(robots)],
                "robots": [
                    {"name": f"r{i}", "oracle": f"o{i}", "agent": "alice"} for i in range(robots)
                ],
                "log_path": str(db.parent / "flow_logs.txt"),
            },
        }
    )


def in_memory(robots: int, ticks: int) -> tuple[int, float]:
    world = world_from(settings_for(robots, Path("unused.db")).robonomics)
    world.start()
    flow_ticks, started = 0, time.perf_counter()
    for _ in range(ticks):
        flow_ticks += world.tick().flow_ticks
    return flow_ticks, time.perf_counter() - started


async def saved(robots: int, ticks: int) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(robots, Path(tmp) / "world.db")
        ledger, _ = await open_world(settings)
        try:
            loop = Loop(ledger, settings)
            await loop.boot()
            world = loop.world
            assert world is not None
            flow_ticks, engine, writing = 0, 0.0, 0.0
            for _ in range(ticks):
                started = time.perf_counter()
                report = world.tick()
                done = time.perf_counter()
                await save(ledger, world, report, authority=loop.authority, log_path=loop.log_file)
                writing += time.perf_counter() - done
                engine += done - started
                flow_ticks += report.flow_ticks
        finally:
            await ledger.close()
    return flow_ticks, engine + writing, writing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, nargs="+", default=[1, 100, 10_000])
    parser.add_argument("--ticks", type=int, default=40)
    args = parser.parse_args()
    header = (
        f"{'robots':>7} | {'flow-ticks':>10} | {'in memory /s':>12} | {'saved /s':>10} |"
        f" {'saved / mem':>11} | {'writing share':>13}"
    )
    print(header)
    print("-" * len(header))
    for robots in args.robots:
        n_mem, t_mem = in_memory(robots, args.ticks)
        n_saved, t_saved, t_write = asyncio.run(saved(robots, args.ticks))
        assert n_mem == n_saved, "the two runs must do the same work"
        mem_rate, saved_rate = n_mem / t_mem, n_saved / t_saved
        print(
            f"{robots:>7} | {n_mem:>10,} | {mem_rate:>12,.0f} | {saved_rate:>10,.0f} |"
            f" {saved_rate / mem_rate:>11.3f} | {t_write / t_saved:>12.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
