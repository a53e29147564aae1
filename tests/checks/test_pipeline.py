"""The pre-send pipeline: how check results fold into one decision, which checks run
after a refusal, what happens when a check's store is down or a check breaks, the
batch form, the alerts, and the default pipeline with every issue-4 check in it.

The checks here are small real ones (a word rule, a counter in the hot state); the
default pipeline's are the real content rules, sender-ID guard, spam model and
pumping checks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from customer_accounts import MakeAccount
from transactional_set import read_messages

from secgate.alerts.store import AlertSink, AlertView, list_alerts
from secgate.checks.content_rules import default_rule_checks
from secgate.checks.pipeline import (
    SPAM_REFUSAL,
    Pipeline,
    SenderRegistered,
    default_pipeline,
    refusal_description,
    refusal_retry_after_s,
    spam_score,
    text_fingerprint,
)
from secgate.checks.protected_senders import ProtectedSenderCache
from secgate.checks.sender_ids import (
    LookAlikeRules,
    ProtectedName,
    SenderIdGuard,
    SenderMatcher,
)
from secgate.checks.spam_model import SpamModelCheck
from secgate.checks.verdict import (
    CheckResult,
    CheckStoreUnavailable,
    FailMode,
    MessageUnderCheck,
    Verdict,
    held,
    passed,
    rejected,
)
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import AlertSeverity

NOW = 1_800_000_000.0
SPAM = (
    "WINNER!! You have been selected to receive a £900 prize reward! To claim call "
    "09061701461. Claim code KL341. Valid 12 hours only."
)


def message(text: str = "Your code is 4839", **changes: Any) -> MessageUnderCheck:
    fields: dict[str, Any] = {
        "sender": "MyShop",
        "text": text,
        "recipients": ("96550000001",),
        "account_id": None,
        "client_ip": "198.51.100.7",
        "now": NOW,
    }
    return MessageUnderCheck(**{**fields, **changes})


@dataclass
class WordRule:
    """Answers `verdict` (with `code`) when `word` is in the text; remembers what it saw."""

    name: str
    word: str
    verdict: Verdict
    code: str | None = None
    fails: FailMode = "closed"
    seen: list[str] = field(default_factory=list)

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        self.seen.append(m.text)
        if self.word not in m.text:
            return passed(self.name)
        if self.verdict is Verdict.HOLD:
            return held(self.name, f"{self.word!r} in the text", word=self.word)
        assert self.code is not None
        return rejected(self.name, self.code, f"{self.word!r} in the text", word=self.word)


@dataclass
class BatchWordRule(WordRule):
    """A WordRule that also answers for many messages at once, like the spam model."""

    batches: list[int] = field(default_factory=list)

    async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[CheckResult]:
        self.batches.append(len(messages))
        return [await self.check(m) for m in messages]


@dataclass
class RecipientBudget:
    """Rejects (ERR013) once an account has sent to more than `limit` recipients; the
    count lives in the hot state and grows only by `record_sent`, like the pumping
    checks'."""

    hot: HotState
    limit: int
    name: str = "budget"
    fails: FailMode = "closed"
    wrap: bool = False  # raise CheckStoreUnavailable rather than the store's own error
    seen: list[str] = field(default_factory=list)

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        self.seen.append(m.text)
        try:
            sent = await self.hot.get_counter(f"budget:{m.account_id}")
        except HotStateUnavailable as exc:
            if self.wrap:
                raise CheckStoreUnavailable("budget store down") from exc
            raise
        if sent + len(m.recipients) > self.limit:
            return rejected(self.name, "ERR013", "over budget", sent=sent)
        return passed(self.name)

    async def record_sent(self, m: MessageUnderCheck) -> None:
        await self.hot.incr(f"budget:{m.account_id}", len(m.recipients), ttl_s=3600)


@dataclass
class Broken:
    """A check with a bug."""

    name: str = "broken"
    fails: FailMode = "open"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        raise ValueError("a bug")


class StaticNames:
    """A MatcherSource with a fixed list of protected names."""

    def __init__(self, *names: ProtectedName) -> None:
        self._matcher = SenderMatcher(names, LookAlikeRules.from_settings())

    async def matcher(self) -> SenderMatcher:
        return self._matcher


@pytest.fixture
def alerts(db_sessions: SessionFactory, memory_hot: MemoryHotState) -> AlertSink:
    return AlertSink(db_sessions, memory_hot, Settings(), clock=lambda: NOW)


@pytest.fixture
async def account_id(make_account: MakeAccount) -> int:
    return await make_account("shop")


async def stored_alerts(db_sessions: SessionFactory) -> list[AlertView]:
    async with db_sessions() as session:
        views, _ = await list_alerts(session)
    return views


def rules() -> list[WordRule]:
    return [
        WordRule("first", "bad", Verdict.REJECT, "ERR031"),
        WordRule("second", "spam", Verdict.REJECT, "ERR032"),
        WordRule("third", "review", Verdict.HOLD),
    ]


# --- folding ---------------------------------------------------------------------------


class TestDecision:
    async def test_a_message_no_check_objects_to_passes_with_no_reasons(self) -> None:
        decision = await Pipeline(rules()).check(message("hello"))
        assert (decision.verdict, decision.code, decision.reasons) == (
            Verdict.PASS,
            None,
            [],
        )

    async def test_reject_beats_hold_and_answers_with_the_first_rejecting_checks_code(
        self,
    ) -> None:
        decision = await Pipeline(rules()).check(message("review this spam, bad"))
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR031")
        assert [r["check"] for r in decision.reasons] == ["first", "second", "third"]

    async def test_a_hold_alone_holds(self) -> None:
        decision = await Pipeline(rules()).check(message("please review"))
        assert (decision.verdict, decision.code) == (Verdict.HOLD, None)
        assert decision.reasons == [
            {
                "check": "third",
                "verdict": "hold",
                "reason": "'review' in the text",
                "word": "review",
            }
        ]

    async def test_every_read_only_check_runs_after_a_refusal(self) -> None:
        checks = rules()
        await Pipeline(checks).check(message("bad"))
        assert [len(check.seen) for check in checks] == [1, 1, 1]

    def test_the_spam_score_is_the_models_and_zero_without_it(self) -> None:
        scored = CheckResult("spam_model", Verdict.PASS, details={"spam_score": 0.0421})
        assert spam_score([passed("html"), scored]) == 0.0421
        assert spam_score([passed("html")]) == 0.0


class TestAbuseChecks:
    """Checks that keep state run only while nothing has rejected."""

    async def test_they_do_not_run_after_a_refusal(self, memory_hot: MemoryHotState) -> None:
        budget = RecipientBudget(memory_hot, limit=10)
        decision = await Pipeline(rules(), [budget]).check(message("bad"))
        assert decision.verdict is Verdict.REJECT
        assert budget.seen == []

    async def test_they_run_after_a_hold(self, memory_hot: MemoryHotState) -> None:
        budget = RecipientBudget(memory_hot, limit=0)
        decision = await Pipeline(rules(), [budget]).check(message("review"))
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")
        assert budget.seen == ["review"]

    async def test_they_stop_at_the_first_that_rejects(self, memory_hot: MemoryHotState) -> None:
        first = RecipientBudget(memory_hot, limit=0, name="first_budget")
        second = RecipientBudget(memory_hot, limit=10, name="second_budget")
        await Pipeline([], [first, second]).check(message())
        assert (len(first.seen), len(second.seen)) == (1, 0)

    async def test_record_sent_counts_in_every_check_that_counts(
        self, memory_hot: MemoryHotState
    ) -> None:
        budget = RecipientBudget(memory_hot, limit=2)
        pipeline = Pipeline([], [budget])
        two = message(recipients=("96550000001", "96550000002"), account_id=7)
        assert (await pipeline.check(two)).verdict is Verdict.PASS
        await pipeline.record_sent(two)
        decision = await pipeline.check(message(account_id=7))
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")

    async def test_record_sent_never_raises_for_a_store(self, dead_hot: HotState) -> None:
        await Pipeline([], [RecipientBudget(dead_hot, limit=2)]).record_sent(message())


# --- failures --------------------------------------------------------------------------


class TestStoreDown:
    @pytest.mark.parametrize("wrap", [False, True], ids=["store-error", "CheckStoreUnavailable"])
    async def test_a_check_that_fails_closed_rejects_with_err013(
        self, dead_hot: HotState, wrap: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        budget = RecipientBudget(dead_hot, limit=10, fails="closed", wrap=wrap)
        with caplog.at_level(logging.WARNING, "secgate.checks"):
            decision = await Pipeline([], [budget]).check(message())
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")
        assert decision.reasons == [
            {
                "check": "budget",
                "verdict": "reject",
                "code": "ERR013",
                "reason": "temporarily unable to check the message; try again later",
                "not_checked": True,
            }
        ]
        assert "check_failed_closed" in caplog.messages

    @pytest.mark.parametrize("wrap", [False, True], ids=["store-error", "CheckStoreUnavailable"])
    async def test_a_check_that_fails_open_passes_with_a_warning_and_a_reason(
        self, dead_hot: HotState, wrap: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        budget = RecipientBudget(dead_hot, limit=10, fails="open", wrap=wrap)
        with caplog.at_level(logging.WARNING, "secgate.checks"):
            decision = await Pipeline([], [budget]).check(message())
        assert (decision.verdict, decision.code) == (Verdict.PASS, None)
        assert decision.reasons == [
            {
                "check": "budget",
                "verdict": "pass",
                "reason": "not checked: its store did not answer (this check fails open)",
                "not_checked": True,
            }
        ]
        assert "check_failed_open" in caplog.messages

    async def test_a_broken_check_rejects_even_if_it_fails_open(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, "secgate.checks"):
            decision = await Pipeline([Broken(fails="open")]).check(message())
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")
        assert "check_failed" in caplog.messages


# --- batches ---------------------------------------------------------------------------


class TestBatch:
    async def test_a_batch_check_is_called_once_and_answers_in_order(
        self, memory_hot: MemoryHotState
    ) -> None:
        model = BatchWordRule("model", "spam", Verdict.REJECT, "ERR032")
        budget = RecipientBudget(memory_hot, limit=10)
        pipeline = Pipeline([*rules()[::2], model], [budget])
        texts = ["hello", "spam", "review", "bad"]
        decisions = await pipeline.check_batch([message(t) for t in texts])
        assert model.batches == [4]
        assert [(d.verdict, d.code) for d in decisions] == [
            (Verdict.PASS, None),
            (Verdict.REJECT, "ERR032"),
            (Verdict.HOLD, None),
            (Verdict.REJECT, "ERR031"),
        ]
        # The abuse check saw only the messages nothing had rejected.
        assert budget.seen == ["hello", "review"]

    async def test_a_batch_decides_as_single_checks_do(self, memory_hot: MemoryHotState) -> None:
        pipeline = Pipeline([*rules(), BatchWordRule("model", "x", Verdict.HOLD)])
        texts = ["hello", "x", "spam x", "bad review", "review"]
        one_by_one = [await pipeline.check(message(t)) for t in texts]
        assert await pipeline.check_batch([message(t) for t in texts]) == one_by_one

    async def test_an_empty_batch_is_no_decision(self) -> None:
        assert await Pipeline(rules()).check_batch([]) == []

    async def test_a_batch_check_that_breaks_rejects_the_whole_batch(self) -> None:
        class BrokenBatch(BatchWordRule):
            async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[Any]:
                raise CheckStoreUnavailable("down")

        closed = BrokenBatch("model", "spam", Verdict.REJECT, "ERR032")
        decisions = await Pipeline([closed]).check_batch([message("a"), message("b")])
        assert [(d.verdict, d.code) for d in decisions] == [(Verdict.REJECT, "ERR013")] * 2

    async def test_a_batch_check_that_miscounts_fails_closed(self) -> None:
        class Miscounting(BatchWordRule):
            async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[Any]:
                return []

        model = Miscounting("model", "spam", Verdict.REJECT, "ERR032", fails="open")
        decisions = await Pipeline([model]).check_batch([message("a")])
        assert [(d.verdict, d.code) for d in decisions] == [(Verdict.REJECT, "ERR013")]


class TestChecksAtOnce:
    """Messages checked at the same time (concurrent requests) share one spam-model call
    (`SpamModelCheck.check`), and each is decided as if checked alone."""

    async def test_they_are_scored_in_one_call_each_as_alone(self, settings: Settings) -> None:
        model = _CountingScorer(SpamModelCheck.from_settings(settings)._scorer)
        check = SpamModelCheck(model, settings.spam_reject_score, settings.spam_hold_score)
        pipeline = Pipeline([*rules(), check])
        texts = ["Your code is 4839", SPAM, "bad", "review", SPAM + " now"]
        alone = [await pipeline.check(message(t)) for t in texts]
        assert model.calls == [1] * len(texts)
        model.calls.clear()
        together = await asyncio.gather(*(pipeline.check(message(t)) for t in texts))
        assert model.calls == [len(texts)]
        assert list(together) == alone
        assert {d.verdict for d in together} == {Verdict.PASS, Verdict.HOLD, Verdict.REJECT}

    async def test_a_scorer_that_breaks_refuses_each_message(self) -> None:
        class BrokenScorer:
            def scores(self, texts: Sequence[str]) -> list[float]:
                raise ValueError("broken model")

        pipeline = Pipeline([SpamModelCheck(BrokenScorer(), 0.9, 0.5)])
        decisions = await asyncio.gather(*(pipeline.check(message(t)) for t in "abc"))
        assert [(d.verdict, d.code) for d in decisions] == [(Verdict.REJECT, "ERR013")] * 3

    async def test_a_check_given_up_is_not_scored(self) -> None:
        model = _CountingScorer(_FixedScore(0.1))
        check = SpamModelCheck(model, 0.9, 0.5)
        gone = asyncio.ensure_future(check.check(message("gone")))
        await asyncio.sleep(0)  # it waits for the next scoring call
        gone.cancel()
        stays = await check.check(message("stays"))
        assert (stays.verdict, model.calls) == (Verdict.PASS, [1])


@dataclass
class _CountingScorer:
    """A real scorer, with the size of each call it answered."""

    scorer: Any
    calls: list[int] = field(default_factory=list)

    def scores(self, texts: Sequence[str]) -> Sequence[float]:
        self.calls.append(len(texts))
        return self.scorer.scores(texts)


# --- what the customer is told ---------------------------------------------------------


class TestRefusalDescription:
    async def test_it_is_the_reason_of_the_check_whose_code_answers(self) -> None:
        decision = await Pipeline(rules()).check(message("spam and bad"))
        assert refusal_description(decision) == "'bad' in the text"

    async def test_the_spam_models_score_and_threshold_are_not_told(self) -> None:
        model = SpamModelCheck(scorer=_FixedScore(0.9), reject_score=0.5, hold_score=0.3)
        decision = await Pipeline([model]).check(message("anything"))
        assert "0.9" in decision.results[0].reason
        assert refusal_description(decision) == SPAM_REFUSAL


@dataclass
class _Throttled:
    """Rejects every message with ERR013 until `retry_after_s` from now."""

    retry_after_s: float
    name: str = "throttled"
    fails: FailMode = "closed"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        return rejected(self.name, "ERR013", "throttled", retry_after_s=self.retry_after_s)


class TestRefusalRetryAfter:
    async def test_it_is_when_the_rejecting_checks_throttle_ends(self) -> None:
        decision = await Pipeline([_Throttled(42.5)]).check(message())
        assert refusal_retry_after_s(decision) == 42.5

    async def test_a_content_refusal_has_none(self) -> None:
        decision = await Pipeline(rules()).check(message("spam and bad"))
        assert refusal_retry_after_s(decision) is None

    async def test_it_is_the_first_rejecting_checks_whose_code_answers(self) -> None:
        checks = [*rules(), _Throttled(42.5)]
        decision = await Pipeline(checks).check(message("bad"))
        assert decision.code == "ERR031"
        assert refusal_retry_after_s(decision) is None

    async def test_a_throttle_ending_now_has_none(self) -> None:
        decision = await Pipeline([_Throttled(0.0)]).check(message())
        assert refusal_retry_after_s(decision) is None


@dataclass
class _FixedScore:
    score: float

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [self.score] * len(texts)


class TestSenderRegistered:
    async def test_an_account_may_use_its_sender_ids_and_its_own_mobile(self) -> None:
        check = SenderRegistered("96550000000")
        for sender in ("Kuwait", "96550000000", "+96550000000", "0096550000000"):
            result = await check.check(
                message(sender=sender, account_id=1, account_sender_ids=frozenset({"Kuwait"}))
            )
            assert result.verdict is Verdict.PASS, sender

    async def test_another_sender_is_err008_and_sender_ids_are_case_sensitive(self) -> None:
        result = await SenderRegistered("96550000000").check(
            message(sender="KUWAIT", account_id=1, account_sender_ids=frozenset({"Kuwait"}))
        )
        assert (result.verdict, result.code) == (Verdict.REJECT, "ERR008")

    async def test_without_an_account_it_does_not_apply(self) -> None:
        result = await SenderRegistered(None).check(message(sender="Anything"))
        assert result.verdict is Verdict.PASS


# --- alerts ----------------------------------------------------------------------------


class TestAlerts:
    async def test_a_content_refusal_raises_spam_blocked_with_reasons_and_no_text(
        self, alerts: AlertSink, db_sessions: SessionFactory, account_id: int
    ) -> None:
        pipeline = Pipeline(rules(), alerts=alerts, fingerprint_key=b"k")
        text = "this is spam and bad"
        await pipeline.check(message(text, account_id=account_id))
        (alert,) = await stored_alerts(db_sessions)
        assert (alert.type, alert.severity, alert.ip) == (
            "sms.spam_blocked",
            AlertSeverity.MEDIUM,
            "198.51.100.7",
        )
        assert alert.account == "shop"
        details = alert.details
        assert [r["check"] for r in details["reasons"]] == ["first", "second"]
        assert (details["code"], details["sender"], details["recipients"]) == (
            "ERR031",
            "MyShop",
            1,
        )
        assert details["text_chars"] == len(text)
        assert details["text_fingerprint"] == text_fingerprint(b"k", text)
        assert text not in str(details)

    async def test_the_fingerprint_groups_one_text_and_needs_the_key(self) -> None:
        assert text_fingerprint(b"k", "a") == text_fingerprint(b"k", "a")
        assert text_fingerprint(b"k", "a") != text_fingerprint(b"other", "a")
        assert len(text_fingerprint(b"k", "a")) == 16

    async def test_a_sender_guard_refusal_raises_sender_id_blocked(
        self, alerts: AlertSink, db_sessions: SessionFactory, account_id: int
    ) -> None:
        guard = SenderIdGuard(StaticNames(ProtectedName("NBK")))
        await Pipeline([guard], alerts=alerts).check(message(sender="N8K", account_id=account_id))
        (alert,) = await stored_alerts(db_sessions)
        assert (alert.type, alert.severity) == ("sms.sender_id_blocked", AlertSeverity.HIGH)
        assert alert.details["protected"] == "NBK"
        assert alert.details["recipients"] == 1

    async def test_both_alerts_when_both_refuse(
        self, alerts: AlertSink, db_sessions: SessionFactory, account_id: int
    ) -> None:
        guard = SenderIdGuard(StaticNames(ProtectedName("NBK")))
        pipeline = Pipeline([*rules(), guard], alerts=alerts)
        await pipeline.check(message("bad", sender="NBK", account_id=account_id))
        assert sorted(a.type for a in await stored_alerts(db_sessions)) == [
            "sms.sender_id_blocked",
            "sms.spam_blocked",
        ]

    async def test_a_hold_raises_nothing_until_it_is_reported_with_its_msg_id(
        self, alerts: AlertSink, db_sessions: SessionFactory, account_id: int
    ) -> None:
        pipeline = Pipeline(rules(), alerts=alerts)
        held_message = message("review me", account_id=account_id)
        decision = await pipeline.check(held_message)
        assert await stored_alerts(db_sessions) == []
        await pipeline.report_held(held_message, decision, "abc123")
        (alert,) = await stored_alerts(db_sessions)
        assert (alert.type, alert.severity) == ("sms.spam_held", AlertSeverity.LOW)
        assert alert.details["msg_id"] == "abc123"
        assert [r["check"] for r in alert.details["reasons"]] == ["third"]

    async def test_report_held_ignores_a_decision_that_is_no_hold(
        self, alerts: AlertSink, db_sessions: SessionFactory
    ) -> None:
        pipeline = Pipeline(rules(), alerts=alerts)
        passing = message("hello")
        await pipeline.report_held(passing, await pipeline.check(passing), "abc")
        assert await stored_alerts(db_sessions) == []

    async def test_other_refusals_raise_nothing_here(
        self, alerts: AlertSink, db_sessions: SessionFactory, dead_hot: HotState
    ) -> None:
        # ERR013 (store down, or the pumping checks, which raise sms.pumping themselves).
        pipeline = Pipeline([], [RecipientBudget(dead_hot, limit=1)], alerts=alerts)
        assert (await pipeline.check(message())).code == "ERR013"
        assert await stored_alerts(db_sessions) == []

    async def test_no_alert_when_told_not_to(
        self, alerts: AlertSink, db_sessions: SessionFactory
    ) -> None:
        await Pipeline(rules(), alerts=alerts).check(message("bad"), raise_alerts=False)
        await Pipeline(rules(), alerts=alerts).check_batch([message("bad")], raise_alerts=False)
        assert await stored_alerts(db_sessions) == []

    async def test_a_batch_raises_one_alert_per_refused_message(
        self, alerts: AlertSink, db_sessions: SessionFactory
    ) -> None:
        pipeline = Pipeline(rules(), alerts=alerts)
        await pipeline.check_batch([message("bad"), message("ok"), message("spam")])
        (alert,) = await stored_alerts(db_sessions)  # folded: same subject (the address)
        assert (alert.type, alert.count) == ("sms.spam_blocked", 2)

    async def test_an_alert_that_cannot_be_stored_leaves_the_verdict(
        self, make_settings: Any, memory_hot: MemoryHotState, caplog: pytest.LogCaptureFixture
    ) -> None:
        engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        try:
            sink = AlertSink(session_factory(engine), memory_hot, Settings())
            with caplog.at_level(logging.ERROR, "secgate.checks"):
                decision = await Pipeline(rules(), alerts=sink).check(message("bad"))
        finally:
            await engine.dispose()
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR031")
        assert "checks_alert_not_raised" in caplog.messages


# --- the default pipeline --------------------------------------------------------------


OWNER = 41
TRANSACTIONAL_TEXTS = read_messages()


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key="k" * 32)


class TestDefaultPipeline:
    async def test_every_issue_4_check_is_in_it_in_order(
        self, settings: Settings, memory_hot: MemoryHotState, alerts: AlertSink
    ) -> None:
        pipeline = default_pipeline(
            settings, hot=memory_hot, protected_senders=StaticNames(), alerts=alerts
        )
        assert [c.name for c in pipeline.checks] == [
            *(c.name for c in default_rule_checks(settings)),
            "sender_id",
            "spam_model",
        ]
        assert [c.name for c in pipeline.abuse_checks] == ["send_rate", "pumping"]

    @pytest.mark.parametrize("text", TRANSACTIONAL_TEXTS)
    async def test_transactional_messages_pass(
        self, text: str, settings: Settings, memory_hot: MemoryHotState
    ) -> None:
        """Every one-time code, bank and delivery notice of the test set passes the whole
        pipeline, the spam model included, sent by an account that owns its sender and
        registered it as transactional (the spam model's transactional thresholds).
        (The alert sink's database is never reached: a pass raises nothing.)"""
        unused = session_factory(create_engine("sqlite+aiosqlite:///:memory:"))
        pipeline = default_pipeline(
            settings,
            hot=memory_hot,
            protected_senders=StaticNames(ProtectedName("KFH", frozenset({OWNER}))),
            alerts=AlertSink(unused, memory_hot, settings),
        )
        decision = await pipeline.check(
            message(
                text,
                sender="KFH",
                account_id=OWNER,
                account_sender_ids=frozenset({"KFH"}),
                transactional_sender_ids=frozenset({"KFH"}),
                recipients=("96550000001",),
            )
        )
        assert (decision.verdict, decision.reasons) == (Verdict.PASS, [])
        assert 0.0 <= decision.spam_score < settings.spam_transactional_hold_score

    async def test_spam_is_refused_with_err032_and_its_score(
        self, settings: Settings, memory_hot: MemoryHotState, alerts: AlertSink
    ) -> None:
        pipeline = default_pipeline(
            settings, hot=memory_hot, protected_senders=StaticNames(), alerts=alerts
        )
        decision = await pipeline.check(message(SPAM))
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR032")
        assert decision.spam_score >= settings.spam_reject_score
        assert refusal_description(decision) == SPAM_REFUSAL

    async def test_the_sender_guard_fails_closed_when_the_database_is_down(
        self, settings: Settings, memory_hot: MemoryHotState, alerts: AlertSink
    ) -> None:
        engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        try:
            names = ProtectedSenderCache(session_factory(engine), settings)
            pipeline = default_pipeline(
                settings, hot=memory_hot, protected_senders=names, alerts=alerts
            )
            decision = await pipeline.check(message())
        finally:
            await engine.dispose()
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")
        assert [r["check"] for r in decision.reasons] == ["sender_id"]

    async def test_the_pumping_checks_fail_closed_when_the_hot_state_is_down(
        self, settings: Settings, dead_hot: HotState, alerts: AlertSink
    ) -> None:
        pipeline = default_pipeline(
            settings, hot=dead_hot, protected_senders=StaticNames(), alerts=alerts
        )
        decision = await pipeline.check(message(account_id=OWNER))
        assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR013")
        assert [r["check"] for r in decision.reasons] == ["send_rate"]

    async def test_without_an_account_the_pumping_checks_pass_without_a_store(
        self, settings: Settings, dead_hot: HotState, alerts: AlertSink
    ) -> None:
        pipeline = default_pipeline(
            settings, hot=dead_hot, protected_senders=StaticNames(), alerts=alerts
        )
        assert (await pipeline.check(message(account_id=None))).verdict is Verdict.PASS

    async def test_a_batch_scores_the_model_once(
        self, settings: Settings, memory_hot: MemoryHotState, alerts: AlertSink
    ) -> None:
        pipeline = default_pipeline(
            settings, hot=memory_hot, protected_senders=StaticNames(), alerts=alerts
        )
        texts = [SPAM, *TRANSACTIONAL_TEXTS[:20]]
        decisions = await pipeline.check_batch([message(t) for t in texts], raise_alerts=False)
        singles = [await pipeline.check(message(t), raise_alerts=False) for t in texts]
        assert decisions[0].verdict is Verdict.REJECT
        assert [(d.verdict, d.spam_score) for d in decisions] == [
            (d.verdict, d.spam_score) for d in singles
        ]
