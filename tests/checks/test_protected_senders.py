"""The registry of protected sender names on SQLite and PostgreSQL: editing it, the
per-process cache the guard reads, and the refusal of look-alikes at registration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from customer_accounts import bare_account
from fake_clock import FakeClock
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.accounts.registry import ProtectedSenderId, add_sender_id
from secgate.alerts.store import AlertSink, list_alerts
from secgate.checks.protected_senders import (
    STALE_RETRY_S,
    InvalidProtectedName,
    ProtectedSenderCache,
    ProtectedSenderNotFound,
    add_protected_sender,
    canonical_name,
    list_protected_senders,
    load_protected_names,
    remove_owner,
    remove_protected_sender,
)
from secgate.checks.sender_ids import LookAlikeRules, ProtectedName, SenderIdGuard, alert_for
from secgate.checks.verdict import CheckStoreUnavailable, MessageUnderCheck, Verdict
from secgate.hotstate.memory import MemoryHotState
from secgate.settings import Settings
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import Account, AlertSeverity, ProtectedSenderOwner, SenderId


async def make_account(session: AsyncSession, username: str) -> Account:
    account = bare_account(username)
    session.add(account)
    await session.flush()
    return account


@pytest.fixture
async def accounts(db_sessions: SessionFactory) -> dict[str, int]:
    async with db_sessions.begin() as session:
        return {name: (await make_account(session, name)).id for name in ("nbk-bank", "shop")}


async def protect(db_sessions: SessionFactory, name: str, *owners: str) -> None:
    async with db_sessions.begin() as session:
        found = [
            await session.scalar(select(Account).where(Account.username == owner))
            for owner in owners
        ]
        await add_protected_sender(session, name, [a for a in found if a is not None])


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [("NBK", "NBK"), (" nbk ", "NBK"), ("q8", "Q8")])
def test_a_name_is_stored_in_capitals(given: str, stored: str) -> None:
    assert canonical_name(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "N", "N.B.K", "NBK-KW", "ZАIN", "12345", "ABCDEFGHIJKL", "NB K"],
)
def test_a_name_that_is_not_letters_and_digits_is_refused(given: str) -> None:
    with pytest.raises(InvalidProtectedName, match=r"^name: 2 to 11 letters"):
        canonical_name(given)


@pytest.mark.parametrize("length", [2, 11])
def test_names_of_2_and_11_characters_are_accepted(length: int) -> None:
    assert canonical_name("A" * length) == "A" * length


# --- editing -------------------------------------------------------------------------------


async def test_a_new_name_is_added_with_its_owners(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    async with db_sessions() as session:
        owner = await session.get(Account, accounts["nbk-bank"])
        assert owner is not None
        view, created = await add_protected_sender(session, "nbk", [owner])
        await session.commit()
    assert (view.name, view.owners, created) == ("NBK", ("nbk-bank",), True)

    async with db_sessions() as session:
        assert await load_protected_names(session) == [
            ProtectedName("NBK", frozenset({accounts["nbk-bank"]}))
        ]


async def test_adding_a_protected_name_again_adds_owners_without_repeats(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    async with db_sessions() as session:
        owners = [await session.get(Account, accounts[n]) for n in ("nbk-bank", "shop")]
        view, created = await add_protected_sender(session, "NBK", [o for o in owners if o])
        await session.commit()
    assert (view.owners, created) == (("nbk-bank", "shop"), False)
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProtectedSenderOwner)) == 2


async def test_the_list_is_by_name_with_usernames(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "ZAIN")
    await protect(db_sessions, "KFH", "shop", "nbk-bank")
    async with db_sessions() as session:
        views = await list_protected_senders(session)
    assert [(v.name, v.owners) for v in views] == [
        ("KFH", ("nbk-bank", "shop")),
        ("ZAIN", ()),
    ]
    assert all(v.created_at.tzinfo is not None for v in views)


async def test_removing_a_name_removes_its_owners(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    async with db_sessions.begin() as session:
        view = await remove_protected_sender(session, "nbk")
    assert (view.name, view.owners) == ("NBK", ("nbk-bank",))
    async with db_sessions() as session:
        assert await load_protected_names(session) == []
        assert await session.scalar(select(func.count()).select_from(ProtectedSenderOwner)) == 0


async def test_removing_one_owner_keeps_the_name(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank", "shop")
    async with db_sessions.begin() as session:
        shop = await session.get(Account, accounts["shop"])
        assert shop is not None
        view = await remove_owner(session, "NBK", shop)
    assert view.owners == ("nbk-bank",)
    async with db_sessions() as session:
        assert await load_protected_names(session) == [
            ProtectedName("NBK", frozenset({accounts["nbk-bank"]}))
        ]


@pytest.mark.parametrize("name", ["KFH", "N.B.K", ""])
async def test_removing_a_name_that_is_not_protected_is_refused(
    db_sessions: SessionFactory, name: str
) -> None:
    await protect(db_sessions, "NBK")
    async with db_sessions() as session:
        with pytest.raises(ProtectedSenderNotFound, match="is not a protected sender name"):
            await remove_protected_sender(session, name)


async def test_removing_an_owner_that_is_not_one_is_refused(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    async with db_sessions() as session:
        shop = await session.get(Account, accounts["shop"])
        assert shop is not None
        with pytest.raises(ProtectedSenderNotFound, match="'shop' is not an owner of NBK"):
            await remove_owner(session, "NBK", shop)


async def test_deleting_an_account_takes_it_off_the_owners(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank", "shop")
    async with db_sessions.begin() as session:
        shop = await session.get(Account, accounts["shop"])
        await session.delete(shop)
    async with db_sessions() as session:
        (nbk,) = await list_protected_senders(session)
    assert nbk.owners == ("nbk-bank",)


# --- the cache the guard reads -----------------------------------------------------------


class SwitchableSessions:
    """A session factory that can be pointed at a database that does not answer: the
    real one, or a PostgreSQL on a port where nothing listens."""

    def __init__(self, real: SessionFactory, dead: SessionFactory) -> None:
        self.real, self.dead, self.up = real, dead, True

    def __call__(self) -> AsyncSession:
        return (self.real if self.up else self.dead)()


@pytest.fixture
async def dead_sessions() -> AsyncIterator[SessionFactory]:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def sessions(db_sessions: SessionFactory, dead_sessions: SessionFactory) -> SwitchableSessions:
    return SwitchableSessions(db_sessions, dead_sessions)


CacheMaker = Callable[..., ProtectedSenderCache]


@pytest.fixture
def make_cache(sessions: SwitchableSessions) -> CacheMaker:
    def make(clock: FakeClock, cache_s: float = 30.0) -> ProtectedSenderCache:
        settings = Settings(protected_senders_cache_s=cache_s)
        return ProtectedSenderCache(sessions, settings, clock=clock)  # type: ignore[arg-type]

    return make


async def names_seen(cache: ProtectedSenderCache) -> set[str]:
    return set((await cache.matcher()).names)


@pytest.mark.parametrize(("elapsed", "reread"), [(29.999, False), (30.0, True), (30.001, True)])
async def test_the_registry_is_read_again_once_the_cache_time_has_passed(
    db_sessions: SessionFactory, make_cache: CacheMaker, elapsed: float, reread: bool
) -> None:
    clock = FakeClock()
    cache = make_cache(clock, cache_s=30.0)
    await protect(db_sessions, "NBK")
    assert await names_seen(cache) == {"NBK"}

    await protect(db_sessions, "KFH")  # as another process would: no invalidate()
    clock.now += elapsed

    assert await names_seen(cache) == ({"NBK", "KFH"} if reread else {"NBK"})


async def test_a_cache_time_of_zero_reads_every_time(
    db_sessions: SessionFactory, make_cache: CacheMaker
) -> None:
    cache = make_cache(FakeClock(), cache_s=0.0)
    assert await names_seen(cache) == set()
    await protect(db_sessions, "NBK")
    assert await names_seen(cache) == {"NBK"}


async def test_an_edit_in_this_process_applies_at_once(
    db_sessions: SessionFactory, make_cache: CacheMaker
) -> None:
    cache = make_cache(FakeClock())
    assert await names_seen(cache) == set()
    await protect(db_sessions, "NBK")

    cache.invalidate()

    assert await names_seen(cache) == {"NBK"}


async def test_the_same_matcher_serves_every_check_until_the_names_change(
    make_cache: CacheMaker,
) -> None:
    cache = make_cache(FakeClock())
    first = await cache.matcher()
    assert await cache.matcher() is first
    cache.invalidate()
    assert await cache.matcher() is not first


async def test_with_nothing_read_yet_an_unreadable_registry_fails_closed(
    sessions: SwitchableSessions, make_cache: CacheMaker
) -> None:
    sessions.up = False
    cache = make_cache(FakeClock())
    with pytest.raises(CheckStoreUnavailable):
        await cache.matcher()

    guard = SenderIdGuard(cache)
    assert guard.fails == "closed"
    with pytest.raises(CheckStoreUnavailable):
        await guard.check(MessageUnderCheck(sender="KWT-SMS", text="hi", account_id=1))


async def test_with_a_stale_copy_an_unreadable_registry_keeps_the_copy_and_warns(
    db_sessions: SessionFactory,
    sessions: SwitchableSessions,
    make_cache: CacheMaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    cache = make_cache(clock)
    await protect(db_sessions, "NBK")
    assert await names_seen(cache) == {"NBK"}
    sessions.up = False
    clock.now += 31

    assert await names_seen(cache) == {"NBK"}
    assert "protected_senders_stale" in caplog.messages

    # The database is not asked again at every check: after STALE_RETRY_S at most.
    caplog.clear()
    clock.now += STALE_RETRY_S - 0.001
    assert await names_seen(cache) == {"NBK"}
    assert caplog.messages == []
    clock.now += 0.001
    await protect(db_sessions, "KFH")
    sessions.up = True
    assert await names_seen(cache) == {"NBK", "KFH"}


async def test_the_guard_reads_owners_through_the_cache(
    db_sessions: SessionFactory, make_cache: CacheMaker, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    guard = SenderIdGuard(make_cache(FakeClock()))

    def sent_by(account: str) -> MessageUnderCheck:
        return MessageUnderCheck(sender="N8K", text="hi", account_id=accounts[account])

    assert (await guard.check(sent_by("nbk-bank"))).verdict is Verdict.PASS
    refused = await guard.check(sent_by("shop"))
    assert (refused.verdict, refused.code) == (Verdict.REJECT, "ERR008")


# --- registering a sender ID ----------------------------------------------------------------


async def register(db_sessions: SessionFactory, username: str, sender: str) -> None:
    async with db_sessions() as session:
        await add_sender_id(session, username=username, sender=sender)
        await session.commit()


async def registered(db_sessions: SessionFactory) -> list[str]:
    async with db_sessions() as session:
        return list(await session.scalars(select(SenderId.name).order_by(SenderId.name)))


@pytest.mark.parametrize("sender", ["NBK", "nbk", "N.B.K", "N8K", "NBK-ALERT"])
async def test_registering_a_protected_name_or_look_alike_is_refused_with_the_reason(
    db_sessions: SessionFactory, accounts: dict[str, int], sender: str
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    with pytest.raises(ProtectedSenderId, match=rf"^Sender ID '{sender}' (is|looks like) .*NBK"):
        await register(db_sessions, "shop", sender)
    assert await registered(db_sessions) == []


async def test_the_owner_may_register_the_name_and_its_look_alikes(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    await register(db_sessions, "nbk-bank", "NBK")
    await register(db_sessions, "nbk-bank", "NBK-ALERT")
    assert await registered(db_sessions) == ["NBK", "NBK-ALERT"]


async def test_an_ordinary_sender_id_registers_as_before(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK")
    await register(db_sessions, "shop", "KWT-SMS")
    assert await registered(db_sessions) == ["KWT-SMS"]


async def test_registration_uses_the_thresholds_it_is_given(
    db_sessions: SessionFactory, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "OOREDOO")
    lenient = LookAlikeRules(max_edits=0, edit_min_chars=6, embed_min_chars=6)
    async with db_sessions() as session:
        await add_sender_id(session, username="shop", sender="OOREDO", look_alikes=lenient)
        await session.commit()
    with pytest.raises(ProtectedSenderId, match="looks like OOREDOO"):
        await register(db_sessions, "shop", "OOREDO.KW")  # the default thresholds


# --- the alert ----------------------------------------------------------------------------


async def test_every_block_is_stored_as_an_sms_sender_id_blocked_alert(
    db_sessions: SessionFactory, make_cache: CacheMaker, accounts: dict[str, int]
) -> None:
    await protect(db_sessions, "NBK", "nbk-bank")
    guard = SenderIdGuard(make_cache(FakeClock()))
    hot = MemoryHotState(namespace="alerts-test")
    sink = AlertSink(db_sessions, hot, Settings())
    senders = ["NBK", "N.B.K", "N8K", "NBK-ALERT"]
    try:
        for sender in senders:
            checked = MessageUnderCheck(
                sender=sender, text="hi", account_id=accounts["shop"], client_ip="192.0.2.7"
            )
            result = await guard.check(checked)
            arguments = alert_for(result, checked)
            assert arguments is not None
            await sink.raise_alert(**arguments)
    finally:
        await hot.close()

    async with db_sessions() as session:
        (alert,), _ = await list_alerts(session, type="sms.sender_id_blocked")
    # Repeats for one account fold into one alert; its count is every block.
    assert (alert.account, alert.ip, alert.count) == ("shop", "192.0.2.7", len(senders))
    assert alert.severity is AlertSeverity.HIGH
    assert alert.details["protected"] == "NBK"
    assert alert.details["sender"] == senders[-1]
    assert alert.details["reason"].startswith("Sender ID 'NBK-ALERT' looks like NBK")
