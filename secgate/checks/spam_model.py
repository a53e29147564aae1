"""ERR032 / hold: the content spam model's verdict on a message.

The model (secgate.spam_model) gives each text a spam score, a calibrated probability
in 0..1. At or above `spam_reject_score` the message is refused (ERR032, spam); at or
above `spam_hold_score` it is held for staff review; below, it passes. Every result,
a pass included, carries `details["spam_score"]` so that the pipeline can put the
score in its Decision.

Fail mode: the model lives in the process and needs no store, so nothing can be
"down" while checking: `fails = "open"` is only the declaration the interface asks
for. A model file that cannot be loaded stops the server at startup instead
(`from_settings` raises), rather than letting every message through unchecked.

Where inference runs: a batch of more than INLINE_BATCH_MAX texts (`score_batch`,
`check_batch`) goes to a worker thread (asyncio.to_thread), so that a bulk send does
not hold the event loop for the tens of milliseconds thousands of messages take. One
message is scored on the event loop: measured with bench/spam_model.py, scoring one
takes ~0.2 ms (p99 ~0.5 ms) and a hop to a thread and back ~0.04 ms; the hop is
cheaper, but scoring holds the GIL nearly throughout (regular expressions, small numpy
calls), so the loop would wait for the thread just the same, plus the hop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from secgate.checks.verdict import (
    CheckResult,
    FailMode,
    MessageUnderCheck,
    Verdict,
    held,
    rejected,
)
from secgate.settings import Settings, SettingsError
from secgate.spam_model.model_file import SpamModel, load

# Batches of at most this many texts are scored on the event loop; larger ones in a
# worker thread (see the module's description).
INLINE_BATCH_MAX = 8


class SpamScorer(Protocol):
    def scores(self, texts: Sequence[str]) -> Sequence[float]: ...


class SpamModelCheck:
    """ERR032 at or above the reject score, hold at or above the hold score."""

    name = "spam_model"
    fails: FailMode = "open"  # in-process model, no store (see the module's description)

    def __init__(self, scorer: SpamScorer, reject_score: float, hold_score: float) -> None:
        if not 0.0 <= hold_score <= reject_score <= 1.0:
            raise SettingsError(
                f"SECGATE_SPAM_HOLD_SCORE ({hold_score}) and SECGATE_SPAM_REJECT_SCORE "
                f"({reject_score}) must satisfy 0 <= hold <= reject <= 1"
            )
        self._scorer = scorer
        self.reject_score = reject_score
        self.hold_score = hold_score

    @classmethod
    def from_settings(cls, settings: Settings) -> SpamModelCheck:
        """The check with the model of `settings.spam_model_path`, loaded once per
        process; ModelFileError when it cannot be loaded (startup must stop)."""
        return cls(
            shared_model(settings.spam_model_path),
            settings.spam_reject_score,
            settings.spam_hold_score,
        )

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        (score,) = self._scorer.scores([message.text])
        return self.verdict(float(score))

    async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[CheckResult]:
        scores = await self.score_batch([message.text for message in messages])
        return [self.verdict(score) for score in scores]

    async def score_batch(self, texts: Sequence[str]) -> list[float]:
        """The spam score of each text, in order."""
        if len(texts) <= INLINE_BATCH_MAX:
            return [float(score) for score in self._scorer.scores(texts)]
        scores = await asyncio.to_thread(self._scorer.scores, list(texts))
        return [float(score) for score in scores]

    def verdict(self, score: float) -> CheckResult:
        shown = round(score, 4)
        if score >= self.reject_score:
            return rejected(
                self.name,
                "ERR032",
                f"spam score {shown} is at or above the reject threshold {self.reject_score}",
                spam_score=shown,
            )
        if score >= self.hold_score:
            return held(
                self.name,
                f"spam score {shown} is at or above the hold threshold {self.hold_score}",
                spam_score=shown,
            )
        return CheckResult(self.name, Verdict.PASS, details={"spam_score": shown})


@functools.cache
def _load_once(path: Path) -> SpamModel:
    return load(path)


def shared_model(path: Path) -> SpamModel:
    """The model of this file, loaded at the first call and kept for the process."""
    return _load_once(Path(path).resolve())
