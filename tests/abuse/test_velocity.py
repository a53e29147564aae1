"""Counts over fixed time windows in the hot state."""

from __future__ import annotations

import pytest

from secgate.abuse.velocity import (
    CLOCK_SKEW_S,
    Reads,
    WindowSeries,
    Writes,
    add_to_counters,
    read,
    read_counters,
    read_keys,
    write,
)
from secgate.hotstate.protocol import HotState

HOUR = 3600.0
T0 = 20_000 * 86400.0  # a midnight (UTC): the start of a window of every length used here


class TestWindowSeries:
    def test_windows_are_aligned_to_the_epoch_and_chosen_by_the_given_time(self) -> None:
        series = WindowSeries("s", HOUR)
        w = series.window(T0)
        assert series.window(T0 + HOUR - 0.001) == w
        assert series.window(T0 + HOUR) == w + 1
        assert series.window(T0 - 0.001) == w - 1
        assert series.ends_at(w) == T0 + HOUR

    def test_a_window_is_kept_until_the_last_reader_has_passed_it(self) -> None:
        assert WindowSeries("s", HOUR).ttl_s == HOUR + CLOCK_SKEW_S
        assert WindowSeries("s", HOUR, kept_windows=1).ttl_s == 2 * HOUR + CLOCK_SKEW_S

    def test_keys_name_the_series_the_subject_and_the_window(self) -> None:
        assert WindowSeries("pumping.x", 60).key("7:9655", 12) == "pumping.x:7:9655:12"

    @pytest.mark.parametrize("window_s", [0.0, -1.0])
    def test_a_window_of_no_length_is_refused(self, window_s: float) -> None:
        with pytest.raises(ValueError, match="longer than 0"):
            WindowSeries("s", window_s)


async def test_counters_are_added_to_and_read_back(hot_state: HotState) -> None:
    await add_to_counters(hot_state, {"a": 2, "b": 0, "c": 5}, ttl_s=60)
    await add_to_counters(hot_state, {"a": 1}, ttl_s=60)
    assert await read_counters(hot_state, ["a", "b", "c", "missing"]) == [3, 0, 5, 0]


async def test_keys_are_read_back_in_order(hot_state: HotState) -> None:
    await hot_state.put("x", b"1", ttl_s=60)
    assert await read_keys(hot_state, ["missing", "x"]) == [None, b"1"]


async def test_writes_add_up_per_counter_and_go_with_reads_in_one_round_trip_each(
    hot_state: HotState,
) -> None:
    writes = Writes().add("a", 2, ttl_s=60).add("a", 3, ttl_s=60).add("zero", 0, ttl_s=60)
    writes.merge(Writes().add("a", 1, ttl_s=60).put("k", b"v", ttl_s=60))
    assert list(writes.increments) == ["a"]  # an amount of 0 writes nothing
    await write(hot_state, writes)
    snapshot = await read(hot_state, Reads().counter("a", "zero").key("k", "missing"))
    assert (snapshot.counter("a"), snapshot.counter("zero")) == (6, 0)
    assert (snapshot.key("k"), snapshot.key("missing")) == (b"v", None)
    with pytest.raises(KeyError):
        snapshot.counter("not-asked-for")
