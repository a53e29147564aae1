"""The figures of a model's decisions at its thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from secgate.spam_model.evaluate import evaluate, mcc, measure

LABELS = [True, True, True, True, False, False, False, False, False, False]
SCORES = [0.95, 0.80, 0.50, 0.10, 0.80, 0.49, 0.50, 0.20, 0.05, 0.0]


class TestMeasure:
    def test_a_score_at_the_reject_threshold_is_a_rejection(self) -> None:
        metrics = measure(LABELS, SCORES, reject_score=0.80, hold_score=0.50)
        # spam rejected: 0.95, 0.80; ham rejected: 0.80
        assert (metrics.true_positive, metrics.false_negative) == (2, 2)
        assert (metrics.false_positive, metrics.true_negative) == (1, 5)
        assert metrics.spam_caught == 0.5
        assert metrics.ham_blocked == pytest.approx(1 / 6, abs=1e-6)
        assert metrics.precision == pytest.approx(2 / 3, abs=1e-6)
        assert metrics.accuracy == 0.7

    def test_holds_count_from_the_hold_threshold_on(self) -> None:
        metrics = measure(LABELS, SCORES, reject_score=0.80, hold_score=0.50)
        # spam stopped: 0.95, 0.80, 0.50 (at the hold threshold); ham held: 0.50 only
        assert metrics.spam_caught_with_hold == 0.75
        assert metrics.ham_held == pytest.approx(1 / 6, abs=1e-6)
        assert metrics.ham_held_or_blocked == pytest.approx(2 / 6, abs=1e-6)

    @pytest.mark.parametrize("reject", [0.0, 0.3, 0.5, 0.81, 1.01])
    def test_mcc_is_scikit_learns(self, reject: float) -> None:
        metrics = measure(LABELS, SCORES, reject_score=reject, hold_score=0.0)
        expected = matthews_corrcoef(LABELS, np.asarray(SCORES) >= reject)
        assert metrics.mcc == pytest.approx(expected, abs=1e-6)

    def test_mcc_of_an_empty_row_is_zero(self) -> None:
        assert mcc(tp=0, fp=0, tn=5, fn=3) == 0.0


def test_evaluate_scores_in_batches_and_reports_throughput() -> None:
    calls: list[int] = []
    seen: list[int] = []

    def score(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.array([float(text) for text in texts])

    result = evaluate(
        score,
        [str(s) for s in SCORES],
        LABELS,
        reject_score=0.8,
        hold_score=0.5,
        progress=seen.append,
        batch_size=4,
    )
    assert calls == [4, 4, 2] and seen == [4, 4, 2]
    assert result.metrics == measure(LABELS, SCORES, 0.8, 0.5)
    assert result.msgs_per_s > 0
