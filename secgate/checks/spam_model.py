"""ERR032 / hold: the content spam model's verdict on a message.

The model (secgate.spam_model) gives each text a spam score, a calibrated probability
in 0..1. At or above `spam_reject_score` the message is refused (ERR032, spam); at or
above `spam_hold_score` it is held for staff review; below, it passes. A message from
one of the account's transactional sender IDs (one-time codes and notices, registered
so by staff) is judged at `spam_transactional_reject_score` / `_hold_score` instead:
the 2011 collection's spam reads like today's notices, and at the default thresholds a
few percent of kinds of notice the model has not seen would be refused (the model card
measures it). Every result, a pass included, carries `details["spam_score"]` and
`details["spam_thresholds"]` ("default" or "transactional"), so that the pipeline can
put the score in its Decision and staff can see which thresholds judged it.

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
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class SpamThresholds:
    """Reject at or above `reject`, hold at or above `hold`."""

    reject: float
    hold: float
    kind: str = "default"  # "default" or "transactional", as results and errors name them

    def __post_init__(self) -> None:
        if not 0.0 <= self.hold <= self.reject <= 1.0:
            prefix = (
                "SECGATE_SPAM_" if self.kind == "default" else f"SECGATE_SPAM_{self.kind.upper()}_"
            )
            raise SettingsError(
                f"{prefix}HOLD_SCORE ({self.hold}) and {prefix}REJECT_SCORE ({self.reject}) "
                "must satisfy 0 <= hold <= reject <= 1"
            )


def transactional_thresholds(reject: float, hold: float) -> SpamThresholds:
    return SpamThresholds(reject, hold, "transactional")


class SpamModelCheck:
    """ERR032 at or above the reject score, hold at or above the hold score; the
    transactional pair for the account's transactional sender IDs."""

    name = "spam_model"
    fails: FailMode = "open"  # in-process model, no store (see the module's description)

    def __init__(
        self,
        scorer: SpamScorer,
        reject_score: float,
        hold_score: float,
        transactional: SpamThresholds | None = None,
    ) -> None:
        self._scorer = scorer
        self.default = SpamThresholds(reject_score, hold_score)
        # None: transactional sender IDs are judged like any other.
        self.transactional = transactional
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
            transactional_thresholds(
                settings.spam_transactional_reject_score, settings.spam_transactional_hold_score
            ),
        )

    def thresholds_for(self, message: MessageUnderCheck) -> SpamThresholds:
        if self.transactional is not None and message.sender in message.transactional_sender_ids:
            return self.transactional
        return self.default

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        loop = asyncio.get_running_loop()
        score: asyncio.Future[float] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._score_waiting)
        self._waiting.append((message.text, score))
        return self.verdict(await score, self.thresholds_for(message))

    async def check_batch(self, messages: Sequence[MessageUnderCheck]) -> list[CheckResult]:
        scores = await self.score_batch([message.text for message in messages])
        return [
            self.verdict(score, self.thresholds_for(message))
            for score, message in zip(scores, messages, strict=True)
        ]

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

    def verdict(self, score: float, thresholds: SpamThresholds | None = None) -> CheckResult:
        at = thresholds or self.default
        shown = round(score, 4)
        details = {"spam_score": shown, "spam_thresholds": at.kind}
        if score >= at.reject:
            return rejected(
                self.name,
                "ERR032",
                f"spam score {shown} is at or above the {at.kind} reject threshold {at.reject}",
                **details,
            )
        if score >= at.hold:
            return held(
                self.name,
                f"spam score {shown} is at or above the {at.kind} hold threshold {at.hold}",
                **details,
            )
        return CheckResult(self.name, Verdict.PASS, details=details)


@functools.cache
def _load_once(path: Path) -> SpamModel:
    # Imported here: scikit-learn and skops take seconds to import, which every CLI
    # command that only builds a pipeline (sender add, held list...) would pay for.
    from secgate.spam_model.model_file import load

    return load(path)


def shared_model(path: Path) -> SpamModel:
    """The model of this file, loaded at the first call and kept for the process."""
    return _load_once(Path(path).resolve())
