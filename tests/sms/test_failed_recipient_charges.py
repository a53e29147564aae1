"""What a recipient that never reached anyone costs: the charge taken when the send was
accepted stands, whether the operator refused the number or a worker stopped with
the recipient claimed for a connector that cannot be asked twice (SMPP), so that it
ends FAILED with its outcome unknown. Points are charged at acceptance, as kwtSMS
charges them, and no final state gives them back; the credit ledger holds the send's
charge and nothing after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from customer_accounts import bare_account
from fake_clock import FakeClock
from scripted_operator import ScriptedOperator
from sqlalchemy import select

from secgate.hotstate.memory import MemoryHotState
from secgate.settings import Settings
from secgate.sms import delivery_log
from secgate.sms.credits import add_credits
from secgate.sms.dispatcher import LOST_CLAIM_REASON, BatchOutcome, Dispatcher
from secgate.sms.send import SendAccepted, SendRequest, SmsService
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, CreditEntry, SenderId

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
CLAIM_TIMEOUT_S = 30.0
NUMBERS = ["96550000001", "96550000002"]


def smpp_like(**script: Any) -> ScriptedOperator:
    """A connector that cannot be asked twice, as SMPP."""
    return ScriptedOperator(idempotent=False, **script)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        dispatch_workers=0,  # the test takes the workers' steps itself
        dispatch_claim_timeout_s=CLAIM_TIMEOUT_S,
        dispatch_orphan_grace_s=3600.0,
    )


@pytest.fixture
async def hot(clock: FakeClock) -> AsyncIterator[MemoryHotState]:
    state = MemoryHotState(clock=clock, redelivery_after_s=3600.0)
    yield state
    await state.close()


@pytest.fixture
async def account_id(db_sessions: SessionFactory) -> int:
    async with db_sessions.begin() as session:
        account = bare_account("acme", mobile="96599999999", sender_ids=[SenderId(name="KWT-SMS")])
        session.add(account)
        await session.flush()
        await add_credits(session, account.id, 100)
        return account.id


async def accept_send(
    db_sessions: SessionFactory,
    hot: MemoryHotState,
    settings: Settings,
    clock: FakeClock,
    account_id: int,
) -> SendAccepted:
    service = SmsService(db_sessions, hot, settings, checks=[], clock=clock)
    accepted = await service.send(
        SendRequest(account_id, "KWT-SMS", NUMBERS, "Your code is 482113", False, None)
    )
    assert isinstance(accepted, SendAccepted)
    assert (accepted.points_charged, accepted.balance_after) == (2, 98)
    return accepted


async def money(db_sessions: SessionFactory, account_id: int) -> tuple[int, list[tuple[str, int]]]:
    """The balance, and the ledger as (reason, delta) in order."""
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        ledger = await session.execute(
            select(CreditEntry.reason, CreditEntry.delta)
            .where(CreditEntry.account_id == account_id)
            .order_by(CreditEntry.id)
        )
        return account.balance, [(reason, delta) for reason, delta in ledger]


async def report_of(
    db_sessions: SessionFactory, account_id: int, msg_id: str
) -> list[tuple[str, str | None]]:
    async with db_sessions() as session:
        found = await delivery_log.report(session, account_id, msg_id)
    assert found is not None
    return [(r.status, r.reason) for r in found.recipients]


async def test_a_lost_claim_that_ends_failed_keeps_its_charge(
    db_sessions: SessionFactory,
    hot: MemoryHotState,
    settings: Settings,
    clock: FakeClock,
    account_id: int,
) -> None:
    accepted = await accept_send(db_sessions, hot, settings, clock, account_id)
    dying = Dispatcher(
        db_sessions, hot, smpp_like(failure=RuntimeError("worker died")), settings, clock=clock
    )
    with pytest.raises(RuntimeError, match="worker died"):
        await dying.dispatch_next("dying")  # claimed, then gone mid-submit
    clock.now += CLAIM_TIMEOUT_S
    operator = smpp_like()
    fresh = Dispatcher(db_sessions, hot, operator, settings, clock=clock)

    swept = await fresh.sweep()  # the stale claims go back on the queue
    outcome = await fresh.dispatch_next("fresh")

    assert swept == 2
    assert outcome == BatchOutcome(failed_unknown=2)
    assert operator.submitted == []  # never sent twice
    assert (
        await report_of(db_sessions, account_id, accepted.msg_id)
        == [("FAILED", LOST_CLAIM_REASON)] * 2
    )
    assert await money(db_sessions, account_id) == (98, [("purchase", 100), ("send", -2)])


async def test_a_number_the_operator_refuses_keeps_its_charge_alike(
    db_sessions: SessionFactory,
    hot: MemoryHotState,
    settings: Settings,
    clock: FakeClock,
    account_id: int,
) -> None:
    accepted = await accept_send(db_sessions, hot, settings, clock, account_id)
    dispatcher = Dispatcher(db_sessions, hot, smpp_like(refuse=NUMBERS[:1]), settings, clock=clock)

    outcome = await dispatcher.dispatch_next("worker")

    assert outcome == BatchOutcome(claimed=2, submitted=1, rejected=1)
    assert await report_of(db_sessions, account_id, accepted.msg_id) == [
        ("REJECTED", "invalid destination"),
        ("SUBMITTED", None),
    ]
    assert await money(db_sessions, account_id) == (98, [("purchase", 100), ("send", -2)])
