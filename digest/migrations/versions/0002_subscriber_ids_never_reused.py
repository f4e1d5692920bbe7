"""subscriber ids are never reused

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Signed links name a subscriber by id, so an id must never pass to someone else. SQLite
reuses the highest rowid after a delete unless the table is declared AUTOINCREMENT, which
it cannot add with ALTER: the table is rebuilt (ids kept). PostgreSQL's sequences never
reuse a value, so there is nothing to do there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _deliveries(*, pointing_at_subscribers: bool) -> sa.Table:
    """The deliveries table as revision 0001 made it, with or without its subscriber key."""
    subscriber_fk = ([sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"])]
                     if pointing_at_subscribers else [])
    return sa.Table(
        "deliveries", sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, nullable=False),
        sa.Column("edition_id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"]),
        *subscriber_fk,
        sa.UniqueConstraint("edition_id", "subscriber_id"),
    )


def _rebuild_subscribers(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # SQLite cannot drop a table that rows elsewhere still point at (foreign keys are on, and
    # the migration may already run inside a transaction, where they cannot be turned off). So
    # deliveries let go of subscribers while it is rebuilt, then point at it again. Each step
    # rebuilds a table with all its rows, so ids and delivery history are kept.
    with op.batch_alter_table("deliveries", recreate="always",
                              copy_from=_deliveries(pointing_at_subscribers=False)):
        pass
    with op.batch_alter_table("subscribers", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    with op.batch_alter_table("deliveries", recreate="always",
                              copy_from=_deliveries(pointing_at_subscribers=True)) as deliveries:
        deliveries.create_index("ix_deliveries_edition_id", ["edition_id"])


def upgrade() -> None:
    _rebuild_subscribers(autoincrement=True)


def downgrade() -> None:
    _rebuild_subscribers(autoincrement=False)
