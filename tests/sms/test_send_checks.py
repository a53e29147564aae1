"""The pre-send checks on the send path (issue 4): a rejected message is refused with
its code and costs nothing; a held one is stored HELD, charged, and neither queued nor
swept; a passing one is sent and counted by the abuse checks; test sends are checked
too; a check whose store is down refuses the send (ERR013).

The pipelines here are built from small real checks (a word rule, a recipient counter)
and, where it matters, the real spam model and pumping checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from customer_accounts import register_account, stored_balance
from sqlalchemy import func, select

from secgate.accounts.registry import add_sender_id
from secgate.alerts.store import AlertSink, AlertView, list_alerts
from secgate.checks.pipeline import SPAM_REFUSAL, Pipeline
from secgate.checks.pumping import pumping_checks
from secgate.checks.spam_model import SpamModelCheck
from secgate.checks.verdict import (
    CheckResult,
    FailMode,
    MessageUnderCheck,
    held,
    passed,
    rejected,
)
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms import delivery_log
from secgate.sms.connectors.sandbox import SandboxConnector
from secgate.sms.dispatcher import Dispatcher
from secgate.sms.send import DISPATCH_QUEUE, SendAccepted, SendRefused, SendRequest, SmsService
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    AlertSeverity,
    CreditEntry,
    DeliveryEvent,
    Message,
    MessageHold,
    MessageStatus,
    Recipient,
    RecipientState,
)

NOW = 1_800_000_000.25
NUMBERS = ["96550000001", "96560000002"]
SPAM = (
    "WINNER!! You have been selected to receive a £900 prize reward! To claim call "
    "09061701461. Claim code KL341. Valid 12 hours only."
)


@dataclass
class WordRule:
    """REJECT (ERR031) on "darn", HOLD on "review"."""

    name: str = "words"
    fails: FailMode = "closed"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        if "darn" in m.text:
            return rejected(self.name, "ERR031", "the message contains bad language")
        if "review" in m.text:
            return held(self.name, "a word that needs a look", word="review")
        return passed(self.name)


@dataclass
class Counter:
    """An abuse check that only counts: what it was asked about and what was sent."""

    name: str = "counter"
    fails: FailMode = "closed"
    checked: list[MessageUnderCheck] = field(default_factory=list)
    sent: list[MessageUnderCheck] = field(default_factory=list)

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        self.checked.append(m)
        return passed(self.name)

    async def record_sent(self, m: MessageUnderCheck) -> None:
        self.sent.append(m)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(dispatch_orphan_grace_s=0.0)


@pytest.fixture
async def account_id(db_sessions: SessionFactory) -> int:
    return await register_account(db_sessions, "shop", balance=100, senders=["MyShop"])


@pytest.fixture
def alerts(db_sessions: SessionFactory, memory_hot: MemoryHotState) -> AlertSink:
    return AlertSink(db_sessions, memory_hot, Settings(), clock=lambda: NOW)


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def make_service(
    db_sessions: SessionFactory, settings: Settings, alerts: AlertSink, counter: Counter
) -> Callable[..., SmsService]:
    def make(hot: HotState, pipeline: Pipeline | None = None) -> SmsService:
        if pipeline is None:
            pipeline = Pipeline([WordRule()], [counter], alerts=alerts)
        return SmsService(db_sessions, hot, settings, pipeline=pipeline, clock=lambda: NOW)

    return make


def request(account_id: int, text: str, **changes: Any) -> SendRequest:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "sender": "MyShop",
        "numbers": NUMBERS,
        "text": text,
        "test": False,
        "client_ip": "198.51.100.7",
    }
    return SendRequest(**{**fields, **changes})


async def count(db_sessions: SessionFactory, model: type[Any]) -> int:
    async with db_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def stored_alerts(db_sessions: SessionFactory) -> list[AlertView]:
    async with db_sessions() as session:
        views, _ = await list_alerts(session)
    return views


async def queued(hot: HotState) -> int:
    return len(await hot.consume(DISPATCH_QUEUE, "test", count=100))


# --- REJECT ----------------------------------------------------------------------------------


class TestRejected:
    async def test_it_is_refused_with_the_code_and_costs_and_stores_nothing(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "darn it"))
        assert outcome == SendRefused("ERR031", "the message contains bad language")
        assert await stored_balance(db_sessions, account_id) == 100
        for model in (Message, Recipient, DeliveryEvent, MessageHold):
            assert await count(db_sessions, model) == 0, model
        async with db_sessions() as session:
            reasons = list(await session.scalars(select(CreditEntry.reason)))
        assert reasons == ["purchase"]  # the opening balance only

    async def test_its_numbers_are_not_blocked_for_err028(
        self, memory_hot: MemoryHotState, account_id: int, make_service: Any
    ) -> None:
        service = make_service(memory_hot)
        assert isinstance(await service.send(request(account_id, "darn")), SendRefused)
        assert isinstance(await service.send(request(account_id, "hello")), SendAccepted)

    async def test_it_raises_its_alert_with_the_account_and_address(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        await make_service(memory_hot).send(request(account_id, "darn"))
        (alert,) = await stored_alerts(db_sessions)
        assert (alert.type, alert.account, alert.ip) == ("sms.spam_blocked", "shop", "198.51.100.7")
        assert alert.details["recipients"] == 2

    async def test_the_abuse_checks_neither_judge_nor_count_it(
        self, memory_hot: MemoryHotState, account_id: int, make_service: Any, counter: Counter
    ) -> None:
        await make_service(memory_hot).send(request(account_id, "darn"))
        assert (counter.checked, counter.sent) == ([], [])

    async def test_spam_is_err032_and_the_customer_is_not_told_the_score(
        self, memory_hot: MemoryHotState, account_id: int, make_service: Any
    ) -> None:
        pipeline = Pipeline([SpamModelCheck.from_settings(Settings())])
        outcome = await make_service(memory_hot, pipeline).send(request(account_id, SPAM))
        assert outcome == SendRefused("ERR032", SPAM_REFUSAL)

    async def test_a_test_send_is_checked_too(
        self, memory_hot: MemoryHotState, account_id: int, make_service: Any
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "darn", test=True))
        assert isinstance(outcome, SendRefused)
        assert outcome.code == "ERR031"


class TestStoreDown:
    async def test_the_pumping_checks_without_their_store_refuse_with_err013(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
        settings: Settings,
        alerts: AlertSink,
        dead_hot: HotState,
    ) -> None:
        pipeline = Pipeline([WordRule()], pumping_checks(dead_hot, settings, alerts))
        outcome = await make_service(memory_hot, pipeline).send(request(account_id, "hello"))
        assert isinstance(outcome, SendRefused)
        assert outcome.code == "ERR013"
        assert await stored_balance(db_sessions, account_id) == 100
        assert await count(db_sessions, Message) == 0


# --- HOLD ------------------------------------------------------------------------------------


class TestHeld:
    async def test_it_is_accepted_held_and_charged(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "please review"))
        assert isinstance(outcome, SendAccepted)
        assert (outcome.status, outcome.numbers, outcome.points_charged) == (
            MessageStatus.HELD,
            2,
            2,
        )
        assert outcome.balance_after == 98
        assert await stored_balance(db_sessions, account_id) == 98

    async def test_it_is_stored_held_with_its_recipients_waiting_and_its_reasons(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "please review"))
        assert isinstance(outcome, SendAccepted)
        async with db_sessions() as session:
            message = await session.scalar(select(Message))
            assert message is not None
            assert (message.msg_id, message.status) == (outcome.msg_id, MessageStatus.HELD)
            states = set(await session.scalars(select(Recipient.state)))
            assert states == {RecipientState.ACCEPTED}
            events = set(await session.scalars(select(DeliveryEvent.state)))
            assert events == {RecipientState.ACCEPTED}
            hold = await session.get(MessageHold, message.id)
            assert hold is not None
            assert hold.reasons == [
                {
                    "check": "words",
                    "verdict": "hold",
                    "reason": "a word that needs a look",
                    "word": "review",
                }
            ]
            assert hold.held_at.timestamp() == NOW
            assert hold.decided_at is None

    async def test_it_is_neither_queued_nor_swept_nor_counted(
        self,
        db_sessions: SessionFactory,
        hot_state: HotState,
        account_id: int,
        make_service: Any,
        settings: Settings,
        counter: Counter,
    ) -> None:
        await make_service(hot_state).send(request(account_id, "please review"))
        assert await queued(hot_state) == 0
        connector = SandboxConnector(db_sessions, settings)
        assert await Dispatcher(db_sessions, hot_state, connector, settings).sweep() == 0
        assert len(counter.checked) == 1
        assert counter.sent == []

    async def test_the_report_shows_it_waiting(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "please review"))
        assert isinstance(outcome, SendAccepted)
        async with db_sessions() as session:
            report = await delivery_log.report(session, account_id, outcome.msg_id)
        assert report is not None
        assert report.status == "QUEUED"

    async def test_it_raises_spam_held_with_its_msg_id(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(request(account_id, "please review"))
        assert isinstance(outcome, SendAccepted)
        (alert,) = await stored_alerts(db_sessions)
        assert (alert.type, alert.severity, alert.account) == (
            "sms.spam_held",
            AlertSeverity.LOW,
            "shop",
        )
        assert alert.details["msg_id"] == outcome.msg_id

    async def test_one_short_of_balance_is_refused_and_not_held(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        many = [f"9655000{i:04d}" for i in range(101)]  # 101 points, 100 in the balance
        outcome = await make_service(memory_hot).send(
            request(account_id, "please review", numbers=many)
        )
        assert isinstance(outcome, SendRefused)
        assert outcome.code == "ERR011"
        assert await count(db_sessions, MessageHold) == 0
        assert await stored_alerts(db_sessions) == []

    async def test_a_held_test_send_is_stored_held_and_charged_nothing(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
    ) -> None:
        outcome = await make_service(memory_hot).send(
            request(account_id, "please review", test=True)
        )
        assert isinstance(outcome, SendAccepted)
        assert (outcome.status, outcome.points_charged) == (MessageStatus.HELD, 0)
        assert await stored_balance(db_sessions, account_id) == 100


# --- PASS ------------------------------------------------------------------------------------


class TestPassed:
    async def test_it_is_sent_and_counted_by_the_abuse_checks(
        self,
        db_sessions: SessionFactory,
        hot_state: HotState,
        account_id: int,
        make_service: Any,
        counter: Counter,
    ) -> None:
        outcome = await make_service(hot_state).send(request(account_id, "hello"))
        assert isinstance(outcome, SendAccepted)
        assert outcome.status is MessageStatus.ACCEPTED
        assert await queued(hot_state) == 1
        (sent,) = counter.sent
        assert (sent.account_id, sent.recipients, sent.sender, sent.now) == (
            account_id,
            tuple(NUMBERS),
            "MyShop",
            NOW,
        )
        assert (sent.client_ip, sent.account_sender_ids) == ("198.51.100.7", {"MyShop"})
        assert await stored_alerts(db_sessions) == []

    async def test_the_checks_see_exactly_the_accounts_transactional_sender_ids(
        self,
        db_sessions: SessionFactory,
        memory_hot: MemoryHotState,
        account_id: int,
        make_service: Any,
        counter: Counter,
    ) -> None:
        # "MyShop" and "Clinic" are transactional elsewhere: only the sender's own count.
        await register_account(db_sessions, "other", senders=["Other"])
        async with db_sessions.begin() as session:
            await add_sender_id(session, username="shop", sender="Clinic", transactional=True)
            await add_sender_id(session, username="other", sender="MyShop", transactional=True)
            await add_sender_id(session, username="other", sender="Courier", transactional=True)

        await make_service(memory_hot).send(request(account_id, "hello", sender="Clinic"))

        (checked,) = counter.checked
        assert checked.account_sender_ids == {"MyShop", "Clinic"}
        assert checked.transactional_sender_ids == {"Clinic"}

    async def test_the_checks_see_the_sender_recipients_will_see(
        self, memory_hot: MemoryHotState, account_id: int, make_service: Any, counter: Counter
    ) -> None:
        await make_service(memory_hot).send(request(account_id, "hello", sender="+96550000000"))
        assert counter.checked[0].sender == "96550000000"

    async def test_the_real_pumping_checks_count_accepted_sends(
        self,
        hot_state: HotState,
        account_id: int,
        make_service: Any,
        make_settings: Callable[..., Settings],
        alerts: AlertSink,
    ) -> None:
        limited = make_settings(pumping_max_recipients_per_minute=3)
        pipeline = Pipeline([], pumping_checks(hot_state, limited, alerts))
        service = make_service(hot_state, pipeline)
        assert isinstance(await service.send(request(account_id, "hello")), SendAccepted)
        refused = await service.send(
            request(account_id, "hello", numbers=["96550000003", "96560000004"])
        )
        assert isinstance(refused, SendRefused)
        assert refused.code == "ERR013"
        # Until the minute's window ends: a client can wait that long, not longer.
        assert refused.retry_after_s is not None
        assert 0 < refused.retry_after_s <= 60
