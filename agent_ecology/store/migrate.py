"""Schema migrations, run by the application itself (``agent-ecology init``, ``run``).

Alembic's commands are synchronous. Inside a running event loop we open an async connection
and run the upgrade on it through ``run_sync``, handing the connection to ``migrations/env.py``
(Alembic's connection-sharing recipe), so no second event loop is ever started.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from agent_ecology.store.engine import create_migrator

__all__ = ["alembic_config", "current_revision", "head_revision", "migrate"]


def alembic_config(script_location: str | Path | None = None) -> Config:
    """An Alembic config for the packaged migrations (or the folder given)."""
    cfg = Config()
    location = script_location or str(resources.files("agent_ecology.migrations"))
    cfg.set_main_option("script_location", str(location))
    return cfg


def head_revision(script_location: str | Path | None = None) -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()


async def current_revision(path: str | Path) -> str | None:
    """The revision the database at ``path`` is at (``None`` for an empty database)."""
    engine = create_migrator(path)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def migrate(
    path: str | Path, revision: str = "head", *, script_location: str | Path | None = None
) -> str | None:
    """Upgrade the database at ``path`` to ``revision`` and return the revision it is at.

    Creates the file if missing. Each revision commits on its own; a revision that fails is
    rolled back whole and the error propagates, leaving the database at the revision before.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(script_location)

    def upgrade(sync: Connection) -> str | None:
        cfg.attributes["connection"] = sync
        command.upgrade(cfg, revision)
        return MigrationContext.configure(sync).get_current_revision()

    engine = create_migrator(path)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(upgrade)
    finally:
        await engine.dispose()
