"""Alembic environment for agent-ecology.

The application runs migrations through :func:`agent_ecology.store.migrate.migrate`, which
hands a live connection in ``config.attributes["connection"]``; this works inside a running
event loop. For developers, ``alembic -x db=PATH upgrade head`` (with the ``alembic.ini`` at
the repository root) opens the file itself.

Every revision runs in its own transaction with transactional DDL: a revision that fails
halfway is rolled back whole and leaves the schema of the previous revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, event


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,  # the revisions are written by hand: they are the schema
        render_as_batch=True,  # SQLite rebuilds tables for most ALTERs
        transactional_ddl=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    db = context.get_x_argument(as_dictionary=True).get("db")
    if not db:
        raise SystemExit("pass the database file: alembic -x db=PATH upgrade head")
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; migrate a database file")

_shared = context.config.attributes.get("connection")
if _shared is not None:
    _run(_shared)
else:
    _run_standalone()
