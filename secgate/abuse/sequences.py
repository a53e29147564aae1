"""Runs of numbers in arithmetic progression, and the numbers an account sent to lately.

Pumping tools walk through a range of numbers: 96550000001, …02, …03, or every tenth.
A run as long as `pumping_sequence_min_run` (20 by default; the settings say why) does
not happen by chance in a real recipient list, while a pumping walk is hundreds long.
(A company texting a block of 20 or more consecutive corporate lines is the exception;
staff can lift a throttle.)
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from secgate.abuse.velocity import Reads, Snapshot, WindowSeries, Writes, read, write
from secgate.hotstate.protocol import HotState


@dataclass(frozen=True, slots=True)
class Run:
    first: int
    step: int
    length: int

    @property
    def numbers(self) -> list[int]:
        return [self.first + i * self.step for i in range(self.length)]


def longest_run(new: Collection[int], seen: Collection[int], max_step: int) -> Run | None:
    """The longest arithmetic progression, with a step of 1..max_step, among the
    numbers of `new` and `seen` that holds at least one number of `new`. None when
    there is no run of two. Ties go to the smaller step, then the smaller start.

    Each run is walked once per step from its lowest number of `new`:
    O((len(new) + len(seen)) × max_step)."""
    new_set = set(new)
    every = new_set | set(seen)
    # A number of a run has a neighbour in sorted order at most max_step away: only
    # such numbers are walked (in a list of random numbers, next to none).
    ordered = sorted(every)
    close: set[int] = set()
    for low, high in itertools.pairwise(ordered):
        if high - low <= max_step:
            close.add(low)
            close.add(high)
    starts = sorted(new_set & close)
    best: Run | None = None
    for step in range(1, max_step + 1):
        for number in starts:
            if number - step in new_set:
                continue  # walked from a lower number of `new`
            low = number
            while low - step in every:
                low -= step
            high = number
            while high + step in every:
                high += step
            length = (high - low) // step + 1
            if length >= 2 and (best is None or length > best.length):
                best = Run(low, step, length)
    return best


# Numbers per block: a block's numbers seen in a window are the bits of one counter
# (below 2⁵⁰, well inside Redis's signed 64-bit integers).
BLOCK_NUMBERS = 50
_BLOCK_MASK = (1 << BLOCK_NUMBERS) - 1


class SentNumbers:
    """The numbers an account sent to in the current window, as bitmaps: one counter
    per account, block of BLOCK_NUMBERS consecutive numbers and window, each number a
    bit. Only the current window is read, so that a send reads two or three blocks; a
    run cut by the start of a window is found once the walk has gone on for a run's
    length in the new one.

    Adding a bit is one atomic increment, so sends that race do not lose each other's
    numbers. A bit is added only when the reader saw it unset: since ERR028 keeps two
    sends to one number by one account 15 s apart, a bit is never added twice (a carry,
    were it to happen, would only blur one block for one window: it is masked off when
    read)."""

    def __init__(self, hot: HotState, window_s: float) -> None:
        self._hot = hot
        self._series = WindowSeries("pumping.numbers", window_s)

    def _key(self, account_id: int, block: int, window: int) -> str:
        return self._series.key(f"{account_id}:{block}", window)

    def _blocks(self, numbers: Iterable[int], reach: int) -> list[int]:
        return sorted(
            {
                block
                for number in numbers
                for block in range(
                    (number - reach) // BLOCK_NUMBERS, (number + reach) // BLOCK_NUMBERS + 1
                )
            }
        )

    def near_reads(self, account_id: int, numbers: Iterable[int], reach: int, now: float) -> Reads:
        """What `near_in` needs read."""
        window = self._series.window(now)
        return Reads().counter(
            *(self._key(account_id, b, window) for b in self._blocks(numbers, reach))
        )

    def near_in(
        self, snapshot: Snapshot, account_id: int, numbers: Iterable[int], reach: int, now: float
    ) -> set[int]:
        """The numbers sent to in the current window within `reach` of any of `numbers`."""
        around = list(numbers)
        window = self._series.window(now)
        seen: set[int] = set()
        for block in self._blocks(around, reach):
            seen.update(_numbers_of(block, snapshot.counter(self._key(account_id, block, window))))
        return {x for x in seen if any(abs(x - number) <= reach for number in around)}

    async def near(
        self, account_id: int, numbers: Iterable[int], reach: int, now: float
    ) -> set[int]:
        around = list(numbers)
        snapshot = await read(self._hot, self.near_reads(account_id, around, reach, now))
        return self.near_in(snapshot, account_id, around, reach, now)

    def add_reads(self, account_id: int, numbers: Iterable[int], now: float) -> Reads:
        """What `add_writes` needs read: the blocks of `numbers`."""
        return self.near_reads(account_id, numbers, 0, now)

    def add_writes(
        self, snapshot: Snapshot, account_id: int, numbers: Iterable[int], now: float
    ) -> Writes:
        """The bits of `numbers` not set in `snapshot` (read by `add_reads`)."""
        window = self._series.window(now)
        wanted: dict[int, int] = {}
        for number in numbers:
            block, bit = divmod(number, BLOCK_NUMBERS)
            wanted[block] = wanted.get(block, 0) | (1 << bit)
        writes = Writes()
        for block, bits in wanted.items():
            key = self._key(account_id, block, window)
            writes.add(key, bits & ~(snapshot.counter(key) & _BLOCK_MASK), ttl_s=self._series.ttl_s)
        return writes

    async def add(self, account_id: int, numbers: Iterable[int], now: float) -> None:
        wanted = list(numbers)
        snapshot = await read(self._hot, self.add_reads(account_id, wanted, now))
        await write(self._hot, self.add_writes(snapshot, account_id, wanted, now))


def _numbers_of(block: int, bitmap: int) -> list[int]:
    bitmap &= _BLOCK_MASK
    base = block * BLOCK_NUMBERS
    return [base + bit for bit in range(BLOCK_NUMBERS) if bitmap >> bit & 1]
