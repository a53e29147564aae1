"""The sandbox connector: a simulated operator writing to the sandbox outbox."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, make_url, select, text
from sqlalchemy.exc import IntegrityError

from secgate.settings import Settings, SettingsError
from secgate.sms.connectors.protocol import ConnectorUnavailable, Receipt, Submission
from secgate.sms.connectors.sandbox import REASONS, SandboxConnector, SimulatedOutcomes
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import (
    Account,
    Message,
    Recipient,
    RecipientState,
    SandboxOutboxEntry,
)

UNREACHABLE_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/secgate"
NOW = 1_772_366_400.0  # 2026-03-01 12:00 UTC

OpenSandbox = Callable[..., Awaitable[SandboxConnector]]


class Receipts:
    def __init__(self, refusals: int = 0) -> None:
        self.taken: list[Receipt] = []
        self.offers: Counter[str] = Counter()
        self._refusals = refusals
        self.arrived = asyncio.Event()

    async def __call__(self, receipt: Receipt) -> None:
        self.offers[receipt.connector_ref] += 1
        if self.offers[receipt.connector_ref] <= self._refusals:
            raise RuntimeError("store unavailable")
        self.taken.append(receipt)
        self.arrived.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.taken) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def open_sandbox(
    db_sessions: SessionFactory, make_settings: Callable[..., Settings]
) -> AsyncIterator[OpenSandbox]:
    opened: list[SandboxConnector] = []

    async def open_(
        receipts: Receipts | None = None, sessions: SessionFactory | None = None, **changes: object
    ) -> SandboxConnector:
        values: dict[str, object] = {
            "sandbox_submit_latency_s": 0.0,
            "sandbox_dlr_delay_s": 0.01,
            "sandbox_delivered_ratio": 1.0,
            "sandbox_failed_ratio": 0.0,
        }
        sandbox = SandboxConnector(
            sessions or db_sessions, make_settings(**(values | changes)), clock=lambda: NOW
        )
        await sandbox.start(receipts or Receipts())
        opened.append(sandbox)
        return sandbox

    yield open_
    for sandbox in opened:
        await sandbox.close()


def submission(
    recipient_id: int, number: str = "96550000001", text: str = "Code 1234"
) -> Submission:
    return Submission(recipient_id, number, "SecGate", text, "gsm7")


async def store_recipients(
    sessions: SessionFactory, rows: list[tuple[RecipientState, str, str]]
) -> None:
    """One message with a recipient per (state, connector, connector_ref)."""
    async with sessions.begin() as session:
        account = Account(
            username="a",
            username_key="a",
            password_hash="x",
            mobile="96550000000",
            home_country="KW",
        )
        session.add(account)
        await session.flush()
        message = Message(
            msg_id="m1",
            account_id=account.id,
            sender="S",
            text="t",
            encoding="gsm7",
            pages=1,
            numbers=len(rows),
        )
        session.add(message)
        await session.flush()
        await session.execute(
            insert(Recipient),
            [
                {
                    "message_id": message.id,
                    "number": "96550000001",
                    "state": state,
                    "connector": connector,
                    "connector_ref": ref,
                }
                for state, connector, ref in rows
            ],
        )


async def outbox(sessions: SessionFactory) -> list[SandboxOutboxEntry]:
    async with sessions() as session:
        rows = await session.scalars(select(SandboxOutboxEntry).order_by(SandboxOutboxEntry.id))
        return list(rows)


# -- the outbox ------------------------------------------------------------------------


async def test_a_submission_is_written_to_the_outbox_with_its_reference(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory
) -> None:
    sandbox = await open_sandbox()
    [result] = await sandbox.submit([submission(7, "96550001234", "Your code is 4821")])
    [entry] = await outbox(db_sessions)
    assert result.accepted and result.connector_ref
    assert (entry.recipient_id, entry.number, entry.sender, entry.text) == (
        7,
        "96550001234",
        "SecGate",
        "Your code is 4821",
    )
    assert entry.connector_ref == result.connector_ref
    assert entry.at == datetime.fromtimestamp(NOW, UTC)


async def test_a_recipient_submitted_again_gets_its_first_reference_and_no_second_row(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory
) -> None:
    sandbox = await open_sandbox()
    [first] = await sandbox.submit([submission(7)])
    again = await sandbox.submit([submission(8), submission(7), submission(7)])
    assert [r.recipient_id for r in again] == [8, 7, 7]
    assert again[1].connector_ref == again[2].connector_ref == first.connector_ref
    assert again[0].connector_ref != first.connector_ref
    assert Counter(e.recipient_id for e in await outbox(db_sessions)) == {7: 1, 8: 1}


async def test_two_sandboxes_submitting_one_recipient_at_once_write_one_row(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory
) -> None:
    # As two workers would after one's claim went stale, possibly in two processes.
    sandboxes = [await open_sandbox() for _ in range(4)]
    results = await asyncio.gather(*(s.submit([submission(7)]) for s in sandboxes))
    assert len({r.connector_ref for [r] in results}) == 1
    assert len(await outbox(db_sessions)) == 1


async def test_the_outbox_has_the_batch_before_the_answer_comes(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory
) -> None:
    # The window a worker can die in: the operator took the batch, the worker does
    # not know it yet.
    sandbox = await open_sandbox(sandbox_submit_latency_s=0.3)
    submitting = asyncio.create_task(sandbox.submit([submission(1), submission(2)]))
    async with asyncio.timeout(5):
        while len(await outbox(db_sessions)) < 2:  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(0.01)
    assert not submitting.done()
    assert all(r.accepted for r in await submitting)


async def test_an_unreachable_database_makes_the_sandbox_unavailable(
    open_sandbox: OpenSandbox,
) -> None:
    engine = create_engine(UNREACHABLE_DATABASE_URL)
    try:
        sandbox = await open_sandbox(sessions=session_factory(engine))
        with pytest.raises(ConnectorUnavailable):
            await sandbox.submit([submission(1)])
    finally:
        await engine.dispose()


# -- receipts ----------------------------------------------------------------------------


async def test_each_submission_gets_a_receipt_with_its_reference(
    open_sandbox: OpenSandbox,
) -> None:
    receipts = Receipts()
    sandbox = await open_sandbox(receipts)
    results = await sandbox.submit([submission(1), submission(2)])
    await receipts.wait_for(2)
    assert {r.connector_ref for r in receipts.taken} == {r.connector_ref for r in results}
    assert {(r.state, r.error, r.at) for r in receipts.taken} == {
        ("delivered", None, datetime.fromtimestamp(NOW, UTC))
    }


@pytest.mark.parametrize(
    ("delivered", "failed", "state"),
    [(1.0, 0.0, "delivered"), (0.0, 1.0, "failed"), (0.0, 0.0, "expired")],
)
async def test_receipts_follow_the_ratios_with_a_reason_for_each_failure(
    open_sandbox: OpenSandbox, delivered: float, failed: float, state: str
) -> None:
    receipts = Receipts()
    sandbox = await open_sandbox(
        receipts, sandbox_delivered_ratio=delivered, sandbox_failed_ratio=failed
    )
    await sandbox.submit([submission(i) for i in range(1, 4)])
    await receipts.wait_for(3)
    assert {(r.state, r.error) for r in receipts.taken} == {(state, REASONS[state])}  # type: ignore[index]


async def test_a_receipt_the_handler_refuses_is_offered_again_until_taken(
    open_sandbox: OpenSandbox,
) -> None:
    receipts = Receipts(refusals=2)
    sandbox = await open_sandbox(receipts)
    [result] = await sandbox.submit([submission(1)])
    await receipts.wait_for(1)
    assert receipts.offers[result.connector_ref or ""] == 3
    assert len(receipts.taken) == 1


async def test_a_receipt_comes_again_when_a_recipient_is_submitted_again(
    open_sandbox: OpenSandbox,
) -> None:
    # Its first receipt may have died with the process that submitted it.
    receipts = Receipts()
    sandbox = await open_sandbox(receipts)
    await sandbox.submit([submission(1)])
    await sandbox.submit([submission(1)])
    await receipts.wait_for(2)
    assert len({r.connector_ref for r in receipts.taken}) == 1


async def test_receipts_still_owed_when_the_process_stopped_are_sent_after_start(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory
) -> None:
    await store_recipients(
        db_sessions,
        [
            (RecipientState.SUBMITTED, "sandbox", "sbx-owed"),
            (RecipientState.DELIVERED, "sandbox", "sbx-done"),
            (RecipientState.SUBMITTED, "smpp", "smpp-other"),
        ],
    )
    receipts = Receipts()
    await open_sandbox(receipts)
    await receipts.wait_for(1)
    await asyncio.sleep(0.05)  # time for any receipt that should not come
    assert [r.connector_ref for r in receipts.taken] == ["sbx-owed"]


async def test_closing_drops_receipts_not_yet_due(open_sandbox: OpenSandbox) -> None:
    receipts = Receipts()
    sandbox = await open_sandbox(receipts, sandbox_dlr_delay_s=30.0)
    await sandbox.submit([submission(1)])
    async with asyncio.timeout(1):
        await sandbox.close()
    assert receipts.offers == {}


async def test_closing_does_not_wait_for_the_owed_receipts_lookup_and_loses_nothing(
    open_sandbox: OpenSandbox, db_sessions: SessionFactory, database_url: str
) -> None:
    # What the lookup finds are receipts not yet due, which closing drops: shutdown
    # must not wait for the database to answer it. The next start finds them again.
    await store_recipients(db_sessions, [(RecipientState.SUBMITTED, "sandbox", "sbx-owed")])
    async with HeldUpLookup(database_url) as held_up:
        sandbox = await open_sandbox(sessions=held_up.sessions)
        await held_up.until_waiting()
        await asyncio.wait_for(sandbox.close(), timeout=CLOSE_DEADLINE_S)
    receipts = Receipts()
    await open_sandbox(receipts)
    await receipts.wait_for(1)
    assert [r.connector_ref for r in receipts.taken] == ["sbx-owed"]


# Far below what a held-up lookup waits: the pool's 30 s checkout timeout on SQLite, a
# lock held for as long as its transaction lasts on PostgreSQL.
CLOSE_DEADLINE_S = 2.0


class HeldUpLookup:
    """Sessions whose owed-receipts lookup waits until the block ends. On PostgreSQL it
    waits for the recipients table, which another transaction holds locked. On SQLite,
    where a reader never waits for a writer, it waits for the pool's only connection,
    which another transaction holds: a statement that SQLite itself keeps waiting
    cannot be cut short, as it goes on in the driver's thread until its busy timeout."""

    def __init__(self, database_url: str) -> None:
        self._postgresql = make_url(database_url).get_backend_name() == "postgresql"
        self._holder_engine = create_engine(database_url, pool_size=1, max_overflow=0)
        self._lookup_engine = create_engine(database_url) if self._postgresql else None
        self.sessions = session_factory(self._lookup_engine or self._holder_engine)
        self._exit = AsyncExitStack()

    async def __aenter__(self) -> HeldUpLookup:
        self._holder = await self._exit.enter_async_context(self._holder_engine.connect())
        await self._exit.enter_async_context(self._holder.begin())
        if self._postgresql:
            await self._holder.execute(text("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE"))
        else:
            await self._holder.execute(delete(SandboxOutboxEntry))  # a write transaction
        return self

    async def until_waiting(self) -> None:
        if not self._postgresql:
            # The pool does not tell who waits for it; the lookup starts at once.
            await asyncio.sleep(0.1)
            return
        waiting = text(
            "SELECT count(*) FROM pg_locks WHERE relation = 'recipients'::regclass AND NOT granted"
        )
        async with asyncio.timeout(5):
            while not await self._holder.scalar(waiting):  # noqa: ASYNC110 (polling the database)
                await asyncio.sleep(0.01)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exit.aclose()
        await self._holder_engine.dispose()
        if self._lookup_engine is not None:
            await self._lookup_engine.dispose()


# -- simulated outcomes -----------------------------------------------------------------


def test_a_seed_makes_outcomes_repeatable() -> None:
    first, second = SimulatedOutcomes(0.5, 0.3, seed=42), SimulatedOutcomes(0.5, 0.3, seed=42)
    assert [first.draw() for _ in range(50)] == [second.draw() for _ in range(50)]


def test_outcomes_come_in_the_configured_proportions() -> None:
    outcomes = SimulatedOutcomes(0.7, 0.2, seed=7)
    counts = Counter(outcomes.draw() for _ in range(10_000))
    assert abs(counts["delivered"] / 10_000 - 0.7) < 0.02
    assert abs(counts["failed"] / 10_000 - 0.2) < 0.02
    assert abs(counts["expired"] / 10_000 - 0.1) < 0.02


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_a_ratio_at_either_end_of_0_1_is_accepted(ratio: float) -> None:
    SimulatedOutcomes(ratio, 0.0)
    SimulatedOutcomes(0.0, ratio)


@pytest.mark.parametrize(
    ("delivered", "failed", "variable"),
    [
        (-0.01, 0.0, "SECGATE_SANDBOX_DELIVERED_RATIO"),
        (1.01, 0.0, "SECGATE_SANDBOX_DELIVERED_RATIO"),
        (0.0, -0.01, "SECGATE_SANDBOX_FAILED_RATIO"),
        (0.0, 1.01, "SECGATE_SANDBOX_FAILED_RATIO"),
        (float("nan"), 0.0, "SECGATE_SANDBOX_DELIVERED_RATIO"),
    ],
)
def test_a_ratio_outside_0_1_is_refused_naming_the_variable(
    delivered: float, failed: float, variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        SimulatedOutcomes(delivered, failed)


@pytest.mark.parametrize(("failed", "allowed"), [(0.39, True), (0.4, True), (0.41, False)])
def test_the_ratios_may_add_up_to_1_and_no_more(failed: float, allowed: bool) -> None:
    if allowed:
        SimulatedOutcomes(0.6, failed)
    else:
        with pytest.raises(SettingsError, match="over 1"):
            SimulatedOutcomes(0.6, failed)


def test_the_default_settings_make_a_valid_sandbox(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    SimulatedOutcomes(settings.sandbox_delivered_ratio, settings.sandbox_failed_ratio)


async def test_the_outbox_refuses_a_second_row_for_a_recipient(
    db_sessions: SessionFactory,
) -> None:
    # What the sandbox's idempotence rests on.
    async with db_sessions.begin() as session:
        await session.execute(
            insert(SandboxOutboxEntry),
            [{"recipient_id": 1, "connector_ref": "a", "number": "1", "sender": "s", "text": "t"}],
        )
    with pytest.raises(IntegrityError):
        async with db_sessions.begin() as session:
            await session.execute(
                insert(SandboxOutboxEntry),
                [
                    {
                        "recipient_id": 1,
                        "connector_ref": "b",
                        "number": "1",
                        "sender": "s",
                        "text": "t",
                    }
                ],
            )
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SandboxOutboxEntry)) == 1
