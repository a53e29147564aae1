"""The durable store's tables, as typed SQLAlchemy 2 mappings.

The same mappings serve SQLite (the embedded default) and PostgreSQL; Alembic
migrations under `migrations/versions/` create them, and a test checks that the
migrations and these mappings agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases.

    SQLite has no time zones and hands back naive datetimes; this type stores UTC
    and always returns aware datetimes, so comparisons never mix the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT primary keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class TokenRole(enum.StrEnum):
    STAFF = "staff"
    PIPELINE = "pipeline"


class AlertSeverity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as VARCHAR with a CHECK constraint: adding a value later is a plain
    # migration, not an ALTER TYPE on PostgreSQL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # NFKC + casefold of the username: "Admin" and "ａｄｍｉｎ" cannot be two accounts.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "account_role"), default=Role.CUSTOMER)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Digits only, with country code, no "+" or "00" (e.g. 96550000000).
    mobile: Mapped[str] = mapped_column(String(15))
    # ISO 3166-1 alpha-2 country the customer normally works from.
    home_country: Mapped[str] = mapped_column(String(2))
    # Credits are whole SMS points, as the messaging API counts them.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Every credit ever added (the messaging API's "purchased").
    purchased: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # ISO 3166-1 alpha-2 codes this account may send to (ERR026 otherwise).
    activated_countries: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["KW"])
    # Where delivery reports are posted (signed); None = no webhook.
    dlr_webhook_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # Warn the owner when the balance falls below this; None = the settings' default.
    low_balance_threshold: Mapped[int | None] = mapped_column(BigInteger, default=None)
    api_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # CIDR strings; empty means the API is open to every address.
    api_ip_allowlist: Mapped[list[str]] = mapped_column(JSON, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender_ids: Mapped[list[SenderId]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin"
    )


class SenderId(Base):
    __tablename__ = "sender_ids"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_sender_ids_account_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Case-sensitive, as operators treat sender IDs.
    name: Mapped[str] = mapped_column(String(11))
    # Used only for one-time codes and notices (bank, delivery, government, appointments),
    # as staff verified at registration; the spam check is more lenient with it.
    transactional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(back_populates="sender_ids")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[TokenRole] = mapped_column(_enum(TokenRole, "token_role"))
    # SHA-256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_type_last_seen", "type", "last_seen"),
        Index("ix_alerts_account_id", "account_id"),
        Index("ix_alerts_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[AlertSeverity] = mapped_column(_enum(AlertSeverity, "alert_severity"))
    status: Mapped[AlertStatus] = mapped_column(
        _enum(AlertStatus, "alert_status"), default=AlertStatus.OPEN
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    # What repeats are folded on: "<type>|<subject>" while the alert still takes
    # repeats, NULL once it is resolved or its window has passed. Unique, so two
    # processes raising the same alert at once fold into one row, not two.
    fold_key: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MessageStatus(enum.StrEnum):
    """What the gateway decided about a message as a whole, before delivery."""

    ACCEPTED = "accepted"  # charged and queued (or, in test mode, queued only)
    HELD = "held"  # kept for staff review: not sent, not lost
    REJECTED = "rejected"  # refused by a pre-send check


class RecipientState(enum.StrEnum):
    """Every state a recipient passes through; each change is a DeliveryEvent row."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_account_created", "account_id", "created_at"),
        # The retention job walks messages by age across all accounts.
        Index("ix_messages_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The public "msg-id": random, so one customer cannot guess another's.
    msg_id: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # A registered sender ID (at most 11 characters), or the account's own mobile number.
    sender: Mapped[str] = mapped_column(String(15))
    # Emptied by the retention job past the retention period (text_removed_at set).
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8))  # "gsm7" or "ucs2"
    pages: Mapped[int] = mapped_column(Integer)
    numbers: Mapped[int] = mapped_column(Integer)
    points_charged: Mapped[int] = mapped_column(BigInteger, default=0)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[MessageStatus] = mapped_column(
        _enum(MessageStatus, "message_status"), default=MessageStatus.ACCEPTED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        Index("ix_recipients_message_id", "message_id"),
        Index("ix_recipients_state", "state"),
        Index("ix_recipients_connector_ref", "connector", "connector_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    # Digits with country code; anonymised by the retention job.
    number: Mapped[str] = mapped_column(String(15))
    state: Mapped[RecipientState] = mapped_column(
        _enum(RecipientState, "recipient_state"), default=RecipientState.ACCEPTED
    )
    # Set when a dispatcher worker takes the recipient; a claim older than the claim
    # timeout belongs to a worker that died, and the recipient is taken again.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    connector: Mapped[str | None] = mapped_column(String(16), default=None)
    connector_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str | None] = mapped_column(String(255), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryEvent(Base):
    """The delivery logger: one row per state a recipient enters. Append-only."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        Index("ix_delivery_events_message_id", "message_id"),
        Index("ix_delivery_events_recipient_id", "recipient_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    state: Mapped[RecipientState] = mapped_column(_enum(RecipientState, "recipient_state"))
    reason: Mapped[str | None] = mapped_column(String(255), default=None)
    connector: Mapped[str | None] = mapped_column(String(16), default=None)
    connector_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditEntry(Base):
    """Every change to a balance, with the balance after it. Append-only."""

    __tablename__ = "credit_ledger"
    __table_args__ = (Index("ix_credit_ledger_account_id", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)  # negative for a charge
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(16))  # "send", "purchase", "adjust", ...
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """Outbox of delivery-report webhooks: written in the same transaction as the state
    change it reports, posted (and retried) by the webhook worker."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when retries are exhausted; the row stays for staff to see until the retention
    # job removes it (webhook_outbox_keep_days after delivery or abandonment).
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactGroup(Base):
    __tablename__ = "contact_groups"
    __table_args__ = (
        UniqueConstraint("account_id", "name", name="uq_contact_groups_account_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("group_id", "number", name="uq_contacts_group_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("contact_groups.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    number: Mapped[str] = mapped_column(String(15))


class SandboxOutboxEntry(Base):
    """What the sandbox connector "delivered" (CONTRACT §4.5)."""

    __tablename__ = "sandbox_outbox"
    __table_args__ = (Index("ix_sandbox_outbox_number", "number", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Unique: the sandbox takes each recipient once, however often it is submitted.
    recipient_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    connector_ref: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(15))
    sender: Mapped[str] = mapped_column(String(15))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProtectedSender(Base):
    """A sender name that only its owners may use, nor may anyone else use a
    look-alike of it (secgate.checks.sender_ids). Staff edit the list."""

    __tablename__ = "protected_senders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Capitals and digits only ("NBK"): the form names are compared in.
    name: Mapped[str] = mapped_column(String(11), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owners: Mapped[list[Account]] = relationship(
        secondary="protected_sender_owners", lazy="selectin", order_by="Account.username_key"
    )


class ProtectedSenderOwner(Base):
    """An account that may use a protected name (and its look-alikes)."""

    __tablename__ = "protected_sender_owners"
    __table_args__ = (Index("ix_protected_sender_owners_account_id", "account_id"),)

    protected_id: Mapped[int] = mapped_column(
        ForeignKey("protected_senders.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )


class MessageHold(Base):
    """Why a message was held for staff review (issue 4), and what staff decided.
    Written with the HELD message, in its transaction; the pending ones are those
    not yet decided (secgate.checks.held_messages)."""

    __tablename__ = "message_holds"
    __table_args__ = (Index("ix_message_holds_decided_at", "decided_at"),)

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # The pipeline's reasons (the check endpoint's "reasons" entries) and spam score.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    spam_score: Mapped[float] = mapped_column(Float, default=0.0)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)  # released|rejected
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str | None] = mapped_column(String(1000), default=None)


class ContentView(Base):
    """One look by staff at the text of a customer's message. Append-only: every
    route and command that shows message text writes one row per message shown."""

    __tablename__ = "content_views"
    __table_args__ = (
        Index("ix_content_views_at", "at"),
        Index("ix_content_views_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Who looked: a token's name or a username, as alert notes name staff.
    viewer: Mapped[str] = mapped_column(String(64))
    # Kept (by msg_id) when the message itself is deleted with its account.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    msg_id: Mapped[str] = mapped_column(String(32))
    # Where it was shown, e.g. "api:held-messages", "cli:held list".
    purpose: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
