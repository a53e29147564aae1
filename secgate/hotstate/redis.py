"""Hot state on Redis, shared by several gateway processes.

Keys are `{namespace}:{kind}:{name}` (kind: counter, rate, key, channel, queue), so
the same name used by two kinds of state never collides, as in the in-process store.
Whatever has to be read and written in one step runs in a MULTI or a Lua script; the
sliding window reads the Redis server's clock, so every process judges by one time.

Every command is bounded by `timeout_s` (plus the wait asked for in `consume`), and any
failure of the store surfaces as `HotStateUnavailable`, never as a redis-py exception.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from secgate.hotstate.protocol import (
    HotStateUnavailable,
    Increment,
    Put,
    QueueItem,
    RateDecision,
)

# One consumer group per queue: every gateway process reads as a consumer of it, so
# each item goes to one of them.
_GROUP = b"workers"
_PAYLOAD = b"payload"

# Numbers are formatted with %d because Lua turns a number into a string with only
# 14 significant digits, and a time in microseconds has 16.
_HIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now_us - window_us))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%d', now_us), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(window_us / 1000)))
  return {1, limit - count - 1, 0}
end
-- One more is allowed once the event that keeps the count at the limit leaves.
local leaving = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, 0, tonumber(leaving[2]) + window_us - now_us}
"""

_COMPARE_AND_DELETE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Every key is checked before any is written: all or nothing. Returns the 1-based
# position of the first key that exists, 0 when all were stored.
_PUT_MANY_IF_NEW_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return 0
"""

_COMPARE_AND_DELETE_MANY_SCRIPT = """
local deleted = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    deleted = deleted + redis.call('DEL', key)
  end
end
return deleted
"""

# Acknowledged items are deleted too, so the stream holds only work not yet done.
# An id that is not pending (unknown, malformed, or no group yet) acknowledges nothing.
_ACK_SCRIPT = """
local acked = redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
if type(acked) ~= 'number' then
  return 0
end
if acked == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
end
return acked
"""


@asynccontextmanager
async def _answering(timeout_s: float | None) -> AsyncIterator[None]:
    """Bound the block by `timeout_s` (None: unbounded) and turn every failure of the
    store into HotStateUnavailable."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except (RedisError, OSError) as exc:  # OSError includes the TimeoutError above
        raise HotStateUnavailable(f"Redis did not answer: {type(exc).__name__}: {exc}") from exc


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _is_no_group(exc: ResponseError) -> bool:
    return str(exc).startswith("NOGROUP")


class RedisSubscription:
    """One subscriber's in-order stream of a channel's messages, on its own connection."""

    def __init__(self, pubsub: PubSub, channel: str, timeout_s: float) -> None:
        self._pubsub = pubsub
        self._channel = channel
        self._timeout_s = timeout_s
        self._closed = False

    async def __aenter__(self) -> Self:
        try:
            async with _answering(self._timeout_s):
                await self._pubsub.subscribe(self._channel)
                # The server confirms once the subscription is in place; every message
                # published from then on reaches us.
                confirmation = await self._pubsub.get_message(timeout=None)
        except HotStateUnavailable:
            await self._pubsub.aclose()
            raise
        if confirmation is None or confirmation["type"] != "subscribe":
            await self._pubsub.aclose()
            raise HotStateUnavailable(f"Redis did not confirm the subscription: {confirmation!r}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        # Closing the connection ends the subscription on the server.
        await self._pubsub.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        async with _answering(None):
            while True:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
                if message is not None and message["type"] == "message":
                    data: bytes = message["data"]
                    return data


class RedisHotState:
    """Hot state in Redis; several processes pointed at one Redis share it."""

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "secgate",
        redelivery_after_s: float = 60.0,
        timeout_s: float = 2.0,
    ) -> None:
        self._redis = client
        self._namespace = namespace
        self._redelivery_ms = _ms(redelivery_after_s)
        self._timeout_s = timeout_s
        self._hit_script = client.register_script(_HIT_SCRIPT)
        self._compare_and_delete_script = client.register_script(_COMPARE_AND_DELETE_SCRIPT)
        self._put_many_if_new_script = client.register_script(_PUT_MANY_IF_NEW_SCRIPT)
        self._compare_and_delete_many_script = client.register_script(
            _COMPARE_AND_DELETE_MANY_SCRIPT
        )
        self._ack_script = client.register_script(_ACK_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "secgate",
        redelivery_after_s: float = 60.0,
        timeout_s: float = 2.0,
        max_connections: int = 256,
    ) -> RedisHotState:
        """`timeout_s` bounds each operation, connecting included. Each live
        subscription holds one of the `max_connections` for as long as it lasts."""
        # A blocking pool: past `max_connections` commands in flight, a caller waits
        # (within `timeout_s`) for a free connection instead of failing at once.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            decode_responses=False,
            socket_connect_timeout=timeout_s,
            # Reads are bounded per operation instead (see `_answering`): a socket
            # timeout would cut short a consume that blocks longer than it.
            socket_timeout=None,
            # One immediate retry rides over a pooled connection that Redis closed;
            # redis-py's default (ten, with backoff) would hide an outage for seconds.
            retry=Retry(NoBackoff(), retries=1),
        )
        client = Redis(connection_pool=pool)
        return cls(
            client, namespace=namespace, redelivery_after_s=redelivery_after_s, timeout_s=timeout_s
        )

    def _key(self, kind: str, name: str) -> str:
        return f"{self._namespace}:{kind}:{name}"

    # -- counters with expiry ------------------------------------------------
    async def incr(self, key: str, amount: int = 1, *, ttl_s: float) -> int:
        name = self._key("counter", key)
        async with _answering(self._timeout_s), self._redis.pipeline(transaction=True) as pipe:
            # The expiry is set only by the SET that creates the counter; INCRBY keeps it.
            pipe.set(name, 0, nx=True, px=_ms(ttl_s))
            pipe.incrby(name, amount)
            _, value = await pipe.execute()
        return int(value)

    async def get_counter(self, key: str) -> int:
        async with _answering(self._timeout_s):
            value = await self._redis.get(self._key("counter", key))
        return 0 if value is None else int(value)

    # -- several counters and keys at once -------------------------------------
    async def read_many(
        self, counters: Sequence[str], keys: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        """One MGET (counters and keys are both plain strings in Redis)."""
        if not counters and not keys:
            return [], []
        names = [self._key("counter", k) for k in counters] + [self._key("key", k) for k in keys]
        async with _answering(self._timeout_s):
            values: list[bytes | None] = await self._redis.mget(names)
        split = len(counters)
        return [0 if v is None else int(v) for v in values[:split]], values[split:]

    async def write_many(
        self, increments: Sequence[Increment], puts: Sequence[Put] = ()
    ) -> tuple[list[int], list[bool]]:
        """One MULTI/EXEC pipeline: each counter as in `incr` (SET NX with the expiry,
        then INCRBY), each key as in `put`."""
        if not increments and not puts:
            return [], []
        async with _answering(self._timeout_s), self._redis.pipeline(transaction=True) as pipe:
            for inc in increments:
                name = self._key("counter", inc.key)
                pipe.set(name, 0, nx=True, px=_ms(inc.ttl_s))
                pipe.incrby(name, inc.amount)
            for put in puts:
                pipe.set(
                    self._key("key", put.key), put.value, px=_ms(put.ttl_s), nx=put.only_if_new
                )
            replies = await pipe.execute()
        split = 2 * len(increments)
        return [int(v) for v in replies[1:split:2]], [bool(r) for r in replies[split:]]

    # -- rate limiting -----------------------------------------------------------
    async def hit(self, key: str, *, limit: int, window_s: float) -> RateDecision:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window_s > 0")
        window_us = round(window_s * 1_000_000)
        # Each event is a member of its own, so events in the same microsecond all count.
        event = uuid.uuid4().bytes
        async with _answering(self._timeout_s):
            allowed, remaining, retry_after_us = await self._hit_script(
                keys=[self._key("rate", key)], args=[limit, window_us, event]
            )
        return RateDecision(
            allowed=bool(allowed), remaining=int(remaining), retry_after_s=retry_after_us / 1e6
        )

    # -- short-lived keys -----------------------------------------------------
    async def put(self, key: str, value: bytes, *, ttl_s: float, only_if_new: bool = False) -> bool:
        async with _answering(self._timeout_s):
            stored = await self._redis.set(
                self._key("key", key), value, px=_ms(ttl_s), nx=only_if_new
            )
        return bool(stored)

    async def get(self, key: str) -> bytes | None:
        async with _answering(self._timeout_s):
            value: bytes | None = await self._redis.get(self._key("key", key))
        return value

    async def delete(self, key: str) -> bool:
        async with _answering(self._timeout_s):
            deleted = await self._redis.delete(self._key("key", key))
        return deleted == 1

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        async with _answering(self._timeout_s):
            deleted = await self._compare_and_delete_script(
                keys=[self._key("key", key)], args=[expected]
            )
        return deleted == 1

    async def put_many_if_new(
        self, keys: Sequence[str], value: bytes, *, ttl_s: float
    ) -> str | None:
        """As the protocol says, in one round trip. A script's keys must all be on one
        server, so a Redis Cluster would need them in one hash slot."""
        if not keys:
            return None
        async with _answering(self._timeout_s):
            existing = await self._put_many_if_new_script(
                keys=[self._key("key", key) for key in keys], args=[value, _ms(ttl_s)]
            )
        return None if existing == 0 else keys[existing - 1]

    async def compare_and_delete_many(self, keys: Sequence[str], expected: bytes) -> int:
        if not keys:
            return 0
        async with _answering(self._timeout_s):
            deleted = await self._compare_and_delete_many_script(
                keys=[self._key("key", key) for key in keys], args=[expected]
            )
        return int(deleted)

    # -- pub/sub fan-out -----------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        async with _answering(self._timeout_s):
            await self._redis.publish(self._key("channel", channel), message)

    def subscribe(self, channel: str) -> RedisSubscription:
        return RedisSubscription(
            self._redis.pubsub(), self._key("channel", channel), self._timeout_s
        )

    # -- durable work queue --------------------------------------------------
    async def enqueue(self, queue: str, payload: bytes) -> str:
        async with _answering(self._timeout_s):
            item_id: bytes = await self._redis.xadd(self._key("queue", queue), {_PAYLOAD: payload})
        return item_id.decode()

    async def consume(
        self, queue: str, consumer: str, *, count: int = 1, block_s: float = 0.0
    ) -> list[QueueItem]:
        stream = self._key("queue", queue)
        async with _answering(self._timeout_s + max(block_s, 0.0)):
            items = await self._claim_overdue(stream, consumer, count)
            if len(items) < count:
                # Wait for new items only when there is nothing to hand out already.
                block_ms = _ms(block_s) if block_s > 0 and not items else None
                items += await self._read_new(stream, consumer, count - len(items), block_ms)
        return items

    async def _claim_overdue(self, stream: str, consumer: str, count: int) -> list[QueueItem]:
        pipe = self._redis.pipeline(transaction=False)
        # Creating the group in the same round trip keeps it there even when the stream
        # was deleted since; id 0 so that items enqueued before it are delivered too.
        pipe.xgroup_create(stream, _GROUP, id="0", mkstream=True)
        # The pending list is short (items in progress or overdue) and ordered by item
        # id, so overdue items, being the oldest, are near its start: one scan finds them.
        pipe.xautoclaim(stream, _GROUP, consumer, self._redelivery_ms, "0-0", count=count)
        created, claimed = await pipe.execute(raise_on_error=False)
        if isinstance(created, ResponseError) and not str(created).startswith("BUSYGROUP"):
            raise created
        if isinstance(claimed, Exception):
            raise claimed
        entries: list[tuple[bytes, dict[bytes, bytes]]] = claimed[1]
        if not entries:
            return []
        deliveries = await self._deliveries(stream, [entry_id for entry_id, _ in entries])
        return [
            QueueItem(entry_id.decode(), fields[_PAYLOAD], deliveries[entry_id])
            for entry_id, fields in entries
        ]

    async def _deliveries(self, stream: str, entry_ids: list[bytes]) -> dict[bytes, int]:
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(stream, _GROUP, min=entry_id, max=entry_id, count=1)
        return {
            row["message_id"]: row["times_delivered"]
            for rows in await pipe.execute()
            for row in rows
        }

    async def _read_new(
        self, stream: str, consumer: str, count: int, block_ms: int | None
    ) -> list[QueueItem]:
        response: list[Any] = await self._redis.xreadgroup(
            _GROUP, consumer, {stream: ">"}, count=count, block=block_ms
        )
        return [
            QueueItem(entry_id.decode(), fields[_PAYLOAD], deliveries=1)
            for _, entries in response
            for entry_id, fields in entries
        ]

    async def ack(self, queue: str, item_id: str) -> bool:
        async with _answering(self._timeout_s):
            acked = await self._ack_script(keys=[self._key("queue", queue)], args=[_GROUP, item_id])
        return acked == 1

    async def pending_count(self, queue: str) -> int:
        async with _answering(self._timeout_s):
            try:
                summary = await self._redis.xpending(self._key("queue", queue), _GROUP)
            except ResponseError as exc:
                if _is_no_group(exc):  # never consumed: nothing delivered
                    return 0
                raise
        return int(summary["pending"])

    # -- life cycle ------------------------------------------------------------
    async def ping(self) -> None:
        async with _answering(self._timeout_s):
            await self._redis.ping()

    async def delete_namespace(self) -> None:
        """Remove every key of this namespace (tests clean up with it)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._namespace) + ":*"
        async with _answering(None):
            keys = [key async for key in self._redis.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 500):
                await self._redis.unlink(*keys[start : start + 500])

    async def close(self) -> None:
        await self._redis.aclose()
        # A pool handed to the client is not closed with it.
        await self._redis.connection_pool.disconnect()
