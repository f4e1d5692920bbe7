"""articles remember every source that listed them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

One URL listed by several sources is one stored article, kept under the earliest listing;
`also_listed_by` names the others, so the edition can say who else carried the story. Empty
for rows made before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns('articles')}
    if 'also_listed_by' not in present:  # a store made by create_all may have it already
        with op.batch_alter_table('articles', schema=None) as batch_op:
            batch_op.add_column(sa.Column('also_listed_by', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('also_listed_by')
