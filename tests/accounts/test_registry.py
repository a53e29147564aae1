"""Accounts, sender IDs and the API allowlist, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from customer_accounts import fast_hasher
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from secgate.accounts.registry import (
    BALANCE_MAX,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS,
    AccountError,
    AccountExists,
    AccountNotFound,
    AccountProfile,
    InvalidField,
    SenderIdExists,
    SenderIdRegistration,
    account_profiles,
    add_sender_id,
    create_account,
    find_account,
    register_sender_id,
    set_activated_countries,
    set_api_allowlist,
)
from secgate.auth.passwords import PasswordHasher
from secgate.storage.db import SessionFactory, read_connection
from secgate.storage.models import Account, Role, SenderId


@pytest.fixture
def hasher() -> PasswordHasher:
    return fast_hasher()


VALID: dict[str, Any] = {
    "username": "Alice",
    "password": "correct horse",
    "mobile": "+965 5000 0000",
    "country": "KW",
}


async def _create(db_sessions: SessionFactory, hasher: PasswordHasher, **changes: Any) -> Account:
    async with db_sessions() as session:
        account = await create_account(session, hasher, **{**VALID, **changes})
        await session.commit()
        return account


async def _count(session: AsyncSession, model: type[Any]) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


# --- create_account -------------------------------------------------------------------------


async def test_new_account_is_stored_with_normalised_fields(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    created = await _create(db_sessions, hasher, country="kw", balance=500)

    async with db_sessions() as session:
        account = await session.get(Account, created.id)
        assert account is not None
        assert account.username == "Alice"
        assert account.username_key == "alice"
        assert account.role is Role.CUSTOMER
        assert account.mobile == "96550000000"
        assert account.home_country == "KW"
        assert account.balance == 500
        assert account.api_enabled
        assert account.api_ip_allowlist == []
        assert not account.disabled
        assert account.sender_ids == []
        assert account.created_at.tzinfo is not None


async def test_password_is_stored_as_an_argon2id_hash_that_verifies(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)

    assert account.password_hash.startswith("$argon2id$")
    assert "correct horse" not in account.password_hash
    assert (await hasher.verify(account.password_hash, "correct horse")).ok


async def test_staff_role_is_stored(db_sessions: SessionFactory, hasher: PasswordHasher) -> None:
    account = await _create(db_sessions, hasher, role=Role.STAFF)

    async with db_sessions() as session:
        stored = await find_account(session, "alice")
        assert stored is not None
        assert stored.id == account.id
        assert stored.role is Role.STAFF


async def test_account_is_found_whatever_the_case_or_width(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)

    async with db_sessions() as session:
        for spelling in ("Alice", "alice", "ALICE", "ａｌｉｃｅ"):
            found = await find_account(session, spelling)
            assert found is not None, spelling
            assert found.id == account.id


@pytest.mark.parametrize("username", ["bob", "", "alice\x00", "a" * 10_000, "аlice"])
async def test_unknown_or_impossible_username_finds_nothing(
    db_sessions: SessionFactory, hasher: PasswordHasher, username: str
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions() as session:
        assert await find_account(session, username) is None


@pytest.mark.parametrize("clash", ["Alice", "alice", "ALICE"])
async def test_username_differing_only_in_case_or_width_is_taken(
    db_sessions: SessionFactory, hasher: PasswordHasher, clash: str
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions() as session:
        with pytest.raises(AccountExists, match="already exists"):
            await create_account(session, hasher, **{**VALID, "username": clash})
        assert await _count(session, Account) == 1


async def test_racing_creations_of_one_username_leave_one_account(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    async with db_sessions() as first, db_sessions() as second:
        await create_account(first, hasher, **VALID)  # written, not yet committed
        second_is_writing = asyncio.Event()
        event.listen(second.sync_session, "before_flush", lambda *_: second_is_writing.set())
        # `second` cannot see the uncommitted row, so its check passes; only the
        # unique constraint can stop it.
        racer = asyncio.create_task(
            create_account(second, hasher, **{**VALID, "username": "ALICE"})
        )
        await second_is_writing.wait()
        await first.commit()

        with pytest.raises(AccountExists):
            await racer

    async with db_sessions() as session:
        assert await _count(session, Account) == 1


@pytest.mark.parametrize(
    "username", ["a", "a" * USERNAME_MAX_CHARS, "alice.smith_2@corp-x", "9lives"]
)
async def test_username_within_the_allowed_set_is_accepted(
    db_sessions: SessionFactory, hasher: PasswordHasher, username: str
) -> None:
    account = await _create(db_sessions, hasher, username=username)

    assert account.username == username


@pytest.mark.parametrize(
    "username",
    [
        "",
        "a" * (USERNAME_MAX_CHARS + 1),
        "alice smith",
        "-alice",
        ".alice",
        "аlice",  # Cyrillic а: a look-alike of another account
        "ａｌｉｃｅ",
        "alice\x00",
        "alice\n",
        "al/ice",
    ],
)
async def test_username_outside_the_allowed_set_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, username: str
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField) as caught:
            await create_account(session, hasher, **{**VALID, "username": username})
        assert caught.value.field == "username"
        assert await _count(session, Account) == 0


@pytest.mark.parametrize("length", [PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS])
async def test_password_at_either_length_limit_is_accepted(
    db_sessions: SessionFactory, hasher: PasswordHasher, length: int
) -> None:
    account = await _create(db_sessions, hasher, password="p" * length)

    assert (await hasher.verify(account.password_hash, "p" * length)).ok


@pytest.mark.parametrize("length", [0, PASSWORD_MIN_CHARS - 1, PASSWORD_MAX_CHARS + 1])
async def test_password_outside_the_length_limits_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, length: int
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match="password: must be 8 to 1024 characters"):
            await create_account(session, hasher, **{**VALID, "password": "p" * length})


async def test_mobile_in_national_form_is_read_in_the_home_country(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher, mobile="5000 0000", country="KW")

    assert account.mobile == "96550000000"


@pytest.mark.parametrize("mobile", ["", "not a number", "+965 2234 5678", "+9655000000"])
async def test_mobile_that_is_not_a_mobile_number_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, mobile: str
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=r"^mobile: ") as caught:
            await create_account(session, hasher, **{**VALID, "mobile": mobile})
        assert caught.value.field == "mobile"


@pytest.mark.parametrize(("country", "stored"), [("KW", "KW"), ("sa", "SA"), (" ae ", "AE")])
async def test_country_code_is_stored_upper_case(
    db_sessions: SessionFactory, hasher: PasswordHasher, country: str, stored: str
) -> None:
    account = await _create(db_sessions, hasher, country=country)

    assert account.home_country == stored


@pytest.mark.parametrize("country", ["", "K", "KWT", "XX", "Kuwait", "001"])
async def test_unknown_country_code_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, country: str
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=r"^country: "):
            await create_account(session, hasher, **{**VALID, "country": country})


@pytest.mark.parametrize("balance", [0, 1, BALANCE_MAX])
async def test_balance_from_zero_to_the_column_maximum_is_accepted(
    db_sessions: SessionFactory, hasher: PasswordHasher, balance: int
) -> None:
    account = await _create(db_sessions, hasher, balance=balance)

    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.balance == balance


@pytest.mark.parametrize("balance", [-1, BALANCE_MAX + 1, True])
async def test_balance_outside_the_range_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, balance: int
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=r"^balance: "):
            await create_account(session, hasher, **{**VALID, "balance": balance})


# --- add_sender_id --------------------------------------------------------------------------


async def test_sender_id_is_registered_to_the_account(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)

    async with db_sessions() as session:
        sender = await add_sender_id(session, username="alice", sender="KWT-SMS")
        await session.commit()
        assert sender.account_id == account.id

    async with db_sessions() as session:
        stored = await find_account(session, "Alice")
        assert stored is not None
        assert [s.name for s in stored.sender_ids] == ["KWT-SMS"]


@pytest.mark.parametrize("sender", ["A", "ABCDEFGHIJK", "My Shop", "Co.Ltd", "123", "a-b.c d"])
async def test_sender_id_within_gsm_limits_is_accepted(
    db_sessions: SessionFactory, hasher: PasswordHasher, sender: str
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions() as session:
        registered = await add_sender_id(session, username="alice", sender=sender)
        assert registered.name == sender


@pytest.mark.parametrize(
    "sender",
    ["", "ABCDEFGHIJKL", " SHOP", "SHOP ", " ", "KWT_SMS", "KWT@SMS", "متجر", "ÉCOLE", "A\x00"],
)
async def test_sender_id_outside_gsm_limits_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, sender: str
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=r"^sender: "):
            await add_sender_id(session, username="alice", sender=sender)
        assert await _count(session, SenderId) == 0


async def test_same_sender_id_twice_on_one_account_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)
    async with db_sessions() as session:
        await add_sender_id(session, username="alice", sender="KWT-SMS")
        await session.commit()

    async with db_sessions() as session:
        with pytest.raises(SenderIdExists, match="'KWT-SMS' is already registered to 'Alice'"):
            await add_sender_id(session, username="alice", sender="KWT-SMS")


async def test_sender_ids_differing_in_case_are_distinct(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions() as session:
        await add_sender_id(session, username="alice", sender="KWT-SMS")
        await add_sender_id(session, username="alice", sender="kwt-sms")
        await session.commit()
        assert await _count(session, SenderId) == 2


async def test_racing_registrations_of_one_sender_id_leave_one(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)
    async with db_sessions() as first, db_sessions() as second:
        await add_sender_id(first, username="alice", sender="KWT-SMS")  # not yet committed
        second_is_writing = asyncio.Event()
        event.listen(second.sync_session, "before_flush", lambda *_: second_is_writing.set())
        racer = asyncio.create_task(add_sender_id(second, username="alice", sender="KWT-SMS"))
        await second_is_writing.wait()
        await first.commit()

        with pytest.raises(SenderIdExists):
            await racer

    async with db_sessions() as session:
        assert await _count(session, SenderId) == 1


async def test_sender_id_for_an_unknown_account_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    async with db_sessions() as session:
        with pytest.raises(AccountNotFound, match="no account named 'nobody'"):
            await add_sender_id(session, username="nobody", sender="KWT-SMS")


# --- register_sender_id (`sender add`) ------------------------------------------------------


async def _kinds(db_sessions: SessionFactory) -> dict[str, bool]:
    async with db_sessions() as session:
        return {s.name: s.transactional for s in await session.scalars(select(SenderId))}


async def test_registering_a_new_sender_id_adds_it_with_the_kind_asked(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)

    async with db_sessions.begin() as session:
        bank = await register_sender_id(session, username="alice", sender="KFH", transactional=True)
        shop = await register_sender_id(session, username="alice", sender="MyShop")

    assert bank == SenderIdRegistration("KFH", "Alice", True, True, True)
    assert shop == SenderIdRegistration("MyShop", "Alice", True, False, False)
    assert await _kinds(db_sessions) == {"KFH": True, "MyShop": False}


@pytest.mark.parametrize("before", [False, True])
@pytest.mark.parametrize("asked", [False, True])
async def test_registering_a_sender_id_the_account_has_sets_its_kind(
    db_sessions: SessionFactory, hasher: PasswordHasher, before: bool, asked: bool
) -> None:
    await _create(db_sessions, hasher)
    async with db_sessions.begin() as session:
        await add_sender_id(session, username="alice", sender="KFH", transactional=before)

    async with db_sessions.begin() as session:
        registration = await register_sender_id(
            session, username="alice", sender="KFH", transactional=asked
        )

    assert registration == SenderIdRegistration("KFH", "Alice", False, asked, before)
    assert await _kinds(db_sessions) == {"KFH": asked}


async def test_registering_sets_the_kind_of_that_accounts_sender_id_only(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)
    await _create(db_sessions, hasher, username="bob", mobile="+965 5000 0001")
    async with db_sessions.begin() as session:
        await add_sender_id(session, username="bob", sender="KFH")

    async with db_sessions.begin() as session:
        added = await register_sender_id(
            session, username="alice", sender="KFH", transactional=True
        )

    assert added.added
    async with db_sessions() as session:
        rows = await session.execute(
            select(Account.username, SenderId.transactional).join(SenderId.account)
        )
        assert sorted((name, kind) for name, kind in rows) == [("Alice", True), ("bob", False)]


# --- set_api_allowlist ----------------------------------------------------------------------


async def test_allowlist_is_stored_in_canonical_form_without_repeats(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)

    async with db_sessions() as session:
        await set_api_allowlist(
            session,
            "alice",
            ["203.0.113.0/24", "198.51.100.7", " 2001:DB8:0:0::/32 ", "203.0.113.0/24"],
        )
        await session.commit()

    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.api_ip_allowlist == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]


async def test_empty_allowlist_replaces_the_previous_one(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)
    async with db_sessions() as session:
        await set_api_allowlist(session, "alice", ["203.0.113.0/24"])
        await session.commit()

    async with db_sessions() as session:
        await set_api_allowlist(session, "alice", [])
        await session.commit()

    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.api_ip_allowlist == []


@pytest.mark.parametrize(
    ("cidr", "reason"),
    [
        ("203.0.113.5/24", "host bits set"),
        ("203.0.113.0/33", "not a CIDR"),
        ("example.com", "not a CIDR"),
        ("", "not a CIDR"),
    ],
)
async def test_allowlist_entry_that_is_not_a_network_is_rejected(
    db_sessions: SessionFactory, hasher: PasswordHasher, cidr: str, reason: str
) -> None:
    account = await _create(db_sessions, hasher)

    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=reason):
            await set_api_allowlist(session, "alice", ["198.51.100.0/24", cidr])

    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.api_ip_allowlist == []


async def test_allowlist_for_an_unknown_account_is_rejected(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        with pytest.raises(AccountNotFound):
            await set_api_allowlist(session, "nobody", ["203.0.113.0/24"])


# --- set_activated_countries ----------------------------------------------------------------


async def test_new_account_may_send_to_kuwait_only(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)
    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.activated_countries == ["KW"]


async def test_activated_countries_are_stored_upper_case_sorted_once(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    account = await _create(db_sessions, hasher)
    async with db_sessions() as session:
        await set_activated_countries(session, "alice", ["sa", " KW ", "AE", "kw"])
        await session.commit()

    async with db_sessions() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        assert stored.activated_countries == ["AE", "KW", "SA"]


async def test_unknown_country_is_not_activated(
    db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=r"^activated_countries: 'XX'"):
            await set_activated_countries(session, "alice", ["KW", "XX"])
        with pytest.raises(AccountNotFound):
            await set_activated_countries(session, "nobody", ["KW"])


def test_every_domain_error_is_an_account_error() -> None:
    for error in (InvalidField, AccountExists, AccountNotFound, SenderIdExists):
        assert issubclass(error, AccountError)


# -- account profiles (what the content checks read) ---------------------------------


async def test_account_profiles_read_accounts_and_their_sender_ids_by_username_key(
    db_engine: AsyncEngine, db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    alice = await _create(db_sessions, hasher)
    bob = await _create(db_sessions, hasher, username="bob", mobile="+965 5000 0001")
    async with db_sessions() as session:
        await add_sender_id(session, username="Alice", sender="ALICE")
        await add_sender_id(session, username="Alice", sender="Alice Shop")
        await session.commit()

    async with read_connection(db_engine) as connection:
        profiles = await account_profiles(connection, ["ALICE", "Bob", "nobody", "not valid!"])

    assert profiles == {
        "alice": AccountProfile(
            alice.id, "alice", "96550000000", "KW", frozenset({"ALICE", "Alice Shop"})
        ),
        # No sender ID: an empty set, not a missing account.
        "bob": AccountProfile(bob.id, "bob", "96550000001", "KW", frozenset()),
    }


async def test_account_profiles_name_each_accounts_own_transactional_sender_ids(
    db_engine: AsyncEngine, db_sessions: SessionFactory, hasher: PasswordHasher
) -> None:
    await _create(db_sessions, hasher)
    await _create(db_sessions, hasher, username="bob", mobile="+965 5000 0001")
    async with db_sessions.begin() as session:
        await add_sender_id(session, username="alice", sender="KFH", transactional=True)
        await add_sender_id(session, username="alice", sender="MyShop")
        await add_sender_id(session, username="bob", sender="MyShop", transactional=True)

    async with read_connection(db_engine) as connection:
        profiles = await account_profiles(connection, ["alice", "bob"])

    assert profiles["alice"].sender_ids == {"KFH", "MyShop"}
    assert profiles["alice"].transactional_sender_ids == {"KFH"}
    assert profiles["bob"].transactional_sender_ids == {"MyShop"}


async def test_account_profiles_of_no_valid_username_ask_nothing(db_engine: AsyncEngine) -> None:
    statements: list[str] = []
    event.listen(db_engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    async with read_connection(db_engine) as connection:
        assert await account_profiles(connection, ["", "a" * 65, "bad\x00name"]) == {}
    assert statements == []
