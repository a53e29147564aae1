"""The sandbox connector: a simulated operator, the default (CONTRACT §4.5).

What it "delivers" goes to the `sandbox_outbox` table, where testers read it
(`GET /api/v1/sandbox/outbox?to=NUMBER`, e.g. to see a one-time code). It behaves
like an operator in the ways the dispatcher has to cope with:

- latency: the batch is stored at once, and the answer comes after
  `sandbox_submit_latency_s`, so a worker can die after the operator took a batch
  and before it recorded so: the window the dispatcher's exactly-once must cover;
- idempotent: one outbox row per recipient (`recipient_id` is UNIQUE, the insert
  does nothing on a conflict); submitting a recipient again returns the reference
  it got the first time, and sends nothing more;
- asynchronous receipts after `sandbox_dlr_delay_s`: delivered, failed or expired
  by `sandbox_delivered_ratio` and `sandbox_failed_ratio` (the rest expire), from a
  seeded generator when `sandbox_seed` is not 0;
- a receipt whose handler raises is offered again, later, until it is taken or the
  connector closes. Receipts still owed when the process stopped are owed after the
  next start: `start()` sends one for every recipient the sandbox holds as
  submitted, since the handler takes a repeat as a no-op.

The database is its only dependency: when that does not answer, `submit` raises
ConnectorUnavailable (the insert rolled back, so nothing was taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.settings import Settings, SettingsError
from secgate.sms.connectors.protocol import (
    ConnectorUnavailable,
    FinalState,
    Receipt,
    ReceiptHandler,
    Submission,
    SubmitResult,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import Recipient, RecipientState, SandboxOutboxEntry

log = logging.getLogger("secgate.sms.sandbox")

NAME = "sandbox"
# A receipt the handler refused is offered again after this, doubling up to the cap:
# soon enough for a handler that only raced ahead of the SUBMITTED record, and gently
# for one whose database is down.
RECEIPT_RETRY_FIRST_S = 0.1
RECEIPT_RETRY_MAX_S = 5.0
# How long close() lets the start's lookup of owed receipts finish before cancelling it.
OWED_LOOKUP_CLOSE_WAIT_S = 0.5
REASONS: dict[FinalState, str | None] = {
    "delivered": None,
    "failed": "sandbox: simulated delivery failure",
    "expired": "sandbox: simulated expiry",
}
_outbox = SandboxOutboxEntry.__table__


class SimulatedOutcomes:
    """Draws each submission's final state by the configured ratios."""

    def __init__(self, delivered_ratio: float, failed_ratio: float, seed: int = 0) -> None:
        for name, ratio in (("DELIVERED", delivered_ratio), ("FAILED", failed_ratio)):
            if not 0.0 <= ratio <= 1.0:  # also refuses NaN
                raise SettingsError(f"SECGATE_SANDBOX_{name}_RATIO: {ratio} is outside 0..1")
        if delivered_ratio + failed_ratio > 1.0 + 1e-9:  # 1e-9: float sums of tenths
            raise SettingsError(
                "SECGATE_SANDBOX_DELIVERED_RATIO + SECGATE_SANDBOX_FAILED_RATIO: "
                f"{delivered_ratio} + {failed_ratio} is over 1 (the rest expire)"
            )
        self._delivered = delivered_ratio
        self._failed = failed_ratio
        # A simulation, not a secret: a seed makes a test's outcomes repeatable.
        self._random = random.Random(seed or None)  # noqa: S311

    def draw(self) -> FinalState:
        roll = self._random.random()  # in [0, 1): a ratio of 1 always hits, 0 never
        if roll < self._delivered:
            return "delivered"
        if roll < self._delivered + self._failed:
            return "failed"
        return "expired"


class SandboxConnector:
    name = NAME
    idempotent = True

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._latency_s = settings.sandbox_submit_latency_s
        self._dlr_delay_s = settings.sandbox_dlr_delay_s
        self._outcomes = SimulatedOutcomes(
            settings.sandbox_delivered_ratio, settings.sandbox_failed_ratio, settings.sandbox_seed
        )
        self._clock = clock
        self._on_receipt: ReceiptHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._owed_lookup: asyncio.Task[None] | None = None

    async def start(self, on_receipt: ReceiptHandler) -> None:
        self._on_receipt = on_receipt
        # One of the tasks close() cancels: what it finds are receipts not yet due, which
        # close() drops anyway. Those recipients stay SUBMITTED: the next start finds them
        # again.
        self._owed_lookup = self._spawn(self._look_up_owed_receipts())

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        if not batch:
            return []
        refs = await self._store(batch)
        await asyncio.sleep(self._latency_s)
        # Drawn here, in submission order, so that a seed gives the same outcomes each run.
        owed = [(refs[s.recipient_id], self._outcomes.draw()) for s in batch]
        self._spawn(self._send_receipts(owed))
        return [SubmitResult(s.recipient_id, True, refs[s.recipient_id]) for s in batch]

    async def close(self) -> None:
        # The lookup is given a moment to end by itself: cancelled while the driver opens
        # its connection, that connection is finished by a thread with nobody left to
        # tell. Not longer: the database may keep it waiting (a lock) without limit.
        if self._owed_lookup is not None and not self._owed_lookup.done():
            await asyncio.wait({self._owed_lookup}, timeout=OWED_LOOKUP_CLOSE_WAIT_S)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _store(self, batch: Sequence[Submission]) -> dict[int, str]:
        """Take each recipient not taken before; return every recipient's reference."""
        now = self._now()
        rows = [
            {
                "recipient_id": s.recipient_id,
                "connector_ref": new_reference(),
                "number": s.number,
                "sender": s.sender,
                "text": s.text,
                "at": now,
            }
            for s in batch
        ]
        try:
            async with self._sessions.begin() as session:
                await session.execute(_insert_new(session), rows)
                stored = await session.execute(
                    select(_outbox.c.recipient_id, _outbox.c.connector_ref).where(
                        _outbox.c.recipient_id.in_(sorted({s.recipient_id for s in batch}))
                    )
                )
                return {row.recipient_id: row.connector_ref for row in stored}
        except (SQLAlchemyError, OSError) as exc:
            raise ConnectorUnavailable(f"sandbox outbox: {type(exc).__name__}") from exc

    async def _send_receipts(self, owed: list[tuple[str, FinalState]]) -> None:
        await asyncio.sleep(self._dlr_delay_s)
        now = self._now()
        await self._deliver([Receipt(ref, state, now, REASONS[state]) for ref, state in owed])

    async def _deliver(self, receipts: list[Receipt]) -> None:
        assert self._on_receipt is not None, "start() first"
        retry_s = RECEIPT_RETRY_FIRST_S
        while receipts:
            # All at once: a handler that batches its writes stores them together.
            outcomes = await asyncio.gather(
                *(self._on_receipt(r) for r in receipts), return_exceptions=True
            )
            refused = [
                receipt
                for receipt, outcome in zip(receipts, outcomes, strict=True)
                if isinstance(outcome, BaseException)
            ]
            if refused:
                log.info(
                    "sandbox_receipts_refused",
                    extra={"receipts": len(refused), "retry_s": retry_s},
                )
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, RECEIPT_RETRY_MAX_S)
            receipts = refused

    async def _look_up_owed_receipts(self) -> None:
        try:
            async with self._sessions() as session:
                refs = list(
                    await session.scalars(
                        select(Recipient.connector_ref).where(
                            Recipient.connector == NAME,
                            Recipient.state == RecipientState.SUBMITTED,
                            Recipient.connector_ref.is_not(None),
                        )
                    )
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("sandbox_owed_receipts_unknown", extra={"error": type(exc).__name__})
            return
        if refs:
            log.info("sandbox_owed_receipts", extra={"receipts": len(refs)})
            self._spawn(self._send_receipts([(ref, self._outcomes.draw()) for ref in refs if ref]))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def new_reference() -> str:
    """An operator message id, as the sandbox hands them out."""
    return "sbx-" + secrets.token_hex(12)


def _insert_new(session: AsyncSession) -> Insert:
    """INSERT … ON CONFLICT (recipient_id) DO NOTHING, in the session's dialect."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(_outbox).on_conflict_do_nothing(index_elements=["recipient_id"])


async def outbox_for(session: AsyncSession, number: str, *, limit: int) -> list[SandboxOutboxEntry]:
    """What the sandbox took for `number` (digits with country code), newest first."""
    rows = await session.scalars(
        select(SandboxOutboxEntry)
        .where(SandboxOutboxEntry.number == number)
        .order_by(SandboxOutboxEntry.id.desc())
        .limit(limit)
    )
    return list(rows)
