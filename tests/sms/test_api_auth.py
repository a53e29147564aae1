"""Who may call the messaging API: credentials, the verified-credential cache, and
what the account allows (blocked, API access, IP allowlist)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import argon2
import pytest
from customer_accounts import FAST_ARGON2, register_account
from sqlalchemy import select

from secgate.accounts.registry import PASSWORD_MAX_CHARS, set_api_allowlist
from secgate.alerts.store import AlertSink, list_alerts
from secgate.auth.passwords import PasswordHasher, Verification
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState
from secgate.hotstate.redis import RedisHotState
from secgate.settings import Settings
from secgate.sms.api_auth import (
    ACCOUNT_BLOCKED,
    API_DISABLED,
    IP_LOCKDOWN_ALERT,
    IP_NOT_ALLOWED,
    NO_API_ACCESS,
    WRONG_CREDENTIALS,
    ApiAuthenticator,
    ApiDenied,
    ip_allowed,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, Role

PASSWORD = "correct horse battery"
CACHE_TTL_S = 300.0


class CountingHasher(PasswordHasher):
    """The real hasher, counting the verifications it does."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.verifications = 0
        self.dummy_verifications = 0

    async def verify(self, stored_hash: str, password: str) -> Verification:
        self.verifications += 1
        return await super().verify(stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        self.dummy_verifications += 1
        await super().verify_dummy(password)


@dataclass
class Setup:
    auth: ApiAuthenticator
    hasher: CountingHasher
    sessions: SessionFactory
    settings: Settings

    async def login(
        self, username: str = "acme", password: str = PASSWORD, ip: str | None = "192.0.2.10"
    ) -> Account | ApiDenied:
        async with self.sessions() as session:
            return await self.auth.authenticate(session, username, password, ip)

    async def change(self, who: str, **values: object) -> None:
        async with self.sessions.begin() as session:
            account = await session.scalar(select(Account).where(Account.username == who))
            assert account is not None
            for name, value in values.items():
                setattr(account, name, value)


Build = Callable[..., Setup]


@pytest.fixture
def build(make_settings: Callable[..., Settings], db_sessions: SessionFactory) -> Build:
    def make(hot: HotState, **changes: object) -> Setup:
        settings = make_settings(
            **FAST_ARGON2, **{"api_credential_cache_s": CACHE_TTL_S, **changes}
        )
        hasher = CountingHasher(settings)
        alerts = AlertSink(db_sessions, hot, settings)
        auth = ApiAuthenticator(hot=hot, hasher=hasher, alerts=alerts, settings=settings)
        return Setup(auth, hasher, db_sessions, settings)

    return make


@pytest.fixture
def setup(build: Build, hot_state: HotState) -> Setup:
    return build(hot_state)


async def add_account(
    setup: Setup, username: str = "acme", password: str = PASSWORD, **changes: object
) -> int:
    return await register_account(setup.sessions, username, password=password, **changes)


# -- credentials ---------------------------------------------------------------------


async def test_right_credentials_give_the_account(setup: Setup) -> None:
    account_id = await add_account(setup)

    result = await setup.login()

    assert isinstance(result, Account)
    assert result.id == account_id


async def test_username_matches_as_logins_do_whatever_its_case(setup: Setup) -> None:
    account_id = await add_account(setup, username="Acme")

    result = await setup.login(username="ACME")

    assert isinstance(result, Account) and result.id == account_id


async def test_wrong_password_is_err003(setup: Setup) -> None:
    await add_account(setup)

    assert await setup.login(password="wrong horse battery") == WRONG_CREDENTIALS
    assert WRONG_CREDENTIALS.code == "ERR003"


async def test_unknown_user_gets_the_same_denial_after_a_dummy_verification(
    setup: Setup,
) -> None:
    await add_account(setup)

    wrong_password = await setup.login(password="wrong horse battery")
    unknown_user = await setup.login(username="nobody")

    assert unknown_user == wrong_password == WRONG_CREDENTIALS
    # The unknown user cost an argon2 verification too, so timing tells nothing.
    assert (setup.hasher.verifications, setup.hasher.dummy_verifications) == (1, 1)


async def test_a_username_no_account_could_have_is_denied_after_a_dummy_verification(
    setup: Setup,
) -> None:
    assert await setup.login(username="no\0such user" * 100) == WRONG_CREDENTIALS
    assert setup.hasher.dummy_verifications == 1


@pytest.mark.parametrize(
    ("length", "verifies"), [(PASSWORD_MAX_CHARS, True), (PASSWORD_MAX_CHARS + 1, False)]
)
async def test_a_password_over_the_longest_allowed_is_denied_without_hashing(
    setup: Setup, length: int, verifies: bool
) -> None:
    await add_account(setup)

    assert await setup.login(password="x" * length) == WRONG_CREDENTIALS
    assert setup.hasher.verifications == int(verifies)


async def test_a_hash_with_old_parameters_is_upgraded_on_success(
    setup: Setup, make_settings: Callable[..., Settings]
) -> None:
    old_hasher = PasswordHasher(make_settings(**{**FAST_ARGON2, "argon2_time_cost": 2}))
    await add_account(setup, password_hash=await old_hasher.hash(PASSWORD))

    assert isinstance(await setup.login(), Account)

    async with setup.sessions() as session:
        stored = await session.scalar(select(Account.password_hash))
    assert stored is not None
    assert argon2.extract_parameters(stored).time_cost == 1
    assert isinstance(await setup.login(), Account)


# -- the verified-credential cache -----------------------------------------------------


async def test_a_verified_credential_is_not_verified_again(setup: Setup) -> None:
    await add_account(setup)

    first, second = await setup.login(), await setup.login()

    assert isinstance(first, Account) and isinstance(second, Account)
    assert first.id == second.id
    assert setup.hasher.verifications == 1


async def test_a_wrong_password_is_never_remembered(setup: Setup) -> None:
    await add_account(setup)

    for _ in range(2):
        assert await setup.login(password="wrong horse battery") == WRONG_CREDENTIALS

    assert setup.hasher.verifications == 2


async def test_a_remembered_credential_does_not_open_with_another_password(setup: Setup) -> None:
    await add_account(setup)
    assert isinstance(await setup.login(), Account)

    assert await setup.login(password=PASSWORD + " ") == WRONG_CREDENTIALS


async def test_a_password_change_makes_the_remembered_credential_worthless(
    setup: Setup,
) -> None:
    await add_account(setup)
    assert isinstance(await setup.login(), Account)

    await setup.change("acme", password_hash=await setup.hasher.hash("a new pass phrase"))

    assert await setup.login() == WRONG_CREDENTIALS
    assert isinstance(await setup.login(password="a new pass phrase"), Account)


async def test_a_renamed_account_is_not_opened_by_its_old_names_entry(setup: Setup) -> None:
    renamed_id = await add_account(setup, username="acme")
    assert isinstance(await setup.login(), Account)
    await setup.change("acme", username="acme-old", username_key="acme-old")
    newcomer_id = await add_account(setup, username="acme")

    result = await setup.login()

    assert isinstance(result, Account)
    assert result.id == newcomer_id != renamed_id


async def test_no_cache_when_its_ttl_is_zero(build: Build, hot_state: HotState) -> None:
    setup = build(hot_state, api_credential_cache_s=0.0)
    await add_account(setup)

    for _ in range(2):
        assert isinstance(await setup.login(), Account)

    assert setup.hasher.verifications == 2


@pytest.mark.parametrize(
    ("elapsed_s", "verifications"), [(CACHE_TTL_S - 0.001, 1), (CACHE_TTL_S, 2)]
)
async def test_a_remembered_credential_lasts_the_cache_ttl(
    build: Build, elapsed_s: float, verifications: int
) -> None:
    now = [1000.0]
    setup = build(MemoryHotState(clock=lambda: now[0]))
    await add_account(setup)
    assert isinstance(await setup.login(), Account)

    now[0] += elapsed_s
    assert isinstance(await setup.login(), Account)

    assert setup.hasher.verifications == verifications


@pytest.fixture
async def dead_hot_state() -> AsyncIterator[HotState]:
    """A real Redis client whose server does not answer (nothing listens on port 1)."""
    hot = RedisHotState.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    yield hot
    await hot.close()


async def test_with_the_hot_state_down_every_call_is_verified_in_full(
    build: Build, dead_hot_state: HotState
) -> None:
    setup = build(dead_hot_state)
    await add_account(setup)

    for _ in range(2):
        assert isinstance(await setup.login(), Account)
    assert await setup.login(password="wrong horse battery") == WRONG_CREDENTIALS

    assert setup.hasher.verifications == 3


# -- what the account allows -------------------------------------------------------------


async def test_a_blocked_account_is_err005_to_the_right_password_only(setup: Setup) -> None:
    await add_account(setup, disabled=True)

    assert await setup.login() == ACCOUNT_BLOCKED
    assert ACCOUNT_BLOCKED.code == "ERR005"
    assert await setup.login(password="wrong horse battery") == WRONG_CREDENTIALS


async def test_an_account_with_the_api_disabled_is_err001(setup: Setup) -> None:
    await add_account(setup, api_enabled=False)

    assert await setup.login() == API_DISABLED
    assert API_DISABLED.code == "ERR001"


async def test_a_staff_account_has_no_api_access_err004(setup: Setup) -> None:
    await add_account(setup, role=Role.STAFF)

    assert await setup.login() == NO_API_ACCESS
    assert NO_API_ACCESS.code == "ERR004"


async def test_a_remembered_credential_still_meets_the_accounts_current_state(
    setup: Setup,
) -> None:
    await add_account(setup)
    assert isinstance(await setup.login(), Account)

    await setup.change("acme", disabled=True)
    assert await setup.login() == ACCOUNT_BLOCKED
    await setup.change("acme", disabled=False, api_enabled=False)
    assert await setup.login() == API_DISABLED
    assert setup.hasher.verifications == 1


# -- IP lockdown -------------------------------------------------------------------------


async def allow(setup: Setup, *cidrs: str) -> None:
    async with setup.sessions.begin() as session:
        await set_api_allowlist(session, "acme", list(cidrs))


async def lockdown_alerts(setup: Setup) -> list[tuple[str | None, str | None, int]]:
    async with setup.sessions() as session:
        alerts, _ = await list_alerts(session, type=IP_LOCKDOWN_ALERT)
    return [(alert.account, alert.ip, alert.count) for alert in alerts]


async def test_an_address_inside_the_allowlist_is_let_in(setup: Setup) -> None:
    await add_account(setup)
    await allow(setup, "192.0.2.0/24")

    assert isinstance(await setup.login(ip="192.0.2.200"), Account)
    assert await lockdown_alerts(setup) == []


async def test_right_credentials_from_outside_the_allowlist_are_err024_and_alert(
    setup: Setup,
) -> None:
    await add_account(setup)
    await allow(setup, "192.0.2.0/24")

    assert await setup.login(ip="198.51.100.7") == IP_NOT_ALLOWED
    assert IP_NOT_ALLOWED.code == "ERR024"
    assert await setup.login(ip="198.51.100.7") == IP_NOT_ALLOWED

    # Repeats fold into one alert about the account.
    assert await lockdown_alerts(setup) == [("acme", "198.51.100.7", 2)]


async def test_a_wrong_password_from_outside_the_allowlist_is_err003_without_alert(
    setup: Setup,
) -> None:
    await add_account(setup)
    await allow(setup, "192.0.2.0/24")

    assert await setup.login(password="wrong horse battery", ip="198.51.100.7") == (
        WRONG_CREDENTIALS
    )
    assert await lockdown_alerts(setup) == []


async def test_an_unreadable_client_address_is_locked_out(setup: Setup) -> None:
    await add_account(setup)
    await allow(setup, "0.0.0.0/0")

    assert await setup.login(ip="unknown") == IP_NOT_ALLOWED
    assert await lockdown_alerts(setup) == [("acme", None, 1)]


@pytest.mark.parametrize(
    ("ip", "allowlist", "allowed"),
    [
        ("203.0.113.9", [], True),
        (None, [], True),
        ("192.0.2.255", ["192.0.2.0/24"], True),
        ("192.0.3.0", ["192.0.2.0/24"], False),
        ("192.0.2.1", ["10.0.0.0/8", "192.0.2.1/32"], True),
        ("2001:db8::1", ["2001:db8::/32"], True),
        ("2001:db8::1", ["0.0.0.0/0"], False),
        ("192.0.2.1", ["::/0"], False),
        (None, ["0.0.0.0/0"], False),
        ("not an address", ["0.0.0.0/0"], False),
        ("192.0.2.1", ["damaged entry", "192.0.2.0/24"], True),
    ],
)
def test_ip_allowed(ip: str | None, allowlist: list[str], allowed: bool) -> None:
    assert ip_allowed(ip, allowlist) is allowed
