"""The accept path of a send, knowing nothing of HTTP.

    request -> draft -> checks (rules.default_checks)
            -> pre-send checks (issue 4, secgate.checks.pipeline): reject, hold or pass
            -> ERR028 claims -> balance
            -> one transaction: message, recipients (QUEUED), delivery events
               (ACCEPTED, QUEUED), the charge and its ledger entry
            -> commit -> dispatch queue -> low-balance notice

A held message takes the same path, stored HELD with its recipients ACCEPTED and the
reasons of the hold, charged, and not queued: staff release or reject it
(secgate.checks.held_messages).

The database is the source of truth: once the transaction commits the send is
accepted, whatever happens to the queue. Queue items are only a prompt for the
dispatcher; if an enqueue fails, its sweeper finds the queued recipients in the
database. Test sends are stored the same way, charged nothing and never queued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import bindparam, func, insert, literal, select, true, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.checks.holds import record_hold
from secgate.checks.pipeline import (
    Pipeline,
    refusal_description,
    refusal_retry_after_s,
    under_check,
)
from secgate.checks.verdict import Decision, Verdict
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.sms import credits
from secgate.sms.encoding import encode_info
from secgate.sms.rules import (
    Check,
    Draft,
    NumberClaim,
    NumberReading,
    RecentNumbers,
    SendingAccount,
    default_checks,
    originator,
    read_numbers,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    Account,
    Contact,
    ContactGroup,
    DeliveryEvent,
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
)

log = logging.getLogger("secgate.sms")

# The hot-state queue the dispatcher consumes; each item is dispatch_payload(...).
DISPATCH_QUEUE = "sms.dispatch"

# Rows are written through the tables, not the ORM: a 200-number send writes 600
# rows, and the ORM's bookkeeping costs more than the database (even for the one
# message row, a third of a 1-number send's store).
_MESSAGES = Message.__table__
_RECIPIENTS = Recipient.__table__
_DELIVERY_EVENTS = DeliveryEvent.__table__

# Built once: a statement made afresh for each send costs its construction and its
# cache key every time (7% of a 200-number send's throughput).
_EVENTS_OF_MESSAGE = insert(_DELIVERY_EVENTS).from_select(
    ["message_id", "recipient_id", "state", "at"],
    select(
        _RECIPIENTS.c.message_id,
        _RECIPIENTS.c.id,
        bindparam("state", type_=_DELIVERY_EVENTS.c.state.type),
        bindparam("at", type_=_DELIVERY_EVENTS.c.at.type),
    ).where(_RECIPIENTS.c.message_id == bindparam("message_id")),
)
# The two first states of a queued send in one statement (a round trip less): every
# recipient's "state" event, then every recipient's "then" event, in that order.
_STATES = union_all(
    select(
        bindparam("state", type_=_DELIVERY_EVENTS.c.state.type).label("state"),
        literal(0).label("step"),
    ),
    select(
        bindparam("then", type_=_DELIVERY_EVENTS.c.state.type).label("state"),
        literal(1).label("step"),
    ),
).subquery("states")
_TWO_EVENTS_OF_MESSAGE = insert(_DELIVERY_EVENTS).from_select(
    ["message_id", "recipient_id", "state", "at"],
    select(
        _RECIPIENTS.c.message_id,
        _RECIPIENTS.c.id,
        _STATES.c.state,
        bindparam("at", type_=_DELIVERY_EVENTS.c.at.type),
    )
    .select_from(_RECIPIENTS.join(_STATES, true()))
    .where(_RECIPIENTS.c.message_id == bindparam("message_id"))
    .order_by(_STATES.c.step, _RECIPIENTS.c.id),
)
# PostgreSQL only (unnest).
_RECIPIENTS_OF_NUMBERS = (
    insert(_RECIPIENTS)
    .from_select(
        ["message_id", "number", "state", "updated_at"],
        select(
            bindparam("message_id", type_=_RECIPIENTS.c.message_id.type),
            func.unnest(bindparam("numbers", type_=postgresql.ARRAY(_RECIPIENTS.c.number.type))),
            bindparam("state", type_=_RECIPIENTS.c.state.type),
            bindparam("updated_at", type_=_RECIPIENTS.c.updated_at.type),
        ),
    )
    .returning(_RECIPIENTS.c.id, _RECIPIENTS.c.number)
)

# PostgreSQL, a send not held: the message, its recipients and their two first
# delivery events in one statement (data-modifying CTEs), one round trip instead of
# three. Parameters: the message's columns prefixed "m_", "numbers_array", "state",
# "then" (the recipients' state) and "at".
_MESSAGE_COLUMNS = (
    "msg_id", "account_id", "sender", "text", "encoding", "pages", "numbers",
    "points_charged", "test", "status", "created_at",
)  # fmt: skip
_NEW_MESSAGE = (
    insert(_MESSAGES)
    .values({c: bindparam(f"m_{c}", type_=_MESSAGES.c[c].type) for c in _MESSAGE_COLUMNS})
    .returning(_MESSAGES.c.id)
    .cte("new_message")
)
_NEW_RECIPIENTS = (
    insert(_RECIPIENTS)
    .from_select(
        # Column defaults are not applied inside a CTE: "attempts" is given.
        ["message_id", "number", "state", "updated_at", "attempts"],
        select(
            _NEW_MESSAGE.c.id,
            func.unnest(
                bindparam("numbers_array", type_=postgresql.ARRAY(_RECIPIENTS.c.number.type))
            ),
            bindparam("then", type_=_RECIPIENTS.c.state.type),
            bindparam("at", type_=_RECIPIENTS.c.updated_at.type),
            literal(0),
        ),
    )
    .returning(_RECIPIENTS.c.message_id, _RECIPIENTS.c.id, _RECIPIENTS.c.number)
    .cte("new_recipients")
)
_NEW_EVENTS = (
    insert(_DELIVERY_EVENTS)
    .from_select(
        ["message_id", "recipient_id", "state", "at"],
        select(
            _NEW_RECIPIENTS.c.message_id,
            _NEW_RECIPIENTS.c.id,
            _STATES.c.state,
            bindparam("at", type_=_DELIVERY_EVENTS.c.at.type),
        )
        .select_from(_NEW_RECIPIENTS.join(_STATES, true()))
        .order_by(_STATES.c.step, _NEW_RECIPIENTS.c.id),
    )
    .cte("new_events")
)
_QUEUED_SEND = select(
    _NEW_RECIPIENTS.c.message_id, _NEW_RECIPIENTS.c.id, _NEW_RECIPIENTS.c.number
).add_cte(_NEW_EVENTS)


@dataclass(frozen=True, slots=True)
class SendRequest:
    account_id: int
    sender: str
    numbers: Sequence[str]  # raw strings as given
    text: str
    test: bool
    client_ip: str | None
    group_id: int | None = None  # numbers come from this contact group instead
    # The account as the caller has just read it (the API does, to authenticate):
    # it spares reading it again. None: the send reads it.
    account: SendingAccount | None = None


@dataclass(frozen=True, slots=True)
class SendAccepted:
    msg_id: str
    numbers: int
    points_charged: int
    balance_after: int
    unix_timestamp: int  # Unix time (UTC) of acceptance
    status: MessageStatus  # ACCEPTED, or HELD (issue 4)


@dataclass(frozen=True, slots=True)
class SendRefused:
    code: str  # "ERR0xx" with kwtSMS's meaning
    description: str
    # Seconds until a temporary refusal ends (ERR028; ERR013 of a send rate or throttle).
    retry_after_s: float | None = None


class LowBalanceHook(Protocol):
    async def notify(self, account_id: int, balance_after: int) -> None: ...


@dataclass(frozen=True, slots=True)
class _Stored:
    message_id: int
    recipient_ids: list[int]
    balance_after: int


def dispatch_payload(message_id: int, recipient_ids: Sequence[int]) -> bytes:
    return json.dumps({"message_id": message_id, "recipient_ids": list(recipient_ids)}).encode()


class SmsService:
    """Accepts sends. One per application (appkeys.SMS); safe to share between tasks,
    as each send uses sessions of its own."""

    def __init__(
        self,
        sessions: SessionFactory,
        hot: HotState,
        settings: Settings,
        *,
        low_balance: LowBalanceHook | None = None,
        checks: Sequence[Check] | None = None,
        pipeline: Pipeline | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._hot = hot
        self._settings = settings
        self._low_balance = low_balance
        self._checks = list(default_checks(settings) if checks is None else checks)
        # The pre-send checks of issue 4 (secgate.checks.pipeline); None: none.
        self._pipeline = pipeline
        self._recent = RecentNumbers(hot, settings.same_number_block_s)
        self._clock = clock

    async def send(self, request: SendRequest) -> SendAccepted | SendRefused:
        draft = await self._draft(request)
        if isinstance(draft, SendRefused):
            return draft
        for check in self._checks:
            result = await check.check(draft)
            if result.code is not None:
                return _refused(draft, result.code, result.reason, result.retry_after_s)
        # Content and abuse checks: a REJECT answers with its code; a HOLD is stored
        # and charged like an accepted send, but not queued (secgate.checks.held_messages).
        checked = hold = None
        if self._pipeline is not None:
            checked = under_check(draft, self._clock())
            decision = await self._pipeline.check(checked)
            if decision.verdict is Verdict.REJECT:
                return _refused(
                    draft,
                    decision.code or "ERR013",
                    refusal_description(decision),
                    refusal_retry_after_s(decision),
                )
            hold = decision if decision.verdict is Verdict.HOLD else None

        numbers = draft.numbers.valid
        points = 0 if draft.test else draft.encoding.pages * len(numbers)
        msg_id = secrets.token_hex(16)
        claim = await self._recent.claim(
            draft.account.id, numbers, test=draft.test, token=msg_id.encode()
        )
        if claim.result.code is not None:
            return _refused(
                draft, claim.result.code, claim.result.reason, claim.result.retry_after_s
            )

        now = datetime.fromtimestamp(self._clock(), UTC)
        # The balance as read is a first look that spares a doomed transaction;
        # the conditional UPDATE of the charge decides.
        outcome = _balance_refusal(draft.account.balance, points)
        if outcome is None:
            outcome = await self._store_releasing(draft, claim, msg_id, points, now, hold)
        if isinstance(outcome, SendRefused):
            await self._recent.release(claim)
            return _refused(draft, outcome.code, outcome.description)

        if hold is None and not draft.test:
            await self._enqueue(outcome)
        if self._pipeline is not None and checked is not None:
            # Counts the send for the pumping checks, or raises sms.spam_held.
            await self._pipeline.stored(checked, msg_id, hold)
        if points:
            await self._notify_low_balance(draft.account, outcome.balance_after)
        return SendAccepted(
            msg_id=msg_id,
            numbers=len(numbers),
            points_charged=points,
            balance_after=outcome.balance_after,
            unix_timestamp=int(now.timestamp()),
            status=MessageStatus.ACCEPTED if hold is None else MessageStatus.HELD,
        )

    async def _draft(self, request: SendRequest) -> Draft | SendRefused:
        if request.account is not None and request.group_id is None:
            if request.account.id != request.account_id:
                raise ValueError("SendRequest.account is not the account of account_id")
            limit = self._settings.max_numbers_per_request
            numbers = read_numbers(request.numbers, request.account.home_country, limit)
            return _make_draft(request, request.account, numbers)
        async with self._sessions() as session:
            account = await session.get(Account, request.account_id)
            if account is None:
                return SendRefused("ERR003", "Unknown account")
            if account.disabled:
                return SendRefused("ERR005", "This account is blocked")
            entries: Sequence[str] = request.numbers
            limit = self._settings.max_numbers_per_request
            if request.group_id is not None:
                limit = self._settings.max_group_send_numbers
                entries = await _group_numbers(session, account.id, request.group_id, limit)
        if len(entries) > self._settings.max_numbers_per_request:
            # A large group: tens of microseconds a number is too long for the event loop.
            numbers = await asyncio.to_thread(read_numbers, entries, account.home_country, limit)
        else:
            numbers = read_numbers(entries, account.home_country, limit)
        return _make_draft(request, sending_account(account), numbers)

    async def _store_releasing(
        self,
        draft: Draft,
        claim: NumberClaim,
        msg_id: str,
        points: int,
        now: datetime,
        hold: Decision | None = None,
    ) -> _Stored | SendRefused:
        try:
            return await self._store(draft, msg_id, points, now, hold)
        except BaseException:
            # Nothing was accepted: the numbers must not stay blocked for it.
            await self._recent.release(claim)
            raise

    async def _store(
        self, draft: Draft, msg_id: str, points: int, now: datetime, hold: Decision | None = None
    ) -> _Stored | SendRefused:
        """Write the send and charge for it in one transaction. The rows are written
        before the charge so that, on PostgreSQL, the account row is locked only for
        the end of the transaction. A held send (`hold`) is stored HELD, its recipients
        ACCEPTED (not QUEUED), with the reasons of the hold."""
        assert draft.originator is not None  # SenderOwnership passed
        message = {
            "msg_id": msg_id,
            "account_id": draft.account.id,
            "sender": draft.originator,
            "text": draft.text,
            "encoding": draft.encoding.encoding,
            "pages": draft.encoding.pages,
            "numbers": len(draft.numbers.valid),
            "points_charged": points,
            "test": draft.test,
            "status": MessageStatus.ACCEPTED if hold is None else MessageStatus.HELD,
            "created_at": now,
        }
        async with self._sessions() as session:
            if (
                hold is None
                and draft.numbers.valid
                and session.get_bind().dialect.name == "postgresql"
            ):
                message_id, recipient_ids = await _insert_queued_send(
                    session, message, draft.numbers.valid, now
                )
            else:
                message_id, recipient_ids = await _insert_send(
                    session, message, draft.numbers.valid, now, hold
                )
            balance_after: int | None = draft.account.balance
            if points:
                balance_after = await credits.charge(
                    session, draft.account.id, points, message_id=message_id, at=now
                )
            if balance_after is None:
                await session.rollback()
                balance = await session.scalar(
                    select(Account.balance).where(Account.id == draft.account.id)
                )
                return _balance_refusal(balance or 0, points) or SendRefused(
                    "ERR011", "Insufficient balance"
                )
            await session.commit()
        return _Stored(message_id, recipient_ids, balance_after)

    async def _enqueue(self, stored: _Stored) -> None:
        batch = self._settings.dispatch_batch_size
        ids = stored.recipient_ids
        for start in range(0, len(ids), batch):
            try:
                await self._hot.enqueue(
                    DISPATCH_QUEUE, dispatch_payload(stored.message_id, ids[start : start + batch])
                )
            except HotStateUnavailable:
                # Accepted all the same: the dispatcher's sweeper finds them in the database.
                log.warning(
                    "sms_dispatch_not_enqueued",
                    extra={"message_id": stored.message_id, "recipients": len(ids) - start},
                    exc_info=True,
                )
                return

    async def _notify_low_balance(self, account: SendingAccount, balance_after: int) -> None:
        threshold = account.low_balance_threshold
        if threshold is None:
            threshold = self._settings.low_balance_threshold_points
        if self._low_balance is None or balance_after >= threshold:
            return
        try:
            await self._low_balance.notify(account.id, balance_after)
        except Exception:
            # The send is accepted and charged; a lost warning must not undo that.
            log.exception("low_balance_notify_failed", extra={"account_id": account.id})


async def _insert_queued_send(
    session: AsyncSession, message: dict[str, object], numbers: Sequence[str], now: datetime
) -> tuple[int, list[int]]:
    """PostgreSQL: the message, its recipients (QUEUED) and their ACCEPTED and QUEUED
    events in one statement; the message's id and the recipients' ids, in the order
    of `numbers` (RETURNING keeps no order; a send's numbers are distinct)."""
    rows = (
        await session.execute(
            _QUEUED_SEND,
            {f"m_{name}": value for name, value in message.items()}
            | {
                "numbers_array": list(numbers),
                "state": RecipientState.ACCEPTED,
                "then": RecipientState.QUEUED,
                "at": now,
            },
        )
    ).all()
    id_of: dict[str, int] = {number: recipient_id for _, recipient_id, number in rows}
    if len(id_of) != len(numbers):
        raise ValueError("a send's numbers must be distinct")
    return rows[0][0], [id_of[number] for number in numbers]


async def _insert_send(
    session: AsyncSession,
    message: dict[str, object],
    numbers: Sequence[str],
    now: datetime,
    hold: Decision | None,
) -> tuple[int, list[int]]:
    """The message, its recipients and their first delivery events, a statement each
    (SQLite, or a held send: ACCEPTED only, with the reasons of the hold)."""
    message_id = await session.scalar(insert(_MESSAGES).returning(_MESSAGES.c.id), message)
    assert message_id is not None
    entered = (RecipientState.ACCEPTED, RecipientState.QUEUED)
    if hold is not None:
        entered = (RecipientState.ACCEPTED,)
        await record_hold(session, message_id, hold, now)
    recipient_ids = await _insert_recipients(session, message_id, numbers, now, entered[-1])
    # The delivery log's first states, copied from the rows just written by the
    # database itself: no per-row parameters to build and send.
    if hold is None:
        await session.execute(
            _TWO_EVENTS_OF_MESSAGE,
            {"message_id": message_id, "state": entered[0], "then": entered[1], "at": now},
        )
    else:
        await session.execute(
            _EVENTS_OF_MESSAGE, {"message_id": message_id, "state": entered[0], "at": now}
        )
    return message_id, recipient_ids


async def _insert_recipients(
    session: AsyncSession,
    message_id: int,
    numbers: Sequence[str],
    now: datetime,
    state: RecipientState = RecipientState.QUEUED,
) -> list[int]:
    """Write a recipient (in `state`) per number; their ids, in the order of `numbers`."""
    if session.get_bind().dialect.name == "postgresql":
        # The numbers as one array parameter: SQLAlchemy's handling of four
        # parameters a row took this process twice the CPU (1.6 ms against 0.8 ms
        # for 200 numbers). RETURNING keeps no order, so the ids are matched back by
        # number: a send's numbers are distinct (read_numbers drops repeats).
        rows = await session.execute(
            _RECIPIENTS_OF_NUMBERS,
            {
                "message_id": message_id,
                "numbers": list(numbers),
                "state": state,
                "updated_at": now,
            },
        )
        id_of: dict[str, int] = {number: recipient_id for recipient_id, number in rows}
        if len(id_of) != len(numbers):
            raise ValueError("a send's numbers must be distinct")
        return [id_of[number] for number in numbers]
    return list(
        await session.scalars(
            insert(_RECIPIENTS).returning(_RECIPIENTS.c.id, sort_by_parameter_order=True),
            [
                {
                    "message_id": message_id,
                    "number": number,
                    "state": state,
                    "updated_at": now,
                }
                for number in numbers
            ],
        )
    )


async def _group_numbers(
    session: AsyncSession, account_id: int, group_id: int, limit: int
) -> list[str]:
    """The numbers of one of the account's contact groups (none for another's group),
    one past the limit at most: enough to tell that there are too many."""
    rows = await session.scalars(
        select(Contact.number)
        .join(ContactGroup, Contact.group_id == ContactGroup.id)
        .where(ContactGroup.id == group_id, ContactGroup.account_id == account_id)
        .order_by(Contact.id)
        .limit(limit + 1)
    )
    return list(rows)


def _make_draft(request: SendRequest, account: SendingAccount, numbers: NumberReading) -> Draft:
    return Draft(
        account=account,
        sender=request.sender,
        originator=originator(account, request.sender),
        text=request.text,
        encoding=encode_info(request.text),
        numbers=numbers,
        test=request.test,
        client_ip=request.client_ip,
    )


def sending_account(account: Account) -> SendingAccount:
    """The account as a send sees it (its sender IDs are loaded with it)."""
    return SendingAccount(
        id=account.id,
        mobile=account.mobile,
        home_country=account.home_country,
        activated_countries=frozenset(account.activated_countries),
        sender_ids=frozenset(sender_id.name for sender_id in account.sender_ids),
        transactional_sender_ids=frozenset(
            sender_id.name for sender_id in account.sender_ids if sender_id.transactional
        ),
        balance=account.balance,
        low_balance_threshold=account.low_balance_threshold,
    )


def _balance_refusal(balance: int, points: int) -> SendRefused | None:
    if points == 0:
        return None
    if balance <= 0:
        return SendRefused("ERR010", "Account balance is zero")
    if balance < points:
        return SendRefused(
            "ERR011", f"Insufficient balance: {points} points needed, {balance} available"
        )
    return None


def _refused(
    draft: Draft, code: str, reason: str, retry_after_s: float | None = None
) -> SendRefused:
    log.info("sms_refused", extra={"account_id": draft.account.id, "code": code})
    return SendRefused(code, reason, retry_after_s)
