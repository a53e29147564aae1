"""The delivery logger: every state a recipient passes through, and the report read from it.

`record` moves recipients to new states and appends one `DeliveryEvent` per change
that took effect. Events are append-only: nothing here (or anywhere but the retention
job, which anonymises) updates or deletes one.

A change takes effect only from the states listed in `ENTERED_FROM`; any other is
skipped and logs nothing. That is what makes repeats harmless: a duplicate receipt,
a second SUBMITTED from a worker that lost its claim to another, a late receipt for
a recipient already final. The check is in the UPDATE's WHERE clause, so two
processes recording at once cannot both apply the same change.

For a final state, the account's DLR webhook (if it has one) gets a `WebhookDelivery`
row in the same transaction, so a report is never posted for a change that was
rolled back, nor lost for one that was committed.

Functions here run inside the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.storage.models import (
    Account,
    DeliveryEvent,
    Message,
    Recipient,
    RecipientState,
    UTCDateTime,
    WebhookDelivery,
    utcnow,
)

S = RecipientState

FINAL_STATES = frozenset({S.DELIVERED, S.FAILED, S.EXPIRED, S.REJECTED})

# The states a recipient must be in for a change to each state to take effect.
# None: always. ACCEPTED and QUEUED are written by the accept path together with the
# new row, in its own transaction, so there is nothing for them to race with.
ENTERED_FROM: dict[RecipientState, frozenset[RecipientState] | None] = {
    S.ACCEPTED: None,
    S.QUEUED: None,
    S.REJECTED: frozenset({S.ACCEPTED, S.QUEUED}),
    S.SUBMITTED: frozenset({S.QUEUED}),
    S.DELIVERED: frozenset({S.SUBMITTED}),
    S.EXPIRED: frozenset({S.SUBMITTED}),
    # From QUEUED: a claim left by a dead worker, with a connector that cannot be
    # asked twice (the dispatcher fails it rather than risk sending it twice).
    S.FAILED: frozenset({S.QUEUED, S.SUBMITTED}),
}
# Changes are applied in this order, so that one call may carry a recipient through
# several states (every allowed change moves forward in it).
_APPLY_ORDER = (
    S.ACCEPTED,
    S.QUEUED,
    S.SUBMITTED,
    S.REJECTED,
    S.DELIVERED,
    S.FAILED,
    S.EXPIRED,
)

MAX_REASON_CHARS = 255  # Recipient.reason, DeliveryEvent.reason

# The report's name for each state (the kwtSMS report vocabulary). A recipient still
# ACCEPTED (not yet queued) is, to the customer, waiting like a queued one.
REPORT_STATUS: dict[RecipientState, str] = {
    S.ACCEPTED: "QUEUED",
    S.QUEUED: "QUEUED",
    S.SUBMITTED: "SUBMITTED",
    S.DELIVERED: "DELIVERED",
    S.FAILED: "FAILED",
    S.EXPIRED: "EXPIRED",
    S.REJECTED: "REJECTED",
}


@dataclass(frozen=True, slots=True)
class StateChange:
    recipient_id: int
    message_id: int
    state: RecipientState
    reason: str | None = None
    connector: str | None = None  # None keeps the recipient's connector as it is
    connector_ref: str | None = None  # None keeps the recipient's reference as it is
    at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError("StateChange.at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class RecipientReport:
    number: str
    status: str  # a REPORT_STATUS value
    at: datetime  # when the recipient entered that state
    reason: str | None


@dataclass(frozen=True, slots=True)
class MessageReport:
    msg_id: str
    status: str  # aggregate_status of the recipients
    test: bool
    recipients: list[RecipientReport]


async def record(session: AsyncSession, changes: Sequence[StateChange]) -> list[StateChange]:
    """Apply the changes that are allowed (see ENTERED_FROM), log one event for each,
    queue the webhooks of final states; return the changes that took effect.

    Of several changes of one recipient to the same state, the first counts. A few
    statements per state, whatever the number of recipients.
    """
    by_state: dict[RecipientState, dict[int, StateChange]] = {}
    for change in changes:
        by_state.setdefault(change.state, {}).setdefault(change.recipient_id, change)
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    applied: list[StateChange] = []
    for state in _APPLY_ORDER:
        if state in by_state:
            group = [by_state[state][i] for i in sorted(by_state[state])]  # one lock order
            apply = _apply_postgresql if on_postgresql else _apply_portable
            changed = await apply(session, state, group)
            applied += [change for change in group if change.recipient_id in changed]
    if applied:
        append = _append_events_postgresql if on_postgresql else _append_events_portable
        await append(session, applied)
        await _queue_webhooks(session, [c for c in applied if c.state in FINAL_STATES])
    return applied


# Two ways to write the same thing. On PostgreSQL, each group of changes is one
# statement with the rows as arrays (unnest); that takes about a third of the time of
# the portable way's executemany, whose per-row parameter handling in Python is what
# bounds the dispatcher's throughput. Both are tested on their database.

_PG_APPLY = text(
    """
    UPDATE recipients AS r
    SET state = :state, updated_at = v.at, reason = v.reason,
        connector = coalesce(v.connector, r.connector),
        connector_ref = coalesce(v.ref, r.connector_ref)
    FROM unnest(
        CAST(:ids AS BIGINT[]), CAST(:ats AS TIMESTAMPTZ[]), CAST(:reasons AS VARCHAR[]),
        CAST(:connectors AS VARCHAR[]), CAST(:refs AS VARCHAR[])
    ) AS v(id, at, reason, connector, ref)
    WHERE r.id = v.id
      AND (CAST(:from_any AS BOOLEAN) OR r.state = ANY(CAST(:from_states AS VARCHAR[])))
    RETURNING r.id
    """
)

_PG_APPEND_EVENTS = text(
    """
    INSERT INTO delivery_events
        (message_id, recipient_id, state, reason, connector, connector_ref, at)
    SELECT * FROM unnest(
        CAST(:message_ids AS BIGINT[]), CAST(:recipient_ids AS BIGINT[]),
        CAST(:states AS VARCHAR[]), CAST(:reasons AS VARCHAR[]),
        CAST(:connectors AS VARCHAR[]), CAST(:refs AS VARCHAR[]), CAST(:ats AS TIMESTAMPTZ[])
    )
    """
)


async def _apply_postgresql(
    session: AsyncSession, state: RecipientState, group: list[StateChange]
) -> set[int]:
    allowed = ENTERED_FROM[state]
    changed = await session.scalars(
        _PG_APPLY,
        {
            "state": state.value,
            "from_any": allowed is None,
            "from_states": [s.value for s in allowed or ()],
            "ids": [c.recipient_id for c in group],
            "ats": [c.at for c in group],
            "reasons": [_reason(c.reason) for c in group],
            "connectors": [c.connector for c in group],
            "refs": [c.connector_ref for c in group],
        },
    )
    return set(changed)


async def _append_events_postgresql(session: AsyncSession, applied: list[StateChange]) -> None:
    await session.execute(
        _PG_APPEND_EVENTS,
        {
            "message_ids": [c.message_id for c in applied],
            "recipient_ids": [c.recipient_id for c in applied],
            "states": [c.state.value for c in applied],
            "reasons": [_reason(c.reason) for c in applied],
            "connectors": [c.connector for c in applied],
            "refs": [c.connector_ref for c in applied],
            "ats": [c.at for c in applied],
        },
    )


# Core tables, not ORM entities: the ORM's per-row bookkeeping costs more than the
# database's work at these volumes.
_recipients = Recipient.__table__
_events = DeliveryEvent.__table__
_webhooks = WebhookDelivery.__table__
# The per-recipient part of a change, for the rows whose state just changed. Parameter
# names differ from the columns': SQLAlchemy keeps those for itself in an UPDATE.
_SET_DETAILS = (
    update(_recipients)
    .where(_recipients.c.id == bindparam("recipient_id"))
    .values(
        updated_at=bindparam("new_at", type_=UTCDateTime()),
        reason=bindparam("new_reason", type_=String()),
        connector=func.coalesce(
            bindparam("new_connector", type_=String()), _recipients.c.connector
        ),
        connector_ref=func.coalesce(
            bindparam("new_ref", type_=String()), _recipients.c.connector_ref
        ),
    )
)


async def _apply_portable(
    session: AsyncSession, state: RecipientState, group: list[StateChange]
) -> set[int]:
    """The conditional UPDATE of the state says which rows change; their details
    follow in an executemany, in the same transaction (the rows are ours by then)."""
    statement = update(_recipients).where(_recipients.c.id.in_([c.recipient_id for c in group]))
    allowed = ENTERED_FROM[state]
    if allowed is not None:
        statement = statement.where(_recipients.c.state.in_(allowed))
    changed = set(await session.scalars(statement.values(state=state).returning(_recipients.c.id)))
    details = [
        {
            "recipient_id": c.recipient_id,
            "new_at": c.at,
            "new_reason": _reason(c.reason),
            "new_connector": c.connector,
            "new_ref": c.connector_ref,
        }
        for c in group
        if c.recipient_id in changed
    ]
    if details:
        await session.execute(_SET_DETAILS, details)
    return changed


async def _append_events_portable(session: AsyncSession, applied: list[StateChange]) -> None:
    await session.execute(
        insert(_events),
        [
            {
                "message_id": c.message_id,
                "recipient_id": c.recipient_id,
                "state": c.state,
                "reason": _reason(c.reason),
                "connector": c.connector,
                "connector_ref": c.connector_ref,
                "at": c.at,
            }
            for c in applied
        ],
    )


async def _queue_webhooks(session: AsyncSession, finals: list[StateChange]) -> None:
    if not finals:
        return
    by_recipient = {change.recipient_id: change for change in finals}
    rows = await session.execute(
        select(
            Recipient.id,
            Recipient.number,
            Message.msg_id,
            Message.account_id,
            Account.dlr_webhook_url,
        )
        .join(Message, Message.id == Recipient.message_id)
        .join(Account, Account.id == Message.account_id)
        .where(
            Recipient.id.in_(sorted(by_recipient)),
            Account.dlr_webhook_url.is_not(None),
            Account.dlr_webhook_url != "",
        )
    )
    outbox = [
        {
            "account_id": row.account_id,
            "url": row.dlr_webhook_url,
            "payload": webhook_payload(row.msg_id, row.number, by_recipient[row.id]),
            "next_attempt_at": by_recipient[row.id].at,
        }
        for row in rows
    ]
    if outbox:
        await session.execute(insert(_webhooks), outbox)


def webhook_payload(msg_id: str, number: str, change: StateChange) -> dict[str, Any]:
    at = int(change.at.timestamp())
    payload: dict[str, Any] = {
        "msg-id": msg_id,
        "mobile": number,
        "status": REPORT_STATUS[change.state],
        "unix-timestamp": at,
        "reason": _reason(change.reason),
    }
    if change.state is RecipientState.DELIVERED:
        # The field kwtSMS's receipts carry, and its client's parse_webhook() reads.
        payload["delivered-at"] = at
    return payload


async def report(session: AsyncSession, account_id: int, msg_id: str) -> MessageReport | None:
    """Where each recipient of a message stands; None when the account has no message
    with this msg-id (an unknown one and another account's look the same)."""
    message = await session.scalar(
        select(Message).where(Message.msg_id == msg_id, Message.account_id == account_id)
    )
    if message is None:
        return None
    rows = await session.execute(
        select(Recipient.number, Recipient.state, Recipient.updated_at, Recipient.reason)
        .where(Recipient.message_id == message.id)
        .order_by(Recipient.id)
    )
    recipients = [
        RecipientReport(row.number, REPORT_STATUS[row.state], row.updated_at, row.reason)
        for row in rows
    ]
    return MessageReport(
        msg_id=message.msg_id,
        status=aggregate_status(r.status for r in recipients),
        test=message.test,
        recipients=recipients,
    )


def aggregate_status(statuses: Iterable[str]) -> str:
    """One status for a whole message: QUEUED while any recipient waits for the
    operator, else SUBMITTED while any waits for its receipt; once all are final,
    their common status, or PARTIAL when some were delivered and others not, or
    FAILED when none was delivered. A message without recipients is QUEUED."""
    seen = set(statuses)
    if not seen or "QUEUED" in seen:
        return "QUEUED"
    if "SUBMITTED" in seen:
        return "SUBMITTED"
    if len(seen) == 1:
        return seen.pop()
    return "PARTIAL" if "DELIVERED" in seen else "FAILED"


def _reason(reason: str | None) -> str | None:
    return None if reason is None else reason[:MAX_REASON_CHARS]
