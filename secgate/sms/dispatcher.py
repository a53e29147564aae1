"""The dispatcher: takes queued recipients to the operator, and records what became of them.

    queue item {"message_id", "recipient_ids"}  (hot-state queue `sms.dispatch`)
      -> claim the recipients (one conditional UPDATE) -> connector.submit(batch)
      -> record SUBMITTED / REJECTED -> acknowledge the item
    connector receipt -> record DELIVERED / FAILED / EXPIRED (several per transaction)
    sweeper: queued recipients whose queue item was lost -> queued again

Exactly once. The database says what is left to send; a queue item is only a prompt,
and may come twice (a redelivery, the sweeper). A worker claims recipients with an
UPDATE whose WHERE asks for state QUEUED and no live claim, so two workers holding the
same item never both take a recipient. A claim older than `dispatch_claim_timeout_s`
belongs to a worker that stopped between claiming and recording:
- with an idempotent connector (sandbox) the recipient is claimed and submitted again;
  the connector knows it by recipient_id and gives back its first reference: one SMS;
- with one that is not (SMPP), whether the SMS went out is unknown, so the recipient
  is FAILED with LOST_CLAIM_REASON rather than risk sending it twice (at most once).
  Its charge stands, as for every recipient that ends undelivered (REJECTED by the
  operator, FAILED, EXPIRED): points are charged when a send is accepted, as kwtSMS
  charges them, and no final state gives them back.
The delivery log enters SUBMITTED only from QUEUED, so a slow worker that recorded
after another took over its claim logs nothing twice.

When a store does not answer, nothing is sent that was not claimed first (fail closed),
and nothing is lost, because a recipient leaves QUEUED only in a committed transaction:
- database: nothing is claimed, so nothing is sent; the queue item stays unacknowledged
  and is delivered again after `queue_redelivery_after_s`. A submitted batch whose
  result cannot be recorded leaves its claims to go stale (above). Receipts are
  refused, and the connector offers them again.
- hot state: workers cannot take items nor the sweeper queue them. The recipients wait
  in the database, QUEUED, and the sweeper queues them again once the hot state is
  back (also after a restart with the in-process hot state, whose queue is lost).
- operator (ConnectorUnavailable): the claims are released and the item retried later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.hotstate.factory import open_hot_state
from secgate.hotstate.protocol import HotState, HotStateUnavailable, QueueItem
from secgate.ops.jsonlog import configure_logging
from secgate.settings import Settings
from secgate.sms.connectors.factory import open_connector
from secgate.sms.connectors.protocol import (
    Connector,
    ConnectorUnavailable,
    Receipt,
    Submission,
    SubmitResult,
)
from secgate.sms.delivery_log import StateChange, record
from secgate.sms.send import DISPATCH_QUEUE, dispatch_payload
from secgate.storage.db import SessionFactory, open_engine, session_factory
from secgate.storage.models import Message, MessageStatus, Recipient, RecipientState

log = logging.getLogger("secgate.sms.dispatcher")

LOST_CLAIM_REASON = "outcome unknown: the worker submitting it stopped"
OPERATOR_REFUSED_REASON = "refused by the operator"
# Set (only if new) when the sweeper queues a message's recipients again; it lives for
# dispatch_orphan_grace_s, so that a message waiting behind a long queue is not queued
# again on every sweep, nor by every process.
SWEPT_KEY = "sms.dispatch.swept:{message_id}"
# Receipts that arrive within this of the first are stored in one transaction.
RECEIPT_LINGER_S = 0.01
# How long an idle worker waits on the queue at a time.
_CONSUME_BLOCK_S = 1.0
# Attempts at recording a submitted batch before its claims are left to go stale.
_RECORD_ATTEMPTS = 3
# Queue items the sweeper writes in one pass, at most.
_SWEEP_ITEMS = 100
_STORE_ERRORS = (SQLAlchemyError, OSError)
# Core tables in the statements of every batch: the ORM's bookkeeping costs more than
# the database's work at these volumes.
_recipients = Recipient.__table__
_messages = Message.__table__


@dataclass(frozen=True, slots=True)
class DispatchJob:
    message_id: int
    recipient_ids: list[int]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one queue item came to."""

    claimed: int = 0
    submitted: int = 0
    rejected: int = 0
    # Claims of a dead worker that a connector which is not idempotent cannot retry.
    failed_unknown: int = 0


@dataclass(frozen=True, slots=True)
class _Claim:
    message_id: int
    claimed_at: datetime
    submissions: list[Submission]
    failed_unknown: int


def parse_job(payload: bytes) -> DispatchJob | None:
    """The queue item's job, or None when it is not one (it is then dropped)."""
    try:
        data = json.loads(payload)
    except ValueError:  # also UnicodeDecodeError
        return None
    if not isinstance(data, dict):
        return None
    message_id, recipient_ids = data.get("message_id"), data.get("recipient_ids")
    if not _is_id(message_id) or not isinstance(recipient_ids, list):
        return None
    if not all(_is_id(i) for i in recipient_ids):
        return None
    return DispatchJob(message_id, recipient_ids)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


async def enqueue_dispatch(
    hot: HotState, message_id: int, recipient_ids: Sequence[int], *, batch_size: int
) -> None:
    """Queue recipients of a message for the workers, `batch_size` to an item."""
    step = max(1, batch_size)
    for start in range(0, len(recipient_ids), step):
        await hot.enqueue(
            DISPATCH_QUEUE, dispatch_payload(message_id, recipient_ids[start : start + step])
        )


class UnknownReceipt(Exception):
    """No recipient was submitted with this reference, or not yet: a receipt can
    overtake the SUBMITTED record of its own submission. Raised so that the
    connector offers the receipt again."""


class ReceiptNotStored(Exception):
    """The database did not take the receipt; the connector should offer it again."""


class ReceiptRecorder:
    """The connectors' ReceiptHandler: records each receipt's final state, storing the
    receipts that arrive together (within `linger_s`, up to `max_batch`) in one
    transaction. A call returns once its receipt is stored, and raises if it was not.
    A repeated receipt is stored as a no-op (the delivery log skips it)."""

    def __init__(
        self,
        sessions: SessionFactory,
        connector_name: str,
        *,
        max_batch: int,
        linger_s: float = RECEIPT_LINGER_S,
    ) -> None:
        self._sessions = sessions
        self._connector = connector_name
        self._max_batch = max(1, max_batch)
        self._linger_s = linger_s
        self._waiting: list[tuple[Receipt, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._stores: set[asyncio.Task[None]] = set()

    async def __call__(self, receipt: Receipt) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((receipt, future))
        if len(self._waiting) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._flush)
        await future

    async def close(self) -> None:
        """Store what is waiting, and wait for the stores under way."""
        self._flush()
        await asyncio.gather(*self._stores, return_exceptions=True)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.create_task(self._store(batch))
            self._stores.add(task)
            task.add_done_callback(self._stores.discard)

    async def _store(self, batch: list[tuple[Receipt, asyncio.Future[None]]]) -> None:
        receipts = [receipt for receipt, _ in batch]
        try:
            found = await self._record(receipts)
        except Exception as exc:
            log.warning("sms_receipts_not_stored", extra={"receipts": len(batch)}, exc_info=True)
            for _, future in batch:
                if not future.done():
                    error = ReceiptNotStored(f"{type(exc).__name__}: {exc}")
                    future.set_exception(error)
            return
        for receipt, future in batch:
            if future.done():  # the caller gave up waiting
                continue
            if receipt.connector_ref in found:
                future.set_result(None)
            else:
                future.set_exception(UnknownReceipt(receipt.connector_ref))

    async def _record(self, receipts: list[Receipt]) -> set[str]:
        """Record the receipts; return the references that matched a recipient."""
        refs = sorted({receipt.connector_ref for receipt in receipts})
        async with self._sessions.begin() as session:
            rows = await session.execute(
                select(Recipient.id, Recipient.message_id, Recipient.connector_ref).where(
                    Recipient.connector == self._connector, Recipient.connector_ref.in_(refs)
                )
            )
            recipients = {row.connector_ref: (row.id, row.message_id) for row in rows}
            await record(
                session,
                [
                    StateChange(
                        recipient_id=recipients[receipt.connector_ref][0],
                        message_id=recipients[receipt.connector_ref][1],
                        state=RecipientState(receipt.state),
                        reason=receipt.error,
                        connector=self._connector,
                        connector_ref=receipt.connector_ref,
                        at=receipt.at,
                    )
                    for receipt in receipts
                    if receipt.connector_ref in recipients
                ],
            )
        return set(recipients)


class Dispatcher:
    """Workers, sweeper and receipt handling around one connector.

    `start()` starts the connector (with `receipts` as its handler), the
    `dispatch_workers` workers and the sweeper; `stop()` lets each worker finish the
    batch in hand (up to `shutdown_timeout_s`), then closes the connector. A worker
    stopped mid-batch anyway leaves claims that go stale and are taken again.
    `dispatch_next` and `sweep` do one step of a worker and of the sweeper.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        hot: HotState,
        connector: Connector,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._hot = hot
        self._connector = connector
        self._settings = settings
        self._clock = clock
        # Names this process's queue consumers.
        self._name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.receipts = ReceiptRecorder(
            sessions, connector.name, max_batch=settings.dispatch_batch_size
        )
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        # Workers waiting on the queue: stopping cancels them at once (nothing in hand).
        self._idle: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connector.start(self.receipts)
        self._workers = [
            asyncio.create_task(self._work(f"{self._name}-{i}"), name=f"dispatch-worker-{i}")
            for i in range(self._settings.dispatch_workers)
        ]
        self._sweeper = asyncio.create_task(self._sweep_periodically(), name="dispatch-sweeper")

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._idle:
            task.cancel()
        tasks = [*self._workers, *([self._sweeper] if self._sweeper else [])]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._settings.shutdown_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._connector.close()
        await self.receipts.close()

    # -- workers ---------------------------------------------------------------
    async def dispatch_next(
        self, consumer: str = "dispatch", *, block_s: float = 0.0
    ) -> BatchOutcome | None:
        """Take one queue item and see it through; None when the queue had none.
        Raises when a store or the connector failed (the item is then left to come
        back)."""
        items = await self._hot.consume(DISPATCH_QUEUE, consumer, count=1, block_s=block_s)
        return await self._process(items[0]) if items else None

    async def _work(self, consumer: str) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping.is_set():
            self._idle.add(me)
            try:
                items = await self._hot.consume(
                    DISPATCH_QUEUE, consumer, count=1, block_s=_CONSUME_BLOCK_S
                )
            except HotStateUnavailable:
                log.warning("sms_dispatch_queue_unavailable", exc_info=True)
                await self._pause()
                continue
            finally:
                self._idle.discard(me)
            for item in items:
                try:
                    await self._process(item)
                except (ConnectorUnavailable, HotStateUnavailable, *_STORE_ERRORS) as exc:
                    log.warning(
                        "sms_dispatch_retry_later",
                        extra={"item": item.id, "error": f"{type(exc).__name__}: {exc}"},
                    )
                    await self._pause()
                except Exception:
                    log.exception("sms_dispatch_failed", extra={"item": item.id})
                    await self._pause()

    async def _process(self, item: QueueItem) -> BatchOutcome:
        job = parse_job(item.payload)
        if job is None:
            log.error("sms_dispatch_malformed_item", extra={"item": item.id})
            await self._hot.ack(DISPATCH_QUEUE, item.id)
            return BatchOutcome()
        claim = await self._claim(job)
        outcome = BatchOutcome(failed_unknown=claim.failed_unknown)
        if claim.submissions:
            try:
                results = await self._connector.submit(claim.submissions)
            except ConnectorUnavailable:
                await self._release(claim)
                raise
            outcome = await self._record_results(claim, results)
        await self._hot.ack(DISPATCH_QUEUE, item.id)
        return outcome

    async def _claim(self, job: DispatchJob) -> _Claim:
        now = self._now()
        stale_before = now - timedelta(seconds=self._settings.dispatch_claim_timeout_s)
        ids = sorted(set(job.recipient_ids))
        async with self._sessions.begin() as session:
            message = (
                await session.execute(
                    select(
                        _messages.c.id,
                        _messages.c.sender,
                        _messages.c.text,
                        _messages.c.encoding,
                        _messages.c.test,
                        _messages.c.status,
                    ).where(_messages.c.id == job.message_id)
                )
            ).first()
            if message is None or message.test or message.status != MessageStatus.ACCEPTED:
                # Not to be sent (test mode, held for review) or gone: nothing to claim.
                return _Claim(job.message_id, now, [], 0)
            failed_unknown = 0
            claimed_at = _recipients.c.claimed_at
            if self._connector.idempotent:
                claimable = or_(claimed_at.is_(None), claimed_at <= stale_before)
            else:
                failed_unknown = await self._fail_lost_claims(
                    session, message.id, ids, stale_before
                )
                claimable = claimed_at.is_(None)
            rows = await session.execute(
                update(_recipients)
                .where(
                    _recipients.c.id.in_(ids),
                    _recipients.c.message_id == message.id,
                    _recipients.c.state == RecipientState.QUEUED,
                    claimable,
                )
                .values(claimed_at=now, attempts=_recipients.c.attempts + 1)
                .returning(_recipients.c.id, _recipients.c.number)
            )
            encoding = cast(Literal["gsm7", "ucs2"], message.encoding)
            submissions = [
                Submission(row.id, row.number, message.sender, message.text, encoding)
                for row in sorted(rows, key=lambda row: row.id)
            ]
        return _Claim(message.id, now, submissions, failed_unknown)

    async def _fail_lost_claims(
        self, session: AsyncSession, message_id: int, ids: list[int], stale_before: datetime
    ) -> int:
        lost = await session.scalars(
            select(Recipient.id).where(
                Recipient.id.in_(ids),
                Recipient.message_id == message_id,
                Recipient.state == RecipientState.QUEUED,
                Recipient.claimed_at <= stale_before,
            )
        )
        at = self._now()
        failed = await record(
            session,
            [
                StateChange(
                    recipient_id,
                    message_id,
                    RecipientState.FAILED,
                    reason=LOST_CLAIM_REASON,
                    connector=self._connector.name,
                    at=at,
                )
                for recipient_id in lost
            ],
        )
        return len(failed)

    async def _release(self, claim: _Claim) -> None:
        """Give back claims whose batch the connector did not take."""
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(Recipient)
                    .where(
                        Recipient.id.in_([s.recipient_id for s in claim.submissions]),
                        Recipient.state == RecipientState.QUEUED,
                        Recipient.claimed_at == claim.claimed_at,
                    )
                    .values(claimed_at=None)
                    .execution_options(synchronize_session=False)
                )
        except _STORE_ERRORS:
            # They go stale instead, and are taken again after the claim timeout.
            log.warning("sms_dispatch_claims_not_released", exc_info=True)

    async def _record_results(self, claim: _Claim, results: Sequence[SubmitResult]) -> BatchOutcome:
        at = self._now()
        name = self._connector.name
        changes = [
            StateChange(
                submission.recipient_id,
                claim.message_id,
                RecipientState.SUBMITTED,
                connector=name,
                connector_ref=result.connector_ref,
                at=at,
            )
            if result.accepted
            else StateChange(
                submission.recipient_id,
                claim.message_id,
                RecipientState.REJECTED,
                reason=result.error or OPERATOR_REFUSED_REASON,
                connector=name,
                at=at,
            )
            for submission, result in zip(claim.submissions, results, strict=True)
        ]
        applied = await self._record_retrying(changes)
        states = [change.state for change in applied]
        return BatchOutcome(
            claimed=len(claim.submissions),
            submitted=states.count(RecipientState.SUBMITTED),
            rejected=states.count(RecipientState.REJECTED),
            failed_unknown=claim.failed_unknown,
        )

    async def _record_retrying(self, changes: list[StateChange]) -> list[StateChange]:
        """Record a submitted batch, trying again a few times: the SMS are out, and
        until this commits their claims are all that stands for them."""
        for _ in range(_RECORD_ATTEMPTS - 1):
            try:
                async with self._sessions.begin() as session:
                    return await record(session, changes)
            except _STORE_ERRORS:
                log.warning("sms_dispatch_record_retry", exc_info=True)
                await self._pause()
        async with self._sessions.begin() as session:
            return await record(session, changes)

    # -- sweeper ---------------------------------------------------------------
    async def sweep(self) -> int:
        """Queue again the recipients that look lost to the queue: QUEUED for
        `dispatch_orphan_grace_s` without a claim, or with a stale one, in messages
        to be sent. Returns how many were queued."""
        now = self._now()
        settings = self._settings
        orphaned_before = now - timedelta(seconds=settings.dispatch_orphan_grace_s)
        stale_before = now - timedelta(seconds=settings.dispatch_claim_timeout_s)
        async with self._sessions() as session:
            rows = await session.execute(
                select(Recipient.message_id, Recipient.id)
                .join(Message, Message.id == Recipient.message_id)
                .where(
                    Recipient.state == RecipientState.QUEUED,
                    Message.test.is_(False),
                    Message.status == MessageStatus.ACCEPTED,
                    or_(
                        and_(
                            Recipient.claimed_at.is_(None),
                            Recipient.updated_at <= orphaned_before,
                        ),
                        Recipient.claimed_at <= stale_before,
                    ),
                )
                .order_by(Recipient.id)
                .limit(_SWEEP_ITEMS * max(1, settings.dispatch_batch_size))
            )
            by_message: dict[int, list[int]] = {}
            for message_id, recipient_id in rows:
                by_message.setdefault(message_id, []).append(recipient_id)
        queued = 0
        for message_id, recipient_ids in by_message.items():
            first = await self._hot.put(
                SWEPT_KEY.format(message_id=message_id),
                b"1",
                ttl_s=max(settings.dispatch_orphan_grace_s, 0.001),
                only_if_new=True,
            )
            if first:
                await enqueue_dispatch(
                    self._hot, message_id, recipient_ids, batch_size=settings.dispatch_batch_size
                )
                queued += len(recipient_ids)
        if queued:
            log.info("sms_dispatch_swept", extra={"recipients": queued})
        return queued

    async def _sweep_periodically(self) -> None:
        # The first sweep waits one interval: at start, the queue is given time to
        # deliver what it still holds.
        while not await self._pause(self._settings.dispatch_sweep_interval_s):
            try:
                await self.sweep()
            except (HotStateUnavailable, *_STORE_ERRORS) as exc:
                log.warning("sms_dispatch_sweep_failed", extra={"error": type(exc).__name__})
            except Exception:
                log.exception("sms_dispatch_sweep_failed")

    # -- helpers ---------------------------------------------------------------
    async def _pause(self, seconds: float | None = None) -> bool:
        """Wait `seconds` (default: the retry delay), or less if stopping; True if stopping."""
        delay = self._settings.dispatch_retry_delay_s if seconds is None else seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        return self._stopping.is_set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


async def serve(settings: Settings, *, hot: HotState | None = None) -> None:
    """Dispatch until SIGTERM or SIGINT, without serving HTTP: a process of its own
    for the sending side (the web application also runs a dispatcher)."""
    engine = open_engine(settings)
    sessions = session_factory(engine)
    hot = hot or await open_hot_state(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    dispatcher = Dispatcher(sessions, hot, open_connector(settings, sessions), settings)
    try:
        await dispatcher.start()
        log.info("dispatching", extra={"workers": settings.dispatch_workers})
        await stop.wait()
        await dispatcher.stop()
    finally:
        await hot.close()
        await engine.dispose()


def main() -> int:
    """`python -m secgate.sms.dispatcher`: settings from the environment, as the server."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
