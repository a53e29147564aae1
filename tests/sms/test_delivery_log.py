"""The delivery logger: state changes of recipients, their append-only events, the
webhook outbox of final states, and the report read from it all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import kwtsms
import pytest
from queued_messages import T0, Queued, add_account, add_message, event_counts, events, recipients
from sqlalchemy import select

from secgate.sms import delivery_log
from secgate.sms.delivery_log import StateChange, aggregate_status, record
from secgate.storage.db import SessionFactory
from secgate.storage.models import DeliveryEvent, MessageStatus, RecipientState, WebhookDelivery

S = RecipientState
T1 = T0 + timedelta(seconds=5)
T2 = T0 + timedelta(seconds=9)


@pytest.fixture
async def queued(db_sessions: SessionFactory) -> Queued:
    account_id = await add_account(db_sessions)
    return await add_message(db_sessions, account_id, 3)


async def apply(sessions: SessionFactory, *changes: StateChange) -> list[StateChange]:
    async with sessions.begin() as session:
        return await record(session, changes)


def change(queued: Queued, index: int, state: RecipientState, **fields: object) -> StateChange:
    values: dict[str, object] = {"at": T1} | fields
    return StateChange(queued.recipient_ids[index], queued.message_id, state, **values)  # type: ignore[arg-type]


def submitted(queued: Queued, index: int, ref: str | None = None, **fields: object) -> StateChange:
    return change(
        queued,
        index,
        S.SUBMITTED,
        connector="sandbox",
        connector_ref=ref or f"ref-{index}",
        **fields,
    )


# -- state changes and their events -------------------------------------------------


async def test_a_change_moves_the_recipient_and_logs_an_event_with_time_and_reference(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    applied = await apply(db_sessions, submitted(queued, 0, "sbx-1"))
    assert [c.recipient_id for c in applied] == [queued.recipient_ids[0]]
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert (row.state, row.connector, row.connector_ref, row.updated_at) == (
        S.SUBMITTED,
        "sandbox",
        "sbx-1",
        T1,
    )
    logged = await events(db_sessions, queued.recipient_ids[0])
    assert [e.state for e in logged] == [S.ACCEPTED, S.QUEUED, S.SUBMITTED]
    assert (logged[-1].connector, logged[-1].connector_ref, logged[-1].at) == (
        "sandbox",
        "sbx-1",
        T1,
    )
    assert logged[-1].message_id == queued.message_id


async def test_a_rejection_keeps_its_reason(db_sessions: SessionFactory, queued: Queued) -> None:
    await apply(db_sessions, change(queued, 1, S.REJECTED, reason="invalid destination"))
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[1]]
    assert (row.state, row.reason) == (S.REJECTED, "invalid destination")
    assert (await events(db_sessions, queued.recipient_ids[1]))[-1].reason == "invalid destination"


async def test_a_reason_longer_than_the_column_is_cut(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, change(queued, 0, S.REJECTED, reason="x" * 300))
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert row.reason == "x" * delivery_log.MAX_REASON_CHARS


async def test_a_second_submitted_is_skipped_and_logs_nothing(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0, "first"))
    assert await apply(db_sessions, submitted(queued, 0, "second", at=T2)) == []
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert (row.connector_ref, row.updated_at) == ("first", T1)
    assert (await event_counts(db_sessions, S.SUBMITTED))[queued.recipient_ids[0]] == 1


async def test_a_duplicate_receipt_changes_nothing_and_logs_nothing(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0))
    await apply(db_sessions, change(queued, 0, S.DELIVERED, at=T1))
    assert await apply(db_sessions, change(queued, 0, S.DELIVERED, at=T2)) == []
    assert await apply(db_sessions, change(queued, 0, S.FAILED, at=T2, reason="late")) == []
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert (row.state, row.updated_at, row.reason) == (S.DELIVERED, T1, None)
    assert [e.state for e in await events(db_sessions, queued.recipient_ids[0])] == [
        S.ACCEPTED,
        S.QUEUED,
        S.SUBMITTED,
        S.DELIVERED,
    ]


@pytest.mark.parametrize(
    ("start", "state", "applies"),
    [
        ("queued", S.SUBMITTED, True),
        ("queued", S.REJECTED, True),
        ("queued", S.FAILED, True),  # a lost claim of a connector that cannot retry
        ("queued", S.DELIVERED, False),  # a receipt needs a submission first
        ("queued", S.EXPIRED, False),
        ("submitted", S.DELIVERED, True),
        ("submitted", S.FAILED, True),
        ("submitted", S.EXPIRED, True),
        ("submitted", S.REJECTED, False),
        ("submitted", S.SUBMITTED, False),
        ("delivered", S.FAILED, False),
        ("delivered", S.EXPIRED, False),
        ("rejected", S.SUBMITTED, False),
        ("failed", S.DELIVERED, False),
    ],
)
async def test_a_change_applies_only_from_the_states_it_may_follow(
    db_sessions: SessionFactory,
    queued: Queued,
    start: str,
    state: RecipientState,
    applies: bool,
) -> None:
    path: list[StateChange] = {
        "queued": [],
        "submitted": [submitted(queued, 0)],
        "delivered": [submitted(queued, 0), change(queued, 0, S.DELIVERED)],
        "rejected": [change(queued, 0, S.REJECTED)],
        "failed": [submitted(queued, 0), change(queued, 0, S.FAILED)],
    }[start]
    for step in path:
        await apply(db_sessions, step)
    before = len(await events(db_sessions, queued.recipient_ids[0]))
    applied = await apply(db_sessions, change(queued, 0, state, at=T2, connector_ref="r"))
    assert bool(applied) is applies
    after = await events(db_sessions, queued.recipient_ids[0])
    assert len(after) == before + applies
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert row.state == (state if applies else S(start))


async def test_one_call_carries_a_recipient_through_several_states_in_order(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    # Given out of order: the log applies them in the order states follow each other.
    applied = await apply(db_sessions, change(queued, 0, S.DELIVERED, at=T2), submitted(queued, 0))
    assert [c.state for c in applied] == [S.SUBMITTED, S.DELIVERED]
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert row.state == S.DELIVERED


async def test_a_change_without_a_reference_keeps_the_one_the_recipient_has(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0, "sbx-9"))
    await apply(db_sessions, change(queued, 0, S.EXPIRED))
    row = (await recipients(db_sessions, queued.recipient_ids))[queued.recipient_ids[0]]
    assert (row.connector, row.connector_ref) == ("sandbox", "sbx-9")


async def test_events_already_logged_are_never_changed(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0, "sbx-1"))
    before = [_event_tuple(e) for e in await events(db_sessions, queued.recipient_ids[0])]
    await apply(db_sessions, change(queued, 0, S.FAILED, at=T2, reason="no route"))
    await apply(db_sessions, change(queued, 0, S.DELIVERED, at=T2))  # skipped
    after = [_event_tuple(e) for e in await events(db_sessions, queued.recipient_ids[0])]
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1


def _event_tuple(event: DeliveryEvent) -> tuple[object, ...]:
    return (event.id, event.state, event.reason, event.connector, event.connector_ref, event.at)


async def test_many_recipients_are_recorded_in_one_call(db_sessions: SessionFactory) -> None:
    account_id = await add_account(db_sessions)
    big = await add_message(db_sessions, account_id, 500)
    applied = await apply(
        db_sessions,
        *(
            StateChange(r, big.message_id, S.SUBMITTED, connector="sandbox", connector_ref=f"r{r}")
            for r in big.recipient_ids
        ),
    )
    assert len(applied) == 500
    rows = await recipients(db_sessions, big.recipient_ids)
    assert all(rows[r].connector_ref == f"r{r}" for r in big.recipient_ids)
    assert sum((await event_counts(db_sessions, S.SUBMITTED)).values()) == 500


async def test_two_transactions_recording_the_same_receipt_log_it_once(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0))
    results = await asyncio.gather(
        *(apply(db_sessions, change(queued, 0, S.DELIVERED, at=T2)) for _ in range(4))
    )
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert (await event_counts(db_sessions, S.DELIVERED))[queued.recipient_ids[0]] == 1


# -- webhooks ------------------------------------------------------------------------


async def webhook_rows(sessions: SessionFactory) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_a_final_state_queues_the_accounts_webhook_in_the_same_transaction(
    db_sessions: SessionFactory,
) -> None:
    account_id = await add_account(db_sessions, webhook_url="https://customer.example/dlr")
    queued = await add_message(db_sessions, account_id, 2)
    await apply(db_sessions, submitted(queued, 0), submitted(queued, 1))
    assert await webhook_rows(db_sessions) == []  # SUBMITTED is not final
    await apply(
        db_sessions,
        change(queued, 0, S.DELIVERED, at=T2),
        change(queued, 1, S.FAILED, at=T2, reason="absent subscriber"),
    )
    rows = await webhook_rows(db_sessions)
    assert [(r.account_id, r.url) for r in rows] == [
        (account_id, "https://customer.example/dlr")
    ] * 2
    numbers = {
        r.id: r.number for r in (await recipients(db_sessions, queued.recipient_ids)).values()
    }
    assert sorted((r.payload for r in rows), key=lambda p: p["status"]) == [
        {
            "msg-id": queued.msg_id,
            "mobile": numbers[queued.recipient_ids[0]],
            "status": "DELIVERED",
            "unix-timestamp": int(T2.timestamp()),
            "delivered-at": int(T2.timestamp()),
            "reason": None,
        },
        {
            "msg-id": queued.msg_id,
            "mobile": numbers[queued.recipient_ids[1]],
            "status": "FAILED",
            "unix-timestamp": int(T2.timestamp()),
            "reason": "absent subscriber",
        },
    ]


async def test_the_public_kwtsms_client_reads_a_delivered_receipt(
    db_sessions: SessionFactory,
) -> None:
    account_id = await add_account(db_sessions, webhook_url="https://customer.example/dlr")
    queued = await add_message(db_sessions, account_id, 1)
    await apply(db_sessions, submitted(queued, 0), change(queued, 0, S.DELIVERED, at=T2))
    [row] = await webhook_rows(db_sessions)
    parsed = kwtsms.parse_webhook(row.payload)
    assert parsed["ok"]
    assert (parsed["msg_id"], parsed["status"], parsed["delivered_at"]) == (
        queued.msg_id,
        "DELIVERED",
        int(T2.timestamp()),
    )


async def test_a_rejection_is_reported_to_the_webhook(db_sessions: SessionFactory) -> None:
    account_id = await add_account(db_sessions, webhook_url="https://customer.example/dlr")
    queued = await add_message(db_sessions, account_id, 1)
    await apply(db_sessions, change(queued, 0, S.REJECTED, reason="barred"))
    [row] = await webhook_rows(db_sessions)
    assert (row.payload["status"], row.payload["reason"]) == ("REJECTED", "barred")


async def test_a_skipped_duplicate_queues_no_second_webhook(db_sessions: SessionFactory) -> None:
    account_id = await add_account(db_sessions, webhook_url="https://customer.example/dlr")
    queued = await add_message(db_sessions, account_id, 1)
    await apply(db_sessions, submitted(queued, 0))
    await apply(db_sessions, change(queued, 0, S.DELIVERED))
    await apply(db_sessions, change(queued, 0, S.DELIVERED))
    assert len(await webhook_rows(db_sessions)) == 1


@pytest.mark.parametrize("url", [None, ""])
async def test_no_webhook_is_queued_for_an_account_without_one(
    db_sessions: SessionFactory, url: str | None
) -> None:
    account_id = await add_account(db_sessions, webhook_url=url)
    queued = await add_message(db_sessions, account_id, 1)
    await apply(db_sessions, submitted(queued, 0), change(queued, 0, S.DELIVERED))
    assert await webhook_rows(db_sessions) == []


async def test_a_rolled_back_change_leaves_neither_event_nor_webhook(
    db_sessions: SessionFactory,
) -> None:
    account_id = await add_account(db_sessions, webhook_url="https://customer.example/dlr")
    queued = await add_message(db_sessions, account_id, 1)
    await apply(db_sessions, submitted(queued, 0))
    async with db_sessions() as session:
        await record(session, [change(queued, 0, S.DELIVERED)])
        await session.rollback()
    assert await webhook_rows(db_sessions) == []
    assert (await event_counts(db_sessions, S.DELIVERED))[queued.recipient_ids[0]] == 0


# -- the report ----------------------------------------------------------------------


async def test_the_report_gives_each_recipients_latest_state_time_and_reason(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    await apply(db_sessions, submitted(queued, 0), submitted(queued, 1))
    await apply(
        db_sessions,
        change(queued, 0, S.DELIVERED, at=T2),
        change(queued, 1, S.EXPIRED, at=T2, reason="validity period passed"),
    )
    async with db_sessions() as session:
        found = await delivery_log.report(session, queued.account_id, queued.msg_id)
    assert found is not None
    assert (found.msg_id, found.test) == (queued.msg_id, False)
    assert [(r.status, r.at, r.reason) for r in found.recipients] == [
        ("DELIVERED", T2, None),
        ("EXPIRED", T2, "validity period passed"),
        ("QUEUED", T0, None),
    ]
    assert [r.number for r in found.recipients] == sorted(r.number for r in found.recipients)
    assert found.status == "QUEUED"


async def test_the_report_of_a_test_message_says_so(db_sessions: SessionFactory) -> None:
    account_id = await add_account(db_sessions)
    queued = await add_message(db_sessions, account_id, 1, test=True)
    async with db_sessions() as session:
        found = await delivery_log.report(session, account_id, queued.msg_id)
    assert found is not None
    assert (found.test, found.status) == (True, "QUEUED")


async def test_the_report_of_an_unknown_or_anothers_message_is_none(
    db_sessions: SessionFactory, queued: Queued
) -> None:
    other = await add_account(db_sessions, "bob")
    async with db_sessions() as session:
        assert await delivery_log.report(session, other, queued.msg_id) is None
        assert await delivery_log.report(session, other, "0" * 32) is None


async def test_a_held_message_reports_its_recipients_as_queued(db_sessions: SessionFactory) -> None:
    account_id = await add_account(db_sessions)
    held = await add_message(db_sessions, account_id, 1, status=MessageStatus.HELD)
    async with db_sessions() as session:
        found = await delivery_log.report(session, account_id, held.msg_id)
    assert found is not None
    assert [r.status for r in found.recipients] == ["QUEUED"]


@pytest.mark.parametrize(
    ("statuses", "aggregate"),
    [
        ([], "QUEUED"),
        (["QUEUED", "DELIVERED"], "QUEUED"),
        (["SUBMITTED", "QUEUED"], "QUEUED"),
        (["SUBMITTED", "DELIVERED"], "SUBMITTED"),
        (["DELIVERED", "DELIVERED"], "DELIVERED"),
        (["FAILED"], "FAILED"),
        (["EXPIRED", "EXPIRED"], "EXPIRED"),
        (["REJECTED"], "REJECTED"),
        (["DELIVERED", "FAILED"], "PARTIAL"),
        (["DELIVERED", "REJECTED", "EXPIRED"], "PARTIAL"),
        (["FAILED", "EXPIRED"], "FAILED"),
        (["REJECTED", "FAILED"], "FAILED"),
    ],
)
def test_the_aggregate_status_of_a_message(statuses: list[str], aggregate: str) -> None:
    assert aggregate_status(statuses) == aggregate


def test_a_change_at_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StateChange(1, 1, S.SUBMITTED, at=T0.replace(tzinfo=None))
