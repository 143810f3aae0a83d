"""Schema migrations, run by the application itself (``agent-ecology init``, ``run``).

Alembic's commands are synchronous. Inside a running event loop we open an async connection
and run the upgrade on it through ``run_sync``, handing the connection to ``migrations/env.py``
(Alembic's connection-sharing recipe), so no second event loop is ever started.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import anyio
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from agent_ecology.store.engine import create_migrator

__all__ = ["NewerSchema", "alembic_config", "current_revision", "head_revision", "migrate"]


class NewerSchema(ValueError):
    """The database is at a schema revision this version does not know: a newer one wrote it."""

    def __init__(self, path: str | Path, revision: str, head: str | None) -> None:
        self.revision = revision
        super().__init__(
            f"{path} is at schema revision {revision}, which this version of agent-ecology"
            f" (schema {head}) does not know: a newer version wrote it; upgrade agent-ecology,"
            " or point world.database (--db) at another file"
        )


def known_revisions(script_location: str | Path | None = None) -> set[str]:
    """Every revision the code knows."""
    scripts = ScriptDirectory.from_config(alembic_config(script_location))
    return {rev.revision for rev in scripts.walk_revisions()}


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
    if await anyio.Path(path).is_dir():
        raise IsADirectoryError(21, "it is a folder, not a SQLite file", str(path))
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
    if await anyio.Path(
        path
    ).is_dir():  # refused here: aiosqlite's failed connect outlives the event loop
        raise IsADirectoryError(21, "it is a folder, not a SQLite file", str(path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(script_location)

    # Looked at on its own connection: the upgrade's must not have begun a transaction.
    current = await current_revision(path)
    if current is not None and current not in known_revisions(script_location):
        raise NewerSchema(path, current, head_revision(script_location))

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
