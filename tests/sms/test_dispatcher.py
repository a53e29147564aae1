"""The dispatcher: queued recipients to the connector exactly once, the sweeper, receipts,
and what happens when a worker dies mid-batch (killed in another process, or cancelled).

Time that decides claims and sweeps comes from a fake clock; the sandbox and the
queue run for real (SQLite and PostgreSQL; in-process hot state and Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fake_clock import FakeClock
from queued_messages import (
    T0,
    Queued,
    add_account,
    add_message,
    event_counts,
    events,
    outbox_counts,
    recipients,
)
from scripted_operator import ScriptedOperator
from sqlalchemy import func, select, update

from secgate import appkeys
from secgate.app import create_app
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState
from secgate.hotstate.redis import RedisHotState
from secgate.settings import Settings
from secgate.sms.connectors.protocol import (
    ConnectorUnavailable,
    Receipt,
    Submission,
    SubmitResult,
)
from secgate.sms.connectors.sandbox import SandboxConnector
from secgate.sms.dispatcher import (
    LOST_CLAIM_REASON,
    OPERATOR_REFUSED_REASON,
    BatchOutcome,
    Dispatcher,
    ReceiptNotStored,
    UnknownReceipt,
    enqueue_dispatch,
    parse_job,
)
from secgate.sms.send import DISPATCH_QUEUE, SendAccepted, SendRequest, SmsService
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import (
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
    SandboxOutboxEntry,
    SenderId,
)

S = RecipientState
NOW = T0.timestamp()
CLAIM_TIMEOUT_S = 30.0
ORPHAN_GRACE_S = 60.0
REDIS_URL = os.environ.get("SECGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UNREACHABLE_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/secgate"
DISPATCHER_PROCESS = Path(__file__).with_name("dispatcher_process.py")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        dispatch_workers=0,  # tests take the workers' steps themselves
        dispatch_batch_size=50,
        dispatch_claim_timeout_s=CLAIM_TIMEOUT_S,
        dispatch_orphan_grace_s=ORPHAN_GRACE_S,
        dispatch_sweep_interval_s=3600.0,
        dispatch_retry_delay_s=0.01,
        sandbox_submit_latency_s=0.0,
        sandbox_dlr_delay_s=3600.0,  # no receipt unless a test asks for them
        sandbox_delivered_ratio=1.0,
        sandbox_failed_ratio=0.0,
        shutdown_timeout_s=5.0,
    )


@pytest.fixture
async def memory_hot(clock: FakeClock) -> AsyncIterator[MemoryHotState]:
    hot = MemoryHotState(clock=clock, redelivery_after_s=ORPHAN_GRACE_S)
    yield hot
    await hot.close()


OpenDispatcher = Callable[..., Awaitable[Dispatcher]]


@pytest.fixture
async def open_dispatcher(
    db_sessions: SessionFactory, settings: Settings, clock: FakeClock, memory_hot: HotState
) -> AsyncIterator[OpenDispatcher]:
    """A started dispatcher (the sandbox connector unless told otherwise)."""
    started: list[Dispatcher] = []

    async def open_(
        connector: Any = None,
        *,
        hot: HotState | None = None,
        sessions: SessionFactory | None = None,
        **changes: Any,
    ) -> Dispatcher:
        these = settings if not changes else replace(settings, **changes)
        sessions = sessions or db_sessions
        dispatcher = Dispatcher(
            sessions,
            hot or memory_hot,
            connector or SandboxConnector(sessions, these, clock=clock),
            these,
            clock=clock,
        )
        await dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield open_
    for dispatcher in started:
        await dispatcher.stop()


async def enqueue(hot: HotState, queued: Queued, batch_size: int = 50) -> None:
    await enqueue_dispatch(hot, queued.message_id, queued.recipient_ids, batch_size=batch_size)


async def drain(dispatcher: Dispatcher, consumer: str = "test") -> list[BatchOutcome]:
    outcomes = []
    while (outcome := await dispatcher.dispatch_next(consumer)) is not None:
        outcomes.append(outcome)
    return outcomes


async def states(sessions: SessionFactory, queued: Queued) -> list[RecipientState]:
    rows = await recipients(sessions, queued.recipient_ids)
    return [rows[i].state for i in queued.recipient_ids]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(0.02)


# -- one queue item, start to end -----------------------------------------------------


async def test_queued_recipients_are_submitted_once_and_the_item_acknowledged(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, hot_state: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 5)
    dispatcher = await open_dispatcher(hot=hot_state)
    await enqueue(hot_state, queued)
    outcome = await dispatcher.dispatch_next("w1")
    assert outcome == BatchOutcome(claimed=5, submitted=5)
    assert await hot_state.pending_count(DISPATCH_QUEUE) == 0
    rows = await recipients(db_sessions, queued.recipient_ids)
    assert {(r.state, r.connector, r.attempts) for r in rows.values()} == {
        (S.SUBMITTED, "sandbox", 1)
    }
    assert await outbox_counts(db_sessions) == dict.fromkeys(queued.recipient_ids, 1)
    logged = await events(db_sessions, queued.recipient_ids[0])
    assert [e.state for e in logged] == [S.ACCEPTED, S.QUEUED, S.SUBMITTED]
    assert logged[-1].connector_ref == rows[queued.recipient_ids[0]].connector_ref


async def test_the_same_item_delivered_twice_sends_nothing_more(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, hot_state: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 5)
    dispatcher = await open_dispatcher(hot=hot_state)
    await enqueue(hot_state, queued)
    await enqueue(hot_state, queued)  # as a redelivery, or the sweeper, would
    outcomes = await drain(dispatcher)
    assert outcomes == [BatchOutcome(claimed=5, submitted=5), BatchOutcome()]
    assert await outbox_counts(db_sessions) == dict.fromkeys(queued.recipient_ids, 1)
    assert await event_counts(db_sessions, S.SUBMITTED) == dict.fromkeys(queued.recipient_ids, 1)


async def test_what_the_operator_refuses_is_rejected_with_its_reason(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 3)
    rows = await recipients(db_sessions, queued.recipient_ids)
    refused = rows[queued.recipient_ids[1]].number
    dispatcher = await open_dispatcher(ScriptedOperator(refuse=[refused]))
    await enqueue(memory_hot, queued)
    assert await dispatcher.dispatch_next() == BatchOutcome(claimed=3, submitted=2, rejected=1)
    rows = await recipients(db_sessions, queued.recipient_ids)
    assert [(rows[i].state, rows[i].reason) for i in queued.recipient_ids] == [
        (S.SUBMITTED, None),
        (S.REJECTED, "invalid destination"),
        (S.SUBMITTED, None),
    ]


async def test_a_refusal_without_an_error_gets_a_reason_all_the_same(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    class Terse(ScriptedOperator):
        async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
            return [SubmitResult(s.recipient_id, False, None) for s in batch]

    queued = await add_message(db_sessions, await add_account(db_sessions), 1)
    dispatcher = await open_dispatcher(Terse())
    await enqueue(memory_hot, queued)
    await dispatcher.dispatch_next()
    [row] = (await recipients(db_sessions, queued.recipient_ids)).values()
    assert (row.state, row.reason) == (S.REJECTED, OPERATOR_REFUSED_REASON)


@pytest.mark.parametrize(
    ("test", "status"),
    [(True, MessageStatus.ACCEPTED), (False, MessageStatus.HELD), (False, MessageStatus.REJECTED)],
)
async def test_test_held_and_rejected_messages_are_never_sent(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    test: bool,
    status: MessageStatus,
) -> None:
    queued = await add_message(
        db_sessions, await add_account(db_sessions), 2, test=test, status=status
    )
    dispatcher = await open_dispatcher()
    await enqueue(memory_hot, queued)
    assert await dispatcher.dispatch_next() == BatchOutcome()
    assert await memory_hot.pending_count(DISPATCH_QUEUE) == 0
    assert await states(db_sessions, queued) == [S.QUEUED, S.QUEUED]
    assert await outbox_counts(db_sessions) == {}


async def test_an_item_for_a_message_that_is_gone_is_dropped(
    open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    dispatcher = await open_dispatcher()
    await enqueue_dispatch(memory_hot, 999, [1, 2], batch_size=50)
    assert await dispatcher.dispatch_next() == BatchOutcome()
    assert await memory_hot.pending_count(DISPATCH_QUEUE) == 0


async def test_only_the_items_own_message_is_claimed(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    account_id = await add_account(db_sessions)
    first = await add_message(db_sessions, account_id, 1)
    second = await add_message(db_sessions, account_id, 1)
    dispatcher = await open_dispatcher()
    # An item naming the second message's recipient under the first message.
    await enqueue_dispatch(
        memory_hot, first.message_id, first.recipient_ids + second.recipient_ids, batch_size=50
    )
    assert await dispatcher.dispatch_next() == BatchOutcome(claimed=1, submitted=1)
    assert await states(db_sessions, second) == [S.QUEUED]


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"\xff\xfe", b"[1, 2]", b'{"message_id": 1}', b'{"recipient_ids": [1]}'],
)
async def test_a_malformed_item_is_acknowledged_and_dropped(
    open_dispatcher: OpenDispatcher, memory_hot: HotState, payload: bytes
) -> None:
    dispatcher = await open_dispatcher()
    await memory_hot.enqueue(DISPATCH_QUEUE, payload)
    assert await dispatcher.dispatch_next() == BatchOutcome()
    assert await memory_hot.pending_count(DISPATCH_QUEUE) == 0


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        ({"message_id": 1, "recipient_ids": [2, 3]}, True),
        ({"message_id": 1, "recipient_ids": []}, True),
        ({"message_id": True, "recipient_ids": [2]}, False),
        ({"message_id": 0, "recipient_ids": [2]}, False),
        ({"message_id": "1", "recipient_ids": [2]}, False),
        ({"message_id": 1, "recipient_ids": [2, "3"]}, False),
        ({"message_id": 1, "recipient_ids": [-2]}, False),
        ({"message_id": 1, "recipient_ids": 2}, False),
        ({"message_id": 1.5, "recipient_ids": [2]}, False),
    ],
)
def test_a_job_has_a_message_id_and_a_list_of_recipient_ids(
    data: dict[str, Any], valid: bool
) -> None:
    job = parse_job(json.dumps(data).encode())
    assert (job is not None) is valid
    if job is not None:
        assert (job.message_id, job.recipient_ids) == (data["message_id"], data["recipient_ids"])


def test_the_accept_paths_payload_is_a_job() -> None:
    from secgate.sms.send import dispatch_payload

    job = parse_job(dispatch_payload(7, [8, 9]))
    assert job is not None
    assert (job.message_id, job.recipient_ids) == (7, [8, 9])


async def test_recipients_are_queued_in_items_of_the_batch_size(memory_hot: HotState) -> None:
    await enqueue_dispatch(memory_hot, 1, list(range(1, 121)), batch_size=50)
    items = await memory_hot.consume(DISPATCH_QUEUE, "t", count=10)
    jobs = [parse_job(item.payload) for item in items]
    assert [len(job.recipient_ids) for job in jobs if job] == [50, 50, 20]


# -- claims left by a worker that died --------------------------------------------------


async def crash_after_claiming(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, hot: HotState, queued: Queued
) -> None:
    """A worker claims the recipients, then dies inside the connector call."""
    operator = ScriptedOperator()
    operator.failure = RuntimeError("worker died")
    dying = await open_dispatcher(operator, hot=hot)
    await enqueue(hot, queued)
    with pytest.raises(RuntimeError, match="worker died"):
        await dying.dispatch_next("dying")
    rows = await recipients(db_sessions, queued.recipient_ids)
    assert {(r.state, r.claimed_at) for r in rows.values()} == {(S.QUEUED, T0)}


@pytest.mark.parametrize(
    ("age_s", "taken"),
    [(CLAIM_TIMEOUT_S - 0.001, False), (CLAIM_TIMEOUT_S, True), (CLAIM_TIMEOUT_S + 0.001, True)],
)
async def test_a_claim_is_taken_over_once_it_is_as_old_as_the_claim_timeout(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
    age_s: float,
    taken: bool,
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 3)
    await crash_after_claiming(db_sessions, open_dispatcher, memory_hot, queued)
    clock.now = NOW + age_s
    dispatcher = await open_dispatcher()
    await enqueue(memory_hot, queued)  # the item again (redelivered, or swept)
    outcome = await dispatcher.dispatch_next("fresh")
    assert outcome == (BatchOutcome(claimed=3, submitted=3) if taken else BatchOutcome())
    expected = S.SUBMITTED if taken else S.QUEUED
    assert await states(db_sessions, queued) == [expected] * 3
    if taken:
        rows = await recipients(db_sessions, queued.recipient_ids)
        assert {r.attempts for r in rows.values()} == {2}


@pytest.mark.parametrize(
    ("age_s", "failed"),
    [(CLAIM_TIMEOUT_S - 0.001, False), (CLAIM_TIMEOUT_S, True), (CLAIM_TIMEOUT_S + 0.001, True)],
)
async def test_a_lost_claim_is_failed_not_resent_when_the_connector_cannot_be_asked_twice(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
    age_s: float,
    failed: bool,
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 2)
    await crash_after_claiming(db_sessions, open_dispatcher, memory_hot, queued)
    clock.now = NOW + age_s
    operator = ScriptedOperator(idempotent=False)
    dispatcher = await open_dispatcher(operator)
    await enqueue(memory_hot, queued)
    outcome = await dispatcher.dispatch_next("fresh")
    assert operator.submitted == []  # never sent a second time, stale or not
    assert outcome == BatchOutcome(failed_unknown=2 if failed else 0)
    rows = await recipients(db_sessions, queued.recipient_ids)
    if failed:
        assert {(r.state, r.reason) for r in rows.values()} == {(S.FAILED, LOST_CLAIM_REASON)}
    else:
        assert {r.state for r in rows.values()} == {S.QUEUED}


async def test_a_connector_that_cannot_be_asked_twice_still_gets_unclaimed_recipients(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 2)
    operator = ScriptedOperator(idempotent=False)
    dispatcher = await open_dispatcher(operator)
    await enqueue(memory_hot, queued)
    assert await dispatcher.dispatch_next() == BatchOutcome(claimed=2, submitted=2)
    assert [s.recipient_id for s in operator.submitted] == queued.recipient_ids


async def test_an_unavailable_operator_gets_the_claims_back_and_the_item_comes_again(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 2)
    operator = ScriptedOperator(idempotent=False)
    operator.failure = ConnectorUnavailable("not bound")
    dispatcher = await open_dispatcher(operator)
    await enqueue(memory_hot, queued)
    with pytest.raises(ConnectorUnavailable):
        await dispatcher.dispatch_next()
    rows = await recipients(db_sessions, queued.recipient_ids)
    assert {(r.state, r.claimed_at) for r in rows.values()} == {(S.QUEUED, None)}
    assert await memory_hot.pending_count(DISPATCH_QUEUE) == 1  # not acknowledged
    # Back in service: the item is delivered again and, nothing having gone out, the
    # recipients are sent even by a connector that cannot be asked twice.
    operator.failure = None
    clock.now += ORPHAN_GRACE_S  # the queue's redelivery time
    assert await dispatcher.dispatch_next() == BatchOutcome(claimed=2, submitted=2)


async def test_with_the_database_down_nothing_is_sent_and_the_item_stays(
    open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    engine = create_engine(UNREACHABLE_DATABASE_URL)
    try:
        operator = ScriptedOperator()
        dispatcher = await open_dispatcher(operator, sessions=session_factory(engine))
        await enqueue_dispatch(memory_hot, 1, [1, 2], batch_size=50)
        with pytest.raises(OSError):
            await dispatcher.dispatch_next()
        assert operator.submitted == []
        assert await memory_hot.pending_count(DISPATCH_QUEUE) == 1
    finally:
        await engine.dispose()


# -- the sweeper ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_s", "swept"),
    [(ORPHAN_GRACE_S - 0.001, False), (ORPHAN_GRACE_S, True), (ORPHAN_GRACE_S + 0.001, True)],
)
async def test_recipients_queued_unclaimed_for_the_grace_period_are_queued_again(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
    age_s: float,
    swept: bool,
) -> None:
    # Accepted, but the queue item was lost (say the hot state was restarted).
    queued = await add_message(db_sessions, await add_account(db_sessions), 60)
    dispatcher = await open_dispatcher()
    clock.now = NOW + age_s
    assert await dispatcher.sweep() == (60 if swept else 0)
    if swept:
        outcomes = await drain(dispatcher)
        assert [o.submitted for o in outcomes] == [50, 10]
        assert await states(db_sessions, queued) == [S.SUBMITTED] * 60
    else:
        assert await memory_hot.pending_count(DISPATCH_QUEUE) == 0
        assert await dispatcher.dispatch_next() is None


@pytest.mark.parametrize(
    ("age_s", "swept"),
    [(CLAIM_TIMEOUT_S - 0.001, False), (CLAIM_TIMEOUT_S, True), (CLAIM_TIMEOUT_S + 0.001, True)],
)
async def test_recipients_with_a_stale_claim_are_queued_again(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
    age_s: float,
    swept: bool,
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 2, at=T0)
    # Claimed just now by a worker that died; their queue item was acknowledged
    # by another that found them claimed.
    await crash_after_claiming(db_sessions, open_dispatcher, memory_hot, queued)
    await _drop_queue(memory_hot)
    dispatcher = await open_dispatcher()
    clock.now = NOW + age_s
    assert await dispatcher.sweep() == (2 if swept else 0)


async def _drop_queue(hot: HotState) -> None:
    for item in await hot.consume(DISPATCH_QUEUE, "janitor", count=100):
        await hot.ack(DISPATCH_QUEUE, item.id)


async def test_a_message_is_swept_once_within_the_grace_period(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
) -> None:
    await add_message(db_sessions, await add_account(db_sessions), 2)
    dispatcher = await open_dispatcher()
    clock.now = NOW + ORPHAN_GRACE_S
    assert await dispatcher.sweep() == 2
    assert await dispatcher.sweep() == 0  # its item is still waiting in the queue
    clock.now += ORPHAN_GRACE_S
    assert await dispatcher.sweep() == 2  # that item too was lost, it seems


async def test_the_sweeper_leaves_test_held_claimed_and_sent_recipients_alone(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
) -> None:
    account_id = await add_account(db_sessions)
    await add_message(db_sessions, account_id, 1, test=True)
    await add_message(db_sessions, account_id, 1, status=MessageStatus.HELD)
    sent = await add_message(db_sessions, account_id, 1)
    claimed = await add_message(db_sessions, account_id, 1)
    dispatcher = await open_dispatcher()
    await enqueue(memory_hot, sent)
    await dispatcher.dispatch_next()
    clock.now = NOW + ORPHAN_GRACE_S
    async with db_sessions.begin() as session:  # a live claim, a moment old
        await session.execute(
            update(Recipient)
            .where(Recipient.id.in_(claimed.recipient_ids))
            .values(claimed_at=datetime.fromtimestamp(clock.now - 1, UTC))
        )
    assert await dispatcher.sweep() == 0


# -- receipts ------------------------------------------------------------------------------


async def submitted_recipient(
    db_sessions: SessionFactory, dispatcher: Dispatcher, hot: HotState
) -> Recipient:
    queued = await add_message(db_sessions, await add_account(db_sessions), 1)
    await enqueue(hot, queued)
    await dispatcher.dispatch_next()
    [row] = (await recipients(db_sessions, queued.recipient_ids)).values()
    return row


def receipt(ref: str, state: str = "delivered", error: str | None = None) -> Receipt:
    return Receipt(ref, state, datetime.fromtimestamp(NOW + 5, UTC), error)  # type: ignore[arg-type]


async def test_a_receipt_records_the_final_state_with_its_time_and_reason(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    operator = ScriptedOperator()
    dispatcher = await open_dispatcher(operator)
    row = await submitted_recipient(db_sessions, dispatcher, memory_hot)
    assert operator.on_receipt is dispatcher.receipts
    await dispatcher.receipts(receipt(f"op-{row.id}", "failed", "absent subscriber"))
    [after] = (await recipients(db_sessions, [row.id])).values()
    assert (after.state, after.reason, after.updated_at) == (
        S.FAILED,
        "absent subscriber",
        datetime.fromtimestamp(NOW + 5, UTC),
    )
    assert [e.state for e in await events(db_sessions, row.id)][-1] == S.FAILED


async def test_a_duplicate_receipt_is_taken_and_changes_nothing(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    dispatcher = await open_dispatcher(ScriptedOperator())
    row = await submitted_recipient(db_sessions, dispatcher, memory_hot)
    await dispatcher.receipts(receipt(f"op-{row.id}", "delivered"))
    await dispatcher.receipts(receipt(f"op-{row.id}", "delivered"))  # does not raise
    await dispatcher.receipts(receipt(f"op-{row.id}", "expired"))
    assert (await event_counts(db_sessions, S.DELIVERED))[row.id] == 1
    assert [e.state for e in await events(db_sessions, row.id)] == [
        S.ACCEPTED,
        S.QUEUED,
        S.SUBMITTED,
        S.DELIVERED,
    ]


async def test_receipts_arriving_together_are_all_recorded(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    dispatcher = await open_dispatcher(ScriptedOperator())
    queued = await add_message(db_sessions, await add_account(db_sessions), 120)
    await enqueue(memory_hot, queued)
    await drain(dispatcher)
    refs = [f"op-{i}" for i in queued.recipient_ids]
    await asyncio.gather(*(dispatcher.receipts(receipt(ref)) for ref in refs + refs[:10]))
    assert await states(db_sessions, queued) == [S.DELIVERED] * 120
    assert await event_counts(db_sessions, S.DELIVERED) == dict.fromkeys(queued.recipient_ids, 1)


async def test_a_receipt_for_an_unknown_reference_is_refused_to_come_again(
    open_dispatcher: OpenDispatcher,
) -> None:
    # It may have overtaken the SUBMITTED record of its own submission.
    dispatcher = await open_dispatcher(ScriptedOperator())
    with pytest.raises(UnknownReceipt):
        await dispatcher.receipts(receipt("op-nobody"))


async def test_a_receipt_the_database_cannot_take_is_refused_to_come_again(
    open_dispatcher: OpenDispatcher,
) -> None:
    engine = create_engine(UNREACHABLE_DATABASE_URL)
    try:
        dispatcher = await open_dispatcher(ScriptedOperator(), sessions=session_factory(engine))
        with pytest.raises(ReceiptNotStored):
            await dispatcher.receipts(receipt("op-1"))
    finally:
        await engine.dispose()


async def test_a_receipt_from_another_connector_does_not_match(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    dispatcher = await open_dispatcher(ScriptedOperator())
    row = await submitted_recipient(db_sessions, dispatcher, memory_hot)
    sandbox = await open_dispatcher()  # its receipts are the sandbox's
    with pytest.raises(UnknownReceipt):
        await sandbox.receipts(receipt(f"op-{row.id}"))


# -- running: workers, receipts, stopping ------------------------------------------------


async def test_running_workers_take_recipients_to_their_final_state(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, hot_state: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 120)
    await open_dispatcher(hot=hot_state, dispatch_workers=3, sandbox_dlr_delay_s=0.01)
    await enqueue(hot_state, queued)

    async def all_delivered() -> bool:
        return await states(db_sessions, queued) == [S.DELIVERED] * 120

    await eventually(all_delivered)
    assert await outbox_counts(db_sessions) == dict.fromkeys(queued.recipient_ids, 1)
    assert await event_counts(db_sessions, S.SUBMITTED) == dict.fromkeys(queued.recipient_ids, 1)


async def test_stopping_lets_a_worker_finish_the_batch_in_hand(
    db_sessions: SessionFactory, open_dispatcher: OpenDispatcher, memory_hot: HotState
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 5)
    dispatcher = await open_dispatcher(dispatch_workers=1, sandbox_submit_latency_s=0.3)
    await enqueue(memory_hot, queued)

    async def operator_has_them() -> bool:
        return len(await outbox_counts(db_sessions)) == 5

    await eventually(operator_has_them)
    assert await states(db_sessions, queued) == [S.QUEUED] * 5  # the answer is on its way
    await dispatcher.stop()
    assert await states(db_sessions, queued) == [S.SUBMITTED] * 5
    assert await memory_hot.pending_count(DISPATCH_QUEUE) == 0


async def test_stopping_idle_workers_is_immediate(open_dispatcher: OpenDispatcher) -> None:
    dispatcher = await open_dispatcher(dispatch_workers=4)
    await asyncio.sleep(0.05)  # the workers are waiting on the queue
    async with asyncio.timeout(0.5):
        await dispatcher.stop()


async def test_the_application_runs_a_dispatcher_on_the_configured_connector(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    settings: Settings,
    db_sessions: SessionFactory,
    hot_state_url: str | None,
) -> None:
    app = create_app(
        replace(settings, dispatch_workers=2, redis_url=hot_state_url, sandbox_dlr_delay_s=0.01)
    )
    client = await aiohttp_client(app)
    assert isinstance(client.app[appkeys.CONNECTOR], SandboxConnector)
    queued = await add_message(db_sessions, await add_account(db_sessions), 3)
    await enqueue(client.app[appkeys.HOT_STATE], queued)

    async def all_delivered() -> bool:
        return await states(db_sessions, queued) == [S.DELIVERED] * 3

    await eventually(all_delivered)


# -- a worker dies mid-batch ----------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_worker_cancelled_mid_batch_leaves_every_recipient_sent_exactly_once(
    db_sessions: SessionFactory,
    open_dispatcher: OpenDispatcher,
    memory_hot: HotState,
    clock: FakeClock,
) -> None:
    queued = await add_message(db_sessions, await add_account(db_sessions), 100)
    await enqueue(memory_hot, queued)
    dying = await open_dispatcher(sandbox_submit_latency_s=0.3)
    worker = asyncio.create_task(dying.dispatch_next("dying"))

    async def operator_has_a_batch() -> bool:
        return len(await outbox_counts(db_sessions)) == 50

    await eventually(operator_has_a_batch)
    worker.cancel()  # mid-batch: the operator has it, the delivery log does not
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    assert await event_counts(db_sessions, S.SUBMITTED) == {}

    clock.now += max(CLAIM_TIMEOUT_S, ORPHAN_GRACE_S)  # the claim is stale, the item due
    fresh = await open_dispatcher()
    outcomes = await drain(fresh, "fresh")
    assert sorted(o.submitted for o in outcomes) == [50, 50]
    assert await outbox_counts(db_sessions) == dict.fromkeys(queued.recipient_ids, 1)
    assert await event_counts(db_sessions, S.SUBMITTED) == dict.fromkeys(queued.recipient_ids, 1)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_worker_process_killed_mid_batch_leaves_every_recipient_sent_exactly_once(
    db_sessions: SessionFactory,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    recipients_count = 500
    namespace = f"secgate-test-{uuid.uuid4().hex[:12]}"
    hot = RedisHotState.from_url(REDIS_URL, namespace=namespace, redelivery_after_s=0.3)
    process: asyncio.subprocess.Process | None = None
    try:
        # Accepted through the real accept path, which queues them in Redis.
        ids = await _accept(db_sessions, hot, settings, recipients_count)

        # A dispatcher process takes batches to the sandbox, whose answer takes 5 s:
        # it is killed once the operator holds some, none of them recorded as sent.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(DISPATCHER_PROCESS),
            namespace,
            env=_process_env(database_url, tmp_path),
        )

        async def operator_has_some() -> bool:
            assert process is not None and process.returncode is None, "the process died"
            return len(await outbox_counts(db_sessions)) > 0

        await eventually(operator_has_some, timeout_s=30)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        taken_by_the_dead = len(await outbox_counts(db_sessions))
        assert 0 < taken_by_the_dead < recipients_count
        assert await event_counts(db_sessions, S.SUBMITTED) == {}

        # A fresh dispatcher, with short timeouts so that the test need not wait long.
        fresh_settings = replace(
            settings,
            dispatch_workers=4,
            dispatch_claim_timeout_s=0.5,
            dispatch_orphan_grace_s=1.0,
            dispatch_sweep_interval_s=0.2,
            sandbox_dlr_delay_s=0.01,
        )
        fresh = Dispatcher(
            db_sessions, hot, SandboxConnector(db_sessions, fresh_settings), fresh_settings
        )
        await fresh.start()
        try:

            async def all_delivered() -> bool:
                async with db_sessions() as session:
                    waiting = await session.scalar(
                        select(func.count())
                        .select_from(Recipient)
                        .where(Recipient.id.in_(ids), Recipient.state != S.DELIVERED)
                    )
                return waiting == 0

            await eventually(all_delivered, timeout_s=60)
        finally:
            await fresh.stop()

        assert await outbox_counts(db_sessions) == dict.fromkeys(ids, 1)
        assert await event_counts(db_sessions, S.SUBMITTED) == dict.fromkeys(ids, 1)
        async with db_sessions() as session:
            outbox_rows = await session.scalar(select(func.count()).select_from(SandboxOutboxEntry))
        assert outbox_rows == recipients_count
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await hot.delete_namespace()
        await hot.close()


async def _accept(
    sessions: SessionFactory, hot: HotState, settings: Settings, count: int
) -> list[int]:
    account_id = await add_account(sessions)
    async with sessions.begin() as session:
        session.add(SenderId(account_id=account_id, name="SecGate"))
    service = SmsService(sessions, hot, settings)
    numbers = [f"9656{i:07d}" for i in range(count)]
    for start in range(0, count, 200):
        result = await service.send(
            SendRequest(
                account_id=account_id,
                sender="SecGate",
                numbers=numbers[start : start + 200],
                text="Your code is 482113",
                test=False,
                client_ip=None,
            )
        )
        assert isinstance(result, SendAccepted), result
    async with sessions() as session:
        ids = list(await session.scalars(select(Recipient.id).join(Message)))
    assert len(ids) == count
    assert await hot.pending_count(DISPATCH_QUEUE) == 0  # queued, not yet taken
    return ids


def _process_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SECGATE_DATABASE_URL": database_url,
        "SECGATE_REDIS_URL": REDIS_URL,
        "SECGATE_VAR_DIR": str(tmp_path / "var"),
        "SECGATE_SECRET_KEY": "x" * 40,
        "SECGATE_DISPATCH_WORKERS": "2",
        "SECGATE_SANDBOX_SUBMIT_LATENCY_S": "5",
        "SECGATE_DISPATCH_SWEEP_INTERVAL_S": "3600",
        "SECGATE_QUEUE_REDELIVERY_AFTER_S": "0.3",
        "SECGATE_LOG_LEVEL": "WARNING",
    }
