"""In-process hot state at the exact edges of its durations, on a fake clock.

Times are multiples of 1/4 so that every sum below is exact in binary floating point.
"""

from __future__ import annotations

import asyncio

import pytest
from fake_clock import FakeClock

from secgate.hotstate.memory import MemoryHotState

PURGE_INTERVAL_S = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hot(clock: FakeClock) -> MemoryHotState:
    # The sweep comes only in its own tests, so that it cannot hide an expiry boundary.
    return MemoryHotState(redelivery_after_s=60, clock=clock, purge_interval_s=1e9)


@pytest.fixture
def swept_hot(clock: FakeClock) -> MemoryHotState:
    return MemoryHotState(clock=clock, purge_interval_s=PURGE_INTERVAL_S)


# -- counters -------------------------------------------------------------------------


async def test_counter_lives_until_just_before_its_ttl(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.incr("c", 3, ttl_s=10)
    clock.advance(9.75)
    assert await hot.get_counter("c") == 3


async def test_counter_expires_exactly_at_its_ttl(hot: MemoryHotState, clock: FakeClock) -> None:
    await hot.incr("c", 3, ttl_s=10)
    clock.advance(10)
    assert await hot.get_counter("c") == 0
    assert await hot.incr("c", ttl_s=10) == 1


async def test_counter_window_is_fixed_from_its_creation(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.incr("c", ttl_s=10)
    clock.advance(9.75)
    assert await hot.incr("c", ttl_s=10) == 2
    clock.advance(0.25)
    assert await hot.get_counter("c") == 0


# -- sliding window ------------------------------------------------------------------


async def test_denied_hit_says_exactly_when_to_retry(hot: MemoryHotState, clock: FakeClock) -> None:
    await hot.hit("k", limit=2, window_s=10)
    clock.advance(4)
    await hot.hit("k", limit=2, window_s=10)
    clock.advance(2)
    # The first hit (6 s ago) leaves the window in 4 s.
    assert (await hot.hit("k", limit=2, window_s=10)).retry_after_s == 4.0
    clock.advance(3.75)
    assert (await hot.hit("k", limit=2, window_s=10)).retry_after_s == 0.25


async def test_hit_is_denied_just_before_the_oldest_leaves_the_window(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.hit("k", limit=1, window_s=10)
    clock.advance(9.75)
    assert not (await hot.hit("k", limit=1, window_s=10)).allowed


async def test_oldest_hit_leaves_the_window_exactly_after_window_s(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.hit("k", limit=2, window_s=10)
    clock.advance(4)
    await hot.hit("k", limit=2, window_s=10)
    clock.advance(6)
    decision = await hot.hit("k", limit=2, window_s=10)
    assert (decision.allowed, decision.remaining) == (True, 0)
    # Now the hits at 4 s and 10 s fill the window; the one at 4 s leaves at 14 s.
    assert (await hot.hit("k", limit=2, window_s=10)).retry_after_s == 4.0


async def test_denied_hits_do_not_push_back_the_retry(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.hit("k", limit=1, window_s=10)
    for _ in range(5):
        clock.advance(1.5)
        assert not (await hot.hit("k", limit=1, window_s=10)).allowed
    clock.advance(2.5)
    assert (await hot.hit("k", limit=1, window_s=10)).allowed


async def test_retry_after_under_a_lowered_limit_waits_for_enough_hits_to_leave(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    for _ in range(3):
        await hot.hit("k", limit=3, window_s=10)
        clock.advance(1)
    # Hits at 0, 1 and 2 s; under a limit of 1 all three must leave: the last at 12 s.
    assert (await hot.hit("k", limit=1, window_s=10)).retry_after_s == 9.0


@pytest.mark.parametrize(("limit", "window_s"), [(0, 10.0), (1, 0.0)])
async def test_a_limit_that_allows_nothing_is_refused(
    hot: MemoryHotState, limit: int, window_s: float
) -> None:
    with pytest.raises(ValueError, match="limit"):
        await hot.hit("k", limit=limit, window_s=window_s)


# -- keys -------------------------------------------------------------------------------


async def test_key_lives_until_just_before_its_ttl(hot: MemoryHotState, clock: FakeClock) -> None:
    await hot.put("k", b"v", ttl_s=10)
    clock.advance(9.75)
    assert await hot.get("k") == b"v"
    assert not await hot.put("k", b"w", ttl_s=10, only_if_new=True)


async def test_key_expires_exactly_at_its_ttl(hot: MemoryHotState, clock: FakeClock) -> None:
    await hot.put("k", b"v", ttl_s=10)
    clock.advance(10)
    assert await hot.get("k") is None
    assert not await hot.compare_and_delete("k", b"v")
    assert not await hot.delete("k")
    assert await hot.put("k", b"w", ttl_s=10, only_if_new=True)


async def test_keys_put_many_live_until_just_before_their_ttl(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.put_many_if_new(["a", "b"], b"v", ttl_s=10)
    clock.advance(9.75)
    assert await hot.get("a") == b"v"
    assert await hot.put_many_if_new(["c", "b"], b"w", ttl_s=10) == "b"


async def test_keys_put_many_expire_exactly_at_their_ttl(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.put_many_if_new(["a", "b"], b"v", ttl_s=10)
    clock.advance(10)
    assert await hot.get("a") is None
    assert await hot.compare_and_delete_many(["a", "b"], b"v") == 0
    assert await hot.put_many_if_new(["b", "a"], b"w", ttl_s=10) is None


# -- queue redelivery -----------------------------------------------------------------


async def test_item_is_redelivered_exactly_at_redelivery_after_s(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.enqueue("q", b"job")
    await hot.consume("q", "first")
    clock.advance(59.75)
    assert await hot.consume("q", "second") == []
    clock.advance(0.25)
    [item] = await hot.consume("q", "second")
    assert item.deliveries == 2
    # The redelivery restarts the wait.
    clock.advance(59.75)
    assert await hot.consume("q", "third") == []
    clock.advance(0.25)
    assert [item.deliveries for item in await hot.consume("q", "third")] == [3]


async def test_an_overdue_item_is_found_behind_a_recently_redelivered_one(
    hot: MemoryHotState, clock: FakeClock
) -> None:
    await hot.enqueue("q", b"first")
    second = await hot.enqueue("q", b"second")
    await hot.consume("q", "w")
    clock.advance(10)
    await hot.consume("q", "w")
    clock.advance(50)
    [again] = await hot.consume("q", "w")
    assert again.payload == b"first"
    clock.advance(10)
    # "first" was redelivered 10 s ago, "second" delivered 60 s ago.
    assert [(item.id, item.deliveries) for item in await hot.consume("q", "w", count=2)] == [
        (second, 2)
    ]


# -- memory is given back ------------------------------------------------------------------


async def test_expired_entries_are_swept_out_even_if_never_read_again(
    swept_hot: MemoryHotState, clock: FakeClock
) -> None:
    for n in range(50):
        await swept_hot.incr(f"counter-{n}", ttl_s=1)
        await swept_hot.put(f"key-{n}", b"v", ttl_s=1)
        await swept_hot.hit(f"rate-{n}", limit=5, window_s=1)
    await swept_hot.put("long-lived", b"v", ttl_s=3600)
    assert swept_hot.entry_count() == 151
    clock.advance(PURGE_INTERVAL_S)
    await swept_hot.get("unrelated")
    assert swept_hot.entry_count() == 1
    assert await swept_hot.get("long-lived") == b"v"


async def test_entries_are_not_swept_before_the_purge_interval(
    swept_hot: MemoryHotState, clock: FakeClock
) -> None:
    await swept_hot.incr("c", ttl_s=1)
    clock.advance(PURGE_INTERVAL_S - 0.25)
    await swept_hot.get("unrelated")
    assert swept_hot.entry_count() == 1


# -- subscriptions ----------------------------------------------------------------------


async def test_close_ends_every_subscription(hot: MemoryHotState) -> None:
    async with hot.subscribe("alerts") as subscription:
        reader = asyncio.create_task(anext(aiter(subscription), None))
        await asyncio.sleep(0)
        await hot.close()
        async with asyncio.timeout(1):
            assert await reader is None
