"""The world database: engines, schema and migrations (SQLAlchemy 2.0 async over aiosqlite)."""

from agent_ecology.store.engine import connect_writer, create_migrator, create_reader, sqlite_url
from agent_ecology.store.migrate import current_revision, head_revision, migrate

__all__ = [
    "connect_writer",
    "create_migrator",
    "create_reader",
    "current_revision",
    "head_revision",
    "migrate",
    "sqlite_url",
]
