"""Low-balance warnings: one alert and one owner SMS per crossing below the threshold,
re-armed by a purchase, even with concurrent sends; and the platform SMS that carries
the owner's warning through the delivery pipeline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from customer_accounts import add_account
from sqlalchemy import select

from secgate import appkeys
from secgate.alerts.store import AlertSink, list_alerts
from secgate.app import create_app
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms import credits
from secgate.sms.low_balance import LowBalanceNotifier, PlatformSms, owner_text
from secgate.sms.send import DISPATCH_QUEUE, SendAccepted, SendRequest
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    Account,
    AlertSeverity,
    DeliveryEvent,
    Message,
    Recipient,
    RecipientState,
    SenderId,
)

THRESHOLD = 100
OWNER = "96550000000"


@dataclass
class OwnerInbox:
    """The owner SMS sender the notifier is given: records what it was asked to send."""

    sent: list[tuple[int, str, str]] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, account_id: int, mobile: str, text: str) -> None:
        if self.fail:
            raise ConnectionError("pipeline down")
        self.sent.append((account_id, mobile, text))


@pytest.fixture
async def alerts(db_sessions: SessionFactory, settings: Settings) -> AsyncIterator[AlertSink]:
    # The hot state only carries alerts to live subscribers, which nothing here reads.
    hot = MemoryHotState()
    yield AlertSink(db_sessions, hot, settings)
    await hot.close()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url, low_balance_threshold_points=THRESHOLD)


@pytest.fixture
def inbox() -> OwnerInbox:
    return OwnerInbox()


@pytest.fixture
def notifier(
    db_sessions: SessionFactory, alerts: AlertSink, settings: Settings, inbox: OwnerInbox
) -> LowBalanceNotifier:
    return LowBalanceNotifier(db_sessions, alerts, settings, inbox)


async def make_account(
    db_sessions: SessionFactory, balance: int, threshold: int | None = None
) -> int:
    return await add_account(
        db_sessions, mobile=OWNER, balance=balance, low_balance_threshold=threshold
    )


async def send(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, account_id: int, points: int
) -> int:
    """What SmsService does: charge in a transaction of its own, then notify."""
    async with db_sessions.begin() as session:
        balance = await credits.charge(session, account_id, points)
    assert balance is not None
    await notifier.notify(account_id, balance)
    return balance


async def low_balance_alerts(db_sessions: SessionFactory) -> list[dict[str, object]]:
    async with db_sessions() as session:
        views, _ = await list_alerts(session, type="account.low_balance")
    return [view.to_json() for view in views]


# -- the threshold -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance_after", "warned"),
    [(THRESHOLD - 1, True), (THRESHOLD, False), (THRESHOLD + 1, False)],
)
async def test_a_charge_warns_only_when_it_leaves_the_balance_below_the_threshold(
    db_sessions: SessionFactory,
    notifier: LowBalanceNotifier,
    inbox: OwnerInbox,
    balance_after: int,
    warned: bool,
) -> None:
    account_id = await make_account(db_sessions, balance=150)

    await send(db_sessions, notifier, account_id, 150 - balance_after)

    assert len(inbox.sent) == (1 if warned else 0)
    assert len(await low_balance_alerts(db_sessions)) == (1 if warned else 0)


@pytest.mark.parametrize(
    ("balance_before", "warned"),
    [(THRESHOLD - 1, False), (THRESHOLD, True), (THRESHOLD + 1, True)],
)
async def test_only_a_charge_that_started_at_or_above_the_threshold_crosses(
    db_sessions: SessionFactory,
    notifier: LowBalanceNotifier,
    inbox: OwnerInbox,
    balance_before: int,
    warned: bool,
) -> None:
    account_id = await make_account(db_sessions, balance=balance_before)

    await send(db_sessions, notifier, account_id, balance_before - (THRESHOLD - 2))

    assert len(inbox.sent) == (1 if warned else 0)


async def test_the_warning_is_an_alert_for_staff_and_an_sms_to_the_owner(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=105)

    await send(db_sessions, notifier, account_id, 10)

    [alert] = await low_balance_alerts(db_sessions)
    assert (alert["severity"], alert["account"]) == (AlertSeverity.LOW.value, "alice")
    assert alert["details"] == {"balance": 95, "threshold": THRESHOLD}
    assert inbox.sent == [(account_id, OWNER, owner_text(95, THRESHOLD))]
    assert "95" in inbox.sent[0][2]


async def test_the_accounts_own_threshold_overrides_the_default(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=1000, threshold=500)

    await send(db_sessions, notifier, account_id, 500)  # at its threshold: not low
    await send(db_sessions, notifier, account_id, 1)  # 499

    assert [text for _, _, text in inbox.sent] == [owner_text(499, 500)]


# -- once per crossing ---------------------------------------------------------------


async def test_later_charges_below_the_threshold_do_not_warn_again(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=101)

    for _ in range(5):
        await send(db_sessions, notifier, account_id, 2)

    assert len(inbox.sent) == 1


async def test_a_purchase_back_to_the_threshold_rearms_the_warning(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=101)
    await send(db_sessions, notifier, account_id, 2)  # 99: warned

    async with db_sessions.begin() as session:
        await credits.add_credits(session, account_id, 1)  # 100: at the threshold
    await send(db_sessions, notifier, account_id, 1)  # 99: crossed again

    assert [text for _, _, text in inbox.sent] == [owner_text(99, THRESHOLD)] * 2


async def test_a_purchase_that_stays_below_the_threshold_does_not_rearm(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=101)
    await send(db_sessions, notifier, account_id, 5)  # 96: warned

    async with db_sessions.begin() as session:
        await credits.add_credits(session, account_id, THRESHOLD - 1 - 96)  # 99
    await send(db_sessions, notifier, account_id, 1)  # 98

    assert len(inbox.sent) == 1


async def test_concurrent_sends_across_the_threshold_warn_exactly_once(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=THRESHOLD + 10)

    balances = await asyncio.gather(
        *(send(db_sessions, notifier, account_id, 1) for _ in range(30))
    )

    assert sorted(balances) == list(range(THRESHOLD - 20, THRESHOLD + 10))
    assert len(inbox.sent) == 1
    assert len(await low_balance_alerts(db_sessions)) == 1


# -- failures ------------------------------------------------------------------------


async def test_an_owner_sms_that_fails_neither_raises_nor_stops_the_alert(
    db_sessions: SessionFactory, notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    account_id = await make_account(db_sessions, balance=THRESHOLD)
    inbox.fail = True

    await send(db_sessions, notifier, account_id, 1)

    assert len(await low_balance_alerts(db_sessions)) == 1


async def test_an_unknown_account_is_ignored(
    notifier: LowBalanceNotifier, inbox: OwnerInbox
) -> None:
    await notifier.notify(12345, 0)

    assert inbox.sent == []


# -- the platform SMS ----------------------------------------------------------------


async def test_the_platform_sms_is_queued_free_through_the_delivery_pipeline(
    db_sessions: SessionFactory, hot_state: HotState
) -> None:
    account_id = await make_account(db_sessions, balance=0)

    await PlatformSms(db_sessions, hot_state)(account_id, OWNER, "Balance low")

    async with db_sessions() as session:
        message = await session.scalar(select(Message))
        recipient = await session.scalar(select(Recipient))
        events = list(await session.scalars(select(DeliveryEvent.state)))
        balance = await session.scalar(select(Account.balance))
    assert message is not None and recipient is not None
    assert (message.account_id, message.sender, message.text) == (
        account_id,
        "SecGate",
        "Balance low",
    )
    assert (message.points_charged, message.test, message.numbers) == (0, False, 1)
    assert (recipient.number, recipient.state) == (OWNER, RecipientState.QUEUED)
    assert sorted(events) == sorted([RecipientState.ACCEPTED, RecipientState.QUEUED])
    assert balance == 0
    [item] = await hot_state.consume(DISPATCH_QUEUE, "test", count=10)
    assert json.loads(item.payload) == {"message_id": message.id, "recipient_ids": [recipient.id]}


# -- end to end ----------------------------------------------------------------------


async def test_a_send_through_the_gateway_that_crosses_warns_the_owner_by_sms(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    settings: Settings,
    db_sessions: SessionFactory,
) -> None:
    client = await aiohttp_client(create_app(settings))
    account_id = await make_account(db_sessions, balance=THRESHOLD + 1)
    async with db_sessions.begin() as session:
        session.add(SenderId(account_id=account_id, name="KWT-SMS"))
    request = SendRequest(account_id, "KWT-SMS", ["96550000001", "96550000002"], "Hi", False, None)

    accepted = await client.app[appkeys.SMS].send(request)

    assert isinstance(accepted, SendAccepted) and accepted.balance_after == THRESHOLD - 1
    assert len(await low_balance_alerts(db_sessions)) == 1
    async with db_sessions() as session:
        warning = await session.scalar(select(Message).where(Message.sender == "SecGate"))
        assert warning is not None
        assert warning.text == owner_text(THRESHOLD - 1, THRESHOLD)
        owner = await session.scalar(
            select(Recipient.number).where(Recipient.message_id == warning.id)
        )
    assert owner == OWNER
