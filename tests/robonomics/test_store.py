"""Robonomics in the ecology's database: minting through the kernel, resume mid-loop."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.config import ConfigError, Settings, parse_settings
from agent_ecology.ledger import Ledger
from agent_ecology.robonomics.setup import Loop
from agent_ecology.robonomics.store import saved_log

from ..conftest import populate


def robonomics_settings(db: Path, **overrides: Any) -> Settings:
    section: dict[str, Any] = {
        "ticks_per_step": 4,
        "mint_rate": 2.0,
        "tta_request_data": {"order": 7},
        "giskard": {"token_torq_capacity": 2.5, "min_token_torq_per_complexity": 10.0},
        "tasks": {"weld": {"kind": "complex", "complexity": 1.0, "ticks": 6}},
        "oracles": [{"name": "line", "task": "weld"}],
        "robots": [{"name": "r1", "oracle": "line", "agent": "alice"}],
        "log_path": str(db.parent / "flow_logs.txt"),
    }
    section.update(overrides)
    return parse_settings({"world": {"database": str(db)}, "robonomics": section})


async def test_isaac_mints_the_torq_to_the_bound_agent_through_the_kernel(
    ledger: Ledger, db_path: Path
) -> None:
    loop = Loop(ledger, robonomics_settings(db_path))
    await loop.boot()
    before = await ledger.scrip("alice")
    for _ in range(20):  # through training, then the six ticks of production
        await loop.tick()
    assert loop.world is not None
    robot = loop.world.robots[0]
    assert robot.torq > 0 and robot.experience == {"complex": 1}
    minted = await ledger.scrip("alice") - before
    assert minted == math.floor(robot.torq * 2.0 + 1e-9) and minted > 0
    supply = await ledger.supply()
    assert supply.is_conserved
    mints = [
        int(e.amount or 0)
        for e in await ledger.events(limit=200)
        if e.kind == "mint" and e.op_id is not None and e.op_id.startswith("robonomics:")
    ]
    assert sum(mints) == minted


async def test_an_unknown_agent_is_refused_with_the_key_to_fix(
    ledger: Ledger, db_path: Path
) -> None:
    settings = robonomics_settings(
        db_path, robots=[{"name": "r1", "oracle": "line", "agent": "nobody"}]
    )
    with pytest.raises(ConfigError, match=r"robots\[0\].agent: robot 'r1' is bound to 'nobody'"):
        await Loop(ledger, settings).boot()


async def lines_of(db: Path, clock: ManualClock, ticks: list[int]) -> list[str]:
    """Run the loop in ``db`` for each count of ticks in turn, reopening the database (and a
    fresh engine) between them; the stored flow log."""
    for i, count in enumerate(ticks):
        ledger = await Ledger.open(db, clock=clock)
        try:
            if i == 0:
                await populate(ledger)
            loop = Loop(ledger, robonomics_settings(db))
            await loop.boot()
            assert loop.resumed == (i > 0)
            for _ in range(count):
                await loop.tick()
            log = [f"{ln.tick} {ln.message}" for ln in await saved_log(ledger)]
        finally:
            await ledger.close()
    return log


@pytest.mark.parametrize("stop_after", [0, 2, 5, 7, 11, 14])
async def test_resuming_from_the_database_continues_the_log_exactly(
    tmp_path: Path, migrated_template: Path, clock: ManualClock, stop_after: int
) -> None:
    import shutil

    whole_db, split_db = tmp_path / "a" / "world.db", tmp_path / "b" / "world.db"
    for db in (whole_db, split_db):
        db.parent.mkdir()
        shutil.copyfile(migrated_template, db)
    whole = await lines_of(whole_db, clock, [20])
    split = await lines_of(split_db, clock, [stop_after, 20 - stop_after])
    assert split == whole and len(whole) > 20
    file_lines = (split_db.parent / "flow_logs.txt").read_text().splitlines()
    assert file_lines == [line.split(" ", 1)[1] for line in whole]


async def test_on_resume_the_database_wins_and_differences_are_told(
    ledger: Ledger, db_path: Path
) -> None:
    first = Loop(ledger, robonomics_settings(db_path))
    await first.boot()
    await first.tick()
    changed = robonomics_settings(
        db_path,
        giskard={"token_torq_capacity": 5.0},
        robots=[
            {"name": "r1", "oracle": "line", "agent": "bob"},
            {"name": "r2", "oracle": "line"},
        ],
    )
    again = Loop(ledger, changed)
    await again.boot()
    assert again.resumed and again.world is not None and len(again.world.robots) == 1
    assert again.notes == [
        "robot 'r2' is in config.yaml but not in the saved loop",
        "robot 'r1': saved (agent, oracle) ('alice', 'line'), config.yaml says ('bob', 'line')",
        "giskard.token_torq_capacity: saved 2.5, config.yaml says 5",
        "the saved loop goes on as it is; to apply these, start from a new database",
    ]


async def test_a_flow_log_that_cannot_be_written_does_not_stop_the_loop(
    ledger: Ledger, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_dir = db_path.parent / "logs"
    loop = Loop(ledger, robonomics_settings(db_path, log_path=str(log_dir / "flow.txt")))
    await loop.boot()
    shutil.rmtree(log_dir)  # the folder goes away under a running loop
    await loop.tick()
    assert "cannot append to the flow log" in caplog.text
    assert [ln.tick for ln in await saved_log(ledger, since_tick=1)][:1] == [1]  # the table has it
    folder = Loop(ledger, robonomics_settings(db_path, log_path=str(db_path.parent)))
    with pytest.raises(ConfigError, match="is a folder; give a file path"):
        await folder.boot()
