"""Scoring without scikit-learn's machinery: the fitted pipeline of train.build_model
reduced to its arithmetic.

`Pipeline.predict_proba` spends ~5 ms a call in scikit-learn's bookkeeping (estimator
tags, parameter copies, a joblib dispatch per FeatureUnion) before any arithmetic: fine
for a batch of thousands, far too slow for one message on the send path. The model is
linear, so a score is

    p = 1 / (1 + exp(a · (w · x + c) + b))

where x is the tf-idf vector of the text's hashed n-grams (each l2-normalised) and the
scaled log-length, w and c the SVM's weights and intercept, a and b Platt's sigmoid.
LinearScorer computes exactly that with numpy (the same functions of
secgate.spam_model.features make the n-grams), and equals `predict_proba` to rounding
(tests/spam_model/test_spam_scoring.py checks it on the whole corpus).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC

from secgate.spam_model import features


class UnsupportedPipeline(ValueError):
    """The pipeline is not of the shape train.build_model makes."""


@dataclass(frozen=True)
class _NgramBlock:
    ngrams: Callable[..., tuple[np.ndarray, np.ndarray]]  # features.char_ngrams / word_ngrams
    kwargs: dict[str, object]
    bits: int
    sublinear_tf: bool
    idf: np.ndarray | None
    weights: np.ndarray  # the SVM's weights of this block's columns

    def decision(self, texts: features.HashedTexts) -> np.ndarray:
        """Each text's share of w · x from this block."""
        rows, columns = self.ngrams(texts, **self.kwargs)
        rows, columns, values = features.counted(rows, columns, self.bits)
        if self.sublinear_tf:
            values = np.log(values) + 1.0
        if self.idf is not None:
            values *= self.idf[columns]
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=texts.count))
        norms[norms == 0.0] = 1.0
        return (
            np.bincount(rows, weights=values * self.weights[columns], minlength=texts.count) / norms
        )


@dataclass(frozen=True)
class LinearScorer:
    normalise: Callable[[Sequence[str]], list[str]]
    blocks: tuple[_NgramBlock, ...]
    length_weight: float  # transformer weight x the SVM's weight of the length column
    length_mean: float
    length_scale: float
    intercept: float
    sigmoid_a: float
    sigmoid_b: float

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The spam probability of each text, in 0..1."""
        # Both n-gram blocks hash substrings of the same normalised texts: once.
        normalised = features.HashedTexts(self.normalise(texts))
        decision = np.full(len(texts), self.intercept)
        for block in self.blocks:
            decision += block.decision(normalised)
        if self.length_weight:
            scaled = (features.log_length(texts)[:, 0] - self.length_mean) / self.length_scale
            decision += self.length_weight * scaled
        return 1.0 / (1.0 + np.exp(self.sigmoid_a * decision + self.sigmoid_b))

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearScorer:
        """Read the fitted pipeline; UnsupportedPipeline when it is of another shape."""
        try:
            return cls._read(pipeline)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise UnsupportedPipeline(f"not a pipeline of train.build_model: {exc}") from exc

    @classmethod
    def _read(cls, pipeline: Pipeline) -> LinearScorer:
        union = _step(pipeline, "features", FeatureUnion)
        classify = _step(pipeline, "classify", CalibratedClassifierCV)
        _require(list(classify.classes_) == [False, True], "classes are not [False, True]")
        _require(len(classify.calibrated_classifiers_) == 1, "an ensemble of classifiers")
        calibrated = classify.calibrated_classifiers_[0]
        svm = calibrated.estimator
        _require(type(svm) is LinearSVC and svm.coef_.shape[0] == 1, "not a binary LinearSVC")
        (sigmoid,) = calibrated.calibrators
        _require(type(sigmoid) is _SigmoidCalibration, "not a sigmoid calibration")
        weights = svm.coef_[0]
        parts = dict(union.transformer_list)
        _require(set(parts) <= {"text", "length"} and "text" in parts, "unknown feature parts")
        transformer_weights = union.transformer_weights or {}
        _require(transformer_weights.get("text", 1.0) == 1.0, "a weighted text part")

        text = parts["text"]
        normalise = _step(text, "normalise", FunctionTransformer)
        _require(normalise.func is features.normalise_all and not normalise.kw_args, "normalise")
        ngrams = _step(text, "ngrams", FeatureUnion)
        block_weights = ngrams.transformer_weights or {}
        blocks, offset = [], 0
        for name, block in ngrams.transformer_list:
            count = _step(block, "count", FunctionTransformer)
            tfidf = _step(block, "tfidf", TfidfTransformer)
            _require(tfidf.norm == "l2", f"{name}: tf-idf norm is not l2")
            kwargs = dict(count.kw_args or {})
            if count.func is features.char_ngram_counts:
                ngrams_of, bits = features.char_ngrams, int(kwargs.get("bits", features.CHAR_BITS))
            elif count.func is features.word_ngram_counts:
                ngrams_of, bits = features.word_ngrams, int(kwargs.get("bits", features.WORD_BITS))
            else:
                raise UnsupportedPipeline(f"{name}: unknown n-gram function {count.func!r}")
            idf = tfidf.idf_ if tfidf.use_idf else None
            blocks.append(
                _NgramBlock(
                    ngrams_of,
                    kwargs,
                    bits,
                    bool(tfidf.sublinear_tf),
                    idf,
                    # The union multiplies the block's (normalised) columns by its weight.
                    weights[offset : offset + (1 << bits)] * float(block_weights.get(name, 1.0)),
                )
            )
            offset += 1 << bits

        length_weight, mean, scale = 0.0, 0.0, 1.0
        if "length" in parts:
            length = parts["length"]
            log_length = _step(length, "log_length", FunctionTransformer)
            _require(log_length.func is features.log_length, "length function")
            scaler = _step(length, "scale", StandardScaler)
            mean = float(scaler.mean_[0]) if scaler.with_mean else 0.0
            scale = float(scaler.scale_[0]) if scaler.with_std else 1.0
            length_weight = float(transformer_weights.get("length", 1.0)) * float(weights[offset])
            offset += 1
        _require(offset == len(weights), f"{len(weights)} weights for {offset} features")
        return cls(
            normalise=features.normalise_all,
            blocks=tuple(blocks),
            length_weight=length_weight,
            length_mean=mean,
            length_scale=scale,
            intercept=float(svm.intercept_[0]),
            sigmoid_a=float(sigmoid.a_),
            sigmoid_b=float(sigmoid.b_),
        )


def _step(pipeline: Pipeline, name: str, kind: type) -> object:
    step = pipeline.named_steps[name]
    _require(type(step) is kind, f"{name} is a {type(step).__name__}, not a {kind.__name__}")
    return step


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UnsupportedPipeline(what)
