"""The SMS pumping and velocity checks of the send path: throttles, alerts, the
call contract (`check`, then `record_sent` for accepted sends) and failing closed.

Time is the message's (`now`); T0 is a midnight. Each test runs on both hot states
and both databases (the alerts are stored).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from customer_accounts import MakeAccount
from redis.asyncio import BlockingConnectionPool, Connection, Redis

from secgate.abuse.otp_conversion import OtpConversion
from secgate.alerts.store import AlertSink, AlertView, list_alerts
from secgate.checks.pumping import (
    PumpingCheck,
    SendRateCheck,
    iso_time,
    pumping_checks,
    record_sent,
)
from secgate.checks.verdict import CheckStoreUnavailable, MessageUnderCheck, Verdict
from secgate.hotstate.protocol import HotState
from secgate.hotstate.redis import RedisHotState
from secgate.settings import Settings
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import AlertSeverity

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
T0 = 20_000 * DAY
TWELVE_HOURS = 12 * HOUR

# Low thresholds, so that a test crosses them in a few numbers; each test names the
# detector it looks at, and the others stay out of its way.
SETTINGS = replace(
    Settings(),
    pumping_max_recipients_per_minute=10,
    pumping_max_recipients_per_hour=100,
    pumping_spike_min_recipients=50,
    pumping_spike_factor=10.0,
    pumping_new_country_min_recipients=50,
    pumping_sequence_min_run=5,
    pumping_sequence_max_step=10,
    pumping_otp_min_sent=10,
    pumping_otp_min_verified_ratio=0.2,
    pumping_throttle_s=TWELVE_HOURS,
)


def kw(i: int, prefix: str = "9655123") -> str:
    return f"{prefix}{i:04d}"


def sa(i: int) -> str:
    return f"96650123{i:04d}"


def run_of(length: int, start: int = 100, prefix: str = "9655123") -> list[str]:
    return [kw(start + i, prefix) for i in range(length)]


@pytest.fixture
async def account_id(make_account: MakeAccount) -> int:
    return await make_account("pumped")


@pytest.fixture
def alerts(db_sessions: SessionFactory, hot_state: HotState) -> AlertSink:
    return AlertSink(db_sessions, hot_state, SETTINGS)


Message = Callable[..., MessageUnderCheck]


@pytest.fixture
def message(account_id: int) -> Message:
    def make(numbers: list[str], now: float = T0, **changes: Any) -> MessageUnderCheck:
        fields: dict[str, Any] = {
            "sender": "SHOP",
            "text": "Your order has shipped",
            "recipients": tuple(numbers),
            "account_id": account_id,
            "now": now,
        }
        return MessageUnderCheck(**(fields | changes))

    return make


async def pumping_alerts(db_sessions: SessionFactory) -> list[AlertView]:
    async with db_sessions() as session:
        views, _ = await list_alerts(session, type="sms.pumping")
    return list(reversed(views))  # oldest first


class TestSendRateCheck:
    @pytest.fixture
    def rate(self, hot_state: HotState, alerts: AlertSink) -> SendRateCheck:
        return SendRateCheck(hot_state, SETTINGS, alerts)

    def test_it_fails_closed(self, rate: SendRateCheck) -> None:
        assert (rate.name, rate.fails) == ("send_rate", "closed")

    @pytest.mark.parametrize(
        ("before", "verdict"),
        [(6, Verdict.PASS), (7, Verdict.PASS), (8, Verdict.REJECT)],
        ids=["below", "at", "above"],
    )
    async def test_accepted_recipients_count_toward_the_limit(
        self, rate: SendRateCheck, message: Message, before: int, verdict: Verdict
    ) -> None:
        await rate.record_sent(message([kw(i) for i in range(before)]))
        result = await rate.check(message([kw(100 + i) for i in range(3)], T0 + 20))
        assert result.verdict is verdict

    async def test_an_excess_is_refused_with_err013_and_when_to_retry(
        self, rate: SendRateCheck, message: Message
    ) -> None:
        await rate.record_sent(message([kw(i) for i in range(10)]))
        result = await rate.check(message([kw(100)], T0 + 20))
        assert (result.verdict, result.code) == (Verdict.REJECT, "ERR013")
        assert result.reason == (
            "Send rate of this account exceeded: 10 recipients in this minute and 1 more "
            "would pass 10 recipients a minute; try again in 40 s"
        )
        assert result.details == {
            "window_s": 60.0,
            "recipients_in_window": 10,
            "recipients": 1,
            "limit": 10,
            "retry_after_s": 40.0,
        }

    async def test_checks_alone_count_nothing(self, rate: SendRateCheck, message: Message) -> None:
        for _ in range(5):
            assert (await rate.check(message([kw(i) for i in range(10)]))).verdict is Verdict.PASS

    async def test_one_alert_per_account_and_window(
        self, rate: SendRateCheck, message: Message, db_sessions: SessionFactory, account_id: int
    ) -> None:
        await rate.record_sent(message([kw(i) for i in range(10)]))
        for second in (1, 2, 3):
            await rate.check(message([kw(100)], T0 + second))
        [alert] = await pumping_alerts(db_sessions)
        assert (alert.count, alert.severity, alert.account) == (1, AlertSeverity.MEDIUM, "pumped")
        assert alert.details["detector"] == "send_rate"
        assert alert.details["limit"] == 10

    async def test_a_test_send_is_refused_alike_but_raises_no_alert_and_counts_nothing(
        self, rate: SendRateCheck, message: Message, db_sessions: SessionFactory
    ) -> None:
        await rate.record_sent(message([kw(i) for i in range(10)], test=True))
        assert (await rate.check(message([kw(100)], test=True))).verdict is Verdict.PASS
        await rate.record_sent(message([kw(i) for i in range(10)]))
        assert (await rate.check(message([kw(100)], test=True))).verdict is Verdict.REJECT
        assert await pumping_alerts(db_sessions) == []

    async def test_a_message_of_no_account_or_no_recipient_passes(
        self, rate: SendRateCheck, message: Message
    ) -> None:
        await rate.record_sent(message([kw(i) for i in range(10)]))
        assert (await rate.check(message([kw(1)], account_id=None))).verdict is Verdict.PASS
        assert (await rate.check(message([]))).verdict is Verdict.PASS


class TestPumpingCheck:
    @pytest.fixture
    def otp(self, hot_state: HotState) -> OtpConversion:
        return OtpConversion(hot_state, SETTINGS, clock=lambda: T0)

    @pytest.fixture
    def pumping(self, hot_state: HotState, alerts: AlertSink, otp: OtpConversion) -> PumpingCheck:
        return PumpingCheck(hot_state, SETTINGS, alerts, otp)

    def test_it_fails_closed(self, pumping: PumpingCheck) -> None:
        assert (pumping.name, pumping.fails) == ("pumping", "closed")

    async def test_ordinary_traffic_passes(self, pumping: PumpingCheck, message: Message) -> None:
        numbers = [kw(37 * i, prefix) for i in range(20) for prefix in ("9655123", "9656000")]
        result = await pumping.check(message(numbers))
        assert result.verdict is Verdict.PASS
        await pumping.record_sent(message(numbers))
        assert (await pumping.check(message(numbers, T0 + MINUTE))).verdict is Verdict.PASS

    async def test_a_detector_that_fires_throttles_the_prefix_and_refuses_the_send(
        self, pumping: PumpingCheck, message: Message
    ) -> None:
        result = await pumping.check(message([*run_of(5), kw(5000, "9656000")]))
        until = iso_time(T0 + TWELVE_HOURS)
        assert (result.verdict, result.code) == (Verdict.REJECT, "ERR013")
        assert result.reason == (
            "SMS pumping suspected (sequential_numbers: 5 numbers in sequence from "
            "96551230100 with a step of 1); sending to prefix 9655123 is throttled until "
            f"{until}"
        )
        assert result.details["throttled"] == ["prefix 9655123"]
        assert result.details["retry_after_s"] == TWELVE_HOURS
        assert result.details["findings"][0]["detector"] == "sequential_numbers"
        json.dumps(result.as_reason())  # the reasons go out as JSON

    async def test_later_sends_to_a_throttled_prefix_are_refused_until_it_ends(
        self, pumping: PumpingCheck, message: Message
    ) -> None:
        await pumping.check(message(run_of(5)))
        later = await pumping.check(message([kw(9000)], T0 + HOUR))
        assert (later.verdict, later.code) == (Verdict.REJECT, "ERR013")
        assert later.reason == (
            "Sending is throttled for this account (SMS pumping suspected): prefix 9655123 "
            f"until {iso_time(T0 + TWELVE_HOURS)} (sequential_numbers)"
        )
        assert later.details["retry_after_s"] == TWELVE_HOURS - HOUR
        other_prefix = message([kw(9000, "9656000")], T0 + HOUR)
        assert (await pumping.check(other_prefix)).verdict is Verdict.PASS
        ended = message([kw(9000)], T0 + TWELVE_HOURS)
        assert (await pumping.check(ended)).verdict is Verdict.PASS

    async def test_a_throttle_holds_the_account_only(
        self, pumping: PumpingCheck, message: Message, account_id: int
    ) -> None:
        await pumping.check(message(run_of(5)))
        another = message([kw(9000)], account_id=account_id + 1)
        assert (await pumping.check(another)).verdict is Verdict.PASS

    async def test_one_alert_per_throttle_with_the_detector_counts_and_thresholds(
        self, pumping: PumpingCheck, message: Message, db_sessions: SessionFactory
    ) -> None:
        await pumping.check(message(run_of(5)))
        await pumping.check(message(run_of(5, start=300), T0 + MINUTE))  # throttled already
        await pumping.check(message([kw(9000)], T0 + HOUR))
        [alert] = await pumping_alerts(db_sessions)
        assert (alert.count, alert.severity, alert.account) == (1, AlertSeverity.HIGH, "pumped")
        assert alert.details == {
            "detector": "sequential_numbers",
            "target": "prefix 9655123",
            "until": iso_time(T0 + TWELVE_HOURS),
            "reason": "5 numbers in sequence from 96551230100 with a step of 1",
            "prefixes": ["9655123"],
            "first": "96551230100",
            "step": 1,
            "length": 5,
            "from_earlier_sends": 0,
            "threshold_min_run": 5,
            "threshold_max_step": 10,
        }
        # Another prefix is another throttle, with an alert of its own.
        await pumping.check(message(run_of(5, prefix="9656000"), T0 + HOUR))
        assert [a.details["target"] for a in await pumping_alerts(db_sessions)] == [
            "prefix 9655123",
            "prefix 9656000",
        ]

    async def test_a_run_across_accepted_sends_is_found_but_not_across_refused_ones(
        self, pumping: PumpingCheck, message: Message
    ) -> None:
        # Four sends checked and never accepted: nothing was counted.
        for i in range(4):
            assert (await pumping.check(message([kw(100 + i)], T0 + i))).verdict is Verdict.PASS
        assert (await pumping.check(message([kw(104)], T0 + 10))).verdict is Verdict.PASS
        # The same four accepted: the fifth completes a run.
        for i in range(4):
            await pumping.record_sent(message([kw(100 + i)], T0 + i))
        result = await pumping.check(message([kw(104)], T0 + 10))
        assert result.verdict is Verdict.REJECT
        assert "4 of them in earlier sends" in result.reason

    async def test_a_spike_to_a_prefix_throttles_it(
        self, hot_state: HotState, alerts: AlertSink, otp: OtpConversion, message: Message
    ) -> None:
        settings = replace(SETTINGS, pumping_spike_min_recipients=5)
        pumping = PumpingCheck(hot_state, settings, alerts, otp)
        # An account sending for a day (elsewhere): it has a history to spike against.
        await pumping.record_sent(message([kw(1, "9656000")], T0 - DAY))
        spread = [kw(97 * i) for i in range(4)]
        await pumping.record_sent(message(spread))
        result = await pumping.check(message([kw(5001)], T0 + MINUTE))
        assert result.verdict is Verdict.REJECT
        assert result.details["findings"][0]["detector"] == "prefix_spike"

    async def test_a_burst_to_a_new_country_throttles_the_country(
        self, hot_state: HotState, alerts: AlertSink, otp: OtpConversion, message: Message
    ) -> None:
        settings = replace(SETTINGS, pumping_new_country_min_recipients=5)
        pumping = PumpingCheck(hot_state, settings, alerts, otp)
        await pumping.record_sent(message([kw(1)]))
        burst = [sa(97 * i) for i in range(5)]
        result = await pumping.check(message(burst, T0 + DAY))
        assert result.verdict is Verdict.REJECT
        assert result.details["throttled"] == ["country SA"]
        # Any number of that country is held back now, whatever its prefix.
        elsewhere = message(["966551234567"], T0 + DAY + MINUTE)
        assert "country SA until" in (await pumping.check(elsewhere)).reason

    async def test_codes_nobody_verifies_throttle_their_prefix(
        self, pumping: PumpingCheck, otp: OtpConversion, message: Message, account_id: int
    ) -> None:
        for i in range(10):
            await otp.record_otp_sent(account_id, kw(i))
        await otp.record_otp_verified(account_id, kw(0))
        result = await pumping.check(message([kw(500)], T0 + HOUR))
        assert result.verdict is Verdict.REJECT
        assert result.details["findings"][0]["detector"] == "otp_conversion"

    async def test_a_test_send_is_judged_but_throttles_nothing_and_raises_no_alert(
        self, pumping: PumpingCheck, message: Message, db_sessions: SessionFactory
    ) -> None:
        result = await pumping.check(message(run_of(5), test=True))
        assert result.verdict is Verdict.REJECT
        assert result.reason.endswith("a test send throttles nothing")
        assert result.details["throttled"] == []
        assert (await pumping.check(message([kw(9000)]))).verdict is Verdict.PASS
        assert await pumping_alerts(db_sessions) == []

    async def test_a_test_send_is_not_counted(
        self, pumping: PumpingCheck, message: Message
    ) -> None:
        for i in range(4):
            await pumping.record_sent(message([kw(100 + i)], T0 + i, test=True))
        assert (await pumping.check(message([kw(104)], T0 + 10))).verdict is Verdict.PASS

    async def test_a_message_of_no_account_passes(
        self, pumping: PumpingCheck, message: Message
    ) -> None:
        assert (await pumping.check(message(run_of(5), account_id=None))).verdict is Verdict.PASS

    async def test_an_alert_that_cannot_be_stored_does_not_lift_the_refusal(
        self,
        hot_state: HotState,
        otp: OtpConversion,
        message: Message,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
        try:
            broken = AlertSink(session_factory(engine), hot_state, SETTINGS)
            pumping = PumpingCheck(hot_state, SETTINGS, broken, otp)
            with caplog.at_level(logging.ERROR, logger="secgate.checks"):
                result = await pumping.check(message(run_of(5)))
        finally:
            await engine.dispose()
        assert result.verdict is Verdict.REJECT
        assert "pumping_alert_not_raised" in [r.message for r in caplog.records]
        assert (await pumping.check(message([kw(9000)], T0 + 1))).verdict is Verdict.REJECT


class TestTheCallContract:
    async def test_the_checks_in_pipeline_order(
        self, hot_state: HotState, alerts: AlertSink
    ) -> None:
        checks = pumping_checks(hot_state, SETTINGS, alerts)
        assert [c.name for c in checks] == ["send_rate", "pumping"]
        assert [c.fails for c in checks] == ["closed", "closed"]

    async def test_record_sent_counts_an_accepted_send_in_every_check(
        self, hot_state: HotState, alerts: AlertSink, message: Message
    ) -> None:
        checks = pumping_checks(hot_state, SETTINGS, alerts)
        for i in range(4):
            await record_sent(checks, message([kw(100 + i)], T0 + i))
        await record_sent([object(), *checks], message([kw(200 + i) for i in range(6)], T0 + 5))
        rate, pumping = [await c.check(message([kw(104)], T0 + 10)) for c in checks]
        assert rate.verdict is Verdict.REJECT  # 10 recipients this minute
        assert pumping.verdict is Verdict.REJECT  # a run with the four before


@pytest.mark.parametrize("check_class", [SendRateCheck, PumpingCheck])
async def test_a_store_that_does_not_answer_fails_the_check_closed(
    dead_hot: HotState, alerts: AlertSink, message: Message, check_class: type
) -> None:
    if check_class is PumpingCheck:
        check = PumpingCheck(dead_hot, SETTINGS, alerts, OtpConversion(dead_hot, SETTINGS))
    else:
        check = SendRateCheck(dead_hot, SETTINGS, alerts)
    with pytest.raises(CheckStoreUnavailable, match="Redis did not answer"):
        await check.check(message([kw(1)]))


@pytest.mark.parametrize("check_class", [SendRateCheck, PumpingCheck])
async def test_a_count_the_store_cannot_take_is_logged_not_raised(
    dead_hot: HotState,
    alerts: AlertSink,
    message: Message,
    check_class: type,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if check_class is PumpingCheck:
        check = PumpingCheck(dead_hot, SETTINGS, alerts, OtpConversion(dead_hot, SETTINGS))
    else:
        check = SendRateCheck(dead_hot, SETTINGS, alerts)
    with caplog.at_level(logging.WARNING, logger="secgate.checks"):
        await check.record_sent(message([kw(1)]))
    assert {r.message for r in caplog.records} <= {"send_rate_not_recorded", "pumping_not_recorded"}
    assert caplog.records


class CountingConnection(Connection):
    """A Redis connection that counts what it sends: one packed send is one round trip
    (a MULTI/EXEC pipeline or an MGET is one)."""

    round_trips = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def counted_redis() -> AsyncIterator[RedisHotState]:
    url = os.environ.get("SECGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    pool = BlockingConnectionPool.from_url(url, connection_class=CountingConnection)
    hot = RedisHotState(Redis(connection_pool=pool), namespace=f"secgate-test-{uuid.uuid4().hex}")
    await hot.ping()  # connected (its handshake is not counted below)
    yield hot
    await hot.delete_namespace()
    await hot.close()


@pytest.mark.parametrize(
    "recipients",
    [
        [kw(1)],  # a one-number send: the sequence detector reads and counts its blocks
        [kw(97 * i, f"96551{i % 50:02d}") for i in range(185)] + [sa(97 * i) for i in range(15)],
    ],
    ids=["one-number", "200-numbers-51-prefixes-2-countries"],
)
async def test_a_send_costs_five_round_trips_to_redis_whatever_its_size(
    counted_redis: RedisHotState,
    db_sessions: SessionFactory,
    message: Message,
    recipients: list[str],
) -> None:
    # Every detector on, at the defaults; the account has sent before.
    settings = Settings()
    checks = pumping_checks(
        counted_redis, settings, AlertSink(db_sessions, counted_redis, settings)
    )
    await record_sent(checks, message([kw(5)], T0 - DAY))
    sent = message(recipients, T0)
    CountingConnection.round_trips = 0
    for check in checks:
        assert (await check.check(sent)).verdict is Verdict.PASS
    checked = CountingConnection.round_trips
    await record_sent(checks, sent)
    # One read per check; a write for the rate, a read and a write for the detectors.
    assert (checked, CountingConnection.round_trips) == (2, 5)
