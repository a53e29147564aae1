"""How many of the one-time codes sent to a prefix were verified.

Real users type the codes they receive: most are verified. Numbers bought for pumping
receive codes nobody types, so a prefix whose codes are almost never verified is being
pumped. Only codes that the gateway itself sends and verifies (login codes) can be
counted: the login flow calls `record_otp_sent` when it sends one and
`record_otp_verified` when one is typed correctly. A customer's messages are not
recognised as one-time codes by their text: even if they were, the customer's own
application verifies them, and the gateway would never learn which ones were.

Counts are per sending account and prefix (what `LowOtpConversion` judges a send by)
and per prefix over all accounts (for the login flow, whose codes may go out under
many accounts). They cover the current and the previous window of
`pumping_otp_window_s`, i.e. the last one to two windows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from secgate.abuse.prefixes import destination_of
from secgate.abuse.velocity import Reads, Snapshot, WindowSeries, add_to_counters, read
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings

log = logging.getLogger("secgate.abuse")

# Subject part that stands for "every account" or "every prefix".
ALL = "*"


@dataclass(frozen=True, slots=True)
class OtpStats:
    sent: int
    verified: int

    @property
    def verified_ratio(self) -> float:
        """Verified / sent, at most 1 (a code sent before the counted windows may be
        verified in them); 1 when nothing was sent."""
        return 1.0 if self.sent == 0 else min(1.0, self.verified / self.sent)


class OtpConversion:
    def __init__(
        self, hot: HotState, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.hot = hot
        self._prefix_digits = settings.pumping_prefix_digits
        self._sent = WindowSeries("pumping.otp.sent", settings.pumping_otp_window_s, kept_windows=1)
        self._verified = WindowSeries(
            "pumping.otp.verified", settings.pumping_otp_window_s, kept_windows=1
        )
        self._clock = clock

    async def record_otp_sent(self, account_id: int, number: str) -> None:
        """A one-time code went to `number` (normalised) under the account. Never
        raises for the store: a count lost when it does not answer is logged."""
        await self._record(self._sent, account_id, number, "otp_sent_not_recorded")

    async def record_otp_verified(self, account_id: int, number: str) -> None:
        """A code sent to `number` under the account was typed correctly."""
        await self._record(self._verified, account_id, number, "otp_verified_not_recorded")

    async def _record(
        self, series: WindowSeries, account_id: int, number: str, failure: str
    ) -> None:
        prefix = destination_of(number, self._prefix_digits).prefix
        window = series.window(self._clock())
        subjects = (f"{account_id}:{prefix}", f"{account_id}:{ALL}", f"{ALL}:{prefix}")
        try:
            await add_to_counters(
                self.hot,
                {series.key(subject, window): 1 for subject in subjects},
                ttl_s=series.ttl_s,
            )
        except HotStateUnavailable:
            log.warning(failure, extra={"account_id": account_id}, exc_info=True)

    def _keys(self, series: WindowSeries, subject: str, now: float) -> tuple[str, str]:
        window = series.window(now)
        return series.key(subject, window), series.key(subject, window - 1)

    def sent_lately_reads(self, account_id: int, now: float) -> Reads:
        """What `sent_lately_in` needs read."""
        return Reads().counter(*self._keys(self._sent, f"{account_id}:{ALL}", now))

    def sent_lately_in(self, snapshot: Snapshot, account_id: int, now: float) -> int:
        """Codes sent under the account to any prefix lately: 0 for an account that sends
        none, which spares reading each prefix."""
        return sum(map(snapshot.counter, self._keys(self._sent, f"{account_id}:{ALL}", now)))

    async def sent_lately(self, account_id: int, now: float) -> int:
        snapshot = await read(self.hot, self.sent_lately_reads(account_id, now))
        return self.sent_lately_in(snapshot, account_id, now)

    async def stats(
        self, account_id: int | None, prefixes: Iterable[str], now: float
    ) -> dict[str, OtpStats]:
        """Codes sent and verified lately per prefix, under the account (None: all), in
        one round trip."""
        owner = ALL if account_id is None else str(account_id)
        wanted = list(dict.fromkeys(prefixes))
        reads = Reads()
        for prefix in wanted:
            for series in (self._sent, self._verified):
                reads.counter(*self._keys(series, f"{owner}:{prefix}", now))
        snapshot = await read(self.hot, reads)

        def total(series: WindowSeries, prefix: str) -> int:
            return sum(map(snapshot.counter, self._keys(series, f"{owner}:{prefix}", now)))

        return {
            prefix: OtpStats(total(self._sent, prefix), total(self._verified, prefix))
            for prefix in wanted
        }
