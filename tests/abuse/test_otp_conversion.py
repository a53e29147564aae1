"""Codes sent and verified per account and prefix (recorded by the login flow)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from fake_clock import FakeClock

from secgate.abuse.otp_conversion import OtpConversion, OtpStats
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings

DAY = 86400.0
T0 = 20_000 * DAY
SETTINGS = replace(Settings(), pumping_otp_window_s=DAY, pumping_prefix_digits=4)


async def test_codes_sent_and_verified_are_counted_per_prefix(hot_state: HotState) -> None:
    conversion = OtpConversion(hot_state, SETTINGS, clock=FakeClock(T0))
    for number in ("96551230001", "96551230002", "96551230003"):
        await conversion.record_otp_sent(1, number)
    await conversion.record_otp_verified(1, "96551230002")
    await conversion.record_otp_sent(1, "96560000001")
    stats = await conversion.stats(1, ["9655123", "9656000", "9659999"], T0)
    assert stats == {
        "9655123": OtpStats(sent=3, verified=1),
        "9656000": OtpStats(sent=1, verified=0),
        "9659999": OtpStats(sent=0, verified=0),
    }
    assert await conversion.sent_lately(1, T0) == 4


async def test_counts_are_per_account_and_over_all_accounts(hot_state: HotState) -> None:
    conversion = OtpConversion(hot_state, SETTINGS, clock=FakeClock(T0))
    await conversion.record_otp_sent(1, "96551230001")
    await conversion.record_otp_sent(2, "96551230002")
    await conversion.record_otp_verified(2, "96551230002")
    assert (await conversion.stats(1, ["9655123"], T0))["9655123"] == OtpStats(1, 0)
    assert (await conversion.stats(None, ["9655123"], T0))["9655123"] == OtpStats(2, 1)
    assert await conversion.sent_lately(3, T0) == 0


@pytest.mark.parametrize(
    ("later_s", "sent"), [(0.0, 1), (2 * DAY - 0.001, 1), (2 * DAY, 0)], ids=["now", "end", "gone"]
)
async def test_counts_cover_the_current_and_the_previous_window(
    hot_state: HotState, later_s: float, sent: int
) -> None:
    conversion = OtpConversion(hot_state, SETTINGS, clock=FakeClock(T0))
    await conversion.record_otp_sent(1, "96551230001")
    assert (await conversion.stats(1, ["9655123"], T0 + later_s))["9655123"].sent == sent


@pytest.mark.parametrize(("sent", "verified", "ratio"), [(0, 0, 1.0), (4, 1, 0.25), (2, 3, 1.0)])
def test_the_verified_ratio_is_at_most_one_and_one_when_nothing_was_sent(
    sent: int, verified: int, ratio: float
) -> None:
    assert OtpStats(sent, verified).verified_ratio == ratio


async def test_a_store_that_does_not_answer_loses_the_count_and_logs_it(
    caplog: pytest.LogCaptureFixture, dead_hot: HotState
) -> None:
    conversion = OtpConversion(dead_hot, SETTINGS, clock=FakeClock(T0))
    with caplog.at_level(logging.WARNING, logger="secgate.abuse"):
        await conversion.record_otp_sent(1, "96551230001")
        await conversion.record_otp_verified(1, "96551230001")
    assert [r.message for r in caplog.records] == [
        "otp_sent_not_recorded",
        "otp_verified_not_recorded",
    ]
