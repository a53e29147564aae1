"""Training: thresholds read off out-of-fold scores, the supplement kept out of every
scored part, a model that learns from a small corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secgate.spam_model import train
from secgate.spam_model.corpus import (
    CorpusError,
    LabelledMessage,
    deduplicate,
    read_labelled,
    split,
)
from secgate.spam_model.train import Candidate, Thresholds, choose_thresholds

COLLECTION = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "sms-spam-collection"
) / "SMSSpamCollection"


class TestChooseThresholds:
    # 1000 ham: budgets of 0.1 % and 0.3 % allow 1 and 3 of them at or above.
    HAM = np.array([0.95, 0.9, 0.85, 0.7, 0.5] + [0.01] * 995)
    SPAM = np.array([0.99, 0.8, 0.3])

    def thresholds(self) -> Thresholds:
        scores = np.concatenate([self.HAM, self.SPAM])
        is_spam = np.array([False] * len(self.HAM) + [True] * len(self.SPAM))
        return choose_thresholds(is_spam, scores)

    def test_reject_is_just_above_the_first_ham_beyond_the_budget(self) -> None:
        # At most 1 ham (0.1 %) at or above: 0.95 may be, 0.9 may not.
        assert self.thresholds().reject == 0.901
        assert (self.HAM >= 0.901).sum() == 1
        assert (self.HAM >= 0.900).sum() == 2  # a step lower is over the budget

    def test_hold_is_the_same_for_its_own_budget(self) -> None:
        # At most 3 ham (0.3 %) held or rejected: 0.95, 0.9, 0.85; not 0.7.
        assert self.thresholds().hold == 0.701
        assert (self.HAM >= 0.701).sum() == 3

    def test_reject_is_never_below_its_floor(self) -> None:
        scores = np.array([0.001] * 1000 + [0.9])
        is_spam = np.array([False] * 1000 + [True])
        chosen = choose_thresholds(is_spam, scores)
        assert chosen.reject == train.MIN_REJECT_SCORE
        assert chosen.hold <= chosen.reject


class TestSupplementBudgets:
    """The supplement's transactional ham, scored out of fold, has budgets of its own:
    none rejected, at most 1 % held or rejected."""

    # The collection alone would give reject 0.901 and hold 0.701 (TestChooseThresholds).
    HAM = TestChooseThresholds.HAM
    SPAM = TestChooseThresholds.SPAM

    def thresholds(self, supplement_ham: list[float]) -> Thresholds:
        scores = np.concatenate([self.HAM, self.SPAM])
        is_spam = np.array([False] * len(self.HAM) + [True] * len(self.SPAM))
        extra = np.array([*supplement_ham, 0.99])
        extra_is_spam = np.array([False] * len(supplement_ham) + [True])
        return choose_thresholds(is_spam, scores, extra_is_spam, extra)

    def test_no_supplement_ham_is_rejected(self) -> None:
        # One code scored 0.93, out of fold: reject goes just above it.
        assert self.thresholds([0.93] + [0.01] * 199).reject == 0.931

    def test_at_most_one_percent_of_supplement_ham_is_held(self) -> None:
        # 200 codes: 2 may be held; the third highest (0.8) may not.
        chosen = self.thresholds([0.85, 0.84, 0.8] + [0.01] * 197)
        assert chosen.hold == 0.801
        assert chosen.reject == 0.901  # the collection's; no code reaches it

    def test_supplement_ham_within_its_budgets_changes_nothing(self) -> None:
        assert self.thresholds([0.05] * 200) == Thresholds(reject=0.901, hold=0.701)

    def test_hold_never_exceeds_reject(self) -> None:
        chosen = self.thresholds([0.6] * 100)
        assert (chosen.reject, chosen.hold) == (0.901, 0.701)
        chosen = self.thresholds([0.95] * 100)  # all codes high: both go above them
        assert chosen.hold == chosen.reject == 0.951


class TestSupplementFolds:
    def test_each_class_is_dealt_round_the_folds(self) -> None:
        ham = 2 * train.CV_FOLDS + 3
        is_spam = np.array([False] * ham + [True] * 3)
        folds = train.supplement_folds(is_spam)
        # Every fold has 2 ham, three of them 3.
        per_fold = np.bincount(folds[~is_spam], minlength=train.CV_FOLDS)
        assert sorted(per_fold) == [2] * (train.CV_FOLDS - 3) + [3, 3, 3]
        assert len(set(folds[is_spam])) == 3  # three spam, three folds

    def test_a_template_is_never_split_across_folds(self) -> None:
        ham_templates, spam_templates = train.CV_FOLDS + 2, train.CV_FOLDS
        is_spam = np.array([False] * 30 + [True] * 20)
        groups = [f"ham.{i % ham_templates}" for i in range(30)] + [
            f"spam.{i % spam_templates}" for i in range(20)
        ]
        folds = train.supplement_folds(is_spam, groups)
        fold_of: dict[str, set[int]] = {}
        for group, fold in zip(groups, folds, strict=True):
            fold_of.setdefault(group, set()).add(int(fold))
        assert all(len(seen) == 1 for seen in fold_of.values())
        # More ham templates than folds: every fold has one; as many spam as folds: one each.
        assert set(folds[~is_spam]) == set(folds[is_spam]) == set(range(train.CV_FOLDS))

    def test_the_folds_are_the_same_each_run(self) -> None:
        is_spam = np.array([False, True] * 20)
        assert (train.supplement_folds(is_spam) == train.supplement_folds(is_spam)).all()


@pytest.fixture(scope="module")
def small() -> list[LabelledMessage]:
    messages = read_labelled(COLLECTION)
    return [m for m in messages if not m.is_spam][:240] + [m for m in messages if m.is_spam][:70]


@pytest.fixture(scope="module")
def trained(small: list[LabelledMessage]) -> train.TrainingResult:
    ticks: list[int] = []
    supplement = [
        LabelledMessage(False, "Your verification code is 483920. Do not share it."),
        LabelledMessage(False, "NBK: KWD 12.500 debited from card ending 4821 at TALABAT."),
        LabelledMessage(True, "Your account is suspended, verify now at http://nbk-login.xyz"),
        LabelledMessage(True, small[-1].text.upper()),  # a twin of a corpus message
    ]
    result = train.train(
        small, supplement, progress=ticks.append, candidates=[Candidate(1.0, 0.1, 2.0)]
    )
    assert ticks == [1] * (train.CV_FOLDS + 1)
    return result


class TestTrain:
    def test_a_model_trained_on_a_small_corpus_tells_spam_from_ham(
        self, trained: train.TrainingResult
    ) -> None:
        held = trained.held_out
        assert held.n == len(trained.held_out_messages)
        assert held.mcc > 0.6
        assert held.ham_blocked <= 0.05

    def test_the_held_out_part_is_the_corpus_split(
        self, trained: train.TrainingResult, small: list[LabelledMessage]
    ) -> None:
        assert trained.held_out_messages == split(deduplicate(small).messages)[1]

    def test_a_twin_of_a_corpus_message_is_dropped_from_the_supplement(
        self, trained: train.TrainingResult
    ) -> None:
        assert trained.corpus_stats["supplement_ham"] == 2
        assert trained.corpus_stats["supplement_spam"] == 1

    def test_the_supplement_is_scored_out_of_fold(self, trained: train.TrainingResult) -> None:
        supplement = trained.metadata()["supplement_cv_metrics"]
        assert (supplement["n"], supplement["ham"], supplement["spam"]) == (3, 2, 1)

    def test_the_metadata_records_the_choice(self, trained: train.TrainingResult) -> None:
        metadata = trained.metadata()
        assert (metadata["svm_c"], metadata["length_weight"], metadata["word_weight"]) == (
            1.0,
            0.1,
            2.0,
        )
        assert metadata["reject_score"] == trained.chosen.default.thresholds.reject
        assert metadata["supplement_weight"] == train.SUPPLEMENT_WEIGHT

    def test_both_pairs_of_thresholds_are_recorded_and_measured_on_the_held_out_part(
        self, trained: train.TrainingResult
    ) -> None:
        metadata = trained.metadata()
        default, transactional = trained.chosen.default, trained.chosen.transactional
        assert (metadata["reject_score"], metadata["hold_score"]) == (
            default.thresholds.reject,
            default.thresholds.hold,
        )
        assert (
            metadata["transactional_reject_score"],
            metadata["transactional_hold_score"],
        ) == (transactional.thresholds.reject, transactional.thresholds.hold)
        assert metadata["held_out_metrics"]["n"] == trained.held_out.n
        assert metadata["held_out_transactional_metrics"]["n"] == trained.held_out.n

    def test_the_transactional_pair_is_never_below_the_default_one(
        self, trained: train.TrainingResult
    ) -> None:
        # The same budgets on the collection, and the supplement's on top.
        default, transactional = trained.chosen.default, trained.chosen.transactional
        assert default.thresholds.reject <= transactional.thresholds.reject
        assert default.thresholds.hold <= transactional.thresholds.hold
        assert trained.held_out.spam_caught >= trained.held_out_transactional.spam_caught

    def test_too_few_distinct_messages_are_refused(self, small: list[LabelledMessage]) -> None:
        with pytest.raises(CorpusError, match="too few distinct messages"):
            train.train(small[:200] + small[-10:], candidates=[Candidate(1.0, 0.0)])
