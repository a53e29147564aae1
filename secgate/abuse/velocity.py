"""Counts over time windows, kept in the hot state.

Windows are fixed and aligned to the Unix epoch: window `w` of a `window_s` series
covers [w × window_s, (w + 1) × window_s). The window a count goes to is chosen from
the time the caller gives (a message's `now`), never from the store's clock, so a test
moves time on both hot states alike by moving `now`. Each window is a counter under a
key of its own; its expiry (by the store's clock) only clears it away once it can no
longer be read, a little after the last window that reads it has passed.

The hot-state protocol reads and writes one counter or key per round trip. Every read
or write of several goes through `read_counters`, `read_keys` and `add_to_counters`,
one after the other: on Redis, sending them at once gains little (the client's work
per command dominates), and on the in-process store it costs tasks for nothing. A
batch operation of the protocol (MGET, a pipeline) would replace them here, in one
place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from secgate.hotstate.protocol import HotState

# Added to every expiry, so that processes whose clocks disagree by up to this much
# still find the windows they read.
CLOCK_SKEW_S = 60.0


async def read_counters(hot: HotState, keys: Iterable[str]) -> list[int]:
    return [await hot.get_counter(key) for key in keys]


async def read_keys(hot: HotState, keys: Iterable[str]) -> list[bytes | None]:
    return [await hot.get(key) for key in keys]


async def add_to_counters(hot: HotState, amounts: Mapping[str, int], *, ttl_s: float) -> None:
    for key, amount in amounts.items():
        if amount:
            await hot.incr(key, amount, ttl_s=ttl_s)


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
