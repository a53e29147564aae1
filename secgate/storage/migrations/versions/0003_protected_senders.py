"""protected sender names and their owners, seeded with Kuwaiti and Gulf brands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:50:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Names that impostors use in SMS sender IDs in Kuwait and the Gulf. Staff edit the
# list afterwards (`protected-sender add|remove`, /api/v1/protected-senders); this is
# the starting point of a new installation, written out here so that the migration
# does not change when the application's code does.
SEED_NAMES = (
    # mobile operators (VIVA: stc Kuwait's former name)
    "ZAIN", "OOREDOO", "STC", "VIVA",
    # Kuwaiti banks
    "KFH", "NBK", "GBK", "CBK", "BOUBYAN", "WARBA", "KIB", "ABK", "BURGAN",
    # Gulf banks with branches in Kuwait
    "ALRAJHI", "QNB", "EMIRATESNBD",
    # payments
    "KNET", "MYFATOORAH", "VISA", "MASTERCARD", "PAYPAL",
    # government: Interior, Civil Information, Electricity and Water, the Sahel app
    "MOI", "PACI", "MEW", "SAHEL", "KUWAITGOV",
    # delivery and shopping
    "TALABAT", "CAREEM", "DELIVEROO", "ARAMEX", "DHL", "FEDEX", "AMAZON",
    # global services whose codes and alerts people expect by SMS
    "APPLE", "GOOGLE", "MICROSOFT", "WHATSAPP", "FACEBOOK", "INSTAGRAM", "NETFLIX",
)  # fmt: skip


def upgrade() -> None:

    protected_senders = op.create_table(
        "protected_senders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=11), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protected_senders")),
        sa.UniqueConstraint("name", name=op.f("uq_protected_senders_name")),
    )
    op.create_table(
        "protected_sender_owners",
        sa.Column(
            "protected_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_protected_sender_owners_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["protected_id"],
            ["protected_senders.id"],
            name=op.f("fk_protected_sender_owners_protected_id_protected_senders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "protected_id", "account_id", name=op.f("pk_protected_sender_owners")
        ),
    )
    with op.batch_alter_table("protected_sender_owners", schema=None) as batch_op:
        batch_op.create_index(
            "ix_protected_sender_owners_account_id", ["account_id"], unique=False
        )

    now = datetime.now(UTC)
    op.bulk_insert(protected_senders, [{"name": name, "created_at": now} for name in SEED_NAMES])


def downgrade() -> None:
    with op.batch_alter_table("protected_sender_owners", schema=None) as batch_op:
        batch_op.drop_index("ix_protected_sender_owners_account_id")

    op.drop_table("protected_sender_owners")
    op.drop_table("protected_senders")
