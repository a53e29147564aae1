"""The operator connector interface: what the dispatcher hands messages to.

Two implementations keep to it: `sandbox.SandboxConnector` (the default: a simulated
operator) and `smpp.SmppConnector` (SMPP 3.4 transceiver). One conformance suite in
`tests/sms/connectors/test_conformance.py` runs against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

FinalState = Literal["delivered", "failed", "expired"]


@dataclass(frozen=True, slots=True)
class Submission:
    recipient_id: int  # our reference: an idempotent connector takes each one once
    number: str  # digits with country code
    sender: str
    text: str
    encoding: Literal["gsm7", "ucs2"]


@dataclass(frozen=True, slots=True)
class SubmitResult:
    recipient_id: int
    accepted: bool
    connector_ref: str | None  # the operator's message id, when accepted
    error: str | None = None  # why not, when refused (becomes the "rejected" reason)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery report from the operator."""

    connector_ref: str
    state: FinalState
    at: datetime
    error: str | None = None


# Stores the receipt; raises if it could not (the connector then keeps it and
# retries, or refuses it so the operator sends it again: receipts are never dropped).
ReceiptHandler = Callable[[Receipt], Awaitable[None]]


class ConnectorUnavailable(Exception):
    """The operator cannot be reached now; nothing in the batch was submitted."""


class ConnectorStartError(Exception):
    """The connector cannot start as configured (the operator refused our login...):
    retrying would not help, so the gateway stops with this message."""


class Connector(Protocol):
    name: str
    # True when submitting the same recipient_id twice sends one SMS, so recipients
    # left claimed by a dead worker can be submitted again safely.
    idempotent: bool

    async def start(self, on_receipt: ReceiptHandler) -> None: ...

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        """One result per submission, in order. Raises ConnectorUnavailable when the
        operator cannot be reached at all."""
        ...

    async def close(self) -> None: ...
