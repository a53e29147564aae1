"""Training: choose the model and its thresholds by cross-validation on the training
part, fit it there, and measure it once on the held-out part.

1. The labelled messages are deduplicated (corpus.deduplicate), then split 75/25,
   stratified, with a fixed seed (corpus.split).
2. Each candidate (CANDIDATES: the SVM's C, the weights of the length feature and of
   the word block) is
   scored by 10-fold cross-validation (CV_FOLDS) on the training part: out-of-fold spam
   probabilities for every training message, from models that never saw it. The
   supplement (transactional ham and present-day spam, which the collection lacks) is
   cut into the same 10 folds, a whole template to a fold (supplement_folds), so each of
   its messages is scored out of fold too, by a model that never saw its template. Two
   pairs of thresholds are read off those probabilities (choose_thresholds):
   - default, for any sender ID: budgets of the collection's ham alone;
   - transactional, for the account's transactional sender IDs (one-time codes and
     notices): the collection's budgets and the supplement's transactional ham too, so
     that no kind of notice the model has not seen is rejected.
   The candidate with the best MCC of its reject decision on the collection at its
   transactional thresholds, the binding ones, wins (ties: the better share of spam
   caught, then the simpler model).
3. The winner is fitted on the whole training part, and the held-out part is scored
   once and measured at both pairs: those are the figures of the model card.

The model: the text normalised (features.normalise), character 2- to 5-grams within
words and word 1- and 2-grams, hashed and tf-idf weighted, plus the message's length
(long messages are a robust sign of bulk spam); a linear SVM with balanced class
weights, its scores calibrated into probabilities by Platt scaling on cross-validated
decision values (CALIBRATION_FOLDS; CalibratedClassifierCV, ensemble=False: one SVM,
so one dot product per message).
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC

from secgate.spam_model import corpus, features
from secgate.spam_model.evaluate import Metrics, measure

# Ten folds, not five: a supplement template is scored by a model that saw 90 % of the
# other templates, nearer to the model in service, which saw them all. With five, a
# fifth of the templates were missing at once, often a template's nearest kin with it,
# and the reject threshold (set by the most spam-like unseen template) rose with them.
CV_FOLDS = 10
# Folds of the Platt calibration inside each fit (its own cross-validation).
CALIBRATION_FOLDS = 5
CV_SEED = 42
# Budgets the thresholds are chosen for, as shares of the training ham (out of fold).
# Rejecting ham is the costly error: half the 0.2 % target, to keep a margin for
# traffic the model has not seen. Held ham waits for staff: at most 0.3 % held or rejected.
MAX_HAM_REJECTED = 0.001
MAX_HAM_HELD_OR_REJECTED = 0.003
# The same budgets on the supplement's transactional ham (out of fold), which the
# collection has none of: a code or a bank notice must pass (issue 4), so none may be
# rejected, and at most 1 % held. Zero for rejection, not a share: a refused code is lost
# to its user (a held one is only delayed).
MAX_SUPPLEMENT_HAM_REJECTED = 0.0
MAX_SUPPLEMENT_HAM_HELD_OR_REJECTED = 0.01
# A reject threshold is never below this, whatever the budget allows: a score under it
# says the model finds spam unlikely.
MIN_REJECT_SCORE = 0.1
# Weight of a supplement message against a collection message in every fit: the
# supplement is small, and what it teaches (a code or a bank notice is not spam) must
# outweigh the collection's numbers-and-links-are-spam.
SUPPLEMENT_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class Candidate:
    svm_c: float  # inverse regularisation strength of the linear SVM
    length_weight: float  # weight of the standardised log-length feature (0: none)
    # Weight of the word n-gram block against the character block (each l2-normalised):
    # above 1, the SVM's penalty leans less on words than on character n-grams.
    word_weight: float = 1.0


# The neighbourhood that matters of the earlier 18-candidate grid (C 1, 3 × length weight
# 0, 0.1, 0.3 × word weight 1, 2, 3; see the model card): C = 3 scored within a message
# of C = 1, and dropping the length feature or weighting words 1 cost 2 to 5 points of
# spam caught. Four candidates train in minutes instead of twelve.
CANDIDATES = tuple(Candidate(1.0, length, words) for length in (0.1, 0.3) for words in (2.0, 3.0))


@dataclass(frozen=True, slots=True)
class Thresholds:
    reject: float
    hold: float


@dataclass(frozen=True, slots=True)
class Judged:
    """A pair of thresholds and the out-of-fold figures at them."""

    thresholds: Thresholds
    metrics: Metrics  # of the collection's training part
    supplement_metrics: Metrics  # of the supplement (templates the model had not seen)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    candidate: Candidate
    default: Judged  # any sender ID: the collection's budgets alone
    transactional: Judged  # a transactional sender ID: the supplement's budgets too


@dataclass
class TrainingResult:
    model: Pipeline
    chosen: CandidateScore
    candidates: list[CandidateScore]
    held_out: Metrics  # at the default thresholds
    held_out_transactional: Metrics  # at the transactional thresholds
    corpus_stats: dict[str, int]
    training_seconds: float
    supplement_weight: float
    held_out_messages: list[corpus.LabelledMessage] = field(repr=False, default_factory=list)

    def metadata(self) -> dict[str, object]:
        """What the model file records about how the model was made (plain types)."""
        return {
            "split_seed": corpus.SPLIT_SEED,
            "test_fraction": corpus.TEST_FRACTION,
            "cv_folds": CV_FOLDS,
            "calibration_folds": CALIBRATION_FOLDS,
            "cv_seed": CV_SEED,
            "svm_c": self.chosen.candidate.svm_c,
            "length_weight": self.chosen.candidate.length_weight,
            "word_weight": self.chosen.candidate.word_weight,
            "reject_score": self.chosen.default.thresholds.reject,
            "hold_score": self.chosen.default.thresholds.hold,
            "transactional_reject_score": self.chosen.transactional.thresholds.reject,
            "transactional_hold_score": self.chosen.transactional.thresholds.hold,
            "corpus": dict(self.corpus_stats),
            "cv_metrics": asdict(self.chosen.default.metrics),
            "supplement_cv_metrics": asdict(self.chosen.default.supplement_metrics),
            "cv_transactional_metrics": asdict(self.chosen.transactional.metrics),
            "supplement_cv_transactional_metrics": asdict(
                self.chosen.transactional.supplement_metrics
            ),
            # Every candidate's cross-validated figures, for the card's table.
            "cv_candidates": [
                {
                    **asdict(score.candidate),
                    "reject_score": score.default.thresholds.reject,
                    "hold_score": score.default.thresholds.hold,
                    "spam_caught": score.default.metrics.spam_caught,
                    "mcc": score.default.metrics.mcc,
                    "transactional_reject_score": score.transactional.thresholds.reject,
                    "transactional_hold_score": score.transactional.thresholds.hold,
                    "transactional_spam_caught": score.transactional.metrics.spam_caught,
                    "transactional_mcc": score.transactional.metrics.mcc,
                    "supplement_spam_caught": score.transactional.supplement_metrics.spam_caught,
                }
                for score in self.candidates
            ],
            "held_out_metrics": asdict(self.held_out),
            "held_out_transactional_metrics": asdict(self.held_out_transactional),
            "training_seconds": round(self.training_seconds, 1),
            "supplement_weight": self.supplement_weight,
            "trained_at": datetime.date.today().isoformat(),
        }


def build_model(candidate: Candidate) -> Pipeline:
    ngrams = FeatureUnion(
        [
            (
                "chars",
                Pipeline(
                    [
                        ("count", FunctionTransformer(features.char_ngram_counts)),
                        ("tfidf", TfidfTransformer(sublinear_tf=True)),
                    ]
                ),
            ),
            (
                "words",
                Pipeline(
                    [
                        ("count", FunctionTransformer(features.word_ngram_counts)),
                        ("tfidf", TfidfTransformer(sublinear_tf=True)),
                    ]
                ),
            ),
        ],
        transformer_weights={"words": candidate.word_weight}
        if candidate.word_weight != 1.0
        else None,
    )
    parts: list[tuple[str, object]] = [
        (
            "text",
            Pipeline(
                [("normalise", FunctionTransformer(features.normalise_all)), ("ngrams", ngrams)]
            ),
        )
    ]
    if candidate.length_weight > 0:
        parts.append(
            (
                "length",
                Pipeline(
                    [
                        ("log_length", FunctionTransformer(features.log_length)),
                        ("scale", StandardScaler()),
                    ]
                ),
            )
        )
    union = FeatureUnion(
        parts,
        transformer_weights={"length": candidate.length_weight}
        if candidate.length_weight
        else None,
    )
    svm = LinearSVC(C=candidate.svm_c, class_weight="balanced")
    classifier = CalibratedClassifierCV(svm, cv=CALIBRATION_FOLDS, method="sigmoid", ensemble=False)
    return Pipeline([("features", union), ("classify", classifier)])


def spam_probabilities(model: Pipeline, texts: Sequence[str]) -> np.ndarray:
    return model.predict_proba(list(texts))[:, list(model.classes_).index(True)]


# Below this many messages of a class (after deduplication) cross-validation within
# cross-validation has too few to learn from in some fold.
MIN_PER_CLASS = 20


def train(
    messages: Sequence[corpus.LabelledMessage],
    supplement: Sequence[corpus.LabelledMessage] = (),
    progress: Callable[[int], None] | None = None,
    candidates: Sequence[Candidate] | None = None,
    supplement_weight: float = SUPPLEMENT_WEIGHT,
) -> TrainingResult:
    """Deduplicate, split, choose by cross-validation, fit, measure once (see the
    module's description). The `supplement` (corpus.read_supplement) joins every fit
    but the one that scores its fold; it never enters the held-out part, whose figures
    are the corpus's own.
    `progress(1)` is called after each model fitted (len(candidates) * CV_FOLDS + 1;
    candidates: CANDIDATES unless given)."""
    started = time.perf_counter()
    tick = progress or (lambda _steps: None)
    deduplicated = corpus.deduplicate(messages)
    spam = sum(m.is_spam for m in deduplicated.messages)
    ham = len(deduplicated.messages) - spam
    if min(spam, ham) < MIN_PER_CLASS:
        raise corpus.CorpusError(
            f"too few distinct messages to train on: {spam} spam and {ham} ham after "
            f"removing duplicates; at least {MIN_PER_CLASS} of each are needed"
        )
    training, held_out = corpus.split(deduplicated.messages)
    texts, labels = corpus.texts_and_labels(training)
    y = np.asarray(labels, dtype=bool)
    # Twins of corpus messages are dropped: one could be in the held-out part.
    known = {corpus.duplicate_key(m.text) for m in deduplicated.messages}
    extra = [m for m in corpus.deduplicate(supplement).messages]
    extra = [m for m in extra if corpus.duplicate_key(m.text) not in known]
    extra_texts, extra_labels = corpus.texts_and_labels(extra)
    extra_y = np.asarray(extra_labels, dtype=bool)
    folds = list(
        StratifiedKFold(CV_FOLDS, shuffle=True, random_state=CV_SEED).split(np.zeros(len(y)), y)
    )
    extra_folds = supplement_folds(extra_y, [m.group or f"#{i}" for i, m in enumerate(extra)])
    scored = []
    for candidate in CANDIDATES if candidates is None else candidates:
        out_of_fold = np.empty(len(y), dtype=np.float64)
        extra_out_of_fold = np.empty(len(extra_y), dtype=np.float64)
        for fold, (fit_rows, score_rows) in enumerate(folds):
            extra_fit = np.flatnonzero(extra_folds != fold)
            extra_score = np.flatnonzero(extra_folds == fold)
            model = _fit(
                candidate,
                [texts[i] for i in fit_rows],
                y[fit_rows],
                [extra_texts[i] for i in extra_fit],
                [extra_labels[i] for i in extra_fit],
                supplement_weight,
            )
            out_of_fold[score_rows] = spam_probabilities(model, [texts[i] for i in score_rows])
            if len(extra_score):
                extra_out_of_fold[extra_score] = spam_probabilities(
                    model, [extra_texts[i] for i in extra_score]
                )
            tick(1)
        default = choose_thresholds(y, out_of_fold)
        transactional = choose_thresholds(y, out_of_fold, extra_y, extra_out_of_fold)
        scored.append(
            CandidateScore(
                candidate,
                default=_judged(default, y, out_of_fold, extra_y, extra_out_of_fold),
                transactional=_judged(transactional, y, out_of_fold, extra_y, extra_out_of_fold),
            )
        )
    chosen = max(scored, key=_preference)
    model = _fit(chosen.candidate, texts, y, extra_texts, extra_labels, supplement_weight)
    tick(1)
    held_texts, held_labels = corpus.texts_and_labels(held_out)
    held_scores = spam_probabilities(model, held_texts)
    default, transactional = chosen.default.thresholds, chosen.transactional.thresholds
    held_metrics = measure(held_labels, held_scores, default.reject, default.hold)
    held_transactional = measure(held_labels, held_scores, transactional.reject, transactional.hold)
    stats = {
        "messages_read": len(messages),
        "duplicates_removed": deduplicated.duplicates,
        "conflicting_groups_removed": deduplicated.conflicting,
        "distinct_messages": len(deduplicated.messages),
        "distinct_spam": spam,
        "distinct_ham": ham,
        "training_messages": len(training),
        "training_spam": int(y.sum()),
        "held_out_messages": len(held_out),
        "held_out_spam": sum(held_labels),
        "supplement_ham": len(extra) - sum(extra_labels),
        "supplement_spam": sum(extra_labels),
    }
    return TrainingResult(
        model=model,
        chosen=chosen,
        candidates=scored,
        held_out=held_metrics,
        held_out_transactional=held_transactional,
        corpus_stats=stats,
        training_seconds=time.perf_counter() - started,
        supplement_weight=supplement_weight,
        held_out_messages=held_out,
    )


def _fit(
    candidate: Candidate,
    texts: list[str],
    labels: np.ndarray,
    extra_texts: list[str],
    extra_labels: list[bool],
    extra_weight: float,
) -> Pipeline:
    weights = np.concatenate([np.ones(len(texts)), np.full(len(extra_texts), extra_weight)])
    return build_model(candidate).fit(
        texts + extra_texts,
        np.concatenate([labels, np.asarray(extra_labels, dtype=bool)]),
        classify__sample_weight=weights,
    )


def supplement_folds(is_spam: np.ndarray, groups: Sequence[str] | None = None) -> np.ndarray:
    """The cross-validation fold (0..CV_FOLDS-1) of each supplement message. The groups
    (the templates the messages were made from; none: each message its own) of each
    class are shuffled with CV_SEED and dealt round the folds, so that every fold has
    its share of both classes, however few (StratifiedKFold refuses fewer than CV_FOLDS
    a class), and all the messages of a template are in one fold: a message is scored
    by a model that saw none of its template's siblings, as an unseen kind of message
    would be."""
    if groups is None:
        groups = [str(i) for i in range(len(is_spam))]
    folds = np.empty(len(is_spam), dtype=np.int64)
    rng = np.random.default_rng(CV_SEED)
    for label in (False, True):
        rows = np.flatnonzero(is_spam == label)
        names = sorted({groups[i] for i in rows})
        fold_of = {name: k % CV_FOLDS for k, name in enumerate(rng.permutation(names))}
        folds[rows] = [fold_of[groups[i]] for i in rows]
    return folds


def choose_thresholds(
    is_spam: np.ndarray,
    scores: np.ndarray,
    supplement_is_spam: np.ndarray | None = None,
    supplement_scores: np.ndarray | None = None,
) -> Thresholds:
    """The lowest thresholds (in steps of 0.001) at which the share of the collection's
    ham at or above them stays within MAX_HAM_REJECTED (reject) and
    MAX_HAM_HELD_OR_REJECTED (hold), and the share of the supplement's ham within
    MAX_SUPPLEMENT_HAM_REJECTED and MAX_SUPPLEMENT_HAM_HELD_OR_REJECTED."""
    ham = np.sort(scores[~is_spam])[::-1]
    reject = max(_above(ham, MAX_HAM_REJECTED), MIN_REJECT_SCORE)
    hold = _above(ham, MAX_HAM_HELD_OR_REJECTED)
    if supplement_is_spam is not None and supplement_scores is not None:
        extra_ham = np.sort(supplement_scores[~supplement_is_spam])[::-1]
        if len(extra_ham):
            reject = max(reject, _above(extra_ham, MAX_SUPPLEMENT_HAM_REJECTED))
            hold = max(hold, _above(extra_ham, MAX_SUPPLEMENT_HAM_HELD_OR_REJECTED))
    return Thresholds(reject=reject, hold=min(hold, reject))


def _judged(
    thresholds: Thresholds,
    is_spam: np.ndarray,
    scores: np.ndarray,
    supplement_is_spam: np.ndarray,
    supplement_scores: np.ndarray,
) -> Judged:
    return Judged(
        thresholds,
        measure(is_spam, scores, thresholds.reject, thresholds.hold),
        measure(supplement_is_spam, supplement_scores, thresholds.reject, thresholds.hold),
    )


def _above(ham_descending: np.ndarray, budget: float) -> float:
    allowed = math.floor(budget * len(ham_descending))
    if allowed >= len(ham_descending):
        return 0.0
    # Just above the first ham score beyond the budget, on a grid of 0.001.
    return min(round(math.floor(ham_descending[allowed] * 1000 + 1e-9) / 1000 + 0.001, 3), 1.0)


def _preference(score: CandidateScore) -> tuple[float, ...]:
    # Best MCC of the reject decision; then more spam caught; then the simpler model
    # (no length feature before some, blocks weighted alike, a smaller C: stronger
    # regularisation).
    return (
        round(score.transactional.metrics.mcc, 4),
        round(score.transactional.metrics.spam_caught, 4),
        -score.candidate.length_weight,
        -abs(score.candidate.word_weight - 1.0),
        -score.candidate.svm_c,
    )
