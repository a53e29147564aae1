"""Accepted messages written straight to the database, as the accept path leaves them
(recipients QUEUED, events ACCEPTED and QUEUED), for the delivery-log and dispatcher
tests to start from at a time of their choosing."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from customer_accounts import add_account as add_bare_account
from sqlalchemy import func, insert, select

from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    DeliveryEvent,
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
    SandboxOutboxEntry,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Queued:
    account_id: int
    message_id: int
    msg_id: str
    recipient_ids: list[int]


async def add_account(
    sessions: SessionFactory, username: str = "alice", *, webhook_url: str | None = None
) -> int:
    """A bare account with points to spend and, if given, a delivery-report webhook."""
    return await add_bare_account(sessions, username, balance=1000, dlr_webhook_url=webhook_url)


async def add_message(
    sessions: SessionFactory,
    account_id: int,
    recipients: int,
    *,
    at: datetime = T0,
    test: bool = False,
    status: MessageStatus = MessageStatus.ACCEPTED,
    text: str = "Your code is 482113",
) -> Queued:
    async with sessions.begin() as session:
        message = Message(
            msg_id=secrets.token_hex(16),
            account_id=account_id,
            sender="SecGate",
            text=text,
            encoding="gsm7",
            pages=1,
            numbers=recipients,
            points_charged=0 if test else recipients,
            test=test,
            status=status,
            created_at=at,
        )
        session.add(message)
        await session.flush()
        ids = list(
            await session.scalars(
                insert(Recipient).returning(Recipient.id, sort_by_parameter_order=True),
                [
                    {
                        "message_id": message.id,
                        "number": f"9656{i:07d}",
                        "state": RecipientState.QUEUED,
                        "updated_at": at,
                    }
                    for i in range(recipients)
                ],
            )
        )
        await session.execute(
            insert(DeliveryEvent),
            [
                {"message_id": message.id, "recipient_id": i, "state": state, "at": at}
                for i in ids
                for state in (RecipientState.ACCEPTED, RecipientState.QUEUED)
            ],
        )
        return Queued(account_id, message.id, message.msg_id, ids)


async def recipients(sessions: SessionFactory, ids: list[int]) -> dict[int, Recipient]:
    async with sessions() as session:
        rows = await session.scalars(select(Recipient).where(Recipient.id.in_(ids)))
        return {row.id: row for row in rows}


async def events(sessions: SessionFactory, recipient_id: int) -> list[DeliveryEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.recipient_id == recipient_id)
            .order_by(DeliveryEvent.id)
        )
        return list(rows)


async def event_counts(sessions: SessionFactory, state: RecipientState) -> Counter[int]:
    """How many events of `state` each recipient has."""
    async with sessions() as session:
        rows = await session.execute(
            select(DeliveryEvent.recipient_id, func.count())
            .where(DeliveryEvent.state == state)
            .group_by(DeliveryEvent.recipient_id)
        )
        return Counter({recipient_id: count for recipient_id, count in rows})


async def outbox_counts(sessions: SessionFactory) -> Counter[int]:
    """How many sandbox outbox rows each recipient has."""
    async with sessions() as session:
        rows = await session.scalars(select(SandboxOutboxEntry.recipient_id))
        return Counter(rows)
