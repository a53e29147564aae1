"""How well a model separates spam from ham, at its thresholds.

The figures are those of the decision the gateway takes: a message whose spam score is
at or above the reject threshold is refused (ERR032); "spam caught" and "ham blocked"
count those refusals only. A message scoring in [hold, reject) is held for staff
review, neither sent nor refused; the `*_with_hold` and `ham_held` figures say what
counting holds as catches would give.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Messages scored in one call when a whole file is evaluated.
BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Metrics:
    n: int
    spam: int
    ham: int
    # Of the reject decision (score >= reject threshold) against the labels:
    accuracy: float
    spam_caught: float  # recall: share of spam rejected
    ham_blocked: float  # false-positive rate: share of ham rejected
    mcc: float  # Matthews correlation coefficient
    precision: float  # share of rejected messages that are spam
    true_positive: int  # spam rejected
    false_positive: int  # ham rejected
    true_negative: int  # ham not rejected
    false_negative: int  # spam not rejected
    # Counting holds too (score >= hold threshold):
    spam_caught_with_hold: float
    ham_held: float  # share of ham held (not rejected)
    ham_held_or_blocked: float


def measure(
    is_spam: Sequence[bool] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    reject_score: float,
    hold_score: float,
) -> Metrics:
    labels = np.asarray(is_spam, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    rejected = scores >= reject_score
    stopped = scores >= min(hold_score, reject_score)
    tp = int(np.sum(rejected & labels))
    fp = int(np.sum(rejected & ~labels))
    tn = int(np.sum(~rejected & ~labels))
    fn = int(np.sum(~rejected & labels))
    spam, ham = tp + fn, tn + fp
    return Metrics(
        n=len(labels),
        spam=spam,
        ham=ham,
        accuracy=_share(tp + tn, len(labels)),
        spam_caught=_share(tp, spam),
        ham_blocked=_share(fp, ham),
        mcc=round(mcc(tp, fp, tn, fn), 6),
        precision=_share(tp, tp + fp),
        true_positive=tp,
        false_positive=fp,
        true_negative=tn,
        false_negative=fn,
        spam_caught_with_hold=_share(int(np.sum(stopped & labels)), spam),
        ham_held=_share(int(np.sum(stopped & ~rejected & ~labels)), ham),
        ham_held_or_blocked=_share(int(np.sum(stopped & ~labels)), ham),
    )


def mcc(tp: int, fp: int, tn: int, fn: int) -> float:
    """Matthews correlation coefficient; 0 when a row or column of the confusion
    matrix is empty (as scikit-learn)."""
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    metrics: Metrics
    msgs_per_s: float  # scoring throughput, normalisation included, in batches


def evaluate(
    score: Callable[[Sequence[str]], np.ndarray],
    texts: Sequence[str],
    is_spam: Sequence[bool],
    reject_score: float,
    hold_score: float,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> Evaluation:
    """Score the texts in batches of `batch_size` (calling `progress(batch length)`
    after each) and measure the decisions at the thresholds."""
    scores = np.empty(len(texts), dtype=np.float64)
    elapsed = 0.0
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        began = time.perf_counter()
        scores[start : start + len(batch)] = score(batch)
        elapsed += time.perf_counter() - began
        if progress is not None:
            progress(len(batch))
    metrics = measure(is_spam, scores, reject_score, hold_score)
    return Evaluation(metrics, round(len(texts) / elapsed, 1) if elapsed > 0 else 0.0)
