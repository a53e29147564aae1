"""The pre-send pipeline: every check of issue 4 over a message, folded into one Decision.

    content rules (html, bad_language, links, obfuscation) -> sender_id -> spam_model
        [sender_registered first, on the check endpoint with an account]
    then, only while nothing has rejected: send_rate -> pumping

(`default_pipeline`). A refusal carries the code of the first rejecting check in that
order (`Decision.combine`).

Two kinds of checks, run differently:

- `checks` read the message (and caches) and change nothing. Every one of them runs,
  even after one has rejected: staff then see every reason a message was refused, and
  the spam score is always there. This costs little: the spam model (the expensive
  one, ~0.1-0.3 ms) runs on every passing message anyway, and a message that a cheap
  rule rejected costs no more than one that passes.
- `abuse_checks` (SMS pumping and the send rate, `secgate.checks.pumping`) keep state:
  a finding starts a throttle and raises `sms.pumping`. They run in order only while
  the verdict is not REJECT, and stop at the first that rejects, as their call
  contract asks: a message refused anyway must not start a throttle. A HOLD does not
  stop them (a held message is charged, and may be released later).

A check denies by returning. One that raises is handled here:

- a store that does not answer (`CheckStoreUnavailable`, `HotStateUnavailable`, a
  database error): the check's `fails` mode decides. "closed" rejects with ERR013
  (kwtSMS's "try again later"), "open" passes with a warning in the log; either way
  the result carries `not_checked` in its details and appears in `Decision.reasons`.
- anything else is a bug: it is logged with its stack and the message is refused
  ERR013 whatever the check's mode (failing closed: a broken check must not wave
  every message through).

Alerts (`AlertSink`), raised by `check()` unless told not to:

- `sms.spam_blocked` (medium) when a content check rejected (ERR027, ERR031, ERR032);
- `sms.sender_id_blocked` (high) when the sender-ID guard rejected
  (`secgate.checks.sender_ids.alert_for`);
- `sms.spam_held` (low) is raised by `report_held()` once the held message is stored,
  with its msg-id: a hold that could not be stored (short balance) is no hold;
- `sms.pumping` is raised by the pumping checks themselves, once per throttle they
  start (never for a test message); nothing here raises it again.

Alert details carry the reasons, the spam score, the sender, the number of
recipients, the message's length and a keyed fingerprint of its text (an HMAC under
the gateway's secret key: repeats of one text can be grouped, and a short text cannot
be guessed back from it), never the text itself: staff read message text only through
the held-messages API, which logs every look (`secgate.checks.held_messages`). The
reasons do name what matched (a listed word, a link's domain): that is the "why".
A failure to store an alert is logged and changes nothing about the verdict.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.exc import SQLAlchemyError

from secgate.abuse.otp_conversion import OtpConversion
from secgate.alerts.store import AlertSink
from secgate.checks import sender_ids
from secgate.checks.content_rules import default_rule_checks
from secgate.checks.pumping import pumping_checks, record_sent
from secgate.checks.sender_ids import MatcherSource, SenderIdGuard
from secgate.checks.spam_model import SpamModelCheck
from secgate.checks.verdict import (
    NOT_CHECKED,
    CheckResult,
    CheckStoreUnavailable,
    Decision,
    FailMode,
    MessageCheck,
    MessageUnderCheck,
    Verdict,
    passed,
    rejected,
)
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.storage.models import AlertSeverity

if TYPE_CHECKING:
    from secgate.sms.rules import Draft

log = logging.getLogger("secgate.checks")

UNAVAILABLE_CODE = "ERR013"
UNAVAILABLE_REASON = "temporarily unable to check the message; try again later"
# Codes of content refusals: each raises sms.spam_blocked.
CONTENT_CODES = frozenset({"ERR027", "ERR031", "ERR032"})
SPAM_BLOCKED = "sms.spam_blocked"
SPAM_HELD = "sms.spam_held"
# What the customer is told when the spam model refused a message: its reason names
# the score and the threshold, which would let a sender tune a text to pass.
SPAM_REFUSAL = "Message rejected as spam by the content filter"
# Hex digits of the text fingerprint in alert details (64 bits: enough to group repeats).
FINGERPRINT_HEX = 16

# A check raising one of these could not reach its store: its `fails` mode applies.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    CheckStoreUnavailable,
    HotStateUnavailable,
    SQLAlchemyError,
    OSError,
    TimeoutError,
)


@runtime_checkable
class BatchCheck(Protocol):
    """A check that answers for many messages in one call (the spam model)."""

    async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[CheckResult]: ...


class Pipeline:
    """Runs the checks of a message; one per application (appkeys.CHECKS), shared by
    the send path and the check endpoint. Holds no state of its own."""

    def __init__(
        self,
        checks: Sequence[MessageCheck],
        abuse_checks: Sequence[MessageCheck] = (),
        *,
        alerts: AlertSink | None = None,
        fingerprint_key: bytes = b"",
    ) -> None:
        self.checks = tuple(checks)
        self.abuse_checks = tuple(abuse_checks)
        self._alerts = alerts
        self._fingerprint_key = fingerprint_key

    def with_first(self, *extra: MessageCheck) -> Pipeline:
        """This pipeline with `extra` checks before its own (the send path's kwtSMS
        rules, such as sender registration, answer before the pipeline's)."""
        return Pipeline(
            (*extra, *self.checks),
            self.abuse_checks,
            alerts=self._alerts,
            fingerprint_key=self._fingerprint_key,
        )

    async def check(self, message: MessageUnderCheck, *, raise_alerts: bool = True) -> Decision:
        results = [await _run(check, message) for check in self.checks]
        results += await self._abuse_results(message, results)
        decision = Decision.combine(results, spam_score(results))
        if raise_alerts:
            await self._raise_refusal_alerts(message, decision)
        return decision

    async def check_batch(
        self, messages: Sequence[MessageUnderCheck], *, raise_alerts: bool = True
    ) -> list[Decision]:
        """The decision on each message, in order. A check that can answer for a batch
        (the spam model) is called once for all of them; abuse checks go message by
        message, in order (one message's throttle applies to the next)."""
        per_message: list[list[CheckResult]] = [[] for _ in messages]
        for check in self.checks:
            if isinstance(check, BatchCheck) and messages:
                answers = await _run_batch(check, messages)
            else:
                answers = [await _run(check, message) for message in messages]
            for results, answer in zip(per_message, answers, strict=True):
                results.append(answer)
        decisions = []
        for message, results in zip(messages, per_message, strict=True):
            results += await self._abuse_results(message, results)
            decision = Decision.combine(results, spam_score(results))
            if raise_alerts:
                await self._raise_refusal_alerts(message, decision)
            decisions.append(decision)
        return decisions

    async def record_sent(self, message: MessageUnderCheck) -> None:
        """Count an accepted message (committed, verdict PASS; or a held one staff
        released) in the checks that count sends. Never raises for a store."""
        try:
            await record_sent(self.abuse_checks, message)
        except STORE_ERRORS:
            log.warning("checks_send_not_recorded", extra={"account_id": message.account_id})

    async def stored(self, message: MessageUnderCheck, msg_id: str, hold: Decision | None) -> None:
        """The send path has stored a message that passed (`hold` None: counted as
        sent) or was held (`sms.spam_held` raised, nothing counted until release)."""
        if hold is None:
            await self.record_sent(message)
        else:
            await self.report_held(message, hold, msg_id)

    async def report_held(
        self, message: MessageUnderCheck, decision: Decision, msg_id: str
    ) -> None:
        """Raise `sms.spam_held` for a message stored HELD."""
        if decision.verdict is not Verdict.HOLD:
            return
        details = self._details(message, decision, decision.reasons)
        details["msg_id"] = msg_id
        await self._raise(
            type=SPAM_HELD,
            severity=AlertSeverity.LOW,
            account_id=message.account_id,
            ip=message.client_ip,
            details=details,
        )

    async def _abuse_results(
        self, message: MessageUnderCheck, so_far: Sequence[CheckResult]
    ) -> list[CheckResult]:
        results: list[CheckResult] = []
        if any(result.verdict is Verdict.REJECT for result in so_far):
            return results
        for check in self.abuse_checks:
            result = await _run(check, message)
            results.append(result)
            if result.verdict is Verdict.REJECT:
                break
        return results

    async def _raise_refusal_alerts(self, message: MessageUnderCheck, decision: Decision) -> None:
        if decision.verdict is not Verdict.REJECT:
            return
        content = [
            r for r in decision.results if r.verdict is Verdict.REJECT and r.code in CONTENT_CODES
        ]
        if content:
            await self._raise(
                type=SPAM_BLOCKED,
                severity=AlertSeverity.MEDIUM,
                account_id=message.account_id,
                ip=message.client_ip,
                details=self._details(message, decision, [r.as_reason() for r in content]),
            )
        for result in decision.results:
            arguments = sender_ids.alert_for(result, message)
            if arguments is not None:
                arguments["details"] = {
                    **arguments["details"],
                    **self._about(message),
                    "test": message.test,
                }
                await self._raise(**arguments)

    def _details(
        self, message: MessageUnderCheck, decision: Decision, reasons: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "verdict": str(decision.verdict),
            "code": decision.code,
            "reasons": reasons,
            "spam_score": decision.spam_score,
            "sender": message.sender,
            **self._about(message),
            "test": message.test,
        }

    def _about(self, message: MessageUnderCheck) -> dict[str, Any]:
        """What an alert says of the message instead of its text."""
        return {
            "recipients": len(message.recipients),
            "text_chars": len(message.text),
            "text_fingerprint": text_fingerprint(self._fingerprint_key, message.text),
        }

    async def _raise(self, **arguments: Any) -> None:
        if self._alerts is None:
            return
        try:
            await self._alerts.raise_alert(**arguments)
        except Exception:
            # The verdict stands; the sink has logged the alert in full.
            log.exception("checks_alert_not_raised", extra={"type": arguments.get("type")})


def under_check(draft: Draft, now: float) -> MessageUnderCheck:
    """A send's draft (its kwtSMS rules passed) as the checks see it: the sender is
    what recipients will see (the sender ID, or the account's mobile)."""
    return MessageUnderCheck(
        sender=draft.originator or draft.sender,
        text=draft.text,
        recipients=draft.numbers.valid,
        account_id=draft.account.id,
        account_sender_ids=draft.account.sender_ids,
        transactional_sender_ids=draft.account.transactional_sender_ids,
        test=draft.test,
        client_ip=draft.client_ip,
        now=now,
    )


def default_pipeline(
    settings: Settings,
    *,
    hot: HotState,
    protected_senders: MatcherSource,
    alerts: AlertSink,
    otp: OtpConversion | None = None,
) -> Pipeline:
    """Every check of issue 4, in order (see the module's description). Loads the
    spam model (once per process): a model that cannot be loaded stops startup."""
    checks: list[MessageCheck] = [
        *default_rule_checks(settings),
        SenderIdGuard(protected_senders),
        SpamModelCheck.from_settings(settings),
    ]
    return Pipeline(
        checks,
        pumping_checks(hot, settings, alerts, otp),
        alerts=alerts,
        fingerprint_key=settings.secret_key.encode("utf-8"),
    )


async def _run(check: MessageCheck, message: MessageUnderCheck) -> CheckResult:
    try:
        return await check.check(message)
    except STORE_ERRORS as exc:
        return unavailable(check.name, check.fails, exc)
    except Exception as exc:
        log.exception("check_failed", extra={"check": check.name})
        return unavailable(check.name, "closed", exc)


async def _run_batch(
    check: MessageCheck, messages: Sequence[MessageUnderCheck]
) -> list[CheckResult]:
    assert isinstance(check, BatchCheck)
    try:
        answers = await check.check_batch(messages)
    except STORE_ERRORS as exc:
        return [unavailable(check.name, check.fails, exc)] * len(messages)
    except Exception as exc:
        log.exception("check_failed", extra={"check": check.name, "batch": len(messages)})
        return [unavailable(check.name, "closed", exc)] * len(messages)
    if len(answers) != len(messages):
        log.error("check_batch_miscounted", extra={"check": check.name})
        failed = RuntimeError("check_batch answered for another number of messages")
        return [unavailable(check.name, "closed", failed)] * len(messages)
    return answers


def unavailable(name: str, fails: FailMode, error: BaseException) -> CheckResult:
    """The result of a check that could not answer, by its fail mode."""
    if fails == "open":
        log.warning("check_failed_open", extra={"check": name, "error": repr(error)})
        return CheckResult(
            name,
            Verdict.PASS,
            "not checked: its store did not answer (this check fails open)",
            details={NOT_CHECKED: True},
        )
    log.warning("check_failed_closed", extra={"check": name, "error": repr(error)})
    return rejected(name, UNAVAILABLE_CODE, UNAVAILABLE_REASON, **{NOT_CHECKED: True})


def spam_score(results: Iterable[CheckResult]) -> float:
    """The spam model's score among the results; 0.0 when it did not answer."""
    scores = [
        float(score)
        for result in results
        if isinstance(score := result.details.get("spam_score"), int | float)
    ]
    return max(scores, default=0.0)


def refusal_description(decision: Decision) -> str:
    """What the customer is told of a REJECT: the reason of the first rejecting check
    (the one whose code the answer carries), but never the spam score."""
    for result in decision.results:
        if result.verdict is Verdict.REJECT:
            if result.check == "spam_model":
                return SPAM_REFUSAL
            return result.reason or "Message rejected"
    return "Message rejected"


def refusal_retry_after_s(decision: Decision) -> float | None:
    """When a REJECT may be retried: the `retry_after_s` of the first rejecting check
    (a send rate or a throttle ends then), or None when it did not say (a content
    refusal is not retried; a store down has no known end)."""
    for result in decision.results:
        if result.verdict is Verdict.REJECT:
            retry_after_s = result.details.get("retry_after_s")
            if isinstance(retry_after_s, int | float) and retry_after_s > 0:
                return float(retry_after_s)
            return None
    return None


def text_fingerprint(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]


class SenderRegistered:
    """ERR008 on the check endpoint: with an account named, a sender that is neither
    one of its sender IDs (case-sensitive) nor its own mobile number. The send path
    refuses this before the pipeline (`secgate.sms.rules.SenderOwnership`); the
    endpoint adds this check so that its answer is the send's."""

    name = "sender_registered"
    fails: FailMode = "closed"  # needs no store

    def __init__(self, mobile: str | None) -> None:
        # The account's own mobile number (digits with country code), which it may
        # send from as well as from its sender IDs.
        self._mobile = mobile

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        if message.account_id is None or message.sender in message.account_sender_ids:
            return passed(self.name)
        sender = message.sender
        digits = sender.removeprefix("+") if sender.startswith("+") else sender.removeprefix("00")
        if self._mobile is not None and digits == self._mobile:
            return passed(self.name)
        return rejected(
            self.name,
            "ERR008",
            "Sender ID is not registered to this account (sender IDs are case-sensitive)",
        )
