"""`agent-ecology run` as a user runs it: offline by default, stopped by signals, resumable."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A copy of the shipped config.yaml and genesis/ folder."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO / "genesis", tmp_path / "genesis")
    return tmp_path


def _run(world: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent_ecology.launch", "run", "--config", "config.yaml", *args],
        cwd=world,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:  # SQLite's values: any type
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_offline_run_for_5_seconds_exits_0_and_agents_have_acted(world: Path) -> None:
    proc = _run(world, "--duration", "5")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "baseline policy" in out and "OPENAI_API_KEY" in out
    assert "run ended: the duration is over" in out
    assert re.search(r"^tasks: \d+ from .*paying up to", out, re.M), out  # listed at the start
    assert re.search(r"^tasks: \d+ solved .*scrip minted by tasks \d+, by the oracle", out, re.M)
    db = world / "data" / "world.db"
    acted = _query(db, "SELECT agent_id, count(*) FROM agent_turns GROUP BY agent_id")
    assert {agent for agent, _n in acted} == {"alice", "bob", "carol", "dave", "erin"}
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]
    assert _query(db, "SELECT count(*) > 0 FROM metric_windows") == [(1,)]
    # The baseline trades: its ZI-C orders reached the exchange, each within the rules.
    [(orders, bad)] = _query(
        db,
        "SELECT count(*), coalesce(sum(price < 1 OR quantity < 1 OR remaining > quantity), 0)"
        " FROM exchange_orders",
    )
    assert orders > 0 and bad == 0, (orders, bad)


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8])
def test_sigterm_while_the_program_is_still_importing_stops_it_cleanly(
    world: Path, delay: float
) -> None:
    """The handlers are installed before the heavy imports: a SIGTERM in the first second
    is not Python's default death but a stop, said and clean."""
    proc = _run(world, "--duration", "60")
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopping: SIGTERM received" in out and "run ended" in out
    assert "Traceback" not in out


def test_sigterm_stops_cleanly_and_a_second_run_resumes(world: Path) -> None:
    db = world / "data" / "world.db"
    proc = _run(world, "--duration", "120")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists():
            try:
                if _query(db, "SELECT count(*) FROM agent_turns")[0][0] >= 10:
                    break
            except sqlite3.OperationalError:
                continue  # not migrated yet
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopping: SIGTERM received" in out and "run ended" in out

    turns_before = dict(_query(db, "SELECT agent_id, turns FROM agent_state"))
    earned = (
        "SELECT (SELECT COALESCE(sum(reward), 0) FROM task_submissions)"
        " + (SELECT COALESCE(sum(minted), 0) FROM oracle_results)"
    )
    [(minted_before,)] = _query(db, "SELECT minted FROM scrip_supply")
    [(earned_before,)] = _query(db, earned)
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]

    proc = _run(world, "--duration", "2")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "created agents" not in out  # the same agents, resumed
    turns_after = dict(_query(db, "SELECT agent_id, turns FROM agent_state"))
    assert all(turns_after[a] >= turns_before[a] for a in turns_before)
    assert sum(turns_after.values()) > sum(turns_before.values())
    # Turn numbers carry on where they stopped: no agent starts again from 1.
    for agent, before in turns_before.items():
        firsts = _query(
            db,
            f"SELECT count(*) FROM agent_turns WHERE agent_id = '{agent}' AND turn = 1",
        )
        assert firsts == [(1,)] or before == 0
    # No second grant: what was minted since is what tasks and the oracle paid.
    [(minted_after,)] = _query(db, "SELECT minted FROM scrip_supply")
    [(earned_after,)] = _query(db, earned)
    assert minted_after - minted_before == earned_after - earned_before
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]


def test_a_run_with_the_local_tiny_model_exits_0_and_agents_acted(world: Path) -> None:
    config = world / "config.yaml"
    text = config.read_text()
    assert "\n  provider: openai" in text
    config.write_text(text.replace("\n  provider: openai", "\n  provider: local", 1))
    proc = _run(world, "--duration", "8")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "agents think with: local model tiny" in out and "baseline" not in out
    assert "local model:" in out and "batch" in out  # the summary's line
    db = world / "data" / "world.db"
    acted = _query(db, "SELECT agent_id, sum(ok) FROM agent_turns GROUP BY agent_id")
    assert {agent for agent, ok in acted if ok > 0} == {"alice", "bob", "carol", "dave", "erin"}
    assert _query(db, "SELECT count(*) FROM llm_calls") == [(0,)]  # no dollars, no calls
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]


def test_sigint_interrupts_a_command_that_is_not_a_run(world: Path) -> None:
    """Only a run keeps the early handlers: calibrate (busy for seconds) stops on Ctrl-C."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent_ecology.launch",
            "calibrate",
            "--config",
            "config.yaml",
            "--seconds",
            "20",
        ],
        cwd=world,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(3.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    assert time.monotonic() - started < 10
