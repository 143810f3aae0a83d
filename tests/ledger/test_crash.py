"""Crash safety: SIGKILL a process mid-stream, again and again; nothing acknowledged is lost."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 12


def _wait_for(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.01)
    raise AssertionError(f"child never logged {text!r}")


@pytest.mark.timeout(240)
def test_acknowledged_transfers_survive_sigkill(tmp_path: Path) -> None:
    db, log = tmp_path / "world.db", tmp_path / "client.log"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    for round_no in range(ROUNDS):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(db), str(log), str(round_no)],
            env=env,
            stderr=subprocess.PIPE,
        )
        try:
            if round_no % 4 == 3:
                time.sleep(rng.uniform(0.0, 0.3))  # now and then, kill it while it starts up
            else:
                _wait_for(log, f"ready {round_no}", timeout=60)
                time.sleep(rng.uniform(0.02, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            _, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err.decode()

    intents: dict[str, tuple[str, str, int]] = {}
    acked: set[str] = set()
    for line in log.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["intent"] and len(parts) == 5:
            intents[parts[1]] = (parts[2], parts[3], int(parts[4]))
        elif parts[:1] == ["ack"] and len(parts) == 2:
            acked.add(parts[1])
    assert len(acked) > 100, "the child should have got plenty done between kills"

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute(
            "SELECT op_id, principal_id, counterparty_id, amount FROM events"
            " WHERE kind = 'transfer'"
        ).fetchall()
        per_op: dict[str, int] = {}
        for op_id, src, dst, amount in rows:
            per_op[op_id] = per_op.get(op_id, 0) + 1
            assert intents[op_id] == (src, dst, amount)  # nothing committed that was never asked
        for op_id in acked:
            assert per_op.get(op_id) == 1, f"acknowledged {op_id} is missing or duplicated"
        assert all(n == 1 for n in per_op.values())
        ops = {r[0] for r in conn.execute("SELECT op_id FROM operations WHERE kind = 'transfer'")}
        assert ops == set(per_op)
        ((minted, burned),) = conn.execute("SELECT minted, burned FROM scrip_supply")
        (circulating,) = conn.execute("SELECT sum(scrip) FROM principals").fetchone()
        assert circulating == minted - burned == 4000
        (negative,) = conn.execute("SELECT count(*) FROM principals WHERE scrip < 0").fetchone()
        assert negative == 0
    finally:
        conn.close()
