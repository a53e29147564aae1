"""Retention: past `retention_days`, message text goes and numbers are anonymised, in
bounded batches, idempotently, on both databases; finished webhook outbox rows are
deleted past `webhook_outbox_keep_days`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_clock import FakeClock
from sqlalchemy import select

from secgate.settings import Settings
from secgate.sms.retention import RetentionJob, anonymise_number
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    DeliveryEvent,
    Message,
    Recipient,
    RecipientState,
    SandboxOutboxEntry,
    WebhookDelivery,
)

T0 = 1_800_000_000.0
DAY_S = 24 * 3600.0
RETENTION_S = 90 * DAY_S
TEXT = "Your code is 123456"
NUMBERS = ["96550000001", "96550000002", "966501234567"]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    # Outbox rows kept past the retention period, to see their payloads anonymised.
    return make_settings(database_url=database_url, retention_days=90, webhook_outbox_keep_days=365)


async def add_message(
    db_sessions: SessionFactory, account_id: int, *, created: float, numbers: list[str] = NUMBERS
) -> int:
    """A sent message as the pipeline leaves it: recipients delivered, each with its
    delivery events, its sandbox outbox entry and a delivery-report webhook."""
    async with db_sessions.begin() as session:
        message = Message(
            msg_id=uuid.uuid4().hex,
            account_id=account_id,
            sender="KWT-SMS",
            text=TEXT,
            encoding="gsm7",
            pages=1,
            numbers=len(numbers),
            points_charged=len(numbers),
            test=False,
            created_at=at(created),
        )
        session.add(message)
        await session.flush()
        for number in numbers:
            recipient = Recipient(
                message_id=message.id, number=number, state=RecipientState.DELIVERED
            )
            session.add(recipient)
            await session.flush()
            ref = uuid.uuid4().hex
            session.add_all(
                [
                    DeliveryEvent(
                        message_id=message.id,
                        recipient_id=recipient.id,
                        state=state,
                        connector="sandbox",
                        connector_ref=ref,
                        at=at(created),
                    )
                    for state in (RecipientState.QUEUED, RecipientState.DELIVERED)
                ]
            )
            session.add(
                SandboxOutboxEntry(
                    recipient_id=recipient.id,
                    connector_ref=ref,
                    number=number,
                    sender="KWT-SMS",
                    text=TEXT,
                    at=at(created),
                )
            )
            session.add(
                WebhookDelivery(
                    account_id=account_id,
                    url="https://example.com/dlr",
                    payload={"msg-id": message.msg_id, "mobile": number, "status": "DELIVERED"},
                    created_at=at(created + 1),
                    delivered_at=at(created + 1),
                )
            )
        return message.id


async def message_view(db_sessions: SessionFactory, message_id: int) -> dict[str, Any]:
    """What is stored about a message, in every table that holds its text or numbers."""
    async with db_sessions() as session:
        message = await session.get(Message, message_id)
        assert message is not None
        recipients = list(
            await session.scalars(
                select(Recipient).where(Recipient.message_id == message_id).order_by(Recipient.id)
            )
        )
        ids = [r.id for r in recipients]
        outbox = list(
            await session.scalars(
                select(SandboxOutboxEntry)
                .where(SandboxOutboxEntry.recipient_id.in_(ids))
                .order_by(SandboxOutboxEntry.recipient_id)
            )
        )
        webhooks = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        events = await session.scalars(
            select(DeliveryEvent).where(DeliveryEvent.message_id == message_id)
        )
        return {
            "text": message.text,
            "text_removed_at": message.text_removed_at,
            "numbers": [r.number for r in recipients],
            "outbox": [(e.number, e.text) for e in outbox],
            "webhook_mobiles": [
                w.payload["mobile"] for w in webhooks if w.payload["msg-id"] == message.msg_id
            ],
            "events": len(list(events)),
        }


# -- the anonymised form -------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "anonymised"),
    [
        ("96550000001", "965XXXXXXXX"),
        ("966501234567", "966XXXXXXXXX"),
        ("14155550123", "1XXXXXXXXXX"),
        ("447700900123", "44XXXXXXXXXX"),
        ("123456789012345", "1XXXXXXXXXXXXXX"),
        ("99912345678", "XXXXXXXXXXX"),  # no country has +999
    ],
)
def test_a_number_keeps_its_country_calling_code_and_its_length(
    number: str, anonymised: str
) -> None:
    assert anonymise_number(number) == anonymised
    assert anonymise_number(anonymised) == anonymised


# -- the period ----------------------------------------------------------------------


async def test_a_message_exactly_at_the_retention_period_is_kept(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    message_id = await add_message(db_sessions, account_id, created=T0)
    job = RetentionJob(db_sessions, settings, clock=FakeClock(T0 + RETENTION_S))

    changed = await job.sweep()

    assert changed == 0
    view = await message_view(db_sessions, message_id)
    assert (view["text"], view["text_removed_at"]) == (TEXT, None)
    assert view["numbers"] == NUMBERS
    assert view["outbox"] == [(n, TEXT) for n in NUMBERS]
    assert view["webhook_mobiles"] == NUMBERS


async def test_a_message_just_past_the_retention_period_loses_text_and_numbers(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    message_id = await add_message(db_sessions, account_id, created=T0)
    # Its webhooks were written a second after it: they pass the period a second later.
    job = RetentionJob(db_sessions, settings, clock=FakeClock(T0 + RETENTION_S + 1.001))

    await job.sweep()

    view = await message_view(db_sessions, message_id)
    assert (view["text"], view["text_removed_at"]) == ("", at(T0 + RETENTION_S + 1.001))
    masked = ["965XXXXXXXX", "965XXXXXXXX", "966XXXXXXXXX"]
    assert view["numbers"] == masked
    assert view["outbox"] == [(n, "") for n in masked]
    assert view["webhook_mobiles"] == masked
    assert view["events"] == 2 * len(NUMBERS)  # the delivery log stays


async def test_a_webhook_row_is_anonymised_only_once_itself_past_the_period(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    message_id = await add_message(db_sessions, account_id, created=T0)
    job = RetentionJob(db_sessions, settings, clock=FakeClock(T0 + RETENTION_S + 0.001))

    await job.sweep()

    view = await message_view(db_sessions, message_id)
    assert view["text"] == ""
    assert view["webhook_mobiles"] == NUMBERS  # written at T0 + 1: not yet


async def test_newer_messages_are_untouched(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    old = await add_message(db_sessions, account_id, created=T0)
    new = await add_message(db_sessions, account_id, created=T0 + DAY_S)
    job = RetentionJob(db_sessions, settings, clock=FakeClock(T0 + RETENTION_S + 2))

    await job.sweep()

    assert (await message_view(db_sessions, old))["text"] == ""
    fresh = await message_view(db_sessions, new)
    assert (fresh["text"], fresh["numbers"], fresh["webhook_mobiles"]) == (TEXT, NUMBERS, NUMBERS)


# -- batches and repeats -------------------------------------------------------------


async def test_work_goes_in_batches_and_a_message_keeps_its_text_until_its_last_number(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    message_id = await add_message(db_sessions, account_id, created=T0)
    job = RetentionJob(db_sessions, settings, clock=FakeClock(T0 + RETENTION_S + 2), batch_size=2)

    await job.sweep_batch()
    halfway = await message_view(db_sessions, message_id)
    await job.sweep()
    done = await message_view(db_sessions, message_id)

    assert halfway["numbers"] == ["965XXXXXXXX", "965XXXXXXXX", "966501234567"]
    assert halfway["text"] == TEXT
    assert done["numbers"] == ["965XXXXXXXX", "965XXXXXXXX", "966XXXXXXXXX"]
    assert done["text"] == ""
    assert done["webhook_mobiles"] == ["965XXXXXXXX", "965XXXXXXXX", "966XXXXXXXXX"]


async def test_sweeping_again_changes_nothing(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    message_id = await add_message(db_sessions, account_id, created=T0)
    clock = FakeClock(T0 + RETENTION_S + 2)
    job = RetentionJob(db_sessions, settings, clock=clock)
    first = await job.sweep()
    before = await message_view(db_sessions, message_id)

    clock.now += DAY_S
    second = await job.sweep()

    # 3 numbers + 1 text + 3 webhook payloads.
    assert (first, second) == (7, 0)
    assert await message_view(db_sessions, message_id) == before


# -- the webhook outbox --------------------------------------------------------------

KEEP_S = 30 * DAY_S


async def add_outbox_row(
    db_sessions: SessionFactory,
    account_id: int,
    *,
    delivered: float | None = None,
    abandoned: float | None = None,
) -> int:
    async with db_sessions.begin() as session:
        row = WebhookDelivery(
            account_id=account_id,
            url="https://example.com/dlr",
            payload={"msg-id": "m", "mobile": "96550000001", "status": "DELIVERED"},
            created_at=at(T0),
            next_attempt_at=at(T0),
            delivered_at=None if delivered is None else at(delivered),
            abandoned_at=None if abandoned is None else at(abandoned),
        )
        session.add(row)
        await session.flush()
        return row.id


async def outbox_ids(db_sessions: SessionFactory) -> list[int]:
    async with db_sessions() as session:
        return list(await session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)))


@pytest.fixture
def outbox_settings(settings: Settings) -> Settings:
    return replace(settings, webhook_outbox_keep_days=30)


async def test_finished_outbox_rows_go_once_finished_longer_ago_than_the_keep_period(
    db_sessions: SessionFactory, outbox_settings: Settings, account_id: int
) -> None:
    delivered_at_boundary = await add_outbox_row(db_sessions, account_id, delivered=T0)
    abandoned_at_boundary = await add_outbox_row(db_sessions, account_id, abandoned=T0)
    await add_outbox_row(db_sessions, account_id, delivered=T0 - 0.001)
    await add_outbox_row(db_sessions, account_id, abandoned=T0 - 0.001)
    clock = FakeClock(T0 + KEEP_S)
    job = RetentionJob(db_sessions, outbox_settings, clock=clock)

    at_boundary = await job.sweep()
    kept = await outbox_ids(db_sessions)
    clock.now += 0.001
    just_past = await job.sweep()

    assert at_boundary == 2  # the two finished before the boundary
    assert kept == [delivered_at_boundary, abandoned_at_boundary]
    assert just_past == 2
    assert await outbox_ids(db_sessions) == []


async def test_an_outbox_row_still_being_retried_is_never_deleted(
    db_sessions: SessionFactory, outbox_settings: Settings, account_id: int
) -> None:
    pending = await add_outbox_row(db_sessions, account_id)  # created at T0, never finished
    job = RetentionJob(db_sessions, outbox_settings, clock=FakeClock(T0 + 10 * KEEP_S))

    await job.sweep()

    assert await outbox_ids(db_sessions) == [pending]


async def test_outbox_rows_are_deleted_in_batches(
    db_sessions: SessionFactory, outbox_settings: Settings, account_id: int
) -> None:
    for i in range(5):
        await add_outbox_row(db_sessions, account_id, delivered=T0 + i)
    job = RetentionJob(db_sessions, outbox_settings, clock=FakeClock(T0 + 2 * KEEP_S), batch_size=2)

    first = await job.sweep_batch()
    left = len(await outbox_ids(db_sessions))
    rest = await job.sweep()

    assert (first, left, rest) == (2, 3, 3)
    assert await outbox_ids(db_sessions) == []


async def test_a_keep_period_of_zero_deletes_finished_rows_at_the_next_sweep(
    db_sessions: SessionFactory, settings: Settings, account_id: int
) -> None:
    await add_outbox_row(db_sessions, account_id, delivered=T0)
    pending = await add_outbox_row(db_sessions, account_id)
    job = RetentionJob(
        db_sessions, replace(settings, webhook_outbox_keep_days=0), clock=FakeClock(T0 + 1)
    )

    await job.sweep()

    assert await outbox_ids(db_sessions) == [pending]
