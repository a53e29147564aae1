"""A connector whose answers the test decides, for the dispatcher tests: what it was
given, which numbers it refuses, and a failure it raises instead of answering."""

from __future__ import annotations

from collections.abc import Sequence

from secgate.sms.connectors.protocol import ReceiptHandler, Submission, SubmitResult


class ScriptedOperator:
    """Refuses the numbers in `refuse` and accepts the others (reference "op-ID"); raises
    `failure` (if set, now or later) as if the worker died inside the call.
    `idempotent=False` is a connector that cannot be asked twice, as SMPP."""

    name = "scripted"

    def __init__(
        self,
        *,
        idempotent: bool = True,
        refuse: Sequence[str] = (),
        failure: Exception | None = None,
    ) -> None:
        self.idempotent = idempotent
        self.refuse = set(refuse)
        self.failure = failure
        self.submitted: list[Submission] = []
        self.on_receipt: ReceiptHandler | None = None

    async def start(self, on_receipt: ReceiptHandler) -> None:
        self.on_receipt = on_receipt

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        if self.failure is not None:
            raise self.failure
        self.submitted += batch
        return [
            SubmitResult(s.recipient_id, False, None, "invalid destination")
            if s.number in self.refuse
            else SubmitResult(s.recipient_id, True, f"op-{s.recipient_id}")
            for s in batch
        ]

    async def close(self) -> None:
        pass
