from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_ecology.cli import main

CONFIG = """
world: {database: world.db}
scrip: {initial: 40}
resources:
  stock: {disk: {total: 2000, unit: bytes}}
  flow: {compute: {rate: 1, capacity: 5, unit: cpu_seconds}}
agents: [{id: ann}, {id: ben, scrip: 7}]
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_creates_the_world_and_prints_balances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    code, out, _ = _run(capsys, "init", "--config", str(config))
    assert code == 0
    assert "created agents: ann, ben" in out
    assert "minted starting scrip: 47 to 2 agent(s)" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert lines["ann"].split()[:3] == ["ann", "agent", "40"]
    assert "1000 of 1000" in lines["ben"] and "5 of 5 (+1/s)" in lines["ben"]
    assert "circulating 47 (conserved)" in out
    assert "baseline policy" in out
    assert (tmp_path / "world.db").exists()

    code, out, _ = _run(capsys, "init", "--config", str(config))
    assert code == 0 and "nothing to do" in out
    conn = sqlite3.connect(tmp_path / "world.db")
    assert conn.execute("SELECT sum(scrip) FROM principals").fetchone() == (47,)
    conn.close()

    code, out, _ = _run(capsys, "inspect", "--config", str(config), "--events", "3")
    assert code == 0
    assert "last 3 event(s), newest first" in out
    assert out.count(" mint ") == 2


def test_a_bad_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("capacity: 5", "capacity: 5, burst: 9"))
    code, _, err = _run(capsys, "init", "--config", str(config))
    assert code == 2
    assert "resources.flow.compute.burst: unknown key" in err
    assert not (tmp_path / "world.db").exists()


def test_inspect_without_a_database_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "inspect", "--db", str(tmp_path / "none.db"))
    assert code == 1
    assert "agent-ecology init" in err
    assert not (tmp_path / "none.db").exists()
