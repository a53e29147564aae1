"""What only the Redis hot state does: share state between gateway processes, keep to
its namespace, and report an unreachable Redis as HotStateUnavailable."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from secgate.hotstate.protocol import HotStateUnavailable
from secgate.hotstate.redis import RedisHotState

# Same server as the root conftest's `hot_state` fixture.
REDIS_URL = os.environ.get("SECGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

MakeHot = Callable[[str], RedisHotState]


@pytest.fixture
async def make_hot() -> AsyncIterator[MakeHot]:
    """`make_hot(namespace)`: a RedisHotState, as one gateway process would open it."""
    opened: list[RedisHotState] = []

    def make(namespace: str) -> RedisHotState:
        hot = RedisHotState.from_url(REDIS_URL, namespace=namespace, redelivery_after_s=0.3)
        opened.append(hot)
        return hot

    yield make
    for hot in opened:
        await hot.delete_namespace()
        await hot.close()


@pytest.fixture
def namespace() -> str:
    return f"secgate-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def raw_redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


# -- two processes, one state ------------------------------------------------------------


async def test_processes_share_counters(make_hot: MakeHot, namespace: str) -> None:
    first, second = make_hot(namespace), make_hot(namespace)
    await first.incr("sends", ttl_s=10)
    assert await second.incr("sends", ttl_s=10) == 2
    assert await first.get_counter("sends") == 2


async def test_processes_share_rate_limits(make_hot: MakeHot, namespace: str) -> None:
    first, second = make_hot(namespace), make_hot(namespace)
    decisions = [
        await hot.hit("ip", limit=3, window_s=10) for hot in (first, second, first, second)
    ]
    assert [d.allowed for d in decisions] == [True, True, True, False]


async def test_processes_share_keys(make_hot: MakeHot, namespace: str) -> None:
    first, second = make_hot(namespace), make_hot(namespace)
    assert await first.put("lock", b"mine", ttl_s=10, only_if_new=True)
    assert not await second.put("lock", b"theirs", ttl_s=10, only_if_new=True)
    assert await second.compare_and_delete("lock", b"mine")
    assert await first.get("lock") is None


async def test_a_message_reaches_subscribers_of_other_processes(
    make_hot: MakeHot, namespace: str
) -> None:
    publisher, listener = make_hot(namespace), make_hot(namespace)
    async with listener.subscribe("alerts") as subscription:
        await publisher.publish("alerts", b"hello")
        async with asyncio.timeout(2):
            assert await anext(aiter(subscription)) == b"hello"


async def test_processes_split_a_queue_without_delivering_an_item_twice(
    make_hot: MakeHot, namespace: str
) -> None:
    first, second = make_hot(namespace), make_hot(namespace)
    enqueued = {await first.enqueue("jobs", f"job-{n}".encode()) for n in range(30)}

    async def drain(hot: RedisHotState, consumer: str) -> list[str]:
        taken: list[str] = []
        while items := await hot.consume("jobs", consumer, count=3):
            taken += [item.id for item in items]
            await asyncio.sleep(0)  # let the other process take its turn
        return taken

    taken_first, taken_second = await asyncio.gather(
        drain(first, "process-1"), drain(second, "process-2")
    )
    assert taken_first
    assert taken_second
    assert set(taken_first).isdisjoint(taken_second)
    assert set(taken_first) | set(taken_second) == enqueued
    assert await second.pending_count("jobs") == 30


async def test_an_item_left_by_one_process_is_redelivered_to_another(
    make_hot: MakeHot, namespace: str
) -> None:
    crashed, survivor = make_hot(namespace), make_hot(namespace)
    item_id = await crashed.enqueue("jobs", b"job")
    await crashed.consume("jobs", "process-1")
    await asyncio.sleep(0.4)
    [item] = await survivor.consume("jobs", "process-2")
    assert (item.id, item.deliveries) == (item_id, 2)


# -- what it leaves in Redis ---------------------------------------------------------------


async def test_acknowledged_items_are_removed_from_the_stream(
    make_hot: MakeHot, namespace: str, raw_redis: Redis
) -> None:
    hot = make_hot(namespace)
    await hot.enqueue("jobs", b"done")
    await hot.enqueue("jobs", b"to do")
    [item] = await hot.consume("jobs", "worker")
    await hot.ack("jobs", item.id)
    assert await raw_redis.xlen(f"{namespace}:queue:jobs") == 1


async def test_leaving_a_subscription_ends_it_on_the_server(
    make_hot: MakeHot, namespace: str, raw_redis: Redis
) -> None:
    hot = make_hot(namespace)
    channel = f"{namespace}:channel:alerts"
    async with hot.subscribe("alerts"):
        assert await raw_redis.pubsub_numsub(channel) == [(channel.encode(), 1)]
    # The server drops the subscription when it sees the connection close; it offers
    # nothing to wait on but polling.
    async with asyncio.timeout(2):
        while await raw_redis.pubsub_numsub(channel) != [(channel.encode(), 0)]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_every_key_lives_under_the_namespace(
    make_hot: MakeHot, namespace: str, raw_redis: Redis
) -> None:
    hot = make_hot(namespace)
    await hot.incr("c", ttl_s=10)
    await hot.hit("r", limit=5, window_s=10)
    await hot.put("k", b"v", ttl_s=10)
    await hot.put_many_if_new(["m1", "m2"], b"v", ttl_s=10)
    await hot.enqueue("q", b"job")
    keys = {key.decode() async for key in raw_redis.scan_iter(match=f"{namespace}:*")}
    assert keys == {
        f"{namespace}:{kind}"
        for kind in ("counter:c", "rate:r", "key:k", "key:m1", "key:m2", "queue:q")
    }
    await hot.delete_namespace()
    assert [key async for key in raw_redis.scan_iter(match=f"{namespace}:*")] == []


async def test_namespaces_do_not_see_each_other(make_hot: MakeHot) -> None:
    suffix = uuid.uuid4().hex[:12]
    # The first name is also a glob pattern that matches the second.
    mine, theirs = make_hot(f"test*{suffix}"), make_hot(f"test-other{suffix}")
    await theirs.incr("c", ttl_s=10)
    await theirs.put("k", b"v", ttl_s=10)
    await theirs.enqueue("q", b"job")
    assert await mine.get_counter("c") == 0
    assert await mine.get("k") is None
    assert await mine.consume("q", "worker") == []
    await mine.delete_namespace()
    assert await theirs.get_counter("c") == 1
    assert await theirs.get("k") == b"v"


# -- an unreachable Redis --------------------------------------------------------------------


@pytest.fixture
async def unreachable() -> AsyncIterator[RedisHotState]:
    """Nothing listens on port 1."""
    hot = RedisHotState.from_url("redis://127.0.0.1:1/0", timeout_s=0.5)
    yield hot
    await hot.close()


@pytest.fixture
async def unresponsive() -> AsyncIterator[RedisHotState]:
    """A server that accepts connections and never answers."""

    async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hot = RedisHotState.from_url(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    yield hot
    await hot.close()
    server.close()


Operation = Callable[[RedisHotState], Awaitable[object]]

OPERATIONS: dict[str, Operation] = {
    "ping": lambda hot: hot.ping(),
    "incr": lambda hot: hot.incr("c", ttl_s=10),
    "get_counter": lambda hot: hot.get_counter("c"),
    "hit": lambda hot: hot.hit("r", limit=5, window_s=10),
    "put": lambda hot: hot.put("k", b"v", ttl_s=10),
    "get": lambda hot: hot.get("k"),
    "compare_and_delete": lambda hot: hot.compare_and_delete("k", b"v"),
    "put_many_if_new": lambda hot: hot.put_many_if_new(["k", "l"], b"v", ttl_s=10),
    "compare_and_delete_many": lambda hot: hot.compare_and_delete_many(["k", "l"], b"v"),
    "publish": lambda hot: hot.publish("alerts", b"m"),
    "enqueue": lambda hot: hot.enqueue("q", b"job"),
    "consume": lambda hot: hot.consume("q", "worker", block_s=0.1),
    "ack": lambda hot: hot.ack("q", "1-0"),
    "pending_count": lambda hot: hot.pending_count("q"),
}


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_an_unreachable_redis_is_reported_as_unavailable(
    unreachable: RedisHotState, operation: Operation
) -> None:
    with pytest.raises(HotStateUnavailable):
        await operation(unreachable)


async def test_subscribing_to_an_unreachable_redis_is_reported_as_unavailable(
    unreachable: RedisHotState,
) -> None:
    with pytest.raises(HotStateUnavailable):
        async with unreachable.subscribe("alerts"):
            pass


@pytest.mark.parametrize("name", ["ping", "incr", "consume"])
async def test_a_redis_that_does_not_answer_is_reported_as_unavailable(
    unresponsive: RedisHotState, name: str
) -> None:
    with pytest.raises(HotStateUnavailable):
        await OPERATIONS[name](unresponsive)
