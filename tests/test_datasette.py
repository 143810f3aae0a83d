"""`datasette world.db -m datasette/metadata.yaml`: every table and view described, every canned
query answering on a real run's database (Datasette's own app, in process)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import yaml

METADATA = Path(__file__).resolve().parents[1] / "datasette" / "metadata.yaml"


def metadata() -> dict[str, Any]:
    meta: dict[str, Any] = yaml.safe_load(METADATA.read_text())
    return meta


def schema(db: Path) -> dict[str, set[str]]:
    """Each table and view of the database, with its columns."""
    conn = sqlite3.connect(db)
    try:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                " AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')} for name in names
        }
    finally:
        conn.close()


def test_every_table_and_view_is_described_and_no_described_column_is_missing(
    db_path: Path,
) -> None:
    tables = metadata()["databases"]["world"]["tables"]
    have = schema(db_path)
    assert set(tables) == set(have)  # none undescribed, none that no longer exists
    for name, meta in tables.items():
        assert meta.get("description"), f"{name} has no description"
        unknown = set(meta.get("columns", {})) - have[name]
        assert not unknown, f"{name} describes columns it does not have: {unknown}"


async def test_every_canned_query_answers_in_datasette(full_db: Path) -> None:
    from datasette.app import Datasette

    meta = metadata()
    ds = Datasette([str(full_db)], metadata=meta)
    await ds.invoke_startup()
    queries = meta["databases"]["world"]["queries"]
    assert len(queries) >= 8
    answered = {}
    for name in queries:
        response = await ds.client.get(f"/world/{name}.json?_shape=array&agent=alice")
        assert response.status_code == 200, (name, response.text)
        answered[name] = response.json()
    # The questions a trading run can answer have answers.
    for name in ("who_holds_the_scrip", "what_agents_did", "who_paid_whom", "agent_history"):
        assert answered[name], name
    scrip = {r["principal_id"]: r["scrip"] for r in answered["who_holds_the_scrip"]}
    conn = sqlite3.connect(full_db)
    try:
        assert (
            scrip["alice"]
            == conn.execute("SELECT scrip FROM principals WHERE id = 'alice'").fetchone()[0]
        )
    finally:
        conn.close()
    # The home page lists the database with its title; a table page shows its description.
    home = await ds.client.get("/")
    assert home.status_code == 200 and meta["title"] in home.text
    page = await ds.client.get("/world/agent_turns")
    assert page.status_code == 200
    assert "One row per agent turn" in page.text
