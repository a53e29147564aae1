"""Low-balance warnings: once per crossing below the threshold, an alert for staff and
an SMS to the account's owner.

The threshold is the account's `low_balance_threshold`, else the settings'
`low_balance_threshold_points`; a balance below it is low (at it is not).

Which charge crosses is read from the credit ledger, not from state kept here: every
balance change goes through one conditional UPDATE (secgate.sms.credits) and appends
a ledger entry with the balance after it. So of any number of concurrent sends,
exactly one takes the balance from at-or-above the threshold to below it, and only
its entry shows that (balance before = balance_after - delta). Its notify warns; the
others find their charge started below and stay quiet. Raising the balance again (a
purchase) re-arms the warning by itself, nothing is lost on a restart, and several
gateway processes agree. An account opened with less than the threshold is warned
the first time it crosses, after a purchase.

The owner's SMS is sent by an injected `OwnerSms`; the gateway's is `PlatformSms`,
which puts a free message from sender "SecGate" straight into the delivery pipeline.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select

from secgate.alerts.store import AlertSink
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.sms.delivery_log import StateChange, record
from secgate.sms.encoding import encode_info
from secgate.sms.send import DISPATCH_QUEUE, dispatch_payload
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    Account,
    AlertSeverity,
    CreditEntry,
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
)

log = logging.getLogger("secgate.low_balance")

ALERT_TYPE = "account.low_balance"
# The platform's own originator: short enough for any operator (11 characters at most).
PLATFORM_SENDER = "SecGate"

# (account_id, mobile, text): sends the owner a message, raising if it could not.
OwnerSms = Callable[[int, str, str], Awaitable[None]]


def owner_text(balance: int, threshold: int) -> str:
    # GSM-7 and well under one page: costs the operator one SMS.
    return (
        f"SecGate: your SMS balance is {balance} points, below your warning level of "
        f"{threshold}. Top up to keep sending."
    )


class LowBalanceNotifier:
    """Called after each charge (SmsService); warns when that charge crossed below the
    threshold. Never raises: the send it follows stands whatever happens here."""

    def __init__(
        self,
        sessions: SessionFactory,
        alerts: AlertSink,
        settings: Settings,
        send_owner_sms: OwnerSms,
    ) -> None:
        self._sessions = sessions
        self._alerts = alerts
        self._default_threshold = settings.low_balance_threshold_points
        self._send_owner_sms = send_owner_sms

    async def notify(self, account_id: int, balance_after: int) -> None:
        try:
            crossing = await self._crossing(account_id, balance_after)
        except Exception:
            log.exception("low_balance_check_failed", extra={"account_id": account_id})
            return
        if crossing is None:
            return
        mobile, threshold = crossing
        try:
            await self._alerts.raise_alert(
                type=ALERT_TYPE,
                severity=AlertSeverity.LOW,
                account_id=account_id,
                details={"balance": balance_after, "threshold": threshold},
            )
        except Exception:
            log.exception("low_balance_alert_failed", extra={"account_id": account_id})
        try:
            await self._send_owner_sms(account_id, mobile, owner_text(balance_after, threshold))
        except Exception:
            log.exception("low_balance_sms_failed", extra={"account_id": account_id})

    async def _crossing(self, account_id: int, balance_after: int) -> tuple[str, int] | None:
        """(owner's mobile, threshold) when the charge that left `balance_after` took
        the balance from at-or-above the threshold to below it; else None."""
        async with self._sessions() as session:
            account = (
                await session.execute(
                    select(Account.mobile, Account.low_balance_threshold).where(
                        Account.id == account_id
                    )
                )
            ).one_or_none()
            if account is None:
                return None
            threshold = account.low_balance_threshold
            if threshold is None:
                threshold = self._default_threshold
            if balance_after >= threshold:
                return None
            # The caller's own charge: the newest that left this balance. Only a balance
            # below the threshold gets here, which a few more sends take to zero: rare.
            charge = (
                await session.execute(
                    select(CreditEntry.delta)
                    .where(
                        CreditEntry.account_id == account_id,
                        CreditEntry.balance_after == balance_after,
                        CreditEntry.delta < 0,
                    )
                    .order_by(CreditEntry.id.desc())
                    .limit(1)
                )
            ).one_or_none()
        if charge is None or balance_after - charge.delta < threshold:
            return None
        return account.mobile, threshold


class PlatformSms:
    """An `OwnerSms` that queues a free message from PLATFORM_SENDER to the account's
    owner through the delivery pipeline: stored as a message of the account (so the
    dispatcher sends it, and the delivery log and /API/report know it) with nothing
    charged and no customer checks applied, since the platform is the sender. Its
    delivery report reaches the account's webhook like any other."""

    def __init__(self, sessions: SessionFactory, hot: HotState) -> None:
        self._sessions = sessions
        self._hot = hot

    async def __call__(self, account_id: int, mobile: str, text: str) -> None:
        now = datetime.now(UTC)
        encoding = encode_info(text)
        async with self._sessions.begin() as session:
            message_id = await session.scalar(
                insert(Message)
                .values(
                    msg_id=secrets.token_hex(16),
                    account_id=account_id,
                    sender=PLATFORM_SENDER,
                    text=text,
                    encoding=encoding.encoding,
                    pages=encoding.pages,
                    numbers=1,
                    points_charged=0,
                    test=False,
                    status=MessageStatus.ACCEPTED,
                    created_at=now,
                )
                .returning(Message.id)
            )
            assert message_id is not None  # RETURNING always gives the row
            recipient_id = await session.scalar(
                insert(Recipient)
                .values(message_id=message_id, number=mobile, updated_at=now)
                .returning(Recipient.id)
            )
            assert recipient_id is not None
            await record(
                session,
                [
                    StateChange(recipient_id, message_id, RecipientState.ACCEPTED, at=now),
                    StateChange(recipient_id, message_id, RecipientState.QUEUED, at=now),
                ],
            )
        try:
            await self._hot.enqueue(DISPATCH_QUEUE, dispatch_payload(message_id, [recipient_id]))
        except HotStateUnavailable:
            # Stored: the dispatcher's sweeper finds it in the database.
            log.warning("platform_sms_not_enqueued", extra={"message_id": message_id})
