"""Customer accounts for tests to start from: a bare row, for tests that never log in,
and a registered account (its password hashed, as `user create` makes it), with sender
IDs and credits, for tests that do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from secgate.accounts.registry import add_sender_id, create_account, username_key
from secgate.auth.passwords import PasswordHasher
from secgate.settings import Settings
from secgate.sms.credits import add_credits
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account

# argon2 at its cheapest: a test that registers or logs in pays milliseconds, not the
# hundreds a real setting costs.
FAST_ARGON2: dict[str, Any] = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 256,
    "argon2_parallelism": 1,
}

PASSWORD = "correct horse"

MakeAccount = Callable[..., Awaitable[int]]


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(Settings(**FAST_ARGON2))


def bare_account(username: str = "alice", **columns: Any) -> Account:
    """An unsaved Account row of a customer in Kuwait. Its password is never used, so it
    is not hashed; `columns` set any other column."""
    fields: dict[str, Any] = {
        "username": username,
        "username_key": username_key(username),
        "password_hash": "unused",
        "mobile": "96550000000",
        "home_country": "KW",
    }
    return Account(**(fields | columns))


async def add_account(sessions: SessionFactory, username: str = "alice", **columns: Any) -> int:
    """Store a `bare_account`; its id."""
    async with sessions.begin() as session:
        account = bare_account(username, **columns)
        session.add(account)
        await session.flush()
        return account.id


async def register_account(
    sessions: SessionFactory,
    username: str = "alice",
    *,
    password: str = PASSWORD,
    mobile: str = "96550000000",
    country: str = "KW",
    balance: int = 0,
    senders: Sequence[str] = (),
    credits: int = 0,
    **columns: Any,
) -> int:
    """Register an account as `user create` does (with a `fast_hasher`), opening with
    `balance`; then set `columns`, add the sender IDs and add `credits` (a second
    purchase in the ledger). Its id."""
    async with sessions.begin() as session:
        account = await create_account(
            session,
            fast_hasher(),
            username=username,
            password=password,
            mobile=mobile,
            country=country,
            balance=balance,
        )
        for name, value in columns.items():
            setattr(account, name, value)
        for sender in senders:
            await add_sender_id(session, username=username, sender=sender)
        if credits:
            await add_credits(session, account.id, credits)
        return account.id


async def stored_balance(sessions: SessionFactory, account_id: int) -> int:
    async with sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        return account.balance
