"""What a careless user can type: every mistake is an ``error: ...`` that names it, never a
traceback, and nothing is written before the whole configuration has been checked."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent_ecology.cli import main

BASE = "world: {database: world.db}\n"
TWO = "agents: [{id: ann}, {id: ben}]\n"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (BASE + TWO + "scrip: {initial: 4611686018427387904}", "scrip.initial"),
        (BASE + TWO + "scrip: {initial: 18446744073709551616}", "scrip.initial"),
        (BASE + TWO + "llm: {max_api_cost: 10000000000}", "llm.max_api_cost"),
        (BASE + TWO + "llm: {max_api_cost: 1.0e+300}", "llm.max_api_cost"),
        (BASE + TWO + "llm: {max_api_cost: true}", "llm.max_api_cost"),
        (BASE + TWO + "agent_loop: {max_notes: 9223372036854775808}", "agent_loop.max_notes"),
        (BASE + TWO + "scrip: {initial: " + "9" * 5000 + "}", "4300 digits"),
        (BASE + TWO + 'oracle: {interval: "60"}', "oracle.interval"),
        (BASE + TWO + "resources: {stock: {scrip: {total: 10}}}", "'scrip' is the currency"),
        (BASE, "no agents to run"),
        ("world: {database: world.db, genesis: nowhere}\n", "nowhere does not exist"),
        (
            BASE
            + "resources: {stock: {llm_budget: {total: 1}}}\n"
            + "agents: [{id: ann, stock: {llm_budget: 1000}}, {id: ben}]",
            "past its total of 1 (set by: ann)",
        ),
        ("world: {database: world.db, system_principal: ann}\n" + TWO, "system principal"),
        (BASE + "agents: [{id: genesis_oracle}]", "'genesis_'"),
        (BASE + "agents: [{id: Genesis_Escrow}]", "'genesis_'"),
        (BASE + "agents: [{id: WORLD}]", "system principal"),
    ],
)
def test_a_bad_config_is_an_error_naming_it_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, said: str
) -> None:
    (tmp_path / "config.yaml").write_text(config)
    code, err = _cli(capsys, "init", "--config", str(tmp_path / "config.yaml"))
    assert code == 2 and err.startswith("error: ") and said in err, err
    assert not (tmp_path / "world.db").exists()


@pytest.mark.parametrize("name", ["world", "genesis_oracle", "GENESIS_ESCROW"])
def test_a_genesis_agent_file_with_a_reserved_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (tmp_path / "genesis" / "agents").mkdir(parents=True)
    (tmp_path / "genesis" / "agents" / f"{name}.yaml").write_text("max_tokens: 100\n")
    (tmp_path / "config.yaml").write_text(BASE)
    code, err = _cli(capsys, "init", "--config", str(tmp_path / "config.yaml"))
    assert code == 2 and name in err
    assert not (tmp_path / "world.db").exists()


def test_a_handbook_page_that_is_not_utf8_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "genesis" / "handbook").mkdir(parents=True)
    (tmp_path / "genesis" / "handbook" / "bad.md").write_bytes(b"\xff\xfe not text")
    (tmp_path / "config.yaml").write_text(BASE + TWO + "run: {duration: 1}\n")
    code, err = _cli(capsys, "run", "--config", str(tmp_path / "config.yaml"))
    assert code == 2 and "bad.md" in err and "UTF-8" in err


def _world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    (tmp_path / "config.yaml").write_text(BASE + TWO)
    assert _cli(capsys, "init", "--config", str(tmp_path / "config.yaml"))[0] == 0
    return tmp_path / "world.db"


def test_inspect_on_a_file_that_is_not_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _world(tmp_path, capsys)
    db.write_bytes(b"garbage" * 1000)
    code, err = _cli(capsys, "inspect", "--db", str(db))
    assert code == 1 and "cannot read" in err and "not a database" in err


def test_a_database_from_a_newer_version_is_refused_by_init_and_inspect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _world(tmp_path, capsys)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    conn.commit()
    conn.close()
    for command in ("init", "inspect"):
        code, err = _cli(capsys, command, "--config", str(tmp_path / "config.yaml"))
        assert code == 1 and "ffff9999" in err and "newer version" in err, err


@pytest.mark.parametrize("events", ["1e20", "99999999999999999999", "-1"])
def test_inspect_events_out_of_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], events: str
) -> None:
    _world(tmp_path, capsys)
    with pytest.raises(SystemExit) as exited:
        main(["inspect", "--config", str(tmp_path / "config.yaml"), "--events", events])
    assert exited.value.code == 2
    assert "--events" in capsys.readouterr().err


def test_init_pointed_at_a_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.yaml").write_text(BASE + TWO)
    (tmp_path / "adir").mkdir()
    code, err = _cli(
        capsys, "init", "--config", str(tmp_path / "config.yaml"), "--db", str(tmp_path / "adir")
    )
    assert code == 1 and "adir" in err


def test_an_immutable_database_file_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _world(tmp_path, capsys)
    (tmp_path / "config.yaml").write_text(BASE + TWO + "scrip: {initial: 7}\n")
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {made.stderr.decode().strip()}")
    try:
        (tmp_path / "genesis" / "agents").mkdir(parents=True)
        (tmp_path / "genesis" / "agents" / "cid.yaml").write_text("{}\n")  # a write is needed
        code, err = _cli(capsys, "init", "--config", str(tmp_path / "config.yaml"))
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert code == 1 and "could not be written" in err and "immutable" in err
