"""The hot-state contract: every test runs in-process and on a real Redis.

The `hot_state` fixture redelivers unacknowledged queue items after 0.3 s; expiries
here are a few tenths of a second so that the suite stays fast.
"""

from __future__ import annotations

import asyncio

import pytest

from secgate.hotstate.protocol import HotState, Increment, Put, Subscription

PAST_REDELIVERY_S = 0.4


async def next_message(subscription: Subscription) -> bytes:
    async with asyncio.timeout(2):
        return await anext(aiter(subscription))


# -- counters with expiry ----------------------------------------------------------


async def test_incr_adds_the_amount_and_returns_the_new_value(hot_state: HotState) -> None:
    assert await hot_state.incr("logins", ttl_s=10) == 1
    assert await hot_state.incr("logins", 5, ttl_s=10) == 6
    assert await hot_state.get_counter("logins") == 6


async def test_missing_counter_reads_zero(hot_state: HotState) -> None:
    assert await hot_state.get_counter("never-counted") == 0


async def test_counters_are_kept_per_key(hot_state: HotState) -> None:
    await hot_state.incr("a", 3, ttl_s=10)
    await hot_state.incr("b", ttl_s=10)
    assert await hot_state.get_counter("a") == 3
    assert await hot_state.get_counter("b") == 1


async def test_counter_expires_after_its_ttl_and_restarts_from_zero(hot_state: HotState) -> None:
    await hot_state.incr("otp-sends", 4, ttl_s=0.2)
    await asyncio.sleep(0.25)
    assert await hot_state.get_counter("otp-sends") == 0
    assert await hot_state.incr("otp-sends", ttl_s=0.2) == 1


async def test_later_increments_do_not_extend_the_window(hot_state: HotState) -> None:
    await hot_state.incr("fixed", ttl_s=0.2)
    await asyncio.sleep(0.12)
    assert await hot_state.incr("fixed", ttl_s=0.2) == 2
    await asyncio.sleep(0.12)
    # 0.24 s after creation, only 0.12 s after the second increment.
    assert await hot_state.get_counter("fixed") == 0


# -- several counters and keys at once -------------------------------------------------


async def test_read_many_reads_counters_and_keys_in_the_order_given(hot_state: HotState) -> None:
    await hot_state.incr("sent", 4, ttl_s=10)
    await hot_state.put("first", b"\x00when\xff", ttl_s=10)
    # A counter and a key of one name are two things, as everywhere else.
    await hot_state.put("sent", b"a key", ttl_s=10)
    counters, keys = await hot_state.read_many(["missing", "sent"], ["first", "nothing", "sent"])
    assert counters == [0, 4]
    assert keys == [b"\x00when\xff", None, b"a key"]


async def test_read_many_of_nothing_reads_nothing(hot_state: HotState) -> None:
    assert await hot_state.read_many([], []) == ([], [])


async def test_write_many_adds_to_counters_and_stores_keys(hot_state: HotState) -> None:
    await hot_state.incr("a", 2, ttl_s=10)
    await hot_state.put("held", b"theirs", ttl_s=10)
    values, stored = await hot_state.write_many(
        [Increment("a", 3, 10), Increment("b", 1, 10), Increment("a", 1, 10)],
        [Put("k", b"v", 10), Put("held", b"mine", 10, only_if_new=True)],
    )
    assert values == [5, 1, 6]
    assert stored == [True, False]
    assert await hot_state.read_many(["a", "b"], ["k", "held"]) == ([6, 1], [b"v", b"theirs"])


async def test_write_many_of_nothing_writes_nothing(hot_state: HotState) -> None:
    assert await hot_state.write_many([], []) == ([], [])


async def test_write_many_sets_expiries_as_incr_and_put_do(hot_state: HotState) -> None:
    await hot_state.write_many([Increment("fixed", 1, 0.2)], [Put("short", b"v", 0.2)])
    await asyncio.sleep(0.12)
    # A later increment does not extend the counter's window; a put renews its key.
    await hot_state.write_many([Increment("fixed", 1, 0.2)], [Put("short", b"v", 0.2)])
    await asyncio.sleep(0.12)
    assert await hot_state.read_many(["fixed"], ["short"]) == ([0], [b"v"])
    await asyncio.sleep(0.12)
    assert await hot_state.read_many([], ["short"]) == ([], [None])


async def test_racing_write_many_lose_no_increment(hot_state: HotState) -> None:
    await asyncio.gather(
        *(
            hot_state.write_many([Increment("shared", 1, 10), Increment(f"own-{n}", n, 10)])
            for n in range(20)
        )
    )
    counters, _ = await hot_state.read_many(["shared", "own-7"])
    assert counters == [20, 7]


# -- rate limiting -------------------------------------------------------------------


async def test_hits_up_to_the_limit_are_allowed_and_the_next_is_denied(
    hot_state: HotState,
) -> None:
    decisions = [await hot_state.hit("ip", limit=3, window_s=10) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.retry_after_s for d in decisions[:3]] == [0.0, 0.0, 0.0]
    assert 0 < decisions[3].retry_after_s <= 10


async def test_rate_limits_are_kept_per_key(hot_state: HotState) -> None:
    assert (await hot_state.hit("ip-1", limit=1, window_s=10)).allowed
    assert not (await hot_state.hit("ip-1", limit=1, window_s=10)).allowed
    assert (await hot_state.hit("ip-2", limit=1, window_s=10)).allowed


async def test_denied_hits_are_not_recorded(hot_state: HotState) -> None:
    await hot_state.hit("hammer", limit=2, window_s=0.3)
    await hot_state.hit("hammer", limit=2, window_s=0.3)
    await asyncio.sleep(0.15)
    for _ in range(3):
        assert not (await hot_state.hit("hammer", limit=2, window_s=0.3)).allowed
    await asyncio.sleep(0.2)
    # The two allowed hits have left the window; the denied ones never entered it.
    assert (await hot_state.hit("hammer", limit=2, window_s=0.3)).allowed
    assert (await hot_state.hit("hammer", limit=2, window_s=0.3)).allowed


async def test_window_slides_one_event_at_a_time(hot_state: HotState) -> None:
    await hot_state.hit("slide", limit=2, window_s=0.3)
    await asyncio.sleep(0.15)
    await hot_state.hit("slide", limit=2, window_s=0.3)
    await asyncio.sleep(0.2)
    # The first hit has left the window, the second has not: room for exactly one
    # (a fixed window restarting at 0.3 s would allow two).
    assert (await hot_state.hit("slide", limit=2, window_s=0.3)).allowed
    assert not (await hot_state.hit("slide", limit=2, window_s=0.3)).allowed


async def test_retry_after_counts_down_to_when_the_oldest_hit_leaves(hot_state: HotState) -> None:
    await hot_state.hit("wait", limit=1, window_s=0.3)
    await asyncio.sleep(0.1)
    denied = await hot_state.hit("wait", limit=1, window_s=0.3)
    assert not denied.allowed
    assert 0 < denied.retry_after_s <= 0.2 + 0.01
    await asyncio.sleep(denied.retry_after_s + 0.02)
    assert (await hot_state.hit("wait", limit=1, window_s=0.3)).allowed


# -- short-lived keys -----------------------------------------------------------------


async def test_put_value_can_be_read_back(hot_state: HotState) -> None:
    assert await hot_state.put("challenge", b"\x00secret\xff", ttl_s=10)
    assert await hot_state.get("challenge") == b"\x00secret\xff"


async def test_missing_key_reads_none(hot_state: HotState) -> None:
    assert await hot_state.get("nothing") is None


async def test_put_replaces_the_value(hot_state: HotState) -> None:
    await hot_state.put("session", b"one", ttl_s=10)
    assert await hot_state.put("session", b"two", ttl_s=10)
    assert await hot_state.get("session") == b"two"


async def test_key_expires_after_its_ttl(hot_state: HotState) -> None:
    await hot_state.put("short", b"v", ttl_s=0.2)
    await asyncio.sleep(0.25)
    assert await hot_state.get("short") is None


async def test_only_if_new_leaves_an_existing_key_alone(hot_state: HotState) -> None:
    assert await hot_state.put("lock", b"first", ttl_s=10, only_if_new=True)
    assert not await hot_state.put("lock", b"second", ttl_s=10, only_if_new=True)
    assert await hot_state.get("lock") == b"first"


async def test_only_if_new_succeeds_once_the_old_key_expired(hot_state: HotState) -> None:
    await hot_state.put("lock", b"old", ttl_s=0.2)
    await asyncio.sleep(0.25)
    assert await hot_state.put("lock", b"new", ttl_s=10, only_if_new=True)
    assert await hot_state.get("lock") == b"new"


async def test_delete_says_whether_the_key_existed(hot_state: HotState) -> None:
    await hot_state.put("gone", b"v", ttl_s=10)
    assert await hot_state.delete("gone")
    assert await hot_state.get("gone") is None
    assert not await hot_state.delete("gone")


async def test_compare_and_delete_with_a_wrong_value_keeps_the_key(hot_state: HotState) -> None:
    await hot_state.put("otp", b"123456", ttl_s=10)
    assert not await hot_state.compare_and_delete("otp", b"654321")
    assert await hot_state.get("otp") == b"123456"


async def test_compare_and_delete_with_the_right_value_deletes_the_key(
    hot_state: HotState,
) -> None:
    await hot_state.put("otp", b"123456", ttl_s=10)
    assert await hot_state.compare_and_delete("otp", b"123456")
    assert await hot_state.get("otp") is None


async def test_compare_and_delete_of_a_missing_key_is_false(hot_state: HotState) -> None:
    assert not await hot_state.compare_and_delete("otp", b"123456")


async def test_compare_and_delete_lets_exactly_one_racer_win(hot_state: HotState) -> None:
    await hot_state.put("one-time", b"token", ttl_s=10)
    results = await asyncio.gather(
        *(hot_state.compare_and_delete("one-time", b"token") for _ in range(20))
    )
    assert results.count(True) == 1


async def test_put_many_if_new_stores_every_key(hot_state: HotState) -> None:
    assert await hot_state.put_many_if_new(["a", "b", "c"], b"token", ttl_s=10) is None
    assert [await hot_state.get(key) for key in ("a", "b", "c")] == [b"token"] * 3


async def test_put_many_if_new_stores_nothing_when_one_key_exists(hot_state: HotState) -> None:
    await hot_state.put("b", b"theirs", ttl_s=10)
    assert await hot_state.put_many_if_new(["a", "b", "c"], b"mine", ttl_s=10) == "b"
    assert [await hot_state.get(key) for key in ("a", "b", "c")] == [None, b"theirs", None]


async def test_put_many_if_new_names_the_first_existing_key_in_the_order_given(
    hot_state: HotState,
) -> None:
    await hot_state.put("c", b"v", ttl_s=10)
    await hot_state.put("b", b"v", ttl_s=10)
    assert await hot_state.put_many_if_new(["a", "c", "b"], b"mine", ttl_s=10) == "c"


async def test_put_many_if_new_of_no_keys_stores_nothing_and_succeeds(hot_state: HotState) -> None:
    assert await hot_state.put_many_if_new([], b"v", ttl_s=10) is None


async def test_keys_put_many_expire_after_their_ttl(hot_state: HotState) -> None:
    await hot_state.put_many_if_new(["a", "b"], b"old", ttl_s=0.2)
    assert await hot_state.put_many_if_new(["b"], b"new", ttl_s=10) == "b"
    await asyncio.sleep(0.25)
    assert await hot_state.get("a") is None
    assert await hot_state.put_many_if_new(["b", "c"], b"new", ttl_s=10) is None
    assert await hot_state.get("b") == b"new"


async def test_racing_put_many_if_new_on_overlapping_keys_lets_exactly_one_store(
    hot_state: HotState,
) -> None:
    racers = [[f"own-{n}", "shared", f"also-own-{n}"] for n in range(20)]
    results = await asyncio.gather(
        *(
            hot_state.put_many_if_new(keys, str(n).encode(), ttl_s=10)
            for n, keys in enumerate(racers)
        )
    )
    assert results.count(None) == 1
    winner = results.index(None)
    assert results.count("shared") == 19
    # The losers stored nothing, not even the keys only they asked for.
    for n, keys in enumerate(racers):
        expected = str(n).encode() if n == winner else None
        assert [await hot_state.get(key) for key in keys if key != "shared"] == [expected] * 2
    assert await hot_state.get("shared") == str(winner).encode()


async def test_compare_and_delete_many_deletes_only_the_keys_holding_the_value(
    hot_state: HotState,
) -> None:
    await hot_state.put_many_if_new(["a", "b", "c"], b"mine", ttl_s=10)
    await hot_state.put("b", b"theirs", ttl_s=10)
    assert await hot_state.compare_and_delete_many(["a", "b", "c", "missing"], b"mine") == 2
    assert [await hot_state.get(key) for key in ("a", "b", "c")] == [None, b"theirs", None]
    assert await hot_state.compare_and_delete_many([], b"mine") == 0


# -- pub/sub fan-out -------------------------------------------------------------------


async def test_every_subscriber_receives_every_message_in_order(hot_state: HotState) -> None:
    async with hot_state.subscribe("alerts") as first, hot_state.subscribe("alerts") as second:
        for message in (b"m1", b"m2", b"m3"):
            await hot_state.publish("alerts", message)
        for subscription in (first, second):
            assert [await next_message(subscription) for _ in range(3)] == [b"m1", b"m2", b"m3"]


async def test_messages_published_before_subscribing_are_not_received(
    hot_state: HotState,
) -> None:
    await hot_state.publish("alerts", b"early")
    async with hot_state.subscribe("alerts") as subscription:
        await hot_state.publish("alerts", b"late")
        assert await next_message(subscription) == b"late"


async def test_subscribers_receive_only_their_channel(hot_state: HotState) -> None:
    async with hot_state.subscribe("alerts") as subscription:
        await hot_state.publish("other", b"not for you")
        await hot_state.publish("alerts", b"for you")
        assert await next_message(subscription) == b"for you"


async def test_publishing_without_subscribers_is_fine(hot_state: HotState) -> None:
    await hot_state.publish("nobody-listens", b"m")


async def test_leaving_the_subscription_stops_delivery(hot_state: HotState) -> None:
    async with hot_state.subscribe("alerts") as staying:
        async with hot_state.subscribe("alerts") as leaving:
            await hot_state.publish("alerts", b"before")
            assert await next_message(leaving) == b"before"
        await hot_state.publish("alerts", b"after")
        assert await next_message(staying) == b"before"
        assert await next_message(staying) == b"after"
    async with asyncio.timeout(2):
        assert [message async for message in leaving] == []


# -- durable work queue -------------------------------------------------------------------


async def test_items_come_out_in_the_order_they_went_in(hot_state: HotState) -> None:
    ids = [await hot_state.enqueue("jobs", payload) for payload in (b"a", b"b", b"c")]
    assert len(set(ids)) == 3
    first = await hot_state.consume("jobs", "worker-1")
    rest = await hot_state.consume("jobs", "worker-1", count=5)
    items = first + rest
    assert [item.payload for item in items] == [b"a", b"b", b"c"]
    assert [item.id for item in items] == ids
    assert [item.deliveries for item in items] == [1, 1, 1]


async def test_queues_are_kept_apart(hot_state: HotState) -> None:
    await hot_state.enqueue("jobs", b"job")
    assert await hot_state.consume("other", "worker-1") == []
    assert [item.payload for item in await hot_state.consume("jobs", "worker-1")] == [b"job"]


async def test_consume_with_nothing_and_no_wait_returns_nothing(hot_state: HotState) -> None:
    assert await hot_state.consume("jobs", "worker-1", block_s=0) == []


async def test_consume_waits_up_to_block_s_for_an_item(hot_state: HotState) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await hot_state.consume("jobs", "worker-1", block_s=0.2) == []
    assert loop.time() - started >= 0.15


async def test_a_waiting_consume_returns_as_soon_as_an_item_arrives(hot_state: HotState) -> None:
    waiting = asyncio.create_task(hot_state.consume("jobs", "worker-1", block_s=30))
    await asyncio.sleep(0.05)
    item_id = await hot_state.enqueue("jobs", b"wake up")
    async with asyncio.timeout(5):
        items = await waiting
    assert [(item.id, item.payload) for item in items] == [(item_id, b"wake up")]


async def test_an_acknowledged_item_is_no_longer_pending(hot_state: HotState) -> None:
    await hot_state.enqueue("jobs", b"job")
    [item] = await hot_state.consume("jobs", "worker-1")
    assert await hot_state.ack("jobs", item.id)
    assert await hot_state.pending_count("jobs") == 0
    assert not await hot_state.ack("jobs", item.id)


async def test_ack_of_an_unknown_item_is_false(hot_state: HotState) -> None:
    item_id = await hot_state.enqueue("jobs", b"never delivered")
    assert not await hot_state.ack("jobs", item_id)
    assert not await hot_state.ack("no-such-queue", item_id)


async def test_pending_count_counts_delivered_unacknowledged_items(hot_state: HotState) -> None:
    assert await hot_state.pending_count("jobs") == 0
    for payload in (b"a", b"b", b"c"):
        await hot_state.enqueue("jobs", payload)
    assert await hot_state.pending_count("jobs") == 0
    first, _ = await hot_state.consume("jobs", "worker-1", count=2)
    assert await hot_state.pending_count("jobs") == 2
    await hot_state.ack("jobs", first.id)
    assert await hot_state.pending_count("jobs") == 1


async def test_an_unacknowledged_item_is_not_redelivered_early(hot_state: HotState) -> None:
    await hot_state.enqueue("jobs", b"job")
    await hot_state.consume("jobs", "worker-1")
    assert await hot_state.consume("jobs", "worker-2") == []


async def test_an_unacknowledged_item_is_redelivered_to_another_consumer(
    hot_state: HotState,
) -> None:
    item_id = await hot_state.enqueue("jobs", b"job")
    await hot_state.consume("jobs", "crashed-worker")
    await asyncio.sleep(PAST_REDELIVERY_S)
    [item] = await hot_state.consume("jobs", "worker-2")
    assert (item.id, item.payload, item.deliveries) == (item_id, b"job", 2)
    assert await hot_state.pending_count("jobs") == 1
    assert await hot_state.ack("jobs", item_id)
    assert await hot_state.pending_count("jobs") == 0


async def test_overdue_items_come_before_new_ones(hot_state: HotState) -> None:
    await hot_state.enqueue("jobs", b"old")
    await hot_state.consume("jobs", "crashed-worker")
    await hot_state.enqueue("jobs", b"new")
    await asyncio.sleep(PAST_REDELIVERY_S)
    items = await hot_state.consume("jobs", "worker-2", count=5)
    assert [(item.payload, item.deliveries) for item in items] == [(b"old", 2), (b"new", 1)]


async def test_an_acknowledged_item_is_never_redelivered(hot_state: HotState) -> None:
    await hot_state.enqueue("jobs", b"job")
    [item] = await hot_state.consume("jobs", "worker-1")
    await hot_state.ack("jobs", item.id)
    await asyncio.sleep(PAST_REDELIVERY_S)
    assert await hot_state.consume("jobs", "worker-2", count=5) == []


async def test_ping_answers(hot_state: HotState) -> None:
    await hot_state.ping()


@pytest.mark.parametrize("payload", [b"", b"\x00\xff" * 1000])
async def test_payloads_are_kept_byte_for_byte(hot_state: HotState, payload: bytes) -> None:
    await hot_state.enqueue("jobs", payload)
    [item] = await hot_state.consume("jobs", "worker-1")
    assert item.payload == payload
