"""The SMS pumping and velocity checks of the send path.

Two checks, both failing CLOSED (a send is refused, ERR013, when the hot state does
not answer: failing open would lift every limit for as long as Redis is down):

- `SendRateCheck` ("send_rate"): the account's recipients per minute and per hour.
  Over a limit the send is refused with ERR013 until the window ends (`retry_after_s`
  in the details); one `sms.pumping` alert per account and window.
- `PumpingCheck` ("pumping"): a send to a throttled prefix or country is refused
  (ERR013, the reason says until when) without being judged or counted again. Else the
  detectors of `secgate.abuse.pumping` judge it; one that fires throttles what it found
  for the account for `pumping_throttle_s`, raises one `sms.pumping` alert per
  throttle started, and the send is refused.

ERR013 ("temporarily unable"; kwtSMS: queue full, try again later) is the code of both
refusals: both are temporary, and kwtSMS clients back off and retry on it (the
`kwtsms` client waits 30, 60, 120 s) instead of giving up (a content refusal) or
retrying every 15 s (ERR028). A new code would be unknown to every kwtSMS client.

The call contract for the pipeline:

1. `check(message)` for every message, after the checks that need no store (a send
   that is refused anyway had better not start a throttle); it writes only throttles
   and alerts, never counts. A test message (`message.test`) is judged like a real one
   but starts no throttle and raises no alert.
2. `record_sent(message)` once the send is accepted (committed, verdict PASS), and for
   a held message when staff release it; never for a refused one, nor a test one (it
   does nothing for those). It never raises for the store: a count lost is logged.

Checks and counts are separate steps, so sends in flight at once are judged without
each other's counts: a limit may be passed by what those sends carry.

Round trips to the hot state per send (each check reads for all it judges at once,
see `secgate.abuse.velocity`): `SendRateCheck` one to check and one to count;
`PumpingCheck` one to check (one more when the account has throttles started lately,
or sends one-time codes) and two to count (a read, then an atomic write).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from secgate.abuse.otp_conversion import OtpConversion
from secgate.abuse.pumping import (
    Detector,
    Finding,
    LowOtpConversion,
    NewCountryBurst,
    PrefixSpike,
    RateExcess,
    Sending,
    SendRate,
    SequentialNumbers,
)
from secgate.abuse.throttles import Throttle, Throttles
from secgate.abuse.velocity import Reads, read, write
from secgate.alerts.store import AlertSink
from secgate.checks.verdict import (
    CheckResult,
    CheckStoreUnavailable,
    FailMode,
    MessageCheck,
    MessageUnderCheck,
    passed,
    rejected,
)
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.storage.models import AlertSeverity

log = logging.getLogger("secgate.checks")

ALERT_TYPE = "sms.pumping"
REFUSAL_CODE = "ERR013"
# Targets a refusal names, at most (the rest are counted).
SHOWN_TARGETS = 5


@runtime_checkable
class RecordsSends(Protocol):
    async def record_sent(self, message: MessageUnderCheck) -> None: ...


async def record_sent(checks: Iterable[object], message: MessageUnderCheck) -> None:
    """Count an accepted send in every check that counts sends."""
    for check in checks:
        if isinstance(check, RecordsSends):
            await check.record_sent(message)


def pumping_checks(
    hot: HotState, settings: Settings, alerts: AlertSink, otp: OtpConversion | None = None
) -> list[MessageCheck]:
    """The checks of this module in pipeline order. `otp` is the conversion record
    the login flow writes to (one per application); a fresh one reads the same keys."""
    return [
        SendRateCheck(hot, settings, alerts),
        PumpingCheck(hot, settings, alerts, otp or OtpConversion(hot, settings)),
    ]


def iso_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sending(message: MessageUnderCheck, settings: Settings) -> Sending | None:
    """The send as the detectors see it; None when there is nothing to judge (no
    account to hold to account, e.g. an anonymous content check, or no recipient)."""
    if message.account_id is None or not message.recipients:
        return None
    return Sending.of(
        message.account_id, message.recipients, message.now, settings.pumping_prefix_digits
    )


async def _raise_alert(
    alerts: AlertSink,
    *,
    severity: AlertSeverity,
    account_id: int,
    subject: str,
    details: dict[str, Any],
) -> None:
    """Raise `sms.pumping`. The refusal stands whether or not the alert is stored: a
    failure is logged (the sink logs the alert in full) and goes no further."""
    try:
        await alerts.raise_alert(
            type=ALERT_TYPE,
            severity=severity,
            account_id=account_id,
            subject=subject,
            details=details,
        )
    except Exception:
        log.exception("pumping_alert_not_raised", extra={"account_id": account_id})


class SendRateCheck:
    name = "send_rate"
    fails: FailMode = "closed"

    def __init__(self, hot: HotState, settings: Settings, alerts: AlertSink) -> None:
        self._hot = hot
        self._settings = settings
        self._alerts = alerts
        self._rate = SendRate(hot, settings)

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        account_id = message.account_id
        if account_id is None or not message.recipients:
            return passed(self.name)
        try:
            excess = await self._rate.inspect(account_id, len(message.recipients), message.now)
            # (one round trip: SendRate.inspect reads both windows at once)
            if excess is None:
                return passed(self.name)
            first = not message.test and await self._first_in_window(
                account_id, message.now, excess
            )
        except HotStateUnavailable as exc:
            raise CheckStoreUnavailable(f"{self.name}: {exc}") from exc
        details = {
            "window_s": excess.window_s,
            "recipients_in_window": excess.sent,
            "recipients": excess.recipients,
            "limit": excess.limit,
            "retry_after_s": round(excess.retry_after_s, 3),
        }
        if first:
            await _raise_alert(
                self._alerts,
                severity=AlertSeverity.MEDIUM,
                account_id=account_id,
                subject=f"account:{account_id}:{self.name}",
                details={"detector": self.name, **details},
            )
        return rejected(self.name, REFUSAL_CODE, _rate_reason(excess), **details)

    async def _first_in_window(self, account_id: int, now: float, excess: RateExcess) -> bool:
        """True for the first excess of the account in this window (one alert each)."""
        window = math.floor(now / excess.window_s)
        return await self._hot.put(
            f"pumping.rate_alerted:{account_id}:{excess.window_s:g}:{window}",
            b"1",
            ttl_s=excess.retry_after_s + 60.0,
            only_if_new=True,
        )

    async def record_sent(self, message: MessageUnderCheck) -> None:
        account_id = message.account_id
        if account_id is None or not message.recipients or message.test:
            return
        try:
            await self._rate.record(account_id, len(message.recipients), message.now)
        except HotStateUnavailable:
            log.warning("send_rate_not_recorded", extra={"account_id": account_id})


def _rate_reason(excess: RateExcess) -> str:
    per = "minute" if excess.window_s == 60 else "hour" if excess.window_s == 3600 else None
    limit = f"{excess.limit} recipients a {per}" if per else f"{excess.limit} recipients"
    if excess.recipients > excess.limit:
        return (
            "Too many recipients for the send rate of this account: "
            f"{excess.recipients} in one send, at most {limit}"
        )
    return (
        f"Send rate of this account exceeded: {excess.sent} recipients in this {per or 'window'} "
        f"and {excess.recipients} more would pass {limit}; try again in "
        f"{max(1, round(excess.retry_after_s))} s"
    )


class PumpingCheck:
    name = "pumping"
    fails: FailMode = "closed"

    def __init__(
        self, hot: HotState, settings: Settings, alerts: AlertSink, otp: OtpConversion
    ) -> None:
        self._hot = hot
        self._settings = settings
        self._alerts = alerts
        self._throttles = Throttles(hot, settings.pumping_throttle_s)
        self.detectors: Sequence[Detector] = (
            PrefixSpike(hot, settings),
            NewCountryBurst(hot, settings),
            SequentialNumbers(hot, settings),
            LowOtpConversion(otp, settings),
        )

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        sending = _sending(message, self._settings)
        if sending is None:
            return passed(self.name)
        try:
            # One read for the throttles and every detector.
            reads = self._throttles.reads(sending.account_id, sending.now)
            for detector in self.detectors:
                reads.merge(detector.reads(sending))
            snapshot = await read(self._hot, reads)
            running = await self._throttles.active_in(
                snapshot, sending.account_id, sending.targets(), sending.now
            )
            if running:
                return self._throttled(sending, running)
            findings = [f for d in self.detectors for f in await d.judge(sending, snapshot)]
            if not findings:
                return passed(self.name)
            started = [] if message.test else await self._throttle(sending, findings)
        except HotStateUnavailable as exc:
            raise CheckStoreUnavailable(f"{self.name}: {exc}") from exc
        for throttle, finding in started:
            await _raise_alert(
                self._alerts,
                severity=AlertSeverity.HIGH,
                account_id=sending.account_id,
                subject=f"account:{sending.account_id}:{throttle.target.kind}:"
                f"{throttle.target.value}",
                details={
                    "detector": finding.detector,
                    "target": str(throttle.target),
                    "until": iso_time(throttle.until),
                    "reason": finding.reason,
                    **finding.details,
                },
            )
        return self._found(sending, findings, test=message.test)

    async def _throttle(
        self, sending: Sending, findings: list[Finding]
    ) -> list[tuple[Throttle, Finding]]:
        """Start a throttle on every target found; the ones this send started (a
        target found by two detectors is throttled by the first)."""
        started = []
        for finding in findings:
            for target in finding.targets:
                throttle = await self._throttles.start(
                    sending.account_id, target, finding.detector, sending.now
                )
                if throttle is not None:
                    started.append((throttle, finding))
        return started

    def _throttled(self, sending: Sending, running: list[Throttle]) -> CheckResult:
        until = max(throttle.until for throttle in running)
        shown = ", ".join(
            f"{throttle.target} until {iso_time(throttle.until)} ({throttle.detector})"
            for throttle in running[:SHOWN_TARGETS]
        )
        more = f" and {len(running) - SHOWN_TARGETS} more" if len(running) > SHOWN_TARGETS else ""
        return rejected(
            self.name,
            REFUSAL_CODE,
            f"Sending is throttled for this account (SMS pumping suspected): {shown}{more}",
            throttled=[
                {
                    "target": str(throttle.target),
                    "detector": throttle.detector,
                    "until": iso_time(throttle.until),
                }
                for throttle in running
            ],
            retry_after_s=round(until - sending.now, 3),
        )

    def _found(self, sending: Sending, findings: list[Finding], *, test: bool) -> CheckResult:
        until = sending.now + self._throttles.throttle_s
        targets = list(dict.fromkeys(t for f in findings for t in f.targets))
        shown = ", ".join(str(t) for t in targets[:SHOWN_TARGETS])
        if len(targets) > SHOWN_TARGETS:
            shown += f" and {len(targets) - SHOWN_TARGETS} more"
        seen = "; ".join(f"{f.detector}: {f.reason}" for f in findings)
        outcome = (
            "a test send throttles nothing"
            if test
            else f"sending to {shown} is throttled until {iso_time(until)}"
        )
        return rejected(
            self.name,
            REFUSAL_CODE,
            f"SMS pumping suspected ({seen}); {outcome}",
            findings=[{"detector": f.detector, "reason": f.reason, **f.details} for f in findings],
            throttled=[] if test else [str(t) for t in targets],
            retry_after_s=0.0 if test else round(until - sending.now, 3),
        )

    async def record_sent(self, message: MessageUnderCheck) -> None:
        sending = _sending(message, self._settings)
        if sending is None or message.test:
            return
        # One read and one atomic write for every detector: a store that fails loses
        # this send's counts in all of them (logged), never half of them.
        try:
            reads = Reads()
            for detector in self.detectors:
                reads.merge(detector.record_reads(sending))
            snapshot = await read(self._hot, reads)
            writes = self.detectors[0].writes(sending, snapshot)
            for detector in self.detectors[1:]:
                writes.merge(detector.writes(sending, snapshot))
            await write(self._hot, writes)
        except HotStateUnavailable:
            log.warning("pumping_not_recorded", extra={"account_id": sending.account_id})
