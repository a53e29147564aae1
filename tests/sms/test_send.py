"""The accept path of a send: refusals in kwtSMS order, atomic charging, one transaction
for the message and its recipients, the dispatch queue, test mode, ERR028 and ERR013.

Runs on SQLite and PostgreSQL; where the hot state matters, in-process and on Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from customer_accounts import register_account, stored_balance
from sqlalchemy import func, select

from secgate.accounts.registry import set_activated_countries
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.sms.credits import add_credits
from secgate.sms.rules import CheckResult, Draft
from secgate.sms.send import (
    DISPATCH_QUEUE,
    SendAccepted,
    SendRefused,
    SendRequest,
    SmsService,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import (
    Account,
    Contact,
    ContactGroup,
    CreditEntry,
    DeliveryEvent,
    Message,
    MessageStatus,
    Recipient,
    RecipientState,
)

OWN_MOBILE = "96550000000"
SA_MOBILE = "966501234567"
NOW = 1_700_000_000.75


def _numbers(count: int, start: int = 1) -> list[str]:
    return [f"9655{i:07d}" for i in range(start, start + count)]


@pytest.fixture
def open_account(db_sessions: SessionFactory) -> Callable[..., Any]:
    async def open_account(
        username: str = "alice",
        *,
        balance: int = 1000,
        country: str = "KW",
        mobile: str = OWN_MOBILE,
        countries: list[str] | None = None,
    ) -> int:
        account_id = await register_account(
            db_sessions,
            username,
            mobile=mobile,
            country=country,
            balance=balance,
            senders=["Kuwait"],
        )
        if countries is not None:
            async with db_sessions.begin() as session:
                await set_activated_countries(session, username, countries)
        return account_id

    return open_account


@pytest.fixture
def make_service(
    db_sessions: SessionFactory, make_settings: Callable[..., Settings]
) -> Callable[..., SmsService]:
    def make(
        hot: HotState, *, low_balance: Any = None, checks: Any = None, **changes: Any
    ) -> SmsService:
        return SmsService(
            db_sessions,
            hot,
            make_settings(**changes),
            low_balance=low_balance,
            checks=checks,
            clock=lambda: NOW,
        )

    return make


def _request(account_id: int, **changes: Any) -> SendRequest:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "sender": "Kuwait",
        "numbers": ["96550000001"],
        "text": "Hello",
        "test": False,
        "client_ip": "198.51.100.7",
    }
    return SendRequest(**{**fields, **changes})


async def _count(db_sessions: SessionFactory, model: type[Any]) -> int:
    async with db_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _queued(hot: HotState) -> list[dict[str, Any]]:
    items = await hot.consume(DISPATCH_QUEUE, "test", count=100)
    return [json.loads(item.payload) for item in items]


async def _assert_nothing_stored(
    db_sessions: SessionFactory, account_id: int, balance: int
) -> None:
    assert await _count(db_sessions, Message) == 0
    assert await _count(db_sessions, Recipient) == 0
    assert await _count(db_sessions, DeliveryEvent) == 0
    assert await stored_balance(db_sessions, account_id) == balance


# --- accepted sends -----------------------------------------------------------------------


async def test_accepted_send_is_charged_pages_times_numbers(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=1000)
    service = make_service(memory_hot)
    text = "a" * 161  # two pages

    outcome = await service.send(_request(account_id, numbers=_numbers(3), text=text))

    assert isinstance(outcome, SendAccepted)
    assert len(outcome.msg_id) == 32
    assert outcome.numbers == 3
    assert outcome.points_charged == 6
    assert outcome.balance_after == 994
    assert outcome.unix_timestamp == int(NOW)
    assert outcome.status is MessageStatus.ACCEPTED
    assert await stored_balance(db_sessions, account_id) == 994


async def test_accepted_send_stores_message_recipients_events_and_charge(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=1000)
    outcome = await make_service(memory_hot).send(
        _request(account_id, numbers=_numbers(2), text="مرحبا")
    )
    assert isinstance(outcome, SendAccepted)

    async with db_sessions() as session:
        message = await session.scalar(select(Message))
        assert message is not None
        assert (message.msg_id, message.account_id, message.sender) == (
            outcome.msg_id,
            account_id,
            "Kuwait",
        )
        assert (message.text, message.encoding, message.pages, message.numbers) == (
            "مرحبا",
            "ucs2",
            1,
            2,
        )
        assert message.points_charged == 2
        assert not message.test
        assert message.status is MessageStatus.ACCEPTED
        assert message.created_at.timestamp() == NOW

        recipients = list(await session.scalars(select(Recipient).order_by(Recipient.id)))
        assert [r.number for r in recipients] == _numbers(2)
        assert {r.state for r in recipients} == {RecipientState.QUEUED}
        assert {r.message_id for r in recipients} == {message.id}

        events = (
            await session.execute(
                select(DeliveryEvent.recipient_id, DeliveryEvent.state).order_by(DeliveryEvent.id)
            )
        ).all()
        assert sorted(events) == sorted(
            (r.id, state)
            for r in recipients
            for state in (RecipientState.ACCEPTED, RecipientState.QUEUED)
        )

        entry = await session.scalar(select(CreditEntry).where(CreditEntry.reason == "send"))
        assert entry is not None
        assert (entry.delta, entry.balance_after, entry.message_id) == (-2, 998, message.id)


async def test_accepted_send_is_queued_for_dispatch_in_batches(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    service = make_service(hot_state, dispatch_batch_size=2)

    outcome = await service.send(_request(account_id, numbers=_numbers(5)))
    assert isinstance(outcome, SendAccepted)

    async with db_sessions() as session:
        message_id = await session.scalar(select(Message.id))
        recipient_ids = list(await session.scalars(select(Recipient.id).order_by(Recipient.id)))
    payloads = await _queued(hot_state)
    assert payloads == [
        {"message_id": message_id, "recipient_ids": recipient_ids[0:2]},
        {"message_id": message_id, "recipient_ids": recipient_ids[2:4]},
        {"message_id": message_id, "recipient_ids": recipient_ids[4:5]},
    ]


async def test_queued_recipients_follow_the_order_the_numbers_were_given(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    service = make_service(hot_state, dispatch_batch_size=2)
    numbers = ["96550000005", "96550000002", "96550000009", "96550000001", "96550000003"]

    assert isinstance(await service.send(_request(account_id, numbers=numbers)), SendAccepted)

    async with db_sessions() as session:
        rows = await session.execute(select(Recipient.id, Recipient.number))
        number_of = {recipient_id: number for recipient_id, number in rows}
    payloads = await _queued(hot_state)
    assert [[number_of[i] for i in p["recipient_ids"]] for p in payloads] == [
        numbers[0:2],
        numbers[2:4],
        numbers[4:5],
    ]


async def test_duplicates_in_any_form_are_sent_once(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    numbers = ["96550000001", "+965 5000-0001", "00965 50000001", "٩٦٥٥٠٠٠٠٠٠١", "5000 0001"]

    outcome = await make_service(memory_hot).send(_request(account_id, numbers=numbers))

    assert isinstance(outcome, SendAccepted)
    assert (outcome.numbers, outcome.points_charged) == (1, 1)
    async with db_sessions() as session:
        assert list(await session.scalars(select(Recipient.number))) == ["96550000001"]


async def test_national_numbers_are_read_in_the_home_country(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(country="SA", mobile=SA_MOBILE, countries=["SA"])
    outcome = await make_service(memory_hot).send(
        _request(account_id, numbers=["050 123 4567", "٠٥٠١٢٣٤٥٦٧"])
    )
    assert isinstance(outcome, SendAccepted)
    assert outcome.numbers == 1
    async with db_sessions() as session:
        assert list(await session.scalars(select(Recipient.number))) == [SA_MOBILE]


async def test_own_mobile_may_be_the_sender(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    outcome = await make_service(memory_hot).send(_request(account_id, sender="+" + OWN_MOBILE))
    assert isinstance(outcome, SendAccepted)
    async with db_sessions() as session:
        assert await session.scalar(select(Message.sender)) == OWN_MOBILE


async def test_whole_balance_may_be_spent(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=3)
    outcome = await make_service(memory_hot).send(_request(account_id, numbers=_numbers(3)))
    assert isinstance(outcome, SendAccepted)
    assert outcome.balance_after == 0


# --- test mode ------------------------------------------------------------------------------


async def test_test_send_is_stored_but_neither_charged_nor_queued(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=0)  # test mode needs no balance

    outcome = await make_service(hot_state).send(
        _request(account_id, numbers=_numbers(2), test=True)
    )

    assert isinstance(outcome, SendAccepted)
    assert (outcome.numbers, outcome.points_charged, outcome.balance_after) == (2, 0, 0)
    async with db_sessions() as session:
        message = await session.scalar(select(Message))
        assert message is not None
        assert message.test
        assert message.points_charged == 0
        states = list(await session.scalars(select(Recipient.state)))
        assert states == [RecipientState.QUEUED] * 2
    assert await _count(db_sessions, CreditEntry) == 0
    assert await _queued(hot_state) == []


async def test_test_send_does_not_block_a_real_send_to_the_same_number(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    service = make_service(hot_state)
    assert isinstance(await service.send(_request(account_id, test=True)), SendAccepted)
    assert isinstance(await service.send(_request(account_id)), SendAccepted)
    # ...while a second test send within the window is refused, as a real one would be.
    refused = await service.send(_request(account_id, test=True))
    assert isinstance(refused, SendRefused)
    assert refused.code == "ERR028"


# --- refusals, in order -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"text": "   "}, "ERR009"),
        ({"text": "<b>Sale</b>"}, "ERR027"),
        ({"text": "a" * 919}, "ERR012"),  # 7 pages
        ({"sender": "KUWAIT"}, "ERR008"),  # sender IDs are case-sensitive
        ({"numbers": _numbers(201)}, "ERR007"),
        ({"numbers": ["123", "abc"]}, "ERR006"),
        ({"numbers": ["96550000001", "123"]}, "ERR025"),
        ({"numbers": ["96550000001", SA_MOBILE]}, "ERR026"),
        ({"text": "", "sender": "KUWAIT", "numbers": ["123"]}, "ERR009"),
        ({"text": "<b>x</b>", "sender": "KUWAIT", "numbers": ["123"]}, "ERR027"),
        ({"sender": "KUWAIT", "numbers": _numbers(201)}, "ERR008"),
        ({"numbers": [*_numbers(200), "123"]}, "ERR007"),
        ({"numbers": ["123", SA_MOBILE]}, "ERR025"),
    ],
)
async def test_refusal_charges_and_stores_nothing(
    db_sessions: SessionFactory,
    memory_hot: HotState,
    open_account: Any,
    make_service: Any,
    changes: dict[str, Any],
    code: str,
) -> None:
    account_id = await open_account(balance=1000)
    outcome = await make_service(memory_hot).send(_request(account_id, **changes))
    assert isinstance(outcome, SendRefused)
    assert outcome.code == code
    await _assert_nothing_stored(db_sessions, account_id, balance=1000)
    assert await _queued(memory_hot) == []


@pytest.mark.parametrize(("text", "accepted"), [("a" * 918, True), ("a" * 919, False)])
async def test_max_pages_is_allowed_and_one_more_is_err012(
    memory_hot: HotState, open_account: Any, make_service: Any, text: str, accepted: bool
) -> None:
    account_id = await open_account()
    outcome = await make_service(memory_hot, max_pages=6).send(_request(account_id, text=text))
    if accepted:
        assert isinstance(outcome, SendAccepted)
        assert outcome.points_charged == 6
    else:
        assert outcome == SendRefused(
            "ERR012", "Message is too long: 7 pages (gsm7), at most 6 allowed"
        )


async def test_exactly_max_numbers_are_accepted(
    memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    outcome = await make_service(memory_hot).send(_request(account_id, numbers=_numbers(200)))
    assert isinstance(outcome, SendAccepted)
    assert outcome.numbers == 200


async def test_err025_names_every_invalid_number(
    memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    outcome = await make_service(memory_hot).send(
        _request(account_id, numbers=["96550000001", "123", "96522000000", "x"])
    )
    assert outcome == SendRefused("ERR025", "Invalid mobile numbers: 123, 96522000000, x")


async def test_activated_country_may_be_sent_to(
    memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(countries=["KW", "SA"])
    outcome = await make_service(memory_hot).send(
        _request(account_id, numbers=["96550000001", SA_MOBILE])
    )
    assert isinstance(outcome, SendAccepted)
    assert outcome.numbers == 2


async def test_zero_balance_is_err010_and_short_balance_is_err011(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    service = make_service(memory_hot)
    empty = await open_account("empty", balance=0)
    short = await open_account("short", balance=2)

    assert (await service.send(_request(empty))).code == "ERR010"  # type: ignore[union-attr]
    outcome = await service.send(_request(short, numbers=_numbers(3)))
    assert outcome == SendRefused("ERR011", "Insufficient balance: 3 points needed, 2 available")
    assert await _count(db_sessions, Message) == 0
    assert await stored_balance(db_sessions, short) == 2


async def test_unknown_or_blocked_account_sends_nothing(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    service = make_service(memory_hot)
    assert (await service.send(_request(987654))).code == "ERR003"  # type: ignore[union-attr]

    account_id = await open_account()
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        account.disabled = True
        await session.commit()
    assert (await service.send(_request(account_id))).code == "ERR005"  # type: ignore[union-attr]


# --- ERR028: the same number within the block window ---------------------------------------


async def test_same_number_again_within_the_window_is_err028_and_free(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=10)
    service = make_service(hot_state, same_number_block_s=0.3)
    assert isinstance(await service.send(_request(account_id)), SendAccepted)

    await asyncio.sleep(0.1)  # well within the window
    refused = await service.send(_request(account_id, numbers=["96550000002", "96550000001"]))
    assert isinstance(refused, SendRefused)
    assert refused.code == "ERR028"
    assert "96550000001" in refused.description
    assert await stored_balance(db_sessions, account_id) == 9

    # The refused send gave back 96550000002: it may be sent to at once.
    assert isinstance(
        await service.send(_request(account_id, numbers=["96550000002"])), SendAccepted
    )

    await asyncio.sleep(0.35)  # past the window
    assert isinstance(await service.send(_request(account_id)), SendAccepted)
    assert await stored_balance(db_sessions, account_id) == 7


async def test_same_number_from_another_account_is_not_blocked(
    hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    service = make_service(hot_state)
    alice = await open_account("alice")
    bob = await open_account("bob", mobile="96550000009")
    assert isinstance(await service.send(_request(alice)), SendAccepted)
    assert isinstance(await service.send(_request(bob)), SendAccepted)


@pytest.mark.parametrize(("elapsed", "accepted"), [(14.999, False), (15.0, True), (15.001, True)])
async def test_block_window_ends_exactly_after_same_number_block_s(
    open_account: Any, make_service: Any, elapsed: float, accepted: bool
) -> None:
    now = [1000.0]
    hot = MemoryHotState(clock=lambda: now[0])
    service = make_service(hot, same_number_block_s=15.0)
    account_id = await open_account()
    assert isinstance(await service.send(_request(account_id)), SendAccepted)

    now[0] += elapsed
    outcome = await service.send(_request(account_id))
    assert isinstance(outcome, SendAccepted) is accepted
    await hot.close()


async def test_numbers_claimed_by_a_send_refused_for_balance_are_released(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=1)
    service = make_service(hot_state)
    outcome = await service.send(_request(account_id, numbers=_numbers(2)))
    assert isinstance(outcome, SendRefused)
    assert outcome.code == "ERR011"

    async with db_sessions() as session:
        await add_credits(session, account_id, 10)
        await session.commit()
    assert isinstance(await service.send(_request(account_id, numbers=_numbers(2))), SendAccepted)


async def test_racing_sends_to_one_number_pass_once(
    db_sessions: SessionFactory, hot_state: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=100)
    service = make_service(hot_state)
    outcomes = await asyncio.gather(*(service.send(_request(account_id)) for _ in range(5)))
    assert sum(isinstance(o, SendAccepted) for o in outcomes) == 1
    assert sorted(o.code for o in outcomes if isinstance(o, SendRefused)) == ["ERR028"] * 4
    assert await stored_balance(db_sessions, account_id) == 99


# --- the hot state down ------------------------------------------------------------------


async def test_hot_state_down_refuses_with_err013_and_charges_nothing(
    db_sessions: SessionFactory, open_account: Any, make_service: Any, dead_hot: HotState
) -> None:
    account_id = await open_account(balance=100)
    for test in (False, True):
        outcome = await make_service(dead_hot).send(_request(account_id, test=test))
        assert outcome == SendRefused("ERR013", "temporarily unable to accept messages")
    await _assert_nothing_stored(db_sessions, account_id, balance=100)


class _QueueDown(MemoryHotState):
    """A hot state whose queue stops answering (the keys still work)."""

    async def enqueue(self, queue: str, payload: bytes) -> str:
        raise HotStateUnavailable("queue down")


async def test_send_committed_before_the_queue_fails_is_still_accepted(
    db_sessions: SessionFactory, open_account: Any, make_service: Any, caplog: Any
) -> None:
    account_id = await open_account(balance=100)
    hot = _QueueDown()
    with caplog.at_level(logging.WARNING, logger="secgate.sms"):
        outcome = await make_service(hot).send(_request(account_id, numbers=_numbers(2)))
    await hot.close()

    assert isinstance(outcome, SendAccepted)
    assert await stored_balance(db_sessions, account_id) == 98
    async with db_sessions() as session:
        states = list(await session.scalars(select(Recipient.state)))
    assert states == [RecipientState.QUEUED] * 2  # the dispatcher's sweeper finds them
    assert "sms_dispatch_not_enqueued" in caplog.messages


# --- money under concurrency ----------------------------------------------------------------


async def test_concurrent_sends_never_overdraw(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=10)
    service = make_service(memory_hot)

    numbers = _numbers(30)
    outcomes = await asyncio.gather(
        *(service.send(_request(account_id, numbers=[number])) for number in numbers)
    )

    accepted = [o for o in outcomes if isinstance(o, SendAccepted)]
    refused = [o for o in outcomes if isinstance(o, SendRefused)]
    assert len(accepted) == 10
    assert {o.code for o in refused} <= {"ERR010", "ERR011"}
    assert sorted(o.balance_after for o in accepted) == list(range(10))
    assert await stored_balance(db_sessions, account_id) == 0
    async with db_sessions() as session:
        ledger = (
            await session.execute(
                select(CreditEntry.delta, CreditEntry.message_id).where(
                    CreditEntry.account_id == account_id
                )
            )
        ).all()
        message_ids = set(await session.scalars(select(Message.id)))
    assert sum(delta for delta, _ in ledger) == 0  # +10 purchased, 10 x -1 sent
    assert {message_id for delta, message_id in ledger if delta < 0} == message_ids
    assert len(message_ids) == 10
    assert await _count(db_sessions, Recipient) == 10
    assert await _count(db_sessions, DeliveryEvent) == 20
    assert len(await _queued(memory_hot)) == 10

    # The refused sends released their numbers: with credit added, each goes at once.
    async with db_sessions() as session:
        await add_credits(session, account_id, 20)
        await session.commit()
    again = [n for n, o in zip(numbers, outcomes, strict=True) if isinstance(o, SendRefused)]
    retried = await asyncio.gather(
        *(service.send(_request(account_id, numbers=[n])) for n in again)
    )
    assert all(isinstance(o, SendAccepted) for o in retried)
    assert await stored_balance(db_sessions, account_id) == 0


# --- low balance ----------------------------------------------------------------------------


class _Notifier:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, int]] = []
        self._fail = fail

    async def notify(self, account_id: int, balance_after: int) -> None:
        self.calls.append((account_id, balance_after))
        if self._fail:
            raise RuntimeError("mail server down")


@pytest.mark.parametrize(("balance", "called"), [(100, False), (99, True)])
async def test_low_balance_is_notified_below_the_threshold(
    memory_hot: HotState, open_account: Any, make_service: Any, balance: int, called: bool
) -> None:
    account_id = await open_account(balance=balance + 1)
    notifier = _Notifier()
    service = make_service(memory_hot, low_balance=notifier, low_balance_threshold_points=100)
    assert isinstance(await service.send(_request(account_id)), SendAccepted)
    assert notifier.calls == ([(account_id, balance)] if called else [])


async def test_account_threshold_overrides_the_default(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=50)
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        account.low_balance_threshold = 10
        await session.commit()
    notifier = _Notifier()
    service = make_service(memory_hot, low_balance=notifier, low_balance_threshold_points=100)
    assert isinstance(await service.send(_request(account_id)), SendAccepted)
    assert notifier.calls == []


async def test_test_send_does_not_notify_low_balance(
    memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account(balance=5)
    notifier = _Notifier()
    service = make_service(memory_hot, low_balance=notifier)
    assert isinstance(await service.send(_request(account_id, test=True)), SendAccepted)
    assert notifier.calls == []


async def test_failing_low_balance_notice_does_not_fail_the_send(
    db_sessions: SessionFactory,
    memory_hot: HotState,
    open_account: Any,
    make_service: Any,
    caplog: Any,
) -> None:
    account_id = await open_account(balance=5)
    notifier = _Notifier(fail=True)
    with caplog.at_level(logging.ERROR, logger="secgate.sms"):
        outcome = await make_service(memory_hot, low_balance=notifier).send(_request(account_id))
    assert isinstance(outcome, SendAccepted)
    assert notifier.calls == [(account_id, 4)]
    assert await stored_balance(db_sessions, account_id) == 4
    assert "low_balance_notify_failed" in caplog.messages


# --- contact groups -------------------------------------------------------------------------


async def _group(db_sessions: SessionFactory, account_id: int, numbers: list[str]) -> int:
    async with db_sessions() as session:
        group = ContactGroup(account_id=account_id, name="customers")
        session.add(group)
        await session.flush()
        session.add_all(Contact(group_id=group.id, number=n) for n in numbers)
        await session.commit()
        return group.id


async def test_group_send_goes_to_the_groups_numbers(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    group_id = await _group(db_sessions, account_id, _numbers(3))
    outcome = await make_service(memory_hot).send(
        _request(account_id, numbers=["96559999999"], group_id=group_id)
    )
    assert isinstance(outcome, SendAccepted)
    assert outcome.numbers == 3
    async with db_sessions() as session:
        assert sorted(await session.scalars(select(Recipient.number))) == _numbers(3)


async def test_group_of_another_account_has_no_numbers(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    alice = await open_account("alice")
    bob = await open_account("bob", mobile="96550000009")
    bobs_group = await _group(db_sessions, bob, _numbers(3))
    outcome = await make_service(memory_hot).send(_request(alice, group_id=bobs_group))
    assert outcome == SendRefused("ERR006", "No valid mobile numbers")


@pytest.mark.parametrize(("size", "accepted"), [(3, True), (4, False)])
async def test_group_send_is_held_to_the_group_limit(
    db_sessions: SessionFactory,
    memory_hot: HotState,
    open_account: Any,
    make_service: Any,
    size: int,
    accepted: bool,
) -> None:
    account_id = await open_account()
    group_id = await _group(db_sessions, account_id, _numbers(size))
    service = make_service(memory_hot, max_group_send_numbers=3, max_numbers_per_request=2)
    outcome = await service.send(_request(account_id, group_id=group_id))
    assert isinstance(outcome, SendAccepted) is accepted
    if not accepted:
        assert outcome.code == "ERR007"  # type: ignore[union-attr]


# --- the seam for more checks ----------------------------------------------------------------


class _NoSaleCheck:
    async def check(self, draft: Draft) -> CheckResult:
        if "sale" in draft.text.lower():
            return CheckResult("ERR032", "Message rejected: spam detected")
        return CheckResult()


async def test_service_runs_the_checks_it_is_given(
    db_sessions: SessionFactory, memory_hot: HotState, open_account: Any, make_service: Any
) -> None:
    account_id = await open_account()
    service = make_service(memory_hot, checks=[_NoSaleCheck()])
    outcome = await service.send(_request(account_id, text="Big SALE today"))
    assert outcome == SendRefused("ERR032", "Message rejected: spam detected")
    assert isinstance(await service.send(_request(account_id, text="Hello")), SendAccepted)
