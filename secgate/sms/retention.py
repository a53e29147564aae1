"""Retention: message text and mobile numbers are not kept past `retention_days`.

Every `retention_sweep_interval_s` (and once at start), for each message created more
than `retention_days` ago (a message exactly that old stays until the next sweep):

- its text becomes "" and `text_removed_at` is set;
- its recipients' numbers are anonymised: the country calling code stays, every other
  digit becomes "X", so the length is kept (96550001234 -> 965XXXXXXXX; at most 15
  characters, like any stored number). Traffic per country can still be counted; the
  person cannot be found again;
- the sandbox outbox's copies for those recipients: number anonymised alike, text "".

Webhook outbox rows older than the period get the "mobile" of their payload anonymised
the same way. Delivery events are kept as they are: they hold states, times and
connector references, no text and no number. Contacts are an address book the
customer keeps, not message history, and are not touched.

Webhook outbox rows that are done with (delivered, or abandoned) are deleted once
that was more than `webhook_outbox_keep_days` ago (a row finished exactly that long
ago stays until the next sweep): past delivery they only serve staff looking into
recent reports. Rows still being retried are never deleted.

The work goes in bounded batches, each its own short transaction, so that a first
sweep over years of history does not hold locks for long. Sweeping is idempotent: an
anonymised number is never anonymised again, and a sweep with nothing to do changes
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.settings import Settings
from secgate.storage.db import SessionFactory
from secgate.storage.models import Message, Recipient, SandboxOutboxEntry, WebhookDelivery

log = logging.getLogger("secgate.retention")

MASK = "X"
BATCH_SIZE = 500
_NOT_ANONYMISED = f"%{MASK}%"


def anonymise_number(number: str) -> str:
    """`number` with every digit after the country calling code replaced by "X"."""
    if MASK in number:  # already anonymised
        return number
    code = _calling_code(number) if number.isdigit() else ""
    return code + MASK * (len(number) - len(code))


def _calling_code(digits: str) -> str:
    # Calling codes are a prefix code (no code begins another), so the first match is it.
    for length in (1, 2, 3):
        if int(digits[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return ""


class RetentionJob:
    """Anonymises what is past the retention period. `sweep` does all that is due now;
    `start` sweeps in the background every `retention_sweep_interval_s` until `close`."""

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-job")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self) -> int:
        """Run batches until one finds nothing to do; return how many rows changed."""
        total = 0
        while changed := await self.sweep_batch():
            total += changed
        return total

    async def sweep_batch(self) -> int:
        """One transaction: at most `batch_size` rows of each kind; how many changed."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        cutoff = now - timedelta(days=self._settings.retention_days)
        outbox_cutoff = now - timedelta(days=self._settings.webhook_outbox_keep_days)
        async with self._sessions.begin() as session:
            changed = await self._anonymise_messages(session, cutoff, now)
            changed += await self._anonymise_webhook_payloads(session, cutoff)
            changed += await self._prune_webhook_outbox(session, outbox_cutoff)
        return changed

    async def _run(self) -> None:
        while True:
            try:
                changed = await self.sweep()
            except Exception:
                log.exception("retention_sweep_failed")
            else:
                if changed:
                    log.info("retention_swept", extra={"rows": changed})
            await asyncio.sleep(self._settings.retention_sweep_interval_s)

    async def _anonymise_messages(
        self, session: AsyncSession, cutoff: datetime, now: datetime
    ) -> int:
        due = list(
            await session.scalars(
                select(Message.id)
                .where(Message.created_at < cutoff, Message.text_removed_at.is_(None))
                .order_by(Message.created_at, Message.id)
                .limit(self._batch_size)
            )
        )
        if not due:
            return 0
        # Numbers first; a message's text goes once none of its numbers is left, so a
        # message with more recipients than a batch is finished over several batches.
        recipients = (
            await session.execute(
                select(Recipient.id, Recipient.number)
                .where(Recipient.message_id.in_(due), Recipient.number.not_like(_NOT_ANONYMISED))
                .order_by(Recipient.id)
                .limit(self._batch_size)
            )
        ).all()
        if recipients:
            await session.execute(
                update(Recipient),
                [{"id": r.id, "number": anonymise_number(r.number)} for r in recipients],
            )
            await self._anonymise_sandbox_outbox(session, [r.id for r in recipients])
        finished = await session.execute(
            update(Message)
            .where(
                Message.id.in_(due),
                ~exists().where(
                    Recipient.message_id == Message.id,
                    Recipient.number.not_like(_NOT_ANONYMISED),
                ),
            )
            .values(text="", text_removed_at=now)
        )
        return len(recipients) + finished.rowcount

    async def _anonymise_sandbox_outbox(
        self, session: AsyncSession, recipient_ids: list[int]
    ) -> None:
        entries = (
            await session.execute(
                select(SandboxOutboxEntry.id, SandboxOutboxEntry.number).where(
                    SandboxOutboxEntry.recipient_id.in_(recipient_ids)
                )
            )
        ).all()
        if entries:
            await session.execute(
                update(SandboxOutboxEntry),
                [{"id": e.id, "number": anonymise_number(e.number), "text": ""} for e in entries],
            )

    async def _anonymise_webhook_payloads(self, session: AsyncSession, cutoff: datetime) -> int:
        mobile = WebhookDelivery.payload["mobile"].as_string()
        rows = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.payload, mobile.label("mobile"))
                .where(WebhookDelivery.created_at < cutoff, mobile.not_like(_NOT_ANONYMISED))
                .order_by(WebhookDelivery.id)
                .limit(self._batch_size)
            )
        ).all()
        if rows:
            await session.execute(
                update(WebhookDelivery),
                [
                    {"id": r.id, "payload": {**r.payload, "mobile": anonymise_number(r.mobile)}}
                    for r in rows
                ],
            )
        return len(rows)

    async def _prune_webhook_outbox(self, session: AsyncSession, cutoff: datetime) -> int:
        # In id order: the oldest rows come first and are nearly all finished, so the
        # primary key finds a batch without reading the whole table.
        done = list(
            await session.scalars(
                select(WebhookDelivery.id)
                .where(
                    or_(
                        WebhookDelivery.delivered_at < cutoff,
                        WebhookDelivery.abandoned_at < cutoff,
                    )
                )
                .order_by(WebhookDelivery.id)
                .limit(self._batch_size)
            )
        )
        if done:
            await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(done)))
        return len(done)
