"""Throttles: a prefix or country an account may not send to for a while."""

from __future__ import annotations

import asyncio

import pytest

from secgate.abuse.throttles import COUNTRY, PREFIX, READ_AT_MOST, Target, Throttle, Throttles
from secgate.hotstate.protocol import HotState

HOUR = 3600.0
T0 = 20_000 * 86400.0
TWELVE_HOURS = 12 * HOUR
KW = Target(PREFIX, "9655123")
JM = Target(COUNTRY, "JM")


async def test_a_started_throttle_holds_its_target_until_it_ends(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    started = await throttles.start(1, KW, "prefix_spike", T0)
    assert started == Throttle(KW, T0, T0 + TWELVE_HOURS, "prefix_spike")
    assert await throttles.active(1, [KW, JM], T0 + TWELVE_HOURS - 0.001) == [started]
    assert await throttles.active(1, [KW], T0 + TWELVE_HOURS) == []


async def test_a_throttle_holds_only_its_account_and_target(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    await throttles.start(1, KW, "prefix_spike", T0)
    assert await throttles.active(2, [KW], T0) == []
    assert await throttles.active(1, [Target(PREFIX, "9655124"), JM], T0) == []


async def test_a_country_and_a_prefix_of_the_same_value_are_two_targets(
    hot_state: HotState,
) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    await throttles.start(1, Target(COUNTRY, "001"), "new_country", T0)
    assert await throttles.active(1, [Target(PREFIX, "001")], T0) == []


async def test_a_running_throttle_is_not_started_again(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    first = await throttles.start(1, KW, "prefix_spike", T0)
    assert await throttles.start(1, KW, "sequential_numbers", T0 + HOUR) is None
    assert await throttles.active(1, [KW], T0 + HOUR) == [first]


async def test_of_racing_starters_exactly_one_starts_the_throttle(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    results = await asyncio.gather(*(throttles.start(1, KW, "prefix_spike", T0) for _ in range(10)))
    assert sum(result is not None for result in results) == 1
    # Losers of the race may have listed it too: readers see one throttle.
    assert len(await throttles.active(1, [KW], T0)) == 1


async def test_an_ended_throttle_still_in_the_store_is_replaced(hot_state: HotState) -> None:
    # By the message's clock the first throttle has ended; the store, on its own
    # clock, still holds its key.
    throttles = Throttles(hot_state, TWELVE_HOURS)
    await throttles.start(1, KW, "prefix_spike", T0)
    later = T0 + TWELVE_HOURS
    again = await throttles.start(1, KW, "otp_conversion", later)
    assert again == Throttle(KW, later, later + TWELVE_HOURS, "otp_conversion")
    assert await throttles.active(1, [KW], later + HOUR) == [again]


@pytest.mark.parametrize("later_s", [0.0, 1.0, TWELVE_HOURS - 0.001], ids=["now", "next", "end"])
async def test_a_throttle_started_late_in_a_window_is_found_to_its_end(
    hot_state: HotState, later_s: float
) -> None:
    # Sends read throttle keys only when the account started one in the current or
    # the previous throttle-long window: one started 1 s before a window ends must
    # still be found in the next window, to its own end.
    throttles = Throttles(hot_state, TWELVE_HOURS)
    start = T0 + TWELVE_HOURS - 1.0
    await throttles.start(1, KW, "prefix_spike", start)
    found = await throttles.active(1, [KW], start + later_s)
    assert [t.target for t in found] == [KW]


async def test_staff_can_lift_a_throttle(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    await throttles.start(1, KW, "prefix_spike", T0)
    assert await throttles.lift(1, KW, T0) is True
    assert await throttles.active(1, [KW], T0) == []
    assert await throttles.lift(1, KW, T0) is False


async def test_an_account_with_many_throttles_is_read_per_target(hot_state: HotState) -> None:
    throttles = Throttles(hot_state, TWELVE_HOURS)
    many = [Target(PREFIX, str(9655000 + i)) for i in range(READ_AT_MOST + 1)]
    for target in many:
        await throttles.start(1, target, "prefix_spike", T0)
    found = await throttles.active(1, [many[0], many[-1], KW], T0 + HOUR)
    assert [t.target for t in found] == [many[0], many[-1]]
    assert await throttles.lift(1, many[0], T0 + HOUR) is True
    assert await throttles.active(1, [many[0]], T0 + HOUR) == []


def test_a_throttle_reads_back_as_written() -> None:
    throttle = Throttle(JM, T0, T0 + TWELVE_HOURS, "new_country")
    assert Throttle.from_bytes(throttle.to_bytes()) == throttle


async def test_targets_read_as_kind_and_value() -> None:
    assert str(KW) == "prefix 9655123"
    assert str(JM) == "country JM"
