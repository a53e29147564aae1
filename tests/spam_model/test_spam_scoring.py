"""LinearScorer: the fitted pipeline reduced to numpy gives scikit-learn's scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from secgate.settings import Settings
from secgate.spam_model import features
from secgate.spam_model.corpus import read_labelled
from secgate.spam_model.model_file import SpamModel, load
from secgate.spam_model.scoring import LinearScorer, UnsupportedPipeline
from secgate.spam_model.train import Candidate, build_model

COLLECTION = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "sms-spam-collection"
) / "SMSSpamCollection"


@pytest.fixture(scope="module")
def shipped() -> SpamModel:
    return load(Settings.from_env({}).spam_model_path)


def test_it_equals_predict_proba_on_the_whole_collection(shipped: SpamModel) -> None:
    texts = [m.text for m in read_labelled(COLLECTION)]
    assert shipped.scorer is not None
    assert np.allclose(shipped.scorer(texts), shipped.pipeline_scores(texts), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "text",
    ["", " ", "\u200b", "ok", "رمز التحقق 4839", "x" * 2000, "URGENT! call 09061701461 £1000"],
)
def test_one_message_scores_as_in_a_batch(shipped: SpamModel, text: str) -> None:
    batch = ["hello there", text, "WIN a prize"]
    alone = shipped.scores([text])
    assert alone.shape == (1,)
    assert 0.0 <= alone[0] <= 1.0
    assert alone[0] == pytest.approx(shipped.scores(batch)[1], abs=1e-12)
    assert alone[0] == pytest.approx(shipped.pipeline_scores([text])[0], abs=1e-9)


def test_a_weighted_word_block_is_scored_as_scikit_learn_does() -> None:
    messages = read_labelled(COLLECTION)
    sample = [m for m in messages if not m.is_spam][:150] + [m for m in messages if m.is_spam][:50]
    texts = [m.text for m in sample]
    pipeline = build_model(Candidate(svm_c=1.0, length_weight=0.1, word_weight=2.0)).fit(
        texts, [m.is_spam for m in sample]
    )
    scorer = LinearScorer.from_pipeline(pipeline)
    assert np.allclose(scorer(texts), pipeline.predict_proba(texts)[:, 1], rtol=0, atol=1e-9)


def test_no_text_no_scores(shipped: SpamModel) -> None:
    assert shipped.scores([]).shape == (0,)


def test_a_pipeline_of_another_shape_is_scored_by_scikit_learn() -> None:
    pipeline = Pipeline(
        [
            ("features", FunctionTransformer(features.char_ngram_counts)),
            ("classify", LinearSVC()),
        ]
    )
    with pytest.raises(UnsupportedPipeline, match="features is a FunctionTransformer"):
        LinearScorer.from_pipeline(pipeline)
