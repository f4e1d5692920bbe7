"""Alembic environment: the schema is digest.store's metadata; run through digest.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from digest.store import Base, make_engine


def run(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # the plain `alembic` command, with sqlalchemy.url set
    with make_engine(context.config.get_main_option("sqlalchemy.url")).begin() as conn:
        run(conn)
