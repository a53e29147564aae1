"""In-process hot state: the default, for a single gateway process on one event loop.

Every operation runs without awaiting between its read and its write, so each one is
atomic on the event loop without locks. Time comes from the injected clock (tests pass
a fake one); only `consume(block_s=...)` waits in real event-loop time.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Self, TypeVar

from secgate.hotstate.protocol import Increment, Put, QueueItem, RateDecision

T = TypeVar("T")


@dataclass(slots=True)
class _Expiring(Generic[T]):
    value: T
    expires_at: float


@dataclass(slots=True)
class _Window:
    events: deque[float]
    window_s: float

    def forget_old(self, now: float) -> None:
        while self.events and now - self.events[0] >= self.window_s:
            self.events.popleft()


@dataclass(slots=True)
class _Delivery:
    payload: bytes
    delivered_at: float
    deliveries: int


@dataclass(slots=True)
class _Queue:
    new: deque[tuple[str, bytes]] = field(default_factory=deque)
    # Delivered and not yet acknowledged, in delivery order: a redelivery moves the item
    # to the end, so the items due for redelivery are always at the front.
    pending: dict[str, _Delivery] = field(default_factory=dict)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)


def _live(entries: dict[str, _Expiring[T]], key: str, now: float) -> _Expiring[T] | None:
    entry = entries.get(key)
    if entry is not None and entry.expires_at <= now:
        del entries[key]
        return None
    return entry


class MemorySubscription:
    """One subscriber's in-order stream of a channel's messages."""

    def __init__(self, subscribers: dict[str, set[MemorySubscription]], channel: str) -> None:
        self._subscribers = subscribers
        self._channel = channel
        # None marks the end: it wakes a reader waiting when the subscription closes.
        self._messages: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False

    async def __aenter__(self) -> Self:
        self._subscribers.setdefault(self._channel, set()).add(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    def deliver(self, message: bytes) -> None:
        self._messages.put_nowait(message)

    def end(self) -> None:
        if self._closed:
            return
        self._closed = True
        subscribers = self._subscribers.get(self._channel, set())
        subscribers.discard(self)
        if not subscribers:
            self._subscribers.pop(self._channel, None)
        self._messages.put_nowait(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        message = None if self._closed else await self._messages.get()
        if message is None:
            raise StopAsyncIteration
        return message


class MemoryHotState:
    """Hot state in this process's memory; nothing is shared with other processes."""

    def __init__(
        self,
        *,
        namespace: str = "secgate",
        redelivery_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        purge_interval_s: float = 10.0,
    ) -> None:
        """Every `purge_interval_s` (by the clock) an operation also sweeps out all
        expired entries, so keys that are never read again do not hold memory forever."""
        # The store is private to this instance, so the namespace separates nothing;
        # it is kept so both implementations are built the same way.
        self.namespace = namespace
        self._redelivery_after_s = redelivery_after_s
        self._clock = clock
        self._counters: dict[str, _Expiring[int]] = {}
        self._keys: dict[str, _Expiring[bytes]] = {}
        self._windows: dict[str, _Window] = {}
        self._subscribers: dict[str, set[MemorySubscription]] = {}
        self._queues: dict[str, _Queue] = {}
        self._item_ids = itertools.count(1)
        self._purge_interval_s = purge_interval_s
        self._purge_at = clock() + purge_interval_s

    def entry_count(self) -> int:
        """Counters, keys and rate windows held (expired ones not yet swept included)."""
        return len(self._counters) + len(self._keys) + len(self._windows)

    def _now(self) -> float:
        now = self._clock()
        if now >= self._purge_at:
            self._purge(now)
            self._purge_at = now + self._purge_interval_s
        return now

    def _purge(self, now: float) -> None:
        for entries in (self._counters, self._keys):
            for key in [k for k, entry in entries.items() if entry.expires_at <= now]:
                del entries[key]
        for key, window in list(self._windows.items()):
            window.forget_old(now)
            if not window.events:
                del self._windows[key]

    # -- counters with expiry ------------------------------------------------
    async def incr(self, key: str, amount: int = 1, *, ttl_s: float) -> int:
        now = self._now()
        entry = _live(self._counters, key, now)
        if entry is None:
            entry = self._counters[key] = _Expiring(0, now + ttl_s)
        entry.value += amount
        return entry.value

    async def get_counter(self, key: str) -> int:
        entry = _live(self._counters, key, self._now())
        return 0 if entry is None else entry.value

    # -- several counters and keys at once -------------------------------------
    # Plain loops: nothing here awaits, so each call is one atomic step.
    async def read_many(
        self, counters: Sequence[str], keys: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        return [await self.get_counter(k) for k in counters], [await self.get(k) for k in keys]

    async def write_many(
        self, increments: Sequence[Increment], puts: Sequence[Put] = ()
    ) -> tuple[list[int], list[bool]]:
        values = [await self.incr(i.key, i.amount, ttl_s=i.ttl_s) for i in increments]
        stored = [
            await self.put(p.key, p.value, ttl_s=p.ttl_s, only_if_new=p.only_if_new) for p in puts
        ]
        return values, stored

    # -- rate limiting -----------------------------------------------------------
    async def hit(self, key: str, *, limit: int, window_s: float) -> RateDecision:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window_s > 0")
        now = self._now()
        window = self._windows.setdefault(key, _Window(deque(), window_s))
        window.window_s = window_s
        window.forget_old(now)
        count = len(window.events)
        if count < limit:
            window.events.append(now)
            return RateDecision(allowed=True, remaining=limit - count - 1, retry_after_s=0.0)
        # One more is allowed once the event that keeps the count at the limit leaves.
        leaving = window.events[count - limit]
        return RateDecision(allowed=False, remaining=0, retry_after_s=leaving + window_s - now)

    # -- short-lived keys -----------------------------------------------------
    async def put(self, key: str, value: bytes, *, ttl_s: float, only_if_new: bool = False) -> bool:
        now = self._now()
        if only_if_new and _live(self._keys, key, now) is not None:
            return False
        self._keys[key] = _Expiring(value, now + ttl_s)
        return True

    async def get(self, key: str) -> bytes | None:
        entry = _live(self._keys, key, self._now())
        return None if entry is None else entry.value

    async def delete(self, key: str) -> bool:
        if _live(self._keys, key, self._now()) is None:
            return False
        del self._keys[key]
        return True

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        entry = _live(self._keys, key, self._now())
        # Constant-time: the value may be a secret (a challenge or a one-time token).
        if entry is None or not hmac.compare_digest(entry.value, expected):
            return False
        del self._keys[key]
        return True

    async def put_many_if_new(
        self, keys: Sequence[str], value: bytes, *, ttl_s: float
    ) -> str | None:
        now = self._now()
        for key in keys:
            if _live(self._keys, key, now) is not None:
                return key
        expires_at = now + ttl_s
        for key in keys:
            self._keys[key] = _Expiring(value, expires_at)
        return None

    async def compare_and_delete_many(self, keys: Sequence[str], expected: bytes) -> int:
        now = self._now()
        deleted = 0
        for key in keys:
            entry = _live(self._keys, key, now)
            if entry is not None and hmac.compare_digest(entry.value, expected):
                del self._keys[key]
                deleted += 1
        return deleted

    # -- pub/sub fan-out -----------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        for subscription in self._subscribers.get(channel, ()):
            subscription.deliver(message)

    def subscribe(self, channel: str) -> MemorySubscription:
        return MemorySubscription(self._subscribers, channel)

    # -- durable work queue --------------------------------------------------
    def _queue(self, name: str) -> _Queue:
        return self._queues.setdefault(name, _Queue())

    async def enqueue(self, queue: str, payload: bytes) -> str:
        work = self._queue(queue)
        item_id = str(next(self._item_ids))
        work.new.append((item_id, payload))
        async with work.arrived:
            work.arrived.notify_all()
        return item_id

    async def consume(
        self, queue: str, consumer: str, *, count: int = 1, block_s: float = 0.0
    ) -> list[QueueItem]:
        """As the protocol says. `consumer` only names the taker: in one process any
        consumer may take over any overdue item, so nothing is kept per consumer."""
        work = self._queue(queue)
        items = self._take(work, count)
        if items or block_s <= 0:
            return items
        try:
            async with asyncio.timeout(block_s), work.arrived:
                while not (items := self._take(work, count)):
                    await work.arrived.wait()
        except TimeoutError:
            pass
        return items

    def _take(self, work: _Queue, count: int) -> list[QueueItem]:
        now = self._now()
        items: list[QueueItem] = []
        while len(items) < count and work.pending:
            item_id, delivery = next(iter(work.pending.items()))
            if now - delivery.delivered_at < self._redelivery_after_s:
                break
            del work.pending[item_id]
            delivery.delivered_at = now
            delivery.deliveries += 1
            work.pending[item_id] = delivery
            items.append(QueueItem(item_id, delivery.payload, delivery.deliveries))
        while len(items) < count and work.new:
            item_id, payload = work.new.popleft()
            work.pending[item_id] = _Delivery(payload, delivered_at=now, deliveries=1)
            items.append(QueueItem(item_id, payload, deliveries=1))
        return items

    async def ack(self, queue: str, item_id: str) -> bool:
        work = self._queues.get(queue)
        return work is not None and work.pending.pop(item_id, None) is not None

    async def pending_count(self, queue: str) -> int:
        work = self._queues.get(queue)
        return 0 if work is None else len(work.pending)

    # -- life cycle ------------------------------------------------------------
    async def ping(self) -> None:
        """Always answers: the store is this process."""

    async def close(self) -> None:
        """End every subscription, so readers (e.g. live feeds) finish on shutdown."""
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.end()
