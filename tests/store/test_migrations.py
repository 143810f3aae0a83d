from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from agent_ecology.ledger import ops
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.store import current_revision, head_revision, migrate
from agent_ecology.store.migrate import alembic_config

PACKAGED = Path(str(alembic_config().get_main_option("script_location")))

FAILING_REVISION = """
revision = "9999"
down_revision = {down!r}
branch_labels = None
depends_on = None

import sqlalchemy as sa
from alembic import op


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("nickname", sa.Text))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    raise RuntimeError("this revision fails halfway")


def downgrade():
    pass
"""


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


async def test_upgrade_from_empty_to_head_inside_a_running_loop(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "world.db"
    assert await migrate(path) == head_revision()
    assert await current_revision(path) == head_revision()
    names = {name for _type, name, _sql in _schema(path)}
    assert {"principals", "events", "balances_now", "scrip_transfers", "principal_events"} <= names
    assert await migrate(path) == head_revision()  # again: a no-op


async def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "world.db"
    await migrate(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


@pytest.mark.parametrize("start_empty", [False, True])
async def test_a_failing_revision_leaves_the_previous_schema(
    tmp_path: Path, start_empty: bool
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(PACKAGED, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()
    (scripts / "versions" / "9999_fails.py").write_text(FAILING_REVISION.format(down=head))
    path = tmp_path / "world.db"
    if not start_empty:
        await migrate(path, script_location=scripts, revision=str(head))
    before = _schema(path) if not start_empty else None

    with pytest.raises(RuntimeError, match="fails halfway"):
        await migrate(path, script_location=scripts)

    # Every revision before the failing one is committed; the failing one left no trace.
    assert await current_revision(path) == head
    after = _schema(path)
    if before is not None:
        assert after == before
    names = {name for _type, name, _sql in after}
    assert "half_done" not in names
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(principals)")]
    conn.close()
    assert "nickname" not in columns


async def test_views_answer_the_usual_questions(db_path: Path) -> None:
    from agent_ecology.clock import SystemClock
    from agent_ecology.ledger import Ledger

    from ..conftest import populate

    ledger = await Ledger.open(db_path, clock=SystemClock())
    try:
        await populate(ledger)
        await ledger.submit(ops.Transfer(src="alice", dst="bob", amount=7))
        await ledger.submit(ops.Spend(principal="carol", resource="compute", amount=150))
    finally:
        await ledger.close()
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT from_id, to_id, amount FROM scrip_transfers WHERE kind = ?",
            (EventKind.TRANSFER,),
        ).fetchall()
        assert rows == [("alice", "bob", 7)]
        assert conn.execute("SELECT conserved FROM scrip_totals").fetchone() == (1,)
        (debt,) = conn.execute(
            "SELECT in_debt FROM balances_now WHERE principal_id = 'carol' AND item = 'compute'"
        ).fetchone()
        assert debt == 1
        (scrip,) = conn.execute(
            "SELECT available FROM balances_now WHERE principal_id = 'bob' AND item = 'scrip'"
        ).fetchone()
        assert scrip == 107
        roles = conn.execute(
            "SELECT role FROM principal_events WHERE principal_id = 'bob' AND kind = ?",
            (EventKind.TRANSFER,),
        ).fetchall()
        assert roles == [("counterparty",)]
    finally:
        conn.close()
