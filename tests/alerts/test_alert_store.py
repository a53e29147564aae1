"""The alerts store: raising and folding alerts, publishing them, listing them,
acknowledging and resolving them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from customer_accounts import MakeAccount
from fake_clock import FakeClock
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from secgate.alerts.store import ALERTS_CHANNEL, AlertSink, AlertView, list_alerts, set_status
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState, HotStateUnavailable, Subscription
from secgate.settings import Settings
from secgate.storage.db import SessionFactory
from secgate.storage.models import Alert, AlertSeverity, AlertStatus

FOLD_WINDOW_S = 60.0
START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class DeadHotState(MemoryHotState):
    """Stands in for a Redis that has gone away: every publish fails."""

    async def publish(self, channel: str, message: bytes) -> None:
        raise HotStateUnavailable("connection refused")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def new_sink(
    db_sessions: SessionFactory, make_settings: Callable[..., Settings], clock: FakeClock
) -> Callable[[HotState], AlertSink]:
    settings = make_settings(alert_fold_window_s=FOLD_WINDOW_S)
    return lambda hot: AlertSink(db_sessions, hot, settings, clock=clock)


@pytest.fixture
async def sink(new_sink: Callable[[HotState], AlertSink]) -> AsyncIterator[AlertSink]:
    """Publishes to an in-process hot state; the publishing tests take both kinds."""
    hot = MemoryHotState()
    yield new_sink(hot)
    await hot.close()


async def stored_alerts(db_sessions: SessionFactory) -> list[Alert]:
    async with db_sessions() as session:
        return list(await session.scalars(select(Alert).order_by(Alert.id)))


def at(seconds_after_start: float) -> datetime:
    return datetime.fromtimestamp(START + seconds_after_start, UTC)


async def bruteforce(sink: AlertSink, **changes: Any) -> AlertView:
    arguments: dict[str, Any] = {
        "type": "login.bruteforce",
        "severity": AlertSeverity.HIGH,
        "ip": "192.0.2.7",
    }
    return await sink.raise_alert(**(arguments | changes))


# -- raising and folding ----------------------------------------------------------


async def test_first_raise_stores_an_open_alert_counted_once(
    sink: AlertSink, db_sessions: SessionFactory, make_account: MakeAccount
) -> None:
    account_id = await make_account("Ahmad")
    alert = await sink.raise_alert(
        type="login.country_mismatch",
        severity=AlertSeverity.MEDIUM,
        account_id=account_id,
        ip="192.0.2.7",
        country="eg",
        details={"home": "KW"},
    )
    assert alert.to_json() == {
        "id": alert.id,
        "type": "login.country_mismatch",
        "severity": "medium",
        "status": "open",
        "account": "Ahmad",
        "ip": "192.0.2.7",
        "country": "EG",
        "count": 1,
        "first_seen": "2027-01-15T08:00:00.000000Z",
        "last_seen": "2027-01-15T08:00:00.000000Z",
        "details": {"home": "KW"},
    }
    assert [row.id for row in await stored_alerts(db_sessions)] == [alert.id]


async def test_repeat_within_window_folds_into_one_alert(
    sink: AlertSink, db_sessions: SessionFactory, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    clock.advance(30)
    repeat = await bruteforce(sink)
    assert repeat.id == first.id
    assert repeat.count == 2
    assert (repeat.first_seen, repeat.last_seen) == (at(0), at(30))
    rows = await stored_alerts(db_sessions)
    assert [(row.id, row.count, row.last_seen) for row in rows] == [(first.id, 2, at(30))]


async def test_repeat_exactly_at_the_window_end_still_folds(
    sink: AlertSink, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    clock.advance(FOLD_WINDOW_S)
    repeat = await bruteforce(sink)
    assert (repeat.id, repeat.count) == (first.id, 2)


async def test_repeat_just_after_the_window_starts_a_new_alert(
    sink: AlertSink, db_sessions: SessionFactory, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    clock.advance(FOLD_WINDOW_S + 0.000_001)
    repeat = await bruteforce(sink)
    assert repeat.id != first.id
    assert (repeat.count, repeat.first_seen) == (1, at(FOLD_WINDOW_S + 0.000_001))
    rows = await stored_alerts(db_sessions)
    assert [(row.id, row.count) for row in rows] == [(first.id, 1), (repeat.id, 1)]
    clock.advance(1)
    assert (await bruteforce(sink)).id == repeat.id  # the new alert is the one folding now


async def test_window_runs_from_the_last_repeat_not_the_first(
    sink: AlertSink, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    for _ in range(3):
        clock.advance(FOLD_WINDOW_S - 1)
        repeat = await bruteforce(sink)
    assert (repeat.id, repeat.count) == (first.id, 4)


async def test_repeat_keeps_the_latest_details_merged_key_by_key(
    sink: AlertSink, clock: FakeClock
) -> None:
    await bruteforce(sink, details={"attempts": 5, "username": "ahmad"})
    clock.advance(1)
    repeat = await bruteforce(sink, details={"attempts": 9, "last_agent": "curl"})
    assert repeat.details == {"attempts": 9, "username": "ahmad", "last_agent": "curl"}


async def test_more_severe_repeat_raises_the_severity_and_a_milder_one_keeps_it(
    sink: AlertSink, clock: FakeClock
) -> None:
    await bruteforce(sink, severity=AlertSeverity.MEDIUM)
    clock.advance(1)
    assert (await bruteforce(sink, severity=AlertSeverity.CRITICAL)).severity == "critical"
    clock.advance(1)
    assert (await bruteforce(sink, severity=AlertSeverity.LOW)).severity == "critical"


async def test_repeat_shows_the_latest_address(
    sink: AlertSink, clock: FakeClock, make_account: MakeAccount
) -> None:
    account_id = await make_account("ahmad")
    await bruteforce(sink, account_id=account_id, ip="192.0.2.7", country="KW")
    clock.advance(1)
    repeat = await bruteforce(sink, account_id=account_id, ip="198.51.100.9", country="EG")
    assert (repeat.count, repeat.ip, repeat.country) == (2, "198.51.100.9", "EG")
    clock.advance(1)
    repeat = await bruteforce(sink, account_id=account_id, ip=None, country=None)
    assert (repeat.count, repeat.ip, repeat.country) == (3, "198.51.100.9", "EG")


async def test_different_subjects_and_types_are_separate_alerts(
    sink: AlertSink, db_sessions: SessionFactory, make_account: MakeAccount
) -> None:
    first, second = await make_account("first"), await make_account("second")
    raised = [
        await bruteforce(sink, account_id=first),
        await bruteforce(sink, account_id=second),
        await bruteforce(sink, ip="192.0.2.7"),
        await bruteforce(sink, ip="192.0.2.8"),
        await bruteforce(sink, ip="192.0.2.7", subject="sender:KWT-SMS"),
        await bruteforce(sink, account_id=first, type="login.new_device"),
    ]
    assert len({alert.id for alert in raised}) == 6
    assert all(row.count == 1 for row in await stored_alerts(db_sessions))


async def test_subject_is_the_account_else_the_address_else_global(
    sink: AlertSink, make_account: MakeAccount
) -> None:
    account_id = await make_account("ahmad")
    by_account = await bruteforce(sink, account_id=account_id, ip="192.0.2.7")
    assert (await bruteforce(sink, account_id=account_id, ip="192.0.2.99")).id == by_account.id
    # One address in two spellings is one subject.
    by_ip = await bruteforce(sink, ip="2001:db8::1")
    assert (await bruteforce(sink, ip="2001:0DB8:0:0:0:0:0:1")).id == by_ip.id
    everyone = await bruteforce(sink, ip=None)
    assert (await bruteforce(sink, ip=None)).id == everyone.id
    assert len({by_account.id, by_ip.id, everyone.id}) == 3


async def test_acknowledged_alert_keeps_folding(
    sink: AlertSink, db_sessions: SessionFactory, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    async with db_sessions.begin() as session:
        await set_status(session, first.id, AlertStatus.ACKNOWLEDGED)
    clock.advance(1)
    repeat = await bruteforce(sink)
    assert (repeat.id, repeat.count, repeat.status) == (first.id, 2, "acknowledged")


async def test_resolved_alert_takes_no_repeats_a_new_alert_starts(
    sink: AlertSink, db_sessions: SessionFactory, clock: FakeClock
) -> None:
    first = await bruteforce(sink)
    async with db_sessions.begin() as session:
        await set_status(session, first.id, AlertStatus.RESOLVED)
    clock.advance(1)
    repeat = await bruteforce(sink)
    assert repeat.id != first.id
    assert (repeat.count, repeat.status) == (1, "open")
    rows = await stored_alerts(db_sessions)
    assert [(row.status, row.count) for row in rows] == [("resolved", 1), ("open", 1)]


async def test_concurrent_raises_fold_into_one_row_counting_each(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    raised = await asyncio.gather(*(bruteforce(sink) for _ in range(20)))
    rows = await stored_alerts(db_sessions)
    assert [row.count for row in rows] == [20]
    assert {alert.id for alert in raised} == {rows[0].id}
    assert sorted(alert.count for alert in raised) == list(range(1, 21))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"type": "bruteforce"}, id="type-without-dot"),
        pytest.param({"type": "Login.Bruteforce"}, id="type-uppercase"),
        pytest.param({"type": "login..bruteforce"}, id="type-empty-word"),
        pytest.param({"type": "login.brute force"}, id="type-space"),
        pytest.param({"type": "login." + "x" * 60}, id="type-over-64-chars"),
        pytest.param({"severity": "severe"}, id="unknown-severity"),
        pytest.param({"ip": "192.0.2.300"}, id="not-an-address"),
        pytest.param({"country": "KWT"}, id="country-three-letters"),
        pytest.param({"details": {"notes": []}}, id="details-with-reserved-notes"),
        pytest.param({"subject": "s" * 191}, id="subject-over-190-chars"),
    ],
)
async def test_invalid_arguments_are_refused_and_nothing_is_stored(
    sink: AlertSink, db_sessions: SessionFactory, changes: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        await bruteforce(sink, **changes)
    assert await stored_alerts(db_sessions) == []


async def test_longest_type_and_subject_are_accepted(sink: AlertSink) -> None:
    alert = await bruteforce(sink, type="login." + "x" * 58, subject="s" * 190)
    assert alert.count == 1


async def test_alert_that_cannot_be_stored_is_logged_in_full_and_the_error_raised(
    sink: AlertSink, db_sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="secgate.alerts")
    with pytest.raises(IntegrityError):
        # No such account: the foreign key refuses the row.
        await bruteforce(sink, account_id=999_999, details={"attempts": 7})
    [record] = [r for r in caplog.records if r.getMessage() == "alert_not_stored"]
    assert record.levelno == logging.ERROR
    assert record.alert["type"] == "login.bruteforce"  # type: ignore[attr-defined]
    assert record.alert["account_id"] == 999_999  # type: ignore[attr-defined]
    assert record.alert["details"] == {"attempts": 7}  # type: ignore[attr-defined]
    assert await stored_alerts(db_sessions) == []


# -- publishing -----------------------------------------------------------------


async def next_message(subscription: Subscription) -> dict[str, Any]:
    message = await asyncio.wait_for(anext(aiter(subscription)), timeout=5)
    return json.loads(message)


async def test_stored_alert_and_its_repeats_are_published_on_the_alerts_channel(
    hot_state: HotState, new_sink: Callable[[HotState], AlertSink], clock: FakeClock
) -> None:
    sink = new_sink(hot_state)
    subscribing: AbstractAsyncContextManager[Subscription] = hot_state.subscribe(ALERTS_CHANNEL)
    async with subscribing as subscription:
        first = await bruteforce(sink)
        assert await next_message(subscription) == first.to_json()
        clock.advance(1)
        repeat = await bruteforce(sink)
        assert await next_message(subscription) == repeat.to_json()
    assert repeat.to_json()["count"] == 2


async def test_alert_is_stored_even_when_publishing_fails(
    new_sink: Callable[[HotState], AlertSink],
    db_sessions: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="secgate.alerts")
    alert = await bruteforce(new_sink(DeadHotState()))
    assert [row.id for row in await stored_alerts(db_sessions)] == [alert.id]
    assert "alert_not_published" in [r.getMessage() for r in caplog.records]


# -- listing -----------------------------------------------------------------------


async def raise_in_turn(sink: AlertSink, count: int) -> list[int]:
    return [(await bruteforce(sink, subject=f"s{n}")).id for n in range(count)]


async def test_list_is_newest_first_with_a_cursor_to_the_next_page(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    ids = await raise_in_turn(sink, 5)
    async with db_sessions() as session:
        page, cursor = await list_alerts(session, limit=2)
        assert ([a.id for a in page], cursor) == (ids[:-3:-1], ids[3])
        page, cursor = await list_alerts(session, limit=2, after_id=cursor)
        assert ([a.id for a in page], cursor) == ([ids[2], ids[1]], ids[1])
        page, cursor = await list_alerts(session, limit=2, after_id=cursor)
        assert ([a.id for a in page], cursor) == ([ids[0]], None)


async def test_a_page_that_ends_exactly_at_the_last_alert_has_no_next(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    ids = await raise_in_turn(sink, 3)
    async with db_sessions() as session:
        assert await list_alerts(session, limit=3) == (await list_alerts(session, limit=4))
        page, cursor = await list_alerts(session, limit=3)
    assert ([a.id for a in page], cursor) == (ids[::-1], None)


async def test_list_filters_by_type_severity_status_and_account(
    sink: AlertSink, db_sessions: SessionFactory, make_account: MakeAccount
) -> None:
    ahmad = await make_account("Ahmad")
    brute = await bruteforce(sink, account_id=ahmad, severity=AlertSeverity.HIGH)
    spam = await sink.raise_alert(type="sms.spam_blocked", severity=AlertSeverity.LOW)
    device = await sink.raise_alert(
        type="login.new_device", severity=AlertSeverity.LOW, account_id=ahmad
    )
    async with db_sessions.begin() as session:
        await set_status(session, spam.id, AlertStatus.RESOLVED)

    async def ids(**filters: Any) -> list[int]:
        async with db_sessions() as session:
            alerts, _ = await list_alerts(session, **filters)
        return [alert.id for alert in alerts]

    assert await ids() == [device.id, spam.id, brute.id]
    assert await ids(type="login.bruteforce") == [brute.id]
    assert await ids(severity=AlertSeverity.LOW) == [device.id, spam.id]
    assert await ids(status=AlertStatus.OPEN) == [device.id, brute.id]
    assert await ids(account="ahmad") == [device.id, brute.id]  # as logins match names
    assert await ids(account="nobody") == []
    assert await ids(account="Ahmad", severity=AlertSeverity.LOW, status=AlertStatus.OPEN) == [
        device.id
    ]


@pytest.mark.parametrize(("limit", "allowed"), [(0, False), (1, True), (500, True), (501, False)])
async def test_limit_must_be_within_1_to_500(
    db_sessions: SessionFactory, limit: int, allowed: bool
) -> None:
    async with db_sessions() as session:
        if allowed:
            assert await list_alerts(session, limit=limit) == ([], None)
        else:
            with pytest.raises(ValueError, match="limit"):
                await list_alerts(session, limit=limit)


# -- acknowledging and resolving --------------------------------------------------------


async def test_ack_then_resolve_move_the_status_forward(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    alert = await bruteforce(sink)
    async with db_sessions.begin() as session:
        acked = await set_status(session, alert.id, AlertStatus.ACKNOWLEDGED)
    async with db_sessions.begin() as session:
        resolved = await set_status(session, alert.id, AlertStatus.RESOLVED)
    assert acked is not None and resolved is not None
    assert (acked.status, resolved.status) == ("acknowledged", "resolved")
    [row] = await stored_alerts(db_sessions)
    assert (row.status, row.fold_key) == ("resolved", None)


async def test_ack_does_not_reopen_a_resolved_alert(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    alert = await bruteforce(sink)
    async with db_sessions.begin() as session:
        await set_status(session, alert.id, AlertStatus.RESOLVED)
        acked = await set_status(session, alert.id, AlertStatus.ACKNOWLEDGED)
    assert acked is not None and acked.status == "resolved"


async def test_notes_are_kept_with_who_and_when_and_survive_repeats(
    sink: AlertSink, db_sessions: SessionFactory, clock: FakeClock
) -> None:
    alert = await bruteforce(sink, details={"attempts": 5})
    async with db_sessions.begin() as session:
        await set_status(
            session, alert.id, AlertStatus.ACKNOWLEDGED, note="looking", by="Sara", now=at(10)
        )
    clock.advance(20)
    await bruteforce(sink, details={"attempts": 9})
    async with db_sessions.begin() as session:
        resolved = await set_status(
            session, alert.id, AlertStatus.RESOLVED, note="blocked", by="Sara", now=at(30)
        )
    assert resolved is not None
    assert resolved.details == {
        "attempts": 9,
        "notes": [
            {
                "by": "Sara",
                "at": "2027-01-15T08:00:10.000000Z",
                "status": "acknowledged",
                "note": "looking",
            },
            {
                "by": "Sara",
                "at": "2027-01-15T08:00:30.000000Z",
                "status": "resolved",
                "note": "blocked",
            },
        ],
    }


@pytest.mark.parametrize("missing", [0, -1, 12345, 2**63 - 1, 2**63])
async def test_unknown_alert_cannot_change_status(
    sink: AlertSink, db_sessions: SessionFactory, missing: int
) -> None:
    await bruteforce(sink)
    async with db_sessions.begin() as session:
        assert await set_status(session, missing, AlertStatus.RESOLVED) is None


async def test_alerts_are_never_set_back_to_open(
    sink: AlertSink, db_sessions: SessionFactory
) -> None:
    alert = await bruteforce(sink)
    async with db_sessions.begin() as session:
        with pytest.raises(ValueError, match="reopened"):
            await set_status(session, alert.id, AlertStatus.OPEN)


async def test_json_times_are_utc_with_a_z_to_the_microsecond(
    sink: AlertSink, clock: FakeClock
) -> None:
    clock.advance(0.25)
    alert = await bruteforce(sink)
    assert alert.to_json()["first_seen"] == "2027-01-15T08:00:00.250000Z"
    assert alert.first_seen == at(0.25) and alert.first_seen.utcoffset() == timedelta(0)
