"""Held messages: the staff review queue of messages the pipeline held (verdict HOLD).

A held message is stored as the send accepted it, charged, with status HELD: its
recipients wait in state ACCEPTED (the customer's report shows them QUEUED), nothing is
queued, and the dispatcher and its sweeper pass it by (they take ACCEPTED messages
only). A `MessageHold` row, written in the same transaction
(`secgate.checks.holds.record_hold`), keeps why.

Staff then decide, once:

- `release`: the message becomes ACCEPTED, its recipients QUEUED (a delivery event
  each) and they are queued for the dispatcher; the pumping checks count the send.
  A test message is released like any other and, like any test send, never sent.
- `reject`: the message becomes REJECTED, its recipients REJECTED (a final state: the
  customer's webhook hears of it) and the points its send took are refunded (a REFUND
  ledger entry).

Exactly once: each decision is one transaction that begins with a conditional UPDATE
of the message from HELD. On PostgreSQL a second decision racing it waits for the
row's lock and then finds the message no longer HELD; on SQLite writers take turns.
So a message is refunded at most once, and never both released and refunded.

Staff reading message text is itself logged: every function here that returns text
writes one `ContentView` row per message shown, in the caller's transaction (the
caller commits before showing anything). Alerts carry no text (see
`secgate.checks.pipeline`); this is where staff read it.

A held message older than `retention_days` has had its text removed by the retention
job: it can only be rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.accounts.registry import username_key
from secgate.alerts.store import iso_utc
from secgate.checks.pipeline import Pipeline
from secgate.checks.verdict import MessageUnderCheck
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.sms import credits, delivery_log
from secgate.sms.delivery_log import StateChange
from secgate.sms.dispatcher import enqueue_dispatch
from secgate.storage.models import (
    Account,
    ContentView,
    Message,
    MessageHold,
    MessageStatus,
    Recipient,
    RecipientState,
)

log = logging.getLogger("secgate.checks")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_NOTE_CHARS = 1000  # MessageHold.note
MAX_VIEWER_CHARS = 64  # ContentView.viewer, MessageHold.decided_by
# What a rejected recipient's report says (the customer sees it).
REJECTED_REASON = "rejected in content review"
RELEASED = "released"
REJECTED = "rejected"

_messages = Message.__table__
_holds = MessageHold.__table__


class HeldMessageError(Exception):
    """A review decision that cannot be made; the message says why."""


class HeldMessageNotFound(HeldMessageError):
    """No message with this msg-id is waiting for review (unknown, or decided)."""


class TextRemoved(HeldMessageError):
    """The retention job removed the text: the message can only be rejected."""


@dataclass(frozen=True, slots=True)
class HeldMessageView:
    """A held message as staff review it."""

    msg_id: str
    account: str  # username
    sender: str
    text: str
    encoding: str
    pages: int
    numbers: int
    points_charged: int
    test: bool
    created_at: datetime
    reasons: list[dict[str, Any]]
    spam_score: float
    text_removed: bool
    # Staff's decision, once made: RELEASED or REJECTED, by whom, when.
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "account": self.account,
            "sender": self.sender,
            "text": self.text,
            "encoding": self.encoding,
            "pages": self.pages,
            "numbers": self.numbers,
            "points_charged": self.points_charged,
            "test": self.test,
            "created_at": iso_utc(self.created_at),
            "reasons": self.reasons,
            "spam_score": self.spam_score,
            "text_removed": self.text_removed,
            "decision": self.decision,
            "decided_by": self.decided_by,
            "decided_at": iso_utc(self.decided_at) if self.decided_at else None,
        }


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    msg_id: str
    decision: str  # RELEASED or REJECTED
    recipients: int  # recipients moved (queued, or rejected)
    points_refunded: int = 0
    balance_after: int | None = None  # after the refund, when there was one

    def to_json(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "decision": self.decision,
            "recipients": self.recipients,
            "points_refunded": self.points_refunded,
            "balance_after": self.balance_after,
        }


async def list_held(
    session: AsyncSession,
    *,
    viewer: str,
    purpose: str,
    account: str | None = None,
    after: int | None = None,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> tuple[list[HeldMessageView], int | None]:
    """Messages waiting for review, oldest first, and the cursor of the next page
    (None on the last). Logs a content view of each one shown, as `viewer`; the
    caller commits, and shows nothing if that fails."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be within 1..{MAX_LIMIT}")
    query = _held_query().where(MessageHold.decided_at.is_(None))
    if account is not None:
        query = query.where(Account.username_key == username_key(account))
    if after is not None:
        query = query.where(Message.id > after)
    rows = (await session.execute(query.order_by(Message.id).limit(limit + 1))).all()
    shown = rows[:limit]
    await log_content_views(
        session, viewer, [(row.Message.id, row.Message.msg_id) for row in shown], purpose, now
    )
    next_after = shown[-1].Message.id if len(rows) > limit else None
    return [_view(row) for row in shown], next_after


async def show_held(
    session: AsyncSession, msg_id: str, *, viewer: str, purpose: str, now: datetime | None = None
) -> HeldMessageView:
    """One held message (decided or not), logging the view; HeldMessageNotFound when
    no message with this msg-id was ever held."""
    row = (await session.execute(_held_query().where(Message.msg_id == msg_id))).first()
    if row is None:
        raise HeldMessageNotFound(f"no held message with msg-id {msg_id!r}")
    await log_content_views(session, viewer, [(row.Message.id, row.Message.msg_id)], purpose, now)
    return _view(row)


async def log_content_views(
    session: AsyncSession,
    viewer: str,
    messages: Sequence[tuple[int, str]],
    purpose: str,
    now: datetime | None = None,
) -> None:
    """Record that `viewer` was shown the text of these (id, msg-id) messages."""
    if not messages:
        return
    at = now or datetime.now(UTC)
    await session.execute(
        insert(ContentView),
        [
            {
                "viewer": viewer[:MAX_VIEWER_CHARS],
                "message_id": message_id,
                "msg_id": msg_id,
                "purpose": purpose,
                "at": at,
            }
            for message_id, msg_id in messages
        ],
    )


@dataclass(frozen=True, slots=True)
class Released:
    """A release as committed; `dispatch_released` then sends it on its way."""

    outcome: ReviewOutcome
    message_id: int
    recipient_ids: list[int]
    # The message as the pumping checks count it.
    message: MessageUnderCheck


async def release(
    session: AsyncSession, msg_id: str, *, by: str, now: datetime, note: str | None = None
) -> Released:
    """Decide to send a held message after all: it becomes ACCEPTED and its recipients
    QUEUED. The caller commits, then calls `dispatch_released`."""
    _check_note(note)
    message = (
        await session.execute(
            update(_messages)
            .where(
                _messages.c.msg_id == msg_id,
                _messages.c.status == MessageStatus.HELD,
                _messages.c.text_removed_at.is_(None),
            )
            .values(status=MessageStatus.ACCEPTED)
            .returning(
                _messages.c.id,
                _messages.c.account_id,
                _messages.c.sender,
                _messages.c.text,
                _messages.c.test,
            )
        )
    ).first()
    if message is None:
        await _explain_refusal(session, msg_id)
    assert message is not None
    recipients = (
        await session.execute(
            select(Recipient.id, Recipient.number)
            .where(Recipient.message_id == message.id, Recipient.state == RecipientState.ACCEPTED)
            .order_by(Recipient.id)
        )
    ).all()
    await delivery_log.record(
        session, [StateChange(r.id, message.id, RecipientState.QUEUED, at=now) for r in recipients]
    )
    await _decide(session, message.id, RELEASED, by, note, now)
    return Released(
        ReviewOutcome(msg_id, RELEASED, len(recipients)),
        message.id,
        [r.id for r in recipients],
        MessageUnderCheck(
            sender=message.sender,
            text=message.text,
            recipients=tuple(r.number for r in recipients),
            account_id=message.account_id,
            test=message.test,
            now=now.timestamp(),
        ),
    )


async def dispatch_released(
    released: Released,
    *,
    hot: HotState,
    dispatch_batch_size: int,
    pipeline: Pipeline | None = None,
) -> None:
    """After the release has committed: queue its recipients for the dispatcher (not
    a test message's) and count the send in the pipeline's pumping checks. A queue
    that does not answer loses nothing: the dispatcher's sweeper finds QUEUED
    recipients of ACCEPTED messages in the database."""
    message = released.message
    log.info("held_message_released", extra={"msg_id": released.outcome.msg_id})
    if not message.test and released.recipient_ids:
        try:
            await enqueue_dispatch(
                hot, released.message_id, released.recipient_ids, batch_size=dispatch_batch_size
            )
        except HotStateUnavailable:
            log.warning(
                "held_message_not_enqueued",
                extra={"msg_id": released.outcome.msg_id},
                exc_info=True,
            )
    if pipeline is not None:
        await pipeline.record_sent(message)


async def reject(
    session: AsyncSession, msg_id: str, *, by: str, now: datetime, note: str | None = None
) -> ReviewOutcome:
    """Refuse a held message for good: it and its recipients become REJECTED and the
    points its send took are refunded. The caller commits (all of it, or none)."""
    _check_note(note)
    message = (
        await session.execute(
            update(_messages)
            .where(_messages.c.msg_id == msg_id, _messages.c.status == MessageStatus.HELD)
            .values(status=MessageStatus.REJECTED)
            .returning(_messages.c.id, _messages.c.account_id, _messages.c.points_charged)
        )
    ).first()
    if message is None:
        await _explain_refusal(session, msg_id)
    assert message is not None
    recipient_ids = await session.scalars(
        select(Recipient.id)
        .where(Recipient.message_id == message.id, Recipient.state == RecipientState.ACCEPTED)
        .order_by(Recipient.id)
    )
    rejected = await delivery_log.record(
        session,
        [
            StateChange(recipient_id, message.id, RecipientState.REJECTED, REJECTED_REASON, at=now)
            for recipient_id in recipient_ids
        ],
    )
    balance_after = None
    if message.points_charged > 0:
        balance_after = await credits.refund(
            session, message.account_id, message.points_charged, message_id=message.id, at=now
        )
    await _decide(session, message.id, REJECTED, by, note, now)
    log.info(
        "held_message_rejected",
        extra={"msg_id": msg_id, "by": by, "points_refunded": message.points_charged},
    )
    return ReviewOutcome(
        msg_id, REJECTED, len(rejected), message.points_charged, balance_after=balance_after
    )


async def _decide(
    session: AsyncSession, message_id: int, decision: str, by: str, note: str | None, now: datetime
) -> None:
    await session.execute(
        update(_holds)
        .where(_holds.c.message_id == message_id)
        .values(decided_at=now, decision=decision, decided_by=by[:MAX_VIEWER_CHARS], note=note)
    )


async def _explain_refusal(session: AsyncSession, msg_id: str) -> None:
    """Raise the reason a decision on `msg_id` cannot be made (after the conditional
    UPDATE found nothing to change)."""
    found = (
        await session.execute(
            select(Message.status, Message.text_removed_at).where(Message.msg_id == msg_id)
        )
    ).first()
    if found is None or found.status != MessageStatus.HELD:
        raise HeldMessageNotFound(f"no message with msg-id {msg_id!r} is waiting for review")
    raise TextRemoved(
        f"the text of {msg_id} was removed by the retention job: it can only be rejected"
    )


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise HeldMessageError(f"note is longer than {MAX_NOTE_CHARS} characters")


def _held_query() -> Any:
    return (
        select(Message, MessageHold, Account.username)
        .join(MessageHold, MessageHold.message_id == Message.id)
        .join(Account, Account.id == Message.account_id)
    )


def _view(row: Any) -> HeldMessageView:
    message: Message = row.Message
    hold: MessageHold = row.MessageHold
    return HeldMessageView(
        msg_id=message.msg_id,
        account=row.username,
        sender=message.sender,
        text=message.text,
        encoding=message.encoding,
        pages=message.pages,
        numbers=message.numbers,
        points_charged=message.points_charged,
        test=message.test,
        created_at=message.created_at,
        reasons=hold.reasons,
        spam_score=hold.spam_score,
        text_removed=message.text_removed_at is not None,
        decision=hold.decision,
        decided_by=hold.decided_by,
        decided_at=hold.decided_at,
    )
