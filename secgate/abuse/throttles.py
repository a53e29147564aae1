"""Throttles: a destination an account may not send to for a while.

A detector that finds pumping throttles what it found (a prefix, or a country) for the
account for `pumping_throttle_s`; later sends there by that account are refused until
then, without being counted or judged again. The end is judged by the caller's time;
hot-state expiry only clears keys away.

Reading a throttle key per prefix on every send would cost a round trip per prefix
(a group send may go to hundreds). So each account's throttles are listed instead:
starting one takes the next number of the account's counter for the current
throttle-long window and stores the throttle under that number. A throttle started in
window w has ended before window w + 2 begins, so a reader reads the counters of the
current and the previous window and the throttles numbered up to them: two counters
(read with the detectors' own, in one round trip) when the account has none, and one
more round trip for the throttles started lately, however many prefixes the send has
(an account with more than READ_AT_MOST of them is read per target instead).

A second key per target and account says whether a throttle is running there, so that
of sends racing to start one, exactly one raises the alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from secgate.abuse.velocity import (
    CLOCK_SKEW_S,
    Reads,
    Snapshot,
    WindowSeries,
    read,
    read_keys,
)
from secgate.hotstate.protocol import HotState

PREFIX = "prefix"
COUNTRY = "country"

# Throttles of an account read through its list at most; beyond, its throttle keys are
# read for the targets of the send instead.
READ_AT_MOST = 64


@dataclass(frozen=True, slots=True)
class Target:
    """What a throttle holds back: a destination prefix ("prefix", "9655123") or a
    country ("country", "JM")."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


@dataclass(frozen=True, slots=True)
class Throttle:
    target: Target
    since: float  # Unix time
    until: float  # Unix time
    detector: str

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "kind": self.target.kind,
                "value": self.target.value,
                "since": self.since,
                "until": self.until,
                "detector": self.detector,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Throttle:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            Target(str(data["kind"]), str(data["value"])),
            float(data["since"]),
            float(data["until"]),
            str(data["detector"]),
        )


class Throttles:
    def __init__(self, hot: HotState, throttle_s: float) -> None:
        self._hot = hot
        self.throttle_s = throttle_s
        self._started = WindowSeries("pumping.throttles", max(throttle_s, 1.0), kept_windows=1)
        self._ttl_s = throttle_s + CLOCK_SKEW_S

    def _running_key(self, account_id: int, target: Target) -> str:
        return f"pumping.throttle:{account_id}:{target.kind}:{target.value}"

    def _listed_key(self, account_id: int, window: int, number: int) -> str:
        return f"pumping.throttle.listed:{account_id}:{window}:{number}"

    def _windows(self, now: float) -> tuple[int, int]:
        window = self._started.window(now)
        return window, window - 1

    def reads(self, account_id: int, now: float) -> Reads:
        """What `active_in` needs read (it may read more when there are throttles)."""
        return Reads().counter(*(self._started.key(str(account_id), w) for w in self._windows(now)))

    def _listed(
        self, snapshot: Snapshot, account_id: int, now: float
    ) -> list[tuple[int, int]] | None:
        """The (window, number) of the account's listed throttles that may still run at
        `now`, or None when there are more than READ_AT_MOST."""
        windows = self._windows(now)
        counts = [snapshot.counter(self._started.key(str(account_id), w)) for w in windows]
        if sum(counts) > READ_AT_MOST:
            return None
        return [
            (w, n) for w, count in zip(windows, counts, strict=True) for n in range(1, count + 1)
        ]

    async def active(
        self, account_id: int, targets: Iterable[Target], now: float
    ) -> list[Throttle]:
        snapshot = await read(self._hot, self.reads(account_id, now))
        return await self.active_in(snapshot, account_id, targets, now)

    async def active_in(
        self, snapshot: Snapshot, account_id: int, targets: Iterable[Target], now: float
    ) -> list[Throttle]:
        """The throttles of the account on any of `targets` that have not ended at `now`,
        one per target (the one that lasts longest), in the order of `targets`.
        `snapshot` holds what `reads` asked for; one more read when the account has
        throttles."""
        listed = self._listed(snapshot, account_id, now)
        if listed == []:
            return []  # the common case: `targets` (maybe hundreds) are not even looked at
        wanted = list(dict.fromkeys(targets))
        if listed is None:
            keys = [self._running_key(account_id, t) for t in wanted]
        else:
            keys = [self._listed_key(account_id, w, n) for w, n in listed]
        values = await read_keys(self._hot, keys)
        longest: dict[Target, Throttle] = {}
        for raw in values:
            if raw is None:
                continue
            throttle = Throttle.from_bytes(raw)
            held = longest.get(throttle.target)
            if throttle.until > now and (held is None or throttle.until > held.until):
                longest[throttle.target] = throttle
        return [longest[t] for t in wanted if t in longest]

    async def start(
        self, account_id: int, target: Target, detector: str, now: float
    ) -> Throttle | None:
        """Throttle `target` for the account from `now`. Returns the new throttle, or
        None when one was running already, or a send racing with this one started it:
        of racing starters exactly one gets it, so one alert is raised per throttle
        (the others may list it too; readers see one).

        The throttle is listed first and marked running after: a starter that stops
        in between leaves a throttle that holds, and only its alert is lost."""
        key = self._running_key(account_id, target)
        held = await self._hot.get(key)
        if held is not None and Throttle.from_bytes(held).until > now:
            return None
        throttle = Throttle(target, now, now + self.throttle_s, detector)
        raw = throttle.to_bytes()
        window = self._started.window(now)
        number = await self._hot.incr(
            self._started.key(str(account_id), window), ttl_s=self._started.ttl_s
        )
        await self._hot.put(self._listed_key(account_id, window, number), raw, ttl_s=self._ttl_s)
        # A key that is there holds a throttle that has ended by the caller's time but
        # not yet expired by the store's: it is replaced, unless a racing starter
        # replaces it first.
        if held is not None and not await self._hot.compare_and_delete(key, held):
            return None
        if await self._hot.put(key, raw, ttl_s=self._ttl_s, only_if_new=True):
            return throttle
        return None

    async def lift(self, account_id: int, target: Target, now: float) -> bool:
        """End the account's throttle on `target` now (staff judged the traffic genuine);
        True if one was running."""
        running = await self._hot.delete(self._running_key(account_id, target))
        snapshot = await read(self._hot, self.reads(account_id, now))
        listed = self._listed(snapshot, account_id, now) or []
        keys = [self._listed_key(account_id, w, n) for w, n in listed]
        values = await read_keys(self._hot, keys)
        for key, raw in zip(keys, values, strict=True):
            if raw is not None and Throttle.from_bytes(raw).target == target:
                await self._hot.delete(key)
        return running
