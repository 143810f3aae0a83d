"""`agent-ecology run --shards N` and `run --shard K/N` as a user runs them: real processes on
one database, stopped by signals, one of them killed with SIGKILL and started again."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .test_run import _env, _query, _run
from .test_run import world as world  # the fixture

AGENTS = {"alice", "bob", "carol", "dave", "erin"}


def _wait_for(proc: subprocess.Popen[str], pattern: str, seen: list[str], limit: float) -> str:
    """Read ``proc``'s lines into ``seen`` until one (read now or before) matches
    ``pattern``; that line."""
    assert proc.stdout is not None
    for line in seen:
        if re.search(pattern, line):
            return line
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in {limit:g} s:\n{''.join(seen)}")


def test_shards_run_every_agent_once_with_one_leader_and_stop_on_sigterm(world: Path) -> None:
    proc = _run(world, "--duration", "60", "--shards", "2")
    seen: list[str] = []
    for k in (0, 1):
        _wait_for(proc, rf"\[{k}/2\] running \d+ agent", seen, 60)
    _wait_for(proc, r"leads: it runs the oracle", seen, 20)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)  # to the parent: it passes it on to both shards
    rest, _ = proc.communicate(timeout=60)
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "in 2 shard processes" in out
    for k in (0, 1):
        assert f"[{k}/2] stopping: SIGTERM received" in out, out
        assert f"[{k}/2] run ended" in out, out
    assert len(re.findall(r"leads: it runs the oracle", out)) == 1, out
    # The roster is split: shard 0 ran alice, carol, erin; shard 1 bob, dave.
    assert re.search(r"\[0/2\] shard 0/2: 3 of 5 agents", out)
    assert re.search(r"\[1/2\] shard 1/2: 2 of 5 agents", out)
    db = world / "data" / "world.db"
    acted = dict(_query(db, "SELECT agent_id, count(*) FROM agent_turns GROUP BY agent_id"))
    assert set(acted) == AGENTS
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]
    assert _query(db, "SELECT count(*) FROM leases") == [(0,)]  # released at the end
    assert "Traceback" not in out


def _shard(world: Path, k: int, n: int, *args: str) -> subprocess.Popen[str]:
    return _run(world, "--shard", f"{k}/{n}", *args)


def test_a_killed_leader_is_replaced_and_resumes_when_started_again(world: Path) -> None:
    config = yaml.safe_load((world / "config.yaml").read_text())
    config.setdefault("run", {})["lease_seconds"] = 1.0
    # Numbers instead of `auto`: nothing to measure at each of the four starts.
    config["resources"]["flow"]["compute"].update(rate=0.15, capacity=1.5)
    config["sandbox"]["fuel_per_second"] = 5e9
    (world / "config.yaml").write_text(yaml.safe_dump(config))
    init = subprocess.run(
        [sys.executable, "-m", "agent_ecology.launch", "init", "--config", "config.yaml"],
        cwd=world,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    logs: dict[int, list[str]] = {0: [], 1: []}
    procs = {k: _shard(world, k, 2, "--duration", "60") for k in (0, 1)}
    for k, proc in procs.items():
        _wait_for(proc, r"running \d+ agent", logs[k], 60)
    leader = None
    deadline = time.monotonic() + 20
    while leader is None and time.monotonic() < deadline:
        for k in (0, 1):
            if any("leads:" in line for line in logs[k]):
                leader = k
        if leader is None:
            for k, proc in procs.items():  # one more line from each (they print as they go)
                assert proc.stdout is not None
                line = proc.stdout.readline()
                logs[k].append(line)
    assert leader is not None, logs
    other = 1 - leader
    procs[leader].kill()  # SIGKILL: no release, no goodbye
    procs[leader].communicate(timeout=10)  # (closes its pipe)
    _wait_for(procs[other], r"leads: it runs the oracle", logs[other], 10)
    procs[other].send_signal(signal.SIGTERM)
    rest, _ = procs[other].communicate(timeout=60)
    assert procs[other].returncode == 0, "".join(logs[other]) + rest
    db = world / "data" / "world.db"
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]
    turns_before = dict(_query(db, "SELECT agent_id, turns FROM agent_state"))

    # The killed shard starts again on its own: its agents resume where they stopped.
    again = _shard(world, leader, 2, "--duration", "2")
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    assert "leads: it runs the oracle" in out  # the lease is free once its holder is gone
    turns_after = dict(_query(db, "SELECT agent_id, turns FROM agent_state"))
    assert all(turns_after[a] >= turns_before[a] for a in turns_before)
    resumed = [a for a in turns_before if turns_after[a] > turns_before[a]]
    assert resumed and all(a in out for a in resumed), out
    assert _query(db, "SELECT conserved FROM scrip_totals") == [(1,)]
