"""Charging and adding credits: atomic on both databases, every change in the ledger."""

from __future__ import annotations

import asyncio

import pytest
from customer_accounts import register_account
from sqlalchemy import func, select

from secgate.sms.credits import add_credits, charge
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, CreditEntry


async def _ledger(db_sessions: SessionFactory, account_id: int) -> list[tuple[int, int, str]]:
    async with db_sessions() as session:
        rows = await session.execute(
            select(CreditEntry.delta, CreditEntry.balance_after, CreditEntry.reason)
            .where(CreditEntry.account_id == account_id)
            .order_by(CreditEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _balance(db_sessions: SessionFactory, account_id: int) -> tuple[int, int]:
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        return account.balance, account.purchased


async def test_opening_balance_is_a_purchase_in_the_ledger(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=500)
    assert await _balance(db_sessions, account_id) == (500, 500)
    assert await _ledger(db_sessions, account_id) == [(500, 500, "purchase")]


async def test_account_opened_without_credits_has_an_empty_ledger(
    db_sessions: SessionFactory,
) -> None:
    account_id = await register_account(db_sessions, balance=0)
    assert await _balance(db_sessions, account_id) == (0, 0)
    assert await _ledger(db_sessions, account_id) == []


async def test_charge_takes_points_and_records_the_balance_after(
    db_sessions: SessionFactory,
) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        assert await charge(session, account_id, 3) == 7
        await session.commit()
    assert await _balance(db_sessions, account_id) == (7, 10)
    assert await _ledger(db_sessions, account_id) == [(10, 10, "purchase"), (-3, 7, "send")]


async def test_charge_of_the_whole_balance_leaves_zero(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        assert await charge(session, account_id, 10) == 0
        await session.commit()
    assert await _balance(db_sessions, account_id) == (0, 10)


async def test_charge_over_the_balance_changes_nothing(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        assert await charge(session, account_id, 11) is None
        await session.commit()
    assert await _balance(db_sessions, account_id) == (10, 10)
    assert await _ledger(db_sessions, account_id) == [(10, 10, "purchase")]


async def test_charge_rolled_back_leaves_no_trace(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        assert await charge(session, account_id, 4) == 6
        await session.rollback()
    assert await _balance(db_sessions, account_id) == (10, 10)
    assert len(await _ledger(db_sessions, account_id)) == 1


@pytest.mark.parametrize("points", [0, -1])
async def test_charge_or_purchase_of_no_points_is_a_bug(
    db_sessions: SessionFactory, points: int
) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        with pytest.raises(ValueError):
            await charge(session, account_id, points)
        with pytest.raises(ValueError):
            await add_credits(session, account_id, points)


async def test_purchase_adds_to_balance_and_purchased(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=10)
    async with db_sessions() as session:
        assert await charge(session, account_id, 4) == 6
        assert await add_credits(session, account_id, 100) == 106
        await session.commit()
    assert await _balance(db_sessions, account_id) == (106, 110)
    assert await _ledger(db_sessions, account_id) == [
        (10, 10, "purchase"),
        (-4, 6, "send"),
        (100, 106, "purchase"),
    ]


async def test_purchase_for_an_unknown_account_is_refused(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        with pytest.raises(LookupError):
            await add_credits(session, 12345, 10)


async def test_racing_charges_never_overdraw(db_sessions: SessionFactory) -> None:
    account_id = await register_account(db_sessions, balance=10)

    async def one_charge() -> int | None:
        async with db_sessions() as session:
            balance_after = await charge(session, account_id, 1)
            await session.commit()
            return balance_after

    outcomes = await asyncio.gather(*(one_charge() for _ in range(30)))
    charged = sorted(o for o in outcomes if o is not None)
    assert charged == list(range(10))  # each balance after 9..0 exactly once
    assert outcomes.count(None) == 20
    assert await _balance(db_sessions, account_id) == (0, 10)
    async with db_sessions() as session:
        total = await session.scalar(
            select(func.sum(CreditEntry.delta)).where(CreditEntry.account_id == account_id)
        )
    assert total == 0
