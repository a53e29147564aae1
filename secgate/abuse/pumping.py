"""SMS pumping and velocity detectors.

SMS pumping (artificially inflated traffic): someone who earns a share of the
termination fee of some numbers gets a platform to send to them, through a sign-up or
login form that texts a code, or through a stolen API credential. Its marks: volume to
one prefix far above what the account usually sends there, bursts to countries the
account never sent to, numbers walked in sequence, and codes nobody types.

Each detector has one job. It reads the account's accepted sends from the hot state
(`inspect`, which writes nothing) and counts an accepted send (`record`); a refused
send is never counted. All time comes from the message (`Sending.now`).

- `SendRate`: recipients per minute and per hour over the account's limits.
- `PrefixSpike`: recipients to one prefix in the current window against the account's
  own mean per window before it.
- `NewCountryBurst`: a burst to a country the account never sent to, once it has a
  history elsewhere.
- `SequentialNumbers`: numbers in arithmetic progression, in one send or across the
  account's recent small sends.
- `LowOtpConversion`: prefixes whose one-time codes are not verified.

A threshold reached is a `Finding` naming what to throttle; the checks in
`secgate.checks.pumping` throttle it and raise the alert.

Each detector says what it needs read (`reads`, `record_reads`), judges from a
`Snapshot` of it (`judge`) and says what to count (`writes`), so that the checks read
and write for all detectors at once: a send costs one read to judge, and one read and
one write to count, whatever its size. `inspect` and `record` do it for one detector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secgate.abuse.otp_conversion import OtpConversion
from secgate.abuse.prefixes import count_destinations, destination_of
from secgate.abuse.sequences import SentNumbers, longest_run
from secgate.abuse.throttles import COUNTRY, PREFIX, Target
from secgate.abuse.velocity import (
    CLOCK_SKEW_S,
    Reads,
    Snapshot,
    WindowSeries,
    Writes,
    read,
    write,
)
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings


@dataclass(frozen=True, slots=True)
class Sending:
    """One send as the detectors see it: the account, the time and where it goes."""

    account_id: int
    now: float
    numbers: tuple[str, ...]  # normalised, each once
    per_prefix: Mapping[str, int] = field(default_factory=dict)  # recipients
    per_country: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, account_id: int, numbers: Sequence[str], now: float, prefix_digits: int) -> Sending:
        per_prefix, per_country = count_destinations(numbers, prefix_digits)
        return cls(account_id, now, tuple(numbers), per_prefix, per_country)

    @property
    def recipients(self) -> int:
        return len(self.numbers)

    def targets(self) -> Iterator[Target]:
        """Every prefix and country the send goes to: what a throttle may hold back."""
        for prefix in self.per_prefix:
            yield Target(PREFIX, prefix)
        for country in self.per_country:
            yield Target(COUNTRY, country)


@dataclass(frozen=True, slots=True)
class Finding:
    detector: str
    targets: tuple[Target, ...]  # what to throttle
    reason: str  # what was seen, in a sentence
    # Counts, threshold and baseline, for the alert and for staff (JSON values).
    details: Mapping[str, Any]


class Detector(ABC):
    """One detector. It says what it needs read, judges from a snapshot of it and says
    what to count; `inspect` and `record` do that on their own (one read, and one read
    and one write)."""

    name: str

    def __init__(self, hot: HotState) -> None:
        self._hot = hot

    @abstractmethod
    def reads(self, sending: Sending) -> Reads:
        """What `judge` needs read."""

    @abstractmethod
    async def judge(self, sending: Sending, snapshot: Snapshot) -> list[Finding]:
        """The findings on `sending`; `snapshot` holds at least what `reads` asked for
        (a detector may read more, rarely)."""

    @abstractmethod
    def record_reads(self, sending: Sending) -> Reads:
        """What `writes` needs read."""

    @abstractmethod
    def writes(self, sending: Sending, snapshot: Snapshot) -> Writes:
        """What counting the accepted `sending` writes."""

    async def inspect(self, sending: Sending) -> list[Finding]:
        return await self.judge(sending, await read(self._hot, self.reads(sending)))

    async def record(self, sending: Sending) -> None:
        snapshot = await read(self._hot, self.record_reads(sending))
        await write(self._hot, self.writes(sending, snapshot))


class AccountHistory:
    """When the account first sent, and first sent to each country: hot-state keys kept
    `pumping_country_history_s` after its last send (there), each send renewing them.
    Read by the spike (how much history the account has) and the new-country detector
    (which countries are new); written by both (one write when both are on)."""

    def __init__(self, settings: Settings) -> None:
        self._history_s = settings.pumping_country_history_s

    def key(self, account_id: int, country: str | None = None) -> str:
        base = f"pumping.first_send:{account_id}"
        return base if country is None else f"{base}:{country}"

    def first(
        self, snapshot: Snapshot, account_id: int, country: str | None = None
    ) -> float | None:
        raw = snapshot.key(self.key(account_id, country))
        return None if raw is None else float(raw)

    def renew(
        self,
        writes: Writes,
        snapshot: Snapshot,
        account_id: int,
        now: float,
        country: str | None = None,
    ) -> None:
        """A first time is written once (of racing writers one wins) and renewed as is."""
        first = self.first(snapshot, account_id, country)
        writes.put(
            self.key(account_id, country),
            str(now if first is None else first).encode(),
            ttl_s=self._history_s,
            only_if_new=first is None,
        )


# --- 1. per-account send rate ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateExcess:
    window_s: float
    sent: int  # recipients already accepted in the current window
    recipients: int  # of this send
    limit: int
    retry_after_s: float  # until the window ends (when the count starts again from 0)


class SendRate:
    """Recipients per minute and per hour, in fixed windows, against the account's
    limits (`pumping_max_recipients_per_minute`/`_per_hour`; 0: no limit). Fixed
    windows are exact and cheap (one counter each); the price is that a sender may
    fit up to twice a limit into one window's length across a window boundary, which
    the hour limit bounds."""

    name = "send_rate"

    def __init__(self, hot: HotState, settings: Settings) -> None:
        self._hot = hot
        self._limits = [
            (WindowSeries("pumping.rate.60s", 60.0), settings.pumping_max_recipients_per_minute),
            (WindowSeries("pumping.rate.3600s", 3600.0), settings.pumping_max_recipients_per_hour),
        ]

    def _active(self) -> list[tuple[WindowSeries, int]]:
        return [(series, limit) for series, limit in self._limits if limit > 0]

    def reads(self, account_id: int, now: float) -> Reads:
        return Reads().counter(
            *(series.key(str(account_id), series.window(now)) for series, _ in self._active())
        )

    def excess(
        self, snapshot: Snapshot, account_id: int, recipients: int, now: float
    ) -> RateExcess | None:
        """The excess a send of `recipients` would cause; of two, the one that lasts
        longer."""
        excess: RateExcess | None = None
        for series, limit in self._active():
            window = series.window(now)
            sent = snapshot.counter(series.key(str(account_id), window))
            if sent + recipients > limit:
                retry_after_s = series.ends_at(window) - now
                if excess is None or retry_after_s > excess.retry_after_s:
                    excess = RateExcess(series.window_s, sent, recipients, limit, retry_after_s)
        return excess

    def writes(self, account_id: int, recipients: int, now: float) -> Writes:
        writes = Writes()
        for series, _ in self._active():
            writes.add(
                series.key(str(account_id), series.window(now)), recipients, ttl_s=series.ttl_s
            )
        return writes

    async def inspect(self, account_id: int, recipients: int, now: float) -> RateExcess | None:
        snapshot = await read(self._hot, self.reads(account_id, now))
        return self.excess(snapshot, account_id, recipients, now)

    async def record(self, account_id: int, recipients: int, now: float) -> None:
        await write(self._hot, self.writes(account_id, recipients, now))


# --- 2. spike to a prefix against the account's history ------------------------------


class PrefixSpike(Detector):
    """Recipients to one prefix in the current window (fixed, `pumping_spike_window_s`)
    reach `pumping_spike_min_recipients` and `pumping_spike_factor` times the baseline,
    for an account that has been sending for `pumping_spike_min_history_s`.

    The baseline is the account's mean per window to that prefix over the windows
    before the current one in the last one to two history periods of
    `pumping_spike_baseline_windows` windows (a counter per period, so two reads
    instead of one per window), and since its first send: windows before the account
    sent are no part of its history. A prefix the account never sent to has a baseline
    of 0: reaching the minimum is then enough. An account without enough history has
    no baseline at all, and is left to the new-country detector and the rate limits.

    Of one send, only the `pumping_spike_prefixes_per_send` prefixes with the most
    recipients are counted and judged: a send spread over hundreds of prefixes (a
    campaign) puts one or two numbers in each, while pumping concentrates on the few
    ranges the pumper is paid for."""

    name = "prefix_spike"

    def __init__(self, hot: HotState, settings: Settings) -> None:
        super().__init__(hot)
        self._min = settings.pumping_spike_min_recipients
        self._factor = settings.pumping_spike_factor
        self._min_history_s = settings.pumping_spike_min_history_s
        self._prefixes_per_send = settings.pumping_spike_prefixes_per_send
        self._periods = max(1, settings.pumping_spike_baseline_windows)  # windows a period
        self._window = WindowSeries("pumping.spike", settings.pumping_spike_window_s)
        self._history = WindowSeries(
            "pumping.spike.history",
            settings.pumping_spike_window_s * self._periods,
            kept_windows=1,
        )
        self._account = AccountHistory(settings)

    def _subject(self, sending: Sending, prefix: str) -> str:
        return f"{sending.account_id}:{prefix}"

    def _tracked(self, sending: Sending) -> dict[str, int]:
        """The prefixes of the send that are counted, with their recipients: those
        with the most (of equals, the first given)."""
        per_prefix = sending.per_prefix
        if 0 < self._prefixes_per_send < len(per_prefix):
            top = sorted(per_prefix, key=lambda p: -per_prefix[p])[: self._prefixes_per_send]
            return {prefix: per_prefix[prefix] for prefix in top}
        return dict(per_prefix)

    def _keys(self, sending: Sending, prefix: str) -> tuple[str, str, str]:
        """The prefix's counter of the current window, and of the history period holding
        it and the one before. The period is aligned to the window (not computed from
        the time again, which float rounding could put on the other side of a
        boundary)."""
        window = self._window.window(sending.now)
        period = window // self._periods
        subject = self._subject(sending, prefix)
        return (
            self._window.key(subject, window),
            self._history.key(subject, period),
            self._history.key(subject, period - 1),
        )

    def reads(self, sending: Sending) -> Reads:
        if self._min <= 0:
            return Reads()
        reads = Reads().key(self._account.key(sending.account_id))
        for prefix in self._tracked(sending):
            reads.counter(*self._keys(sending, prefix))
        return reads

    async def judge(self, sending: Sending, snapshot: Snapshot) -> list[Finding]:
        if self._min <= 0:
            return []
        window = self._window.window(sending.now)
        # Windows the baseline covers: the whole previous period and this one's before
        # now, but none before the account's first send.
        windows_before = self._periods + window - (window // self._periods) * self._periods
        first = self._account.first(snapshot, sending.account_id)
        if self._min_history_s > 0 and (first is None or sending.now - first < self._min_history_s):
            return []
        if first is not None:
            windows_before = max(1, min(windows_before, window - self._window.window(first)))
        findings = []
        for prefix, recipients in self._tracked(sending).items():
            current, this_period, last_period = map(snapshot.counter, self._keys(sending, prefix))
            total = current + recipients
            if total < self._min:
                continue
            baseline = max(0, this_period + last_period - current) / windows_before
            if total >= self._factor * baseline:
                findings.append(self._finding(prefix, total, baseline))
        return findings

    def _finding(self, prefix: str, total: int, baseline: float) -> Finding:
        return Finding(
            self.name,
            (Target(PREFIX, prefix),),
            f"{total} recipients to prefix {prefix} in this window of "
            f"{self._window.window_s:g} s against {baseline:.2f} a window before",
            {
                "prefix": prefix,
                "recipients": total,
                "window_s": self._window.window_s,
                "baseline_per_window": round(baseline, 3),
                "baseline_windows": self._periods,
                "threshold_factor": self._factor,
                "threshold_min_recipients": self._min,
            },
        )

    def record_reads(self, sending: Sending) -> Reads:
        if self._min <= 0:
            return Reads()
        return Reads().key(self._account.key(sending.account_id))

    def writes(self, sending: Sending, snapshot: Snapshot) -> Writes:
        writes = Writes()
        if self._min <= 0:
            return writes
        self._account.renew(writes, snapshot, sending.account_id, sending.now)
        for prefix, recipients in self._tracked(sending).items():
            in_window, in_history, _ = self._keys(sending, prefix)
            writes.add(in_window, recipients, ttl_s=self._window.ttl_s)
            writes.add(in_history, recipients, ttl_s=self._history.ttl_s)
        return writes


# --- 3. burst to a country never sent to before -------------------------------------


class NewCountryBurst(Detector):
    """`pumping_new_country_min_recipients` recipients in a country within
    `pumping_new_country_window_s` of the account's first send there, when the account
    was sending for at least that window before (the countries of an account's first
    window are its usual ones, not new).

    First sends are remembered by `AccountHistory`, so a country not sent to for
    `pumping_country_history_s` is new again; so is every country after the in-process
    hot state restarts (Redis keeps them)."""

    name = "new_country"

    def __init__(self, hot: HotState, settings: Settings) -> None:
        super().__init__(hot)
        self._min = settings.pumping_new_country_min_recipients
        self._window_s = settings.pumping_new_country_window_s
        if not self._window_s > 0:
            raise ValueError("pumping_new_country_window_s must be longer than 0 s")
        self._account = AccountHistory(settings)

    def _count_key(self, account_id: int, country: str) -> str:
        return f"pumping.new_country:{account_id}:{country}"

    def _first_keys(self, sending: Sending) -> Reads:
        account = sending.account_id
        return Reads().key(
            self._account.key(account),
            *(self._account.key(account, c) for c in sending.per_country),
        )

    def _is_new(self, account_first: float | None, country_first: float | None, now: float) -> bool:
        first = now if country_first is None else country_first
        return (
            account_first is not None
            and now - first < self._window_s
            and first - account_first >= self._window_s
        )

    def reads(self, sending: Sending) -> Reads:
        if self._min <= 0:
            return Reads()
        # The counts of every country, new or not: read in the same round trip.
        return self._first_keys(sending).counter(
            *(self._count_key(sending.account_id, c) for c in sending.per_country)
        )

    async def judge(self, sending: Sending, snapshot: Snapshot) -> list[Finding]:
        if self._min <= 0:
            return []
        account = sending.account_id
        account_first = self._account.first(snapshot, account)
        findings = []
        for country, recipients in sending.per_country.items():
            first = self._account.first(snapshot, account, country)
            if not self._is_new(account_first, first, sending.now):
                continue
            # A country never sent to has no count yet (whatever an old key may hold).
            before = 0 if first is None else snapshot.counter(self._count_key(account, country))
            total = before + recipients
            if total >= self._min:
                findings.append(
                    Finding(
                        self.name,
                        (Target(COUNTRY, country),),
                        f"{total} recipients in {country}, a country this account had not "
                        f"sent to until the last {self._window_s:g} s",
                        {
                            "country": country,
                            "recipients": total,
                            "window_s": self._window_s,
                            "threshold_min_recipients": self._min,
                        },
                    )
                )
        return findings

    def record_reads(self, sending: Sending) -> Reads:
        return Reads() if self._min <= 0 else self._first_keys(sending)

    def writes(self, sending: Sending, snapshot: Snapshot) -> Writes:
        writes = Writes()
        if self._min <= 0:
            return writes
        account, now = sending.account_id, sending.now
        self._account.renew(writes, snapshot, account, now)
        for country, recipients in sending.per_country.items():
            first = self._account.first(snapshot, account, country)
            self._account.renew(writes, snapshot, account, now, country)
            if first is None or now - first < self._window_s:
                writes.add(
                    self._count_key(account, country),
                    recipients,
                    ttl_s=self._window_s + CLOCK_SKEW_S,
                )
        return writes


# --- 4. numbers in sequence -----------------------------------------------------------


class SequentialNumbers(Detector):
    """`pumping_sequence_min_run` numbers in arithmetic progression with a step of
    1..`pumping_sequence_max_step`, among the numbers of one send, or, for a send of at
    most `pumping_sequence_history_max_recipients` numbers, among those and the numbers
    of the account's such sends in the current window of `pumping_sequence_window_s`.

    Walking a range one request at a time is how a sign-up or login form is pumped,
    and such requests carry one number; a large send is judged on its own numbers,
    which spares reading and writing a bitmap block per number for it."""

    name = "sequential_numbers"

    def __init__(self, hot: HotState, settings: Settings) -> None:
        super().__init__(hot)
        self._min_run = settings.pumping_sequence_min_run
        self._max_step = max(1, settings.pumping_sequence_max_step)
        self._history_max = settings.pumping_sequence_history_max_recipients
        self._prefix_digits = settings.pumping_prefix_digits
        self._sent = SentNumbers(hot, settings.pumping_sequence_window_s)

    def _numbers(self, sending: Sending) -> list[int]:
        return [int(number) for number in sending.numbers]

    def _with_history(self, sending: Sending) -> bool:
        return self._min_run > 0 and sending.recipients <= self._history_max

    def _reach(self) -> int:
        return (self._min_run - 1) * self._max_step

    def reads(self, sending: Sending) -> Reads:
        if not self._with_history(sending):
            return Reads()
        return self._sent.near_reads(
            sending.account_id, self._numbers(sending), self._reach(), sending.now
        )

    async def judge(self, sending: Sending, snapshot: Snapshot) -> list[Finding]:
        if self._min_run <= 0:
            return []
        numbers = self._numbers(sending)
        seen: set[int] = set()
        if self._with_history(sending):
            seen = self._sent.near_in(
                snapshot, sending.account_id, numbers, self._reach(), sending.now
            )
        run = longest_run(numbers, seen, self._max_step)
        if run is None or run.length < self._min_run:
            return []
        in_run = run.numbers
        earlier = len(set(in_run) - set(numbers))
        prefixes = sorted({destination_of(str(n), self._prefix_digits).prefix for n in in_run})
        return [
            Finding(
                self.name,
                tuple(Target(PREFIX, p) for p in prefixes),
                f"{run.length} numbers in sequence from {run.first} with a step of {run.step}"
                + (f", {earlier} of them in earlier sends" if earlier else ""),
                {
                    "prefixes": prefixes,
                    "first": str(run.first),
                    "step": run.step,
                    "length": run.length,
                    "from_earlier_sends": earlier,
                    "threshold_min_run": self._min_run,
                    "threshold_max_step": self._max_step,
                },
            )
        ]

    def record_reads(self, sending: Sending) -> Reads:
        if not self._with_history(sending):
            return Reads()
        return self._sent.add_reads(sending.account_id, self._numbers(sending), sending.now)

    def writes(self, sending: Sending, snapshot: Snapshot) -> Writes:
        if not self._with_history(sending):
            return Writes()
        return self._sent.add_writes(
            snapshot, sending.account_id, self._numbers(sending), sending.now
        )


# --- 5. one-time codes nobody verifies ------------------------------------------------


class LowOtpConversion(Detector):
    """A prefix to which the account sent at least `pumping_otp_min_sent` one-time
    codes lately, of which under `pumping_otp_min_verified_ratio` were verified (see
    `secgate.abuse.otp_conversion` for which codes are counted). Nothing to record
    here: the login flow records codes as it sends and verifies them."""

    name = "otp_conversion"

    def __init__(self, conversion: OtpConversion, settings: Settings) -> None:
        super().__init__(conversion.hot)
        self._conversion = conversion
        self._min_sent = settings.pumping_otp_min_sent
        self._min_ratio = settings.pumping_otp_min_verified_ratio

    def reads(self, sending: Sending) -> Reads:
        if self._min_sent <= 0:
            return Reads()
        return self._conversion.sent_lately_reads(sending.account_id, sending.now)

    async def judge(self, sending: Sending, snapshot: Snapshot) -> list[Finding]:
        if self._min_sent <= 0:
            return []
        # An account that sent fewer codes in all cannot have enough to one prefix (and
        # most accounts send none): only then are its prefixes read, one more round trip.
        sent = self._conversion.sent_lately_in(snapshot, sending.account_id, sending.now)
        if sent < self._min_sent:
            return []
        stats = await self._conversion.stats(sending.account_id, sending.per_prefix, sending.now)
        return [
            Finding(
                self.name,
                (Target(PREFIX, prefix),),
                f"{s.verified} of {s.sent} one-time codes sent to prefix {prefix} lately "
                "were verified",
                {
                    "prefix": prefix,
                    "otp_sent": s.sent,
                    "otp_verified": s.verified,
                    "verified_ratio": round(s.verified_ratio, 3),
                    "threshold_min_sent": self._min_sent,
                    "threshold_min_verified_ratio": self._min_ratio,
                },
            )
            for prefix, s in stats.items()
            if s.sent >= self._min_sent and s.verified_ratio < self._min_ratio
        ]

    def record_reads(self, sending: Sending) -> Reads:
        return Reads()

    def writes(self, sending: Sending, snapshot: Snapshot) -> Writes:
        return Writes()
