"""Fixtures for the alert tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from secgate.storage.db import SessionFactory
from secgate.storage.models import Account

MakeAccount = Callable[[str], Awaitable[int]]


@pytest.fixture
def make_account(db_sessions: SessionFactory) -> MakeAccount:
    """Adds a customer account for alerts to name, and returns its id. Written
    directly: its password is never used, so it is not hashed."""

    async def make(username: str) -> int:
        async with db_sessions.begin() as session:
            account = Account(
                username=username,
                username_key=username.casefold(),
                password_hash="unused",
                mobile="96550000000",
                home_country="KW",
            )
            session.add(account)
            await session.flush()
            return account.id

    return make
