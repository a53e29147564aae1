"""What a pre-send check says about a message, and how a pipeline's answers combine.

A check is one class with a `name` and one method, `check(message) -> CheckResult`:
it denies by returning a HOLD or REJECT result with its reason, never by raising.
The pipeline (secgate.checks.pipeline) runs its checks and folds their results into
one `Decision`: REJECT beats HOLD beats PASS, and a rejection answers with the code
of the first rejecting check in pipeline order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class Verdict(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    HOLD = "hold"  # kept for staff review: not sent, not lost
    REJECT = "reject"  # refused with an ERR code


_SEVERITY = {Verdict.PASS: 0, Verdict.HOLD: 1, Verdict.REJECT: 2}

# What a check does when a store it needs does not answer: "closed" refuses the send
# (ERR013, temporarily unable), "open" lets it through and logs a warning.
FailMode = Literal["open", "closed"]


# The detail of a result given for a check that could not answer (its store was down).
NOT_CHECKED = "not_checked"


class CheckStoreUnavailable(Exception):
    """Raised by a check whose store (hot state, database) does not answer. This is not
    a denial: the pipeline applies the check's `fails` mode."""


@dataclass(frozen=True, slots=True)
class MessageUnderCheck:
    """One message as the checks see it; nothing here knows of HTTP."""

    sender: str
    text: str
    # Normalised MSISDNs (digits, country code first), each once.
    recipients: tuple[str, ...] = ()
    account_id: int | None = None
    # The sender IDs registered to the account (case-sensitive), if known.
    account_sender_ids: frozenset[str] = frozenset()
    # The account's sender IDs registered as transactional.
    transactional_sender_ids: frozenset[str] = frozenset()
    test: bool = False
    client_ip: str | None = None
    # Unix time of the check (the checks take time from here, so tests fix it).
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # the name of the check that answered
    verdict: Verdict
    reason: str = ""
    code: str | None = None  # "ERR0xx" (kwtSMS meaning) when the verdict is REJECT
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_reason(self) -> dict[str, Any]:
        """The entry of this result in a decision's `reasons`."""
        entry: dict[str, Any] = {"check": self.check, "verdict": str(self.verdict)}
        if self.code is not None:
            entry["code"] = self.code
        entry["reason"] = self.reason
        entry.update(self.details)
        return entry


def passed(check: str) -> CheckResult:
    return CheckResult(check, Verdict.PASS)


def held(check: str, reason: str, **details: Any) -> CheckResult:
    return CheckResult(check, Verdict.HOLD, reason, None, details)


def rejected(check: str, code: str, reason: str, **details: Any) -> CheckResult:
    return CheckResult(check, Verdict.REJECT, reason, code, details)


class MessageCheck(Protocol):
    name: str
    fails: FailMode

    async def check(self, message: MessageUnderCheck) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    code: str | None
    spam_score: float
    results: tuple[CheckResult, ...]

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """The reasons to show: every result that is not a pass, and the passes of
        checks that did not answer (failed open, `details["not_checked"]`)."""
        return [
            result.as_reason()
            for result in self.results
            if result.verdict is not Verdict.PASS or result.details.get(NOT_CHECKED)
        ]

    @classmethod
    def combine(cls, results: Iterable[CheckResult], spam_score: float = 0.0) -> Decision:
        ordered = tuple(results)
        verdict, code = Verdict.PASS, None
        for result in ordered:
            if _SEVERITY[result.verdict] > _SEVERITY[verdict]:
                verdict = result.verdict
                code = result.code if result.verdict is Verdict.REJECT else None
        return cls(verdict, code, spam_score, ordered)
