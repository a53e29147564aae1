"""held messages (why, and staff's decision) and the log of staff looks at message text

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_holds",
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("spam_score", sa.Float(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_holds_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_holds")),
    )
    with op.batch_alter_table("message_holds", schema=None) as batch_op:
        batch_op.create_index("ix_message_holds_decided_at", ["decided_at"], unique=False)

    op.create_table(
        "content_views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("viewer", sa.String(length=64), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("msg_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_content_views_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_views")),
    )
    with op.batch_alter_table("content_views", schema=None) as batch_op:
        batch_op.create_index("ix_content_views_at", ["at"], unique=False)
        batch_op.create_index("ix_content_views_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("content_views", schema=None) as batch_op:
        batch_op.drop_index("ix_content_views_message_id")
        batch_op.drop_index("ix_content_views_at")

    op.drop_table("content_views")
    with op.batch_alter_table("message_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_message_holds_decided_at")

    op.drop_table("message_holds")
