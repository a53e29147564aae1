"""SpamModelCheck: the model's score against the reject and hold thresholds.

The boundary tests use a stub scorer that answers a fixed score (the thresholds are
what is under test there); every other test uses the shipped model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from transactional_set import read_messages

from secgate.checks.spam_model import (
    INLINE_BATCH_MAX,
    SpamModelCheck,
    shared_model,
    transactional_thresholds,
)
from secgate.checks.verdict import Decision, MessageUnderCheck, Verdict
from secgate.settings import Settings, SettingsError

REJECT, HOLD = 0.8, 0.3


class FixedScore:
    """A stub scorer: every text gets the same score."""

    def __init__(self, score: float) -> None:
        self.score = score

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [self.score] * len(texts)


def message(text: str, sender: str = "SHOP") -> MessageUnderCheck:
    return MessageUnderCheck(
        sender=sender,
        text=text,
        recipients=("96550000001",),
        account_id=7,
        account_sender_ids=frozenset({"SHOP", "BANK", "Bank"}),
        transactional_sender_ids=frozenset({"BANK"}),
    )


def shipped() -> SpamModelCheck:
    return SpamModelCheck.from_settings(Settings.from_env({}))


class TestThresholds:
    @pytest.mark.parametrize(
        ("score", "verdict"),
        [
            (1.0, Verdict.REJECT),
            (REJECT + 1e-9, Verdict.REJECT),
            (REJECT, Verdict.REJECT),  # at the reject threshold
            (REJECT - 1e-9, Verdict.HOLD),
            (HOLD + 1e-9, Verdict.HOLD),
            (HOLD, Verdict.HOLD),  # at the hold threshold
            (HOLD - 1e-9, Verdict.PASS),
            (0.0, Verdict.PASS),
        ],
    )
    async def test_a_score_at_a_threshold_takes_that_verdict(
        self, score: float, verdict: Verdict
    ) -> None:
        result = await SpamModelCheck(FixedScore(score), REJECT, HOLD).check(message("x"))
        assert result.verdict is verdict
        assert result.details["spam_score"] == round(score, 4)

    async def test_a_rejection_is_err032_with_the_score_in_its_reason(self) -> None:
        result = await SpamModelCheck(FixedScore(0.91234), REJECT, HOLD).check(message("x"))
        assert (result.check, result.code) == ("spam_model", "ERR032")
        assert result.reason == "spam score 0.9123 is at or above the default reject threshold 0.8"

    async def test_a_hold_has_no_code_and_says_why(self) -> None:
        result = await SpamModelCheck(FixedScore(0.5), REJECT, HOLD).check(message("x"))
        assert result.code is None
        assert result.reason == "spam score 0.5 is at or above the default hold threshold 0.3"

    async def test_a_pass_still_carries_the_score_for_the_decision(self) -> None:
        result = await SpamModelCheck(FixedScore(0.01), REJECT, HOLD).check(message("x"))
        decision = Decision.combine([result], spam_score=result.details["spam_score"])
        assert decision.verdict is Verdict.PASS and decision.spam_score == 0.01
        assert decision.reasons == []

    @pytest.mark.parametrize(("reject", "hold"), [(0.5, 0.6), (1.1, 0.5), (0.5, -0.1)])
    def test_thresholds_out_of_order_stop_startup(self, reject: float, hold: float) -> None:
        with pytest.raises(SettingsError, match="SECGATE_SPAM_HOLD_SCORE"):
            SpamModelCheck(FixedScore(0.0), reject, hold)

    def test_equal_thresholds_leave_no_hold_band(self) -> None:
        check = SpamModelCheck(FixedScore(0.0), 0.5, 0.5)
        assert check.verdict(0.5).verdict is Verdict.REJECT
        assert check.verdict(0.4999).verdict is Verdict.PASS


class TestTransactionalSenderIds:
    """A message from one of the account's transactional sender IDs is judged at the
    transactional pair; from any other sender, at the default pair."""

    TX_REJECT, TX_HOLD = 0.95, 0.9

    def check(self, score: float) -> SpamModelCheck:
        return SpamModelCheck(
            FixedScore(score), REJECT, HOLD, transactional_thresholds(self.TX_REJECT, self.TX_HOLD)
        )

    @pytest.mark.parametrize(
        ("score", "verdict"),
        [
            (TX_REJECT, Verdict.REJECT),
            (TX_REJECT - 1e-9, Verdict.HOLD),
            (TX_HOLD, Verdict.HOLD),
            (TX_HOLD - 1e-9, Verdict.PASS),
            (REJECT, Verdict.PASS),  # what the default pair would refuse
        ],
    )
    async def test_its_own_thresholds_judge_it(self, score: float, verdict: Verdict) -> None:
        result = await self.check(score).check(message("x", sender="BANK"))
        assert result.verdict is verdict
        assert result.details["spam_thresholds"] == "transactional"

    @pytest.mark.parametrize("sender", ["SHOP", "Bank", "UNKNOWN"])
    async def test_any_other_sender_gets_the_default_thresholds(self, sender: str) -> None:
        # "Bank" is the account's too, but not transactional: sender IDs are case-sensitive.
        result = await self.check(REJECT).check(message("x", sender=sender))
        assert (result.verdict, result.code) == (Verdict.REJECT, "ERR032")
        assert result.details["spam_thresholds"] == "default"
        assert result.reason == "spam score 0.8 is at or above the default reject threshold 0.8"

    async def test_a_transactional_rejection_names_its_threshold(self) -> None:
        result = await self.check(0.97).check(message("x", sender="BANK"))
        assert result.reason == (
            "spam score 0.97 is at or above the transactional reject threshold 0.95"
        )

    async def test_a_batch_judges_each_message_at_its_own_thresholds(self) -> None:
        senders = ["BANK", "SHOP"] * (INLINE_BATCH_MAX + 1)  # scored in a worker thread
        results = await self.check(REJECT).check_batch([message("x", s) for s in senders])
        assert [r.verdict for r in results] == [Verdict.PASS, Verdict.REJECT] * (
            INLINE_BATCH_MAX + 1
        )

    def test_without_a_transactional_pair_they_are_judged_like_any_other(self) -> None:
        check = SpamModelCheck(FixedScore(0.0), REJECT, HOLD)
        assert check.thresholds_for(message("x", sender="BANK")) == check.default

    @pytest.mark.parametrize(("reject", "hold"), [(0.5, 0.6), (1.1, 0.5), (0.5, -0.1)])
    def test_transactional_thresholds_out_of_order_stop_startup(
        self, reject: float, hold: float
    ) -> None:
        with pytest.raises(SettingsError, match="SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE"):
            transactional_thresholds(reject, hold)

    def test_the_shipped_defaults_are_no_more_lenient_than_the_transactional_ones(
        self,
    ) -> None:
        settings = Settings.from_env({})
        assert settings.spam_reject_score <= settings.spam_transactional_reject_score
        assert settings.spam_hold_score <= settings.spam_transactional_hold_score


class TestDeclaration:
    def test_it_is_named_and_fails_open(self) -> None:
        # No store: the model is in the process. A model file that cannot be loaded
        # stops startup instead (test_an_unreadable_model_file_stops_startup).
        check = SpamModelCheck(FixedScore(0.0), REJECT, HOLD)
        assert (check.name, check.fails) == ("spam_model", "open")

    def test_an_unreadable_model_file_stops_startup(self, tmp_path: Path) -> None:
        (tmp_path / "model.skops").write_bytes(b"not a model")
        settings = Settings.from_env({"SECGATE_SPAM_MODEL_PATH": str(tmp_path / "model.skops")})
        with pytest.raises(Exception, match="not a readable model file"):
            SpamModelCheck.from_settings(settings)

    def test_the_model_is_loaded_once_per_process(self) -> None:
        path = Settings.from_env({}).spam_model_path
        assert shared_model(path) is shared_model(Path(str(path)))
        assert shipped()._scorer is shipped()._scorer


class TestShippedModel:
    async def test_obvious_spam_is_rejected_and_chat_passes(self) -> None:
        check = shipped()
        spam = await check.check(
            message(
                "WINNER!! You have been selected to receive a £900 prize reward! To claim "
                "call 09061701461. Claim code KL341. Valid 12 hours only."
            )
        )
        chat = await check.check(message("Are we still on for dinner tonight? I'll be late"))
        assert spam.verdict is Verdict.REJECT
        assert chat.verdict is Verdict.PASS

    async def test_a_batch_scores_as_one_message_at_a_time_in_order(self) -> None:
        check = shipped()
        texts = [f"message {i}: call now to win" if i % 3 else f"see you at {i}" for i in range(20)]
        assert len(texts) > INLINE_BATCH_MAX  # scored in a worker thread
        one_by_one = [(await check.check(message(t))).details["spam_score"] for t in texts]
        batch = await check.check_batch([message(t) for t in texts])
        assert [r.details["spam_score"] for r in batch] == one_by_one
        small = await check.score_batch(texts[:3])
        assert [round(s, 4) for s in small] == one_by_one[:3]

    async def test_an_empty_batch_is_answered(self) -> None:
        assert await shipped().check_batch([]) == []

    async def test_every_transactional_message_passes_from_a_transactional_sender(
        self,
    ) -> None:
        # The content rules' set of one-time codes, bank, delivery and appointment
        # notices in English and Arabic (tests/checks/data/transactional_en_ar.txt), sent
        # from a sender ID registered as transactional: none rejected, none held.
        texts = read_messages()
        assert len(texts) >= 60
        results = await shipped().check_batch([message(t, sender="BANK") for t in texts])
        stopped = [t for t, r in zip(texts, results, strict=True) if r.verdict is not Verdict.PASS]
        assert stopped == []
