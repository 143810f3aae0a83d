"""The world database: its connections and its migrations (Alembic, over SQLAlchemy and
aiosqlite, which nothing else uses). The migrations in ``migrations/`` are the one
definition of the schema."""

from agent_ecology.store.engine import connect_writer, create_migrator, sqlite_url
from agent_ecology.store.migrate import current_revision, head_revision, migrate

__all__ = [
    "connect_writer",
    "create_migrator",
    "current_revision",
    "head_revision",
    "migrate",
    "sqlite_url",
]
