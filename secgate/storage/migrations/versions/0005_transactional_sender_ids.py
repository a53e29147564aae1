"""sender IDs registered as transactional (one-time codes and notices only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sender_ids", schema=None) as batch_op:
        # The server default makes every existing sender ID not transactional: staff
        # verify each one before it gets the spam check's lenient thresholds.
        batch_op.add_column(
            sa.Column("transactional", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sender_ids", schema=None) as batch_op:
        batch_op.drop_column("transactional")
