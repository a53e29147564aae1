"""The hot-state interface: fast, shared, short-lived state.

Two implementations keep to it: `memory.MemoryHotState` (the default; one process
only) and `redis.RedisHotState` (several gateway processes). One contract suite in
`tests/hotstate/test_contract.py` runs against both.

Durations are float seconds everywhere; keys and channel/queue names are plain
strings (Redis keeps them under its namespace). Counters, rate limits, keys, channels
and queues are separate: one name used by two of them is two things. Every method
raises `HotStateUnavailable` when the store does not answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


class HotStateUnavailable(Exception):
    """The store did not answer. Each caller declares whether it then fails open or closed."""


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # Requests still allowed in the current window after this one.
    remaining: int
    # When denied: seconds until one more request would be allowed. 0 when allowed.
    retry_after_s: float


@dataclass(frozen=True, slots=True)
class Increment:
    """Add `amount` to a counter, as `HotState.incr` does."""

    key: str
    amount: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Put:
    """Store a key, as `HotState.put` does."""

    key: str
    value: bytes
    ttl_s: float
    only_if_new: bool = False


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    payload: bytes
    # 1 on first delivery; more when an earlier consumer did not acknowledge it in time.
    deliveries: int


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...


class HotState(Protocol):
    # -- counters with expiry ------------------------------------------------
    async def incr(self, key: str, amount: int = 1, *, ttl_s: float) -> int:
        """Add `amount` and return the new value. The expiry is set when the counter is
        created and not extended by later increments (a fixed window)."""
        ...

    async def get_counter(self, key: str) -> int:
        """The counter's value; 0 when missing or expired."""
        ...

    # -- several counters and keys at once -------------------------------------
    async def read_many(
        self, counters: Sequence[str], keys: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        """`get_counter` of each of `counters` and `get` of each of `keys`, in the order
        given, in one round trip (none when both are empty)."""
        ...

    async def write_many(
        self, increments: Sequence[Increment], puts: Sequence[Put] = ()
    ) -> tuple[list[int], list[bool]]:
        """`incr` of each increment, then `put` of each put, in one atomic step and one
        round trip (none when both are empty): the new values and whether each was
        stored. A counter named twice is added to twice."""
        ...

    # -- rate limiting -----------------------------------------------------------
    async def hit(self, key: str, *, limit: int, window_s: float) -> RateDecision:
        """Record one event under a sliding window of `window_s` and say whether it is
        within `limit`. Denied events are not recorded, so a client that keeps
        hammering is let through again once old events leave the window."""
        ...

    # -- short-lived keys -----------------------------------------------------
    async def put(self, key: str, value: bytes, *, ttl_s: float, only_if_new: bool = False) -> bool:
        """Store `value` for `ttl_s`. With `only_if_new`, do nothing and return False
        when the key already exists."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> bool: ...

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        """Atomically delete the key if it holds `expected`; True if it did.
        Two racing callers with the right value: exactly one gets True."""
        ...

    async def put_many_if_new(
        self, keys: Sequence[str], value: bytes, *, ttl_s: float
    ) -> str | None:
        """Store `value` under every one of `keys` for `ttl_s`, all or nothing, in one
        atomic step: when any of them exists, store none and return the first that does
        (in the order given); None when all were stored. Of two racing calls whose keys
        overlap, at most one stores anything."""
        ...

    async def compare_and_delete_many(self, keys: Sequence[str], expected: bytes) -> int:
        """`compare_and_delete` of each key in one step; returns how many were deleted."""
        ...

    # -- pub/sub fan-out -----------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        """Deliver to every current subscriber of the channel (at most once; no history)."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """`async with hot.subscribe(ch) as sub: async for msg in sub: ...`
        Messages published after the `async with` is entered are delivered in order;
        once it is left, the iteration ends."""
        ...

    # -- durable work queue --------------------------------------------------
    async def enqueue(self, queue: str, payload: bytes) -> str:
        """Append an item; returns its id."""
        ...

    async def consume(
        self, queue: str, consumer: str, *, count: int = 1, block_s: float = 0.0
    ) -> list[QueueItem]:
        """Take up to `count` items for `consumer`: first items whose earlier delivery
        was not acknowledged within `redelivery_after_s`, then new ones. Waits up to
        `block_s` when there is nothing. An item stays pending until acknowledged."""
        ...

    async def ack(self, queue: str, item_id: str) -> bool:
        """Mark an item done; True if it was pending. It is never delivered again."""
        ...

    async def pending_count(self, queue: str) -> int:
        """Items delivered but not yet acknowledged."""
        ...

    # -- life cycle ------------------------------------------------------------
    async def ping(self) -> None:
        """Raise HotStateUnavailable if the store does not answer."""
        ...

    async def close(self) -> None: ...
