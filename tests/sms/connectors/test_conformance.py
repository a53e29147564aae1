"""What every connector promises the dispatcher (secgate/sms/connectors/protocol.py).

Runs once per connector kind (CONNECTOR_KINDS in conftest.py), each against its
real operator: the sandbox against its database, SMPP against an SMSC process.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import get_args

import pytest
from connector_rig import ConnectorRig

from secgate.sms.connectors.protocol import (
    Connector,
    ConnectorUnavailable,
    FinalState,
    Receipt,
    ReceiptHandler,
    Submission,
)
from secgate.storage.models import Recipient, SandboxOutboxEntry

FINAL_STATES = set(get_args(FinalState))
RECEIPT_WAIT_S = 10.0

StartConnector = Callable[..., Awaitable[Connector]]


class Receipts:
    """An on_receipt that keeps what it took, and can refuse each reference's first
    `refusals` offers."""

    def __init__(self, refusals: int = 0) -> None:
        self.taken: dict[str, Receipt] = {}
        self.offers: dict[str, int] = {}
        self._refusals = refusals
        self._changed = asyncio.Condition()

    async def __call__(self, receipt: Receipt) -> None:
        ref = receipt.connector_ref
        self.offers[ref] = self.offers.get(ref, 0) + 1
        if self.offers[ref] <= self._refusals:
            raise RuntimeError("store unavailable")
        async with self._changed:
            self.taken.setdefault(ref, receipt)
            self._changed.notify_all()

    async def wait_for(self, refs: set[str]) -> None:
        async with asyncio.timeout(RECEIPT_WAIT_S), self._changed:
            await self._changed.wait_for(lambda: refs <= self.taken.keys())


@pytest.fixture
async def start_connector(connector_rig: ConnectorRig) -> AsyncIterator[StartConnector]:
    started: list[Connector] = []

    async def start(
        on_receipt: ReceiptHandler | None = None, *, reachable: bool = True
    ) -> Connector:
        connector = connector_rig.open() if reachable else connector_rig.open_unreachable()
        await connector.start(on_receipt or Receipts())
        started.append(connector)
        return connector

    yield start
    for connector in started:
        await connector.close()


# Recipient ids unique to each test: the operators keep what earlier tests sent.
_ids = itertools.count(uuid.uuid4().int % 10**12)


def submission(number: str = "96550000001", **changes: object) -> Submission:
    fields: dict[str, object] = {
        "sender": "SecGate",
        "text": "Your code is 123456",
        "encoding": "gsm7",
    }
    fields.update(changes)
    return Submission(recipient_id=next(_ids), number=number, **fields)  # type: ignore[arg-type]


def batch(size: int) -> list[Submission]:
    # Numbers ending 1..6: every test operator delivers those.
    return [submission(number=f"9655000000{i % 6 + 1}") for i in range(size)]


async def test_the_name_and_references_fit_the_delivery_log(
    start_connector: StartConnector,
) -> None:
    connector = await start_connector()
    name_limit = Recipient.__table__.c.connector.type.length
    ref_limit = Recipient.__table__.c.connector_ref.type.length
    assert 1 <= len(connector.name) <= name_limit
    assert isinstance(connector.idempotent, bool)
    results = await connector.submit(batch(3))
    assert all(r.connector_ref and len(r.connector_ref) <= ref_limit for r in results)
    assert ref_limit == SandboxOutboxEntry.__table__.c.connector_ref.type.length


async def test_an_empty_batch_submits_nothing(start_connector: StartConnector) -> None:
    connector = await start_connector()
    assert await connector.submit([]) == []


async def test_each_submission_gets_one_result_in_order(start_connector: StartConnector) -> None:
    connector = await start_connector()
    submissions = batch(5)
    results = await connector.submit(submissions)
    assert [r.recipient_id for r in results] == [s.recipient_id for s in submissions]
    assert all(r.accepted and r.error is None for r in results)
    assert len({r.connector_ref for r in results}) == 5


async def test_every_accepted_submission_gets_a_final_receipt(
    start_connector: StartConnector,
) -> None:
    receipts = Receipts()
    connector = await start_connector(receipts)
    results = await connector.submit(batch(4))
    refs = {r.connector_ref for r in results if r.connector_ref}
    await receipts.wait_for(refs)
    for ref in refs:
        receipt = receipts.taken[ref]
        assert receipt.state in FINAL_STATES
        assert receipt.at.utcoffset() is not None  # aware: the delivery log stores UTC


async def test_a_receipt_the_handler_refuses_is_offered_again(
    start_connector: StartConnector,
) -> None:
    receipts = Receipts(refusals=2)
    connector = await start_connector(receipts)
    results = await connector.submit(batch(3))
    refs = {r.connector_ref for r in results if r.connector_ref}
    await receipts.wait_for(refs)
    assert all(receipts.offers[ref] >= 3 for ref in refs)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("رمز الدخول هو 4821. لا تشاركه مع أحد. " * 5, "ucs2"),  # 3 UCS-2 pages
        ("Long message, several pages. " * 20, "gsm7"),  # 4 GSM-7 pages
        ("Emoji 🙂 and Arabic مرحبا", "ucs2"),  # a character outside the BMP
    ],
)
async def test_long_and_unicode_texts_are_taken(
    start_connector: StartConnector, text: str, encoding: str
) -> None:
    connector = await start_connector()
    [result] = await connector.submit([submission(text=text, encoding=encoding)])
    assert result.accepted, result.error


async def test_a_repeated_submission_behaves_as_the_connector_declares(
    start_connector: StartConnector,
) -> None:
    """An idempotent connector answers a repeat with the first reference, so the
    dispatcher may retry it after a crash; any other sends again, which is why the
    dispatcher never submits a recipient to it twice."""
    receipts = Receipts()
    connector = await start_connector(receipts)
    first = submission()
    [taken] = await connector.submit([first])
    [again] = await connector.submit([first])
    assert taken.accepted and again.accepted
    if connector.idempotent:
        assert again.connector_ref == taken.connector_ref
    else:
        assert again.connector_ref != taken.connector_ref


async def test_an_unreachable_operator_raises_connector_unavailable(
    start_connector: StartConnector,
) -> None:
    connector = await start_connector(reachable=False)
    with pytest.raises(ConnectorUnavailable):
        await connector.submit(batch(2))
