"""SpamModelCheck: the model's score against the reject and hold thresholds.

The boundary tests use a stub scorer that answers a fixed score (the thresholds are
what is under test there); every other test uses the shipped model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from transactional_set import read_messages

from secgate.checks.spam_model import INLINE_BATCH_MAX, SpamModelCheck, shared_model
from secgate.checks.verdict import Decision, MessageUnderCheck, Verdict
from secgate.settings import Settings, SettingsError

REJECT, HOLD = 0.8, 0.3


class FixedScore:
    """A stub scorer: every text gets the same score."""

    def __init__(self, score: float) -> None:
        self.score = score

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [self.score] * len(texts)


def message(text: str) -> MessageUnderCheck:
    return MessageUnderCheck(sender="SHOP", text=text, recipients=("96550000001",))


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
        assert result.reason == "spam score 0.9123 is at or above the reject threshold 0.8"

    async def test_a_hold_has_no_code_and_says_why(self) -> None:
        result = await SpamModelCheck(FixedScore(0.5), REJECT, HOLD).check(message("x"))
        assert result.code is None
        assert result.reason == "spam score 0.5 is at or above the hold threshold 0.3"

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

    async def test_no_transactional_message_is_rejected(self) -> None:
        # The content rules' set of one-time codes, bank, delivery and appointment
        # notices in English and Arabic (tests/checks/data/transactional_en_ar.txt).
        texts = read_messages()
        assert len(texts) >= 60
        results = await shipped().check_batch([message(t) for t in texts])
        rejected = [t for t, r in zip(texts, results, strict=True) if r.verdict is Verdict.REJECT]
        assert rejected == []
