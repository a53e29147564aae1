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

Single messages checked at once (`check`, one per request of the check endpoint or
the send API) are scored together: the texts asked for during one turn of the event
loop are scored in one call at the start of the next (at most COALESCE_MAX_TEXTS a
call). Most of a lone call is the fixed cost of the numpy calls, so under load a text
costs several times less (measured on this model: ~0.3 ms for 1 text, ~0.1 ms a text
in a call of 4, ~0.05 ms in a call of 16); an idle server pays one loop turn. A text's
score does not depend on the others scored with it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from secgate.checks.verdict import (
    CheckResult,
    FailMode,
    MessageUnderCheck,
    Verdict,
    held,
    rejected,
)
from secgate.settings import Settings, SettingsError

if TYPE_CHECKING:
    from secgate.spam_model.model_file import SpamModel

# Batches of at most this many texts are scored on the event loop; larger ones in a
# worker thread (see the module's description).
INLINE_BATCH_MAX = 8
# Single messages scored in one call at most (~3-6 ms of the loop for this many);
# the rest wait for the next turn.
COALESCE_MAX_TEXTS = 64


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
        # Texts waiting for the next scoring call, with who waits for each score.
        self._waiting: list[tuple[str, asyncio.Future[float]]] = []

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
        loop = asyncio.get_running_loop()
        score: asyncio.Future[float] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._score_waiting)
        self._waiting.append((message.text, score))
        return self.verdict(await score)

    async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[CheckResult]:
        scores = await self.score_batch([message.text for message in messages])
        return [self.verdict(score) for score in scores]

    async def score_batch(self, texts: Sequence[str]) -> list[float]:
        """The spam score of each text, in order."""
        if len(texts) <= INLINE_BATCH_MAX:
            return [float(score) for score in self._scorer.scores(texts)]
        scores = await asyncio.to_thread(self._scorer.scores, list(texts))
        return [float(score) for score in scores]

    def _score_waiting(self) -> None:
        """Score the texts asked for since the last call, in one call (see the module's
        description); a scorer that fails fails each of their checks."""
        taken = self._waiting[:COALESCE_MAX_TEXTS]
        del self._waiting[:COALESCE_MAX_TEXTS]
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._score_waiting)
        # A request that went away (its task cancelled) needs no score.
        taken = [(text, score) for text, score in taken if not score.done()]
        if not taken:
            return
        try:
            scores = self._scorer.scores([text for text, _ in taken])
            if len(scores) != len(taken):
                raise RuntimeError(f"the scorer gave {len(scores)} scores for {len(taken)} texts")
        except Exception as exc:
            for _, score in taken:
                score.set_exception(exc)
            return
        for (_, score), value in zip(taken, scores, strict=True):
            score.set_result(float(value))

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
    # Imported here: scikit-learn and skops take seconds to import, which every CLI
    # command that only builds a pipeline (sender add, held list...) would pay for.
    from secgate.spam_model.model_file import load

    return load(path)


def shared_model(path: Path) -> SpamModel:
    """The model of this file, loaded at the first call and kept for the process."""
    return _load_once(Path(path).resolve())
