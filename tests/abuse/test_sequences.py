"""Runs of numbers in arithmetic progression, and the numbers an account sent to lately."""

from __future__ import annotations

import random

import pytest

from secgate.abuse.sequences import BLOCK_NUMBERS, Run, SentNumbers, longest_run
from secgate.hotstate.protocol import HotState

HOUR = 3600.0
T0 = 20_000 * 86400.0
BASE = 96550000001


class TestLongestRun:
    def test_consecutive_numbers_are_a_run_of_step_one(self) -> None:
        assert longest_run([BASE + i for i in range(5)], [], 10) == Run(BASE, 1, 5)

    def test_the_order_numbers_come_in_does_not_matter(self) -> None:
        numbers = [BASE + 3, BASE, BASE + 4, BASE + 1, BASE + 2]
        assert longest_run(numbers, [], 1) == Run(BASE, 1, 5)

    def test_an_arithmetic_progression_with_a_small_step_is_a_run(self) -> None:
        numbers = [BASE + 10 * i for i in range(6)] + [BASE + 3]
        assert longest_run(numbers, [], 10) == Run(BASE, 10, 6)

    def test_a_step_above_the_largest_allowed_is_no_run(self) -> None:
        assert longest_run([BASE + 11 * i for i in range(6)], [], 10) is None

    def test_numbers_seen_earlier_extend_a_run_on_both_sides(self) -> None:
        seen = [BASE, BASE + 1, BASE + 3, BASE + 4]
        assert longest_run([BASE + 2], seen, 1) == Run(BASE, 1, 5)

    def test_a_run_only_of_numbers_seen_earlier_does_not_count(self) -> None:
        seen = [BASE + i for i in range(10)]
        assert longest_run([BASE + 100], seen, 1) is None

    def test_the_longest_run_wins_and_a_tie_goes_to_the_smaller_step(self) -> None:
        numbers = [BASE + 2 * i for i in range(4)] + [BASE + 1000 + i for i in range(4)]
        assert longest_run(numbers, [], 2) == Run(BASE + 1000, 1, 4)
        assert longest_run([*numbers, BASE + 8], [], 2) == Run(BASE, 2, 5)

    def test_one_number_is_no_run(self) -> None:
        assert longest_run([BASE], [], 10) is None

    def test_random_recipient_lists_hold_no_run_of_five(self) -> None:
        # Ten thousand numbers from the 30 million of Kuwait's mobile ranges.
        rng = random.Random(4)
        numbers = {96500000000 + rng.randrange(50_000_000, 80_000_000) for _ in range(10_000)}
        run = longest_run(numbers, [], 10)
        assert run is None or run.length < 5


class TestSentNumbers:
    async def test_numbers_added_are_found_near_others(self, hot_state: HotState) -> None:
        sent = SentNumbers(hot_state, HOUR)
        await sent.add(1, [BASE, BASE + 1, BASE + 60], T0)
        assert await sent.near(1, [BASE + 2], 4, T0 + 1) == {BASE, BASE + 1}

    async def test_the_reach_crosses_block_edges(self, hot_state: HotState) -> None:
        sent = SentNumbers(hot_state, HOUR)
        edge = (BASE // BLOCK_NUMBERS + 1) * BLOCK_NUMBERS  # the first number of a block
        await sent.add(1, [edge - 2, edge + 2], T0)
        assert await sent.near(1, [edge], 2, T0) == {edge - 2, edge + 2}
        assert await sent.near(1, [edge], 1, T0) == set()

    async def test_each_account_has_its_own(self, hot_state: HotState) -> None:
        sent = SentNumbers(hot_state, HOUR)
        await sent.add(1, [BASE], T0)
        assert await sent.near(2, [BASE], 4, T0) == set()

    @pytest.mark.parametrize(
        ("later_s", "found"),
        [(0.0, True), (HOUR - 0.001, True), (HOUR, False)],
        ids=["now", "end of the window", "next window"],
    )
    async def test_numbers_are_kept_for_the_window_they_were_sent_in(
        self, hot_state: HotState, later_s: float, found: bool
    ) -> None:
        sent = SentNumbers(hot_state, HOUR)
        await sent.add(1, [BASE], T0)
        assert (BASE in await sent.near(1, [BASE + 1], 4, T0 + later_s)) is found

    async def test_a_number_added_twice_is_still_one_number(self, hot_state: HotState) -> None:
        sent = SentNumbers(hot_state, HOUR)
        for _ in range(3):
            await sent.add(1, [BASE, BASE + 1], T0)
        assert await sent.near(1, [BASE], 4, T0) == {BASE, BASE + 1}
