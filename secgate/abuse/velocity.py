"""Counts over time windows, kept in the hot state.

Windows are fixed and aligned to the Unix epoch: window `w` of a `window_s` series
covers [w × window_s, (w + 1) × window_s). The window a count goes to is chosen from
the time the caller gives (a message's `now`), never from the store's clock, so a test
moves time on both hot states alike by moving `now`. Each window is a counter under a
key of its own; its expiry (by the store's clock) only clears it away once it can no
longer be read, a little after the last window that reads it has passed.

Reads and writes go through the hot state's batch operations (`read_many`,
`write_many`): a check gathers what all its detectors need into one `Reads`, reads it
in one round trip into a `Snapshot` they judge from, and writes what they count as one
`Writes`. So a send costs a few round trips however many detectors, prefixes and
countries it involves (on Redis, each round trip is most of a read's cost).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from secgate.hotstate.protocol import HotState, Increment, Put

# Added to every expiry, so that processes whose clocks disagree by up to this much
# still find the windows they read.
CLOCK_SKEW_S = 60.0


@dataclass(slots=True)
class Reads:
    """Counters and keys to read together (each once, in the order first asked for)."""

    counters: dict[str, None] = field(default_factory=dict)
    keys: dict[str, None] = field(default_factory=dict)

    def counter(self, *names: str) -> Reads:
        self.counters.update(dict.fromkeys(names))
        return self

    def key(self, *names: str) -> Reads:
        self.keys.update(dict.fromkeys(names))
        return self

    def merge(self, other: Reads) -> Reads:
        self.counters.update(other.counters)
        self.keys.update(other.keys)
        return self


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a `Reads` found. A counter or key that was not asked for is a bug: it
    raises KeyError rather than reading as missing."""

    counters: Mapping[str, int]
    keys: Mapping[str, bytes | None]

    def counter(self, name: str) -> int:
        return self.counters[name]

    def key(self, name: str) -> bytes | None:
        return self.keys[name]


async def read(hot: HotState, reads: Reads) -> Snapshot:
    """One round trip (none when there is nothing to read)."""
    counters, keys = list(reads.counters), list(reads.keys)
    counts, values = await hot.read_many(counters, keys)
    return Snapshot(dict(zip(counters, counts, strict=True)), dict(zip(keys, values, strict=True)))


@dataclass(slots=True)
class Writes:
    """Counters to add to and keys to store together. Amounts for one counter add up;
    of two puts of one key, the last is kept."""

    increments: dict[str, Increment] = field(default_factory=dict)
    puts: dict[str, Put] = field(default_factory=dict)

    def add(self, name: str, amount: int, *, ttl_s: float) -> Writes:
        if amount:
            held = self.increments.get(name)
            total = amount if held is None else held.amount + amount
            self.increments[name] = Increment(name, total, ttl_s)
        return self

    def put(self, name: str, value: bytes, *, ttl_s: float, only_if_new: bool = False) -> Writes:
        self.puts[name] = Put(name, value, ttl_s, only_if_new)
        return self

    def merge(self, other: Writes) -> Writes:
        for inc in other.increments.values():
            self.add(inc.key, inc.amount, ttl_s=inc.ttl_s)
        self.puts.update(other.puts)
        return self


async def write(hot: HotState, writes: Writes) -> None:
    """One round trip, atomic (none when there is nothing to write)."""
    await hot.write_many(list(writes.increments.values()), list(writes.puts.values()))


async def read_counters(hot: HotState, keys: Iterable[str]) -> list[int]:
    """The counters, in the order given, in one round trip."""
    counts, _ = await hot.read_many(list(keys))
    return counts


async def read_keys(hot: HotState, keys: Iterable[str]) -> list[bytes | None]:
    """The keys, in the order given, in one round trip."""
    _, values = await hot.read_many([], list(keys))
    return values


async def add_to_counters(hot: HotState, amounts: Mapping[str, int], *, ttl_s: float) -> None:
    """Add to the counters in one round trip (amounts of 0 are left out)."""
    writes = Writes()
    for key, amount in amounts.items():
        writes.add(key, amount, ttl_s=ttl_s)
    await write(hot, writes)


class WindowSeries:
    """Counters per subject (an account, an account and a prefix...) in fixed windows of
    `window_s`. `kept_windows` is how many windows back from the current one a reader
    may look (0: the current one only)."""

    def __init__(self, name: str, window_s: float, *, kept_windows: int = 0) -> None:
        if not window_s > 0:
            raise ValueError(f"{name}: a window must be longer than 0 s")
        self.name = name
        self.window_s = window_s
        # A window's counter is created at the earliest at its start and read at the
        # latest at the end of the window `kept_windows` later.
        self.ttl_s = (kept_windows + 1) * window_s + CLOCK_SKEW_S

    def window(self, now: float) -> int:
        return math.floor(now / self.window_s)

    def ends_at(self, window: int) -> float:
        return (window + 1) * self.window_s

    def key(self, subject: str, window: int) -> str:
        return f"{self.name}:{subject}:{window}"
