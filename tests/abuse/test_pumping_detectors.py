"""The SMS pumping and velocity detectors, each at its thresholds.

Each detector reads the account's accepted sends (`inspect`) and counts one
(`record`). Time is the send's own (`now`): T0 is a midnight, the start of a window of
every length used here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from secgate.abuse.otp_conversion import OtpConversion
from secgate.abuse.pumping import (
    LowOtpConversion,
    NewCountryBurst,
    PrefixSpike,
    RateExcess,
    Sending,
    SendRate,
    SequentialNumbers,
)
from secgate.abuse.throttles import COUNTRY, PREFIX, Target
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
T0 = 20_000 * DAY


def settings(**changes: Any) -> Settings:
    return replace(Settings(), **changes)


def kw(i: int, prefix: str = "9655123") -> str:
    """A Kuwaiti number under `prefix` (965 and four digits)."""
    return f"{prefix}{i:04d}"


def sa(i: int) -> str:
    return f"96650123{i:04d}"


def sending(numbers: list[str], now: float = T0, account: int = 1) -> Sending:
    return Sending.of(account, numbers, now, prefix_digits=4)


class TestSending:
    def test_recipients_are_counted_per_prefix_and_country(self) -> None:
        s = sending([kw(1), kw(2), kw(3, "9656000"), sa(1)])
        assert s.recipients == 4
        assert s.per_prefix == {"9655123": 2, "9656000": 1, "9665012": 1}
        assert s.per_country == {"KW": 3, "SA": 1}

    def test_its_targets_are_its_prefixes_and_countries(self) -> None:
        assert list(sending([kw(1), sa(1)]).targets()) == [
            Target(PREFIX, "9655123"),
            Target(PREFIX, "9665012"),
            Target(COUNTRY, "KW"),
            Target(COUNTRY, "SA"),
        ]


class TestSendRate:
    LIMITS = settings(pumping_max_recipients_per_minute=10, pumping_max_recipients_per_hour=25)

    async def _accepted(self, rate: SendRate, count: int, now: float, account: int = 1) -> None:
        await rate.record(account, count, now)

    @pytest.mark.parametrize(
        ("before", "refused"), [(6, False), (7, False), (8, True)], ids=["below", "at", "above"]
    )
    async def test_recipients_a_minute_up_to_the_limit_pass(
        self, hot_state: HotState, before: int, refused: bool
    ) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        await self._accepted(rate, before, T0)
        excess = await rate.inspect(1, 3, T0 + 15)
        if refused:
            assert excess == RateExcess(60.0, before, 3, 10, retry_after_s=45.0)
        else:
            assert excess is None

    async def test_each_minute_starts_from_nothing(self, hot_state: HotState) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        await self._accepted(rate, 10, T0 + MINUTE - 0.001)
        assert await rate.inspect(1, 1, T0 + MINUTE - 0.001) is not None
        assert await rate.inspect(1, 1, T0 + MINUTE) is None

    @pytest.mark.parametrize(
        ("before", "refused"), [(23, False), (24, False), (25, True)], ids=["below", "at", "above"]
    )
    async def test_recipients_an_hour_up_to_the_limit_pass(
        self, hot_state: HotState, before: int, refused: bool
    ) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        for minute, count in enumerate([10, 10, before - 20]):
            await self._accepted(rate, count, T0 + minute * MINUTE)
        excess = await rate.inspect(1, 1, T0 + 10 * MINUTE)
        if refused:
            assert excess == RateExcess(3600.0, 25, 1, 25, retry_after_s=HOUR - 10 * MINUTE)
        else:
            assert excess is None

    async def test_of_two_excesses_the_longer_lasting_is_told(self, hot_state: HotState) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        await self._accepted(rate, 10, T0 + 5 * MINUTE)
        await self._accepted(rate, 10, T0 + 6 * MINUTE)
        await self._accepted(rate, 5, T0 + 7 * MINUTE)
        excess = await rate.inspect(1, 1, T0 + 7 * MINUTE)
        assert excess is not None and excess.window_s == HOUR

    async def test_one_send_over_the_limit_is_refused_on_its_own(self, hot_state: HotState) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        excess = await rate.inspect(1, 11, T0)
        assert excess is not None and (excess.sent, excess.recipients) == (0, 11)

    async def test_accounts_are_counted_apart(self, hot_state: HotState) -> None:
        rate = SendRate(hot_state, self.LIMITS)
        await self._accepted(rate, 10, T0, account=2)
        assert await rate.inspect(1, 1, T0) is None

    async def test_a_limit_of_zero_is_no_limit(self, hot_state: HotState) -> None:
        rate = SendRate(hot_state, settings(pumping_max_recipients_per_minute=0))
        await self._accepted(rate, 10_000, T0)
        assert await rate.inspect(1, 200, T0) is None


class TestPrefixSpike:
    SPIKE = settings(
        pumping_spike_window_s=HOUR,
        pumping_spike_baseline_windows=24,
        pumping_spike_factor=10.0,
        pumping_spike_min_recipients=5,
    )

    async def _accepted(
        self, spike: PrefixSpike, count: int, now: float, prefix: str = "9655123"
    ) -> None:
        if count:
            await spike.record(sending([kw(i, prefix) for i in range(count)], now))

    async def _one_an_hour_yesterday(self, spike: PrefixSpike) -> None:
        """A baseline of one recipient a window: 24 in the previous day."""
        for hour in range(24):
            await self._accepted(spike, 1, T0 - DAY + hour * HOUR)

    async def _history_elsewhere(self, spike: PrefixSpike, since: float = T0 - DAY) -> None:
        """An account sending since `since`, never to the prefix judged."""
        await self._accepted(spike, 1, since, prefix="9656000")

    @pytest.mark.parametrize(
        ("count", "found"), [(4, False), (5, True), (6, True)], ids=["below", "at", "above"]
    )
    async def test_a_prefix_never_sent_to_spikes_at_the_minimum(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._history_elsewhere(spike)
        findings = await spike.inspect(sending([kw(i) for i in range(count)]))
        assert bool(findings) is found

    async def test_an_account_that_never_sent_has_no_history_to_spike_against(
        self, hot_state: HotState
    ) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        assert await spike.inspect(sending([kw(i) for i in range(500)])) == []

    @pytest.mark.parametrize(
        ("history_s", "found"),
        [(DAY - 0.001, False), (DAY, True), (2 * DAY, True)],
        ids=["below", "at", "above"],
    )
    async def test_an_account_spikes_once_it_has_sent_for_the_minimum_history(
        self, hot_state: HotState, history_s: float, found: bool
    ) -> None:
        spike = PrefixSpike(hot_state, replace(self.SPIKE, pumping_spike_min_history_s=DAY))
        await self._history_elsewhere(spike, since=T0 - history_s)
        findings = await spike.inspect(sending([kw(i) for i in range(500)]))
        assert bool(findings) is found

    async def test_a_minimum_history_of_zero_judges_from_the_first_send(
        self, hot_state: HotState
    ) -> None:
        spike = PrefixSpike(hot_state, replace(self.SPIKE, pumping_spike_min_history_s=0))
        assert await spike.inspect(sending([kw(i) for i in range(5)]))

    @pytest.mark.parametrize(("count", "found"), [(9, False), (10, True)])
    async def test_windows_before_the_accounts_first_send_are_no_part_of_the_baseline(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        # First send 24 windows before now, 24 recipients: a baseline of 1 a window,
        # not 24 over the 34 windows (10 of this period, 24 of the last) it could cover.
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._accepted(spike, 24, T0 - 14 * HOUR)
        findings = await spike.inspect(sending([kw(i) for i in range(count)], T0 + 10 * HOUR))
        assert bool(findings) is found
        if found:
            assert findings[0].details["baseline_per_window"] == 1.0

    @pytest.mark.parametrize(
        ("count", "found"), [(9, False), (10, True), (11, True)], ids=["below", "at", "above"]
    )
    async def test_a_prefix_with_history_spikes_at_the_factor_times_its_baseline(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._one_an_hour_yesterday(spike)
        findings = await spike.inspect(sending([kw(i) for i in range(count)], T0 + 30 * MINUTE))
        assert bool(findings) is found

    async def test_the_finding_tells_the_prefix_counts_baseline_and_thresholds(
        self, hot_state: HotState
    ) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._one_an_hour_yesterday(spike)
        [finding] = await spike.inspect(sending([kw(i) for i in range(12)], T0))
        assert finding.detector == "prefix_spike"
        assert finding.targets == (Target(PREFIX, "9655123"),)
        assert finding.details == {
            "prefix": "9655123",
            "recipients": 12,
            "window_s": HOUR,
            "baseline_per_window": 1.0,
            "baseline_windows": 24,
            "threshold_factor": 10.0,
            "threshold_min_recipients": 5,
        }
        assert "12 recipients to prefix 9655123" in finding.reason

    @pytest.mark.parametrize(("more", "found"), [(3, False), (4, True)])
    async def test_the_current_window_counts_toward_the_spike_not_the_baseline(
        self, hot_state: HotState, more: int, found: bool
    ) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._one_an_hour_yesterday(spike)
        await self._accepted(spike, 6, T0 + 5 * MINUTE)
        findings = await spike.inspect(sending([kw(i) for i in range(more)], T0 + 10 * MINUTE))
        assert bool(findings) is found

    async def test_earlier_windows_of_the_current_day_join_the_baseline(
        self, hot_state: HotState
    ) -> None:
        # 24 yesterday and 2 × 14 in this day's first two hours: (24 + 28) / 26 = 2 a window.
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._one_an_hour_yesterday(spike)
        await self._accepted(spike, 14, T0)
        await self._accepted(spike, 14, T0 + HOUR)
        now = T0 + 2 * HOUR
        assert await spike.inspect(sending([kw(i) for i in range(19)], now)) == []
        [finding] = await spike.inspect(sending([kw(i) for i in range(20)], now))
        assert finding.details["baseline_per_window"] == 2.0

    async def test_history_older_than_two_periods_is_forgotten(self, hot_state: HotState) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._accepted(spike, 240, T0 - 2 * DAY)
        await self._history_elsewhere(spike)
        assert await spike.inspect(sending([kw(i) for i in range(5)], T0))

    async def test_prefixes_and_accounts_are_counted_apart(self, hot_state: HotState) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._accepted(spike, 4, T0, prefix="9656000")
        await spike.record(sending([kw(i) for i in range(4)], T0, account=2))
        assert await spike.inspect(sending([kw(1)], T0)) == []

    async def test_each_spiking_prefix_is_a_finding(self, hot_state: HotState) -> None:
        spike = PrefixSpike(hot_state, self.SPIKE)
        await self._history_elsewhere(spike)
        numbers = (
            [kw(i) for i in range(5)] + [kw(i, "9656000") for i in range(5)] + [kw(1, "9659000")]
        )
        findings = await spike.inspect(sending(numbers))
        assert [f.details["prefix"] for f in findings] == ["9655123", "9656000"]

    @pytest.mark.parametrize(("per_send", "found"), [(2, False), (3, True), (0, True)])
    async def test_only_the_prefixes_a_send_carries_most_recipients_to_are_judged(
        self, hot_state: HotState, per_send: int, found: bool
    ) -> None:
        spike = PrefixSpike(
            hot_state, replace(self.SPIKE, pumping_spike_prefixes_per_send=per_send)
        )
        await self._history_elsewhere(spike)
        # Three and two numbers to two prefixes, one to the third, which is at its
        # minimum after four of them before.
        await spike.record(sending([kw(i, "9659000") for i in range(4)]))
        numbers = [kw(i) for i in range(3)] + [kw(i, "9656000") for i in range(2)]
        numbers.append(kw(99, "9659000"))
        findings = await spike.inspect(sending(numbers, T0 + MINUTE))
        assert bool(findings) is found

    async def test_only_the_prefixes_judged_are_counted(self, hot_state: HotState) -> None:
        spike = PrefixSpike(hot_state, replace(self.SPIKE, pumping_spike_prefixes_per_send=1))
        for _ in range(4):
            await spike.record(sending([kw(1), kw(2), kw(1, "9656000")]))
        assert await spike.inspect(sending([kw(3, "9656000")], T0 + MINUTE)) == []

    async def test_a_minimum_of_zero_switches_it_off(self, hot_state: HotState) -> None:
        spike = PrefixSpike(hot_state, replace(self.SPIKE, pumping_spike_min_recipients=0))
        await self._history_elsewhere(spike)
        assert await spike.inspect(sending([kw(i) for i in range(500)])) == []


class TestNewCountryBurst:
    BURST = settings(pumping_new_country_window_s=HOUR, pumping_new_country_min_recipients=5)

    async def _accepted(self, burst: NewCountryBurst, numbers: list[str], now: float) -> None:
        await burst.record(sending(numbers, now))

    async def test_an_account_that_never_sent_has_no_new_country(self, hot_state: HotState) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        assert await burst.inspect(sending([sa(i) for i in range(50)])) == []

    async def test_the_countries_of_the_first_window_are_not_new(self, hot_state: HotState) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        await self._accepted(burst, [kw(1)], T0)
        assert await burst.inspect(sending([sa(i) for i in range(50)], T0 + HOUR - 0.001)) == []

    @pytest.mark.parametrize(
        ("count", "found"), [(4, False), (5, True), (6, True)], ids=["below", "at", "above"]
    )
    async def test_a_burst_to_a_country_never_sent_to_is_found(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        await self._accepted(burst, [kw(1)], T0)
        findings = await burst.inspect(sending([sa(i) for i in range(count)], T0 + HOUR))
        assert bool(findings) is found

    async def test_the_finding_throttles_the_country(self, hot_state: HotState) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        await self._accepted(burst, [kw(1)], T0)
        [finding] = await burst.inspect(sending([sa(i) for i in range(5)] + [kw(2)], T0 + DAY))
        assert (finding.detector, finding.targets) == ("new_country", (Target(COUNTRY, "SA"),))
        assert finding.details == {
            "country": "SA",
            "recipients": 5,
            "window_s": HOUR,
            "threshold_min_recipients": 5,
        }

    @pytest.mark.parametrize(("more", "found"), [(1, False), (2, True)])
    async def test_sends_within_the_window_of_the_first_add_up(
        self, hot_state: HotState, more: int, found: bool
    ) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        await self._accepted(burst, [kw(1)], T0)
        await self._accepted(burst, [sa(i) for i in range(3)], T0 + DAY)
        findings = await burst.inspect(
            sending([sa(10 + i) for i in range(more)], T0 + DAY + HOUR - 0.001)
        )
        assert bool(findings) is found

    async def test_a_country_is_no_longer_new_a_window_after_its_first_send(
        self, hot_state: HotState
    ) -> None:
        burst = NewCountryBurst(hot_state, self.BURST)
        await self._accepted(burst, [kw(1)], T0)
        await self._accepted(burst, [sa(1)], T0 + DAY)
        assert await burst.inspect(sending([sa(i) for i in range(100)], T0 + DAY + HOUR)) == []

    async def test_a_minimum_of_zero_switches_it_off(self, hot_state: HotState) -> None:
        burst = NewCountryBurst(
            hot_state, replace(self.BURST, pumping_new_country_min_recipients=0)
        )
        await self._accepted(burst, [kw(1)], T0)
        assert await burst.inspect(sending([sa(i) for i in range(100)], T0 + DAY)) == []


class TestSequentialNumbers:
    RUNS = settings(
        pumping_sequence_min_run=5,
        pumping_sequence_max_step=10,
        pumping_sequence_window_s=HOUR,
        pumping_sequence_history_max_recipients=10,
    )

    @pytest.mark.parametrize(
        ("length", "found"), [(4, False), (5, True), (6, True)], ids=["below", "at", "above"]
    )
    async def test_a_run_in_one_send_is_found_from_the_minimum_length(
        self, hot_state: HotState, length: int, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        numbers = [kw(100 + i) for i in range(length)] + [kw(7000), kw(9000, "9656000")]
        assert bool(await detector.inspect(sending(numbers))) is found

    @pytest.mark.parametrize(("step", "found"), [(9, True), (10, True), (11, False)])
    async def test_a_run_may_step_up_to_the_largest_step(
        self, hot_state: HotState, step: int, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        numbers = [kw(100 + step * i) for i in range(5)]
        assert bool(await detector.inspect(sending(numbers))) is found

    async def test_the_finding_throttles_every_prefix_of_the_run(self, hot_state: HotState) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        # 96551239998 .. 96551240002 crosses from prefix 9655123 to 9655124.
        numbers = [str(96551239998 + i) for i in range(5)]
        [finding] = await detector.inspect(sending(numbers))
        assert finding.targets == (Target(PREFIX, "9655123"), Target(PREFIX, "9655124"))
        assert finding.details == {
            "prefixes": ["9655123", "9655124"],
            "first": "96551239998",
            "step": 1,
            "length": 5,
            "from_earlier_sends": 0,
            "threshold_min_run": 5,
            "threshold_max_step": 10,
        }

    @pytest.mark.parametrize(("earlier", "found"), [(3, False), (4, True)])
    async def test_a_run_across_small_sends_is_found(
        self, hot_state: HotState, earlier: int, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        for i in range(earlier):
            await detector.record(sending([kw(100 + i)], T0 + i * MINUTE))
        findings = await detector.inspect(sending([kw(100 + earlier)], T0 + 10 * MINUTE))
        assert bool(findings) is found
        if found:
            assert findings[0].details["from_earlier_sends"] == 4

    async def test_a_large_send_is_judged_on_its_own_numbers(self, hot_state: HotState) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        # Eleven numbers: above the ten of a small send, so not remembered.
        large = [kw(100 + i) for i in range(4)] + [kw(5000 + 37 * i) for i in range(7)]
        await detector.record(sending(large, T0))
        assert await detector.inspect(sending([kw(104)], T0 + MINUTE)) == []
        # ...nor are earlier sends read for it.
        await detector.record(sending([kw(200 + i) for i in range(4)], T0))
        assert await detector.inspect(sending([*large, kw(204)], T0 + MINUTE)) == []

    @pytest.mark.parametrize(("later_s", "found"), [(HOUR - 0.001, True), (HOUR, False)])
    async def test_sends_are_remembered_for_the_rest_of_their_window(
        self, hot_state: HotState, later_s: float, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        await detector.record(sending([kw(100 + i) for i in range(4)], T0))
        assert bool(await detector.inspect(sending([kw(104)], T0 + later_s))) is found

    async def test_accounts_are_apart(self, hot_state: HotState) -> None:
        detector = SequentialNumbers(hot_state, self.RUNS)
        await detector.record(sending([kw(100 + i) for i in range(4)], T0, account=2))
        assert await detector.inspect(sending([kw(104)], T0)) == []

    async def test_a_minimum_of_zero_switches_it_off(self, hot_state: HotState) -> None:
        detector = SequentialNumbers(hot_state, replace(self.RUNS, pumping_sequence_min_run=0))
        assert await detector.inspect(sending([kw(100 + i) for i in range(50)])) == []


class TestLowOtpConversion:
    OTP = settings(
        pumping_otp_window_s=DAY, pumping_otp_min_sent=10, pumping_otp_min_verified_ratio=0.2
    )

    async def _codes(self, hot_state: HotState, sent: int, verified: int) -> OtpConversion:
        conversion = OtpConversion(hot_state, self.OTP, clock=lambda: T0)
        for i in range(sent):
            await conversion.record_otp_sent(1, kw(i))
        for i in range(verified):
            await conversion.record_otp_verified(1, kw(i))
        return conversion

    @pytest.mark.parametrize(
        ("sent", "verified", "found"),
        [
            (9, 0, False),  # fewer codes than the minimum
            (10, 1, True),  # at the minimum, 10 % verified
            (10, 2, False),  # 20 %: at the ratio
            (11, 2, True),  # 18 %: just below it
            (10, 3, False),
        ],
    )
    async def test_a_prefix_whose_codes_are_not_verified_is_found(
        self, hot_state: HotState, sent: int, verified: int, found: bool
    ) -> None:
        conversion = await self._codes(hot_state, sent, verified)
        detector = LowOtpConversion(conversion, self.OTP)
        assert bool(await detector.inspect(sending([kw(9999)], T0 + HOUR))) is found

    async def test_the_finding_tells_the_counts(self, hot_state: HotState) -> None:
        detector = LowOtpConversion(await self._codes(hot_state, 20, 1), self.OTP)
        [finding] = await detector.inspect(sending([kw(9999)], T0))
        assert finding.targets == (Target(PREFIX, "9655123"),)
        assert finding.details == {
            "prefix": "9655123",
            "otp_sent": 20,
            "otp_verified": 1,
            "verified_ratio": 0.05,
            "threshold_min_sent": 10,
            "threshold_min_verified_ratio": 0.2,
        }

    async def test_only_the_prefixes_of_the_send_are_judged(self, hot_state: HotState) -> None:
        detector = LowOtpConversion(await self._codes(hot_state, 20, 0), self.OTP)
        assert await detector.inspect(sending([kw(1, "9656000")], T0)) == []

    async def test_a_minimum_of_zero_switches_it_off(self, hot_state: HotState) -> None:
        off = replace(self.OTP, pumping_otp_min_sent=0)
        detector = LowOtpConversion(await self._codes(hot_state, 20, 0), off)
        assert await detector.inspect(sending([kw(1)], T0)) == []


class TestAtTheDefaults:
    """The default thresholds let an ordinary business send, and still catch pumping."""

    DEFAULTS = Settings()

    @staticmethod
    def customers(count: int, prefix: str = "9655123") -> list[str]:
        """`count` numbers of one prefix, spread as a real list is (no two within the
        largest step of each other)."""
        return [kw(37 * i % 10_000, prefix) for i in range(count)]

    async def test_a_new_accounts_first_large_send_to_one_prefix_passes(
        self, hot_state: HotState
    ) -> None:
        numbers = self.customers(250)
        for detector in (
            PrefixSpike(hot_state, self.DEFAULTS),
            NewCountryBurst(hot_state, self.DEFAULTS),
            SequentialNumbers(hot_state, self.DEFAULTS),
        ):
            assert await detector.inspect(sending(numbers)) == []

    @pytest.mark.parametrize(("length", "found"), [(19, False), (20, True), (300, True)])
    async def test_a_run_of_twenty_numbers_in_sequence_is_pumping(
        self, hot_state: HotState, length: int, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.DEFAULTS)
        numbers = self.customers(200) + [kw(5000 + i, "9656000") for i in range(length)]
        assert bool(await detector.inspect(sending(numbers))) is found

    @pytest.mark.parametrize(("earlier", "found"), [(18, False), (19, True)])
    async def test_a_form_walked_one_number_a_request_is_pumping(
        self, hot_state: HotState, earlier: int, found: bool
    ) -> None:
        detector = SequentialNumbers(hot_state, self.DEFAULTS)
        for i in range(earlier):
            await detector.record(sending([kw(100 + i)], T0 + i))
        findings = await detector.inspect(sending([kw(100 + earlier)], T0 + MINUTE))
        assert bool(findings) is found

    @pytest.mark.parametrize(("count", "found"), [(49, False), (50, True)])
    async def test_an_established_account_spikes_to_a_prefix_it_never_sent_to(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        spike = PrefixSpike(hot_state, self.DEFAULTS)
        await spike.record(sending(self.customers(100, "9656000"), T0 - DAY))
        findings = await spike.inspect(sending(self.customers(count), T0))
        assert bool(findings) is found

    @pytest.mark.parametrize(("count", "found"), [(99, False), (100, True)])
    async def test_an_established_account_spikes_at_ten_times_its_usual_volume(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        # 10 recipients an hour to the prefix for the last day: a baseline of 10.
        spike = PrefixSpike(hot_state, self.DEFAULTS)
        for hour in range(24):
            await spike.record(sending(self.customers(10), T0 - DAY + hour * HOUR))
        findings = await spike.inspect(sending(self.customers(count), T0))
        assert bool(findings) is found

    @pytest.mark.parametrize(("count", "found"), [(19, False), (20, True)])
    async def test_a_burst_to_a_new_country_is_pumping(
        self, hot_state: HotState, count: int, found: bool
    ) -> None:
        burst = NewCountryBurst(hot_state, self.DEFAULTS)
        await burst.record(sending([kw(1)], T0))
        findings = await burst.inspect(sending([sa(7 * i) for i in range(count)], T0 + DAY))
        assert bool(findings) is found
