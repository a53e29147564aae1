"""Account credits: charging for a send and adding purchased points, with a ledger.

A balance only ever changes through one conditional UPDATE ... RETURNING: the database
checks and changes it in one step, so sends racing on one account can never take it
below zero (PostgreSQL re-checks the condition on the row it locked; SQLite has one
writer at a time). Each change appends a CreditEntry with the balance after it, in the
caller's transaction, so the ledger and the balance commit or roll back together.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.storage.models import Account, CreditEntry, utcnow


class CreditReason(enum.StrEnum):
    SEND = "send"
    PURCHASE = "purchase"
    # A held message rejected in staff review gives back what its send took.
    REFUND = "refund"


def ledger_entry(
    account_id: int,
    *,
    delta: int,
    balance_after: int,
    reason: CreditReason,
    message_id: int | None = None,
    at: datetime | None = None,
) -> CreditEntry:
    return CreditEntry(
        account_id=account_id,
        delta=delta,
        balance_after=balance_after,
        reason=reason.value,
        message_id=message_id,
        at=at or utcnow(),
    )


async def charge(
    session: AsyncSession,
    account_id: int,
    points: int,
    *,
    message_id: int | None = None,
    at: datetime | None = None,
) -> int | None:
    """Take `points` (> 0) off the balance if it covers them and record the charge.
    Returns the balance after it, or None when the balance is short (nothing changed).
    The caller commits; on PostgreSQL the account row stays locked until then."""
    if points <= 0:
        raise ValueError("a charge is a positive number of points")
    balance_after = await session.scalar(
        update(Account)
        .where(Account.id == account_id, Account.balance >= points)
        .values(balance=Account.balance - points)
        .returning(Account.balance)
    )
    if balance_after is None:
        return None
    session.add(
        ledger_entry(
            account_id,
            delta=-points,
            balance_after=balance_after,
            reason=CreditReason.SEND,
            message_id=message_id,
            at=at,
        )
    )
    await session.flush()
    return balance_after


async def add_credits(
    session: AsyncSession, account_id: int, points: int, *, at: datetime | None = None
) -> int:
    """Add purchased points (> 0): the balance and the purchased total grow together.
    Returns the balance after it; LookupError when there is no such account."""
    if points <= 0:
        raise ValueError("a purchase is a positive number of points")
    balance_after = await session.scalar(
        update(Account)
        .where(Account.id == account_id)
        .values(balance=Account.balance + points, purchased=Account.purchased + points)
        .returning(Account.balance)
    )
    if balance_after is None:
        raise LookupError(f"no account with id {account_id}")
    session.add(
        ledger_entry(
            account_id,
            delta=points,
            balance_after=balance_after,
            reason=CreditReason.PURCHASE,
            at=at,
        )
    )
    await session.flush()
    return balance_after


async def refund(
    session: AsyncSession,
    account_id: int,
    points: int,
    *,
    message_id: int,
    at: datetime | None = None,
) -> int:
    """Give back `points` (> 0) a send of `message_id` took, and record it (REFUND).
    The purchased total is not touched: nothing was bought. Returns the balance after
    it; LookupError when there is no such account. Refunding once is the caller's
    business (`secgate.checks.held_messages` refunds in the transaction that moves
    the message out of HELD, which only one can do)."""
    if points <= 0:
        raise ValueError("a refund is a positive number of points")
    balance_after = await session.scalar(
        update(Account)
        .where(Account.id == account_id)
        .values(balance=Account.balance + points)
        .returning(Account.balance)
    )
    if balance_after is None:
        raise LookupError(f"no account with id {account_id}")
    session.add(
        ledger_entry(
            account_id,
            delta=points,
            balance_after=balance_after,
            reason=CreditReason.REFUND,
            message_id=message_id,
            at=at,
        )
    )
    await session.flush()
    return balance_after
