"""delivery rows are claimed before their message is sent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A row moves pending -> sending -> a final state. `owner` names the process that claimed it
(host:pid:token) and `lease_until` how long the claim holds: another run may take the row
over only after the lease has run out (or, on the same host, once the owner's process is
gone). Both columns are empty for rows made before this revision, which stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A store made by create_all before migrations existed is stamped 0001 (digest.store.migrate) and
    # may already have these columns.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns('deliveries')}
    # ADD COLUMN needs no table rebuild on SQLite, so the foreign keys of 0002 stay untouched.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        if 'owner' not in present:
            batch_op.add_column(sa.Column('owner', sa.String(length=100), nullable=True))
        if 'lease_until' not in present:
            batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('owner')
