"""What the SMS scenarios of `make bench` need besides wrk: accounts, numbers, and the
dispatcher's drain.

Accounts are made with the library (`create_account`, `add_sender_id`: what
`python -m secgate user create` and `sender add` run), with the production argon2
costs, and a balance no run can spend. Each wrk run sends from an account of its own,
whose API credential is verified once before the run (a /API/balance/ call fills the
gateway's credential cache), so the run measures sends, not the first argon2
verification of 64 connections at once.

The dispatcher's drain: N recipients are accepted for delivery (not test mode) through
`SmsService.send`, the gateway's own accept path, run in this process against the
bench stores, in 200-number sends. Its queue items are held back (`HeldQueue`), so
the gateway's dispatcher sees nothing yet; then they are all put on the gateway's
Redis queue at once, and the clock runs from there until the database shows no
recipient QUEUED (all SUBMITTED to the sandbox), then until every receipt is
recorded (all DELIVERED, FAILED or EXPIRED).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select

from secgate.accounts.registry import add_sender_id, create_account
from secgate.auth.passwords import PasswordHasher
from secgate.auth.tokens import create_token
from secgate.hotstate.factory import open_hot_state
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms.numbers import InvalidNumber, normalize_msisdn
from secgate.sms.rules import region_of
from secgate.sms.send import DISPATCH_QUEUE, SendAccepted, SendRequest, SmsService
from secgate.storage.db import create_engine, session_factory
from secgate.storage.models import (
    Account,
    DeliveryEvent,
    Message,
    Recipient,
    RecipientState,
    SandboxOutboxEntry,
)

# Blocks of a million numbers, 965 + prefix + six digits, all valid Kuwaiti mobiles
# (kwtsms_send.lua holds the same list).
NUMBER_PREFIXES = ("50", "55", "66", "90", "94", "96", "97", "99")
NUMBER_BLOCK = 1_000_000
NUMBER_SPACE = len(NUMBER_PREFIXES) * NUMBER_BLOCK
SENDER = "BENCH"
# More than any run can spend: sends in test mode are free, the drain costs a point
# a recipient.
BALANCE = 10**15
MESSAGE_TEXT = "SecGate bench: your code is 482913"
# Sends of the drain's accept phase in flight at once.
PREQUEUE_CONCURRENCY = 8
DRAIN_POLL_S = 0.05
DRAIN_TIMEOUT_S = 300.0


class LoadError(Exception):
    """The SMS load could not be set up or did not come out as it must."""


def bench_number(k: int) -> str:
    """Number k of the space (as kwtsms_send.lua writes it)."""
    k %= NUMBER_SPACE
    return f"965{NUMBER_PREFIXES[k // NUMBER_BLOCK]}{k % NUMBER_BLOCK:06d}"


def check_number_space(samples_per_block: int = 200) -> None:
    """The first, last and random numbers of every block must be valid Kuwaiti mobiles:
    a `phonenumbers` update that changed that would turn the sends into ERR025."""
    rng = random.Random(1)
    for block in range(len(NUMBER_PREFIXES)):
        offsets = [0, NUMBER_BLOCK - 1, *rng.sample(range(NUMBER_BLOCK), samples_per_block)]
        for offset in offsets:
            number = bench_number(block * NUMBER_BLOCK + offset)
            try:
                valid = normalize_msisdn(number, default_region="KW") == number
            except InvalidNumber:
                valid = False
            if not valid or region_of(number) != "KW":
                raise LoadError(f"{number} is not a valid Kuwaiti mobile: fix NUMBER_PREFIXES")


@dataclass(frozen=True)
class BenchAccount:
    username: str
    password: str
    sender: str = SENDER

    def wrk_args(self, per_request: int, *, test: bool, threads: int) -> list[str]:
        """The arguments of kwtsms_send.lua."""
        return [self.username, self.password, self.sender, str(per_request), str(int(test)),
                str(threads)]  # fmt: skip


def create_accounts(database_url: str, usernames: Sequence[str]) -> list[BenchAccount]:
    async def create() -> list[BenchAccount]:
        engine = create_engine(database_url)
        hasher = PasswordHasher(Settings())  # the gateway's argon2 costs (defaults)
        accounts = [BenchAccount(name, secrets.token_hex(16)) for name in usernames]
        try:
            async with session_factory(engine)() as session:
                for i, account in enumerate(accounts):
                    await create_account(
                        session,
                        hasher,
                        username=account.username,
                        password=account.password,
                        mobile=bench_number(NUMBER_SPACE - 1 - i),
                        country="KW",
                        balance=BALANCE,
                    )
                    await add_sender_id(session, username=account.username, sender=account.sender)
                await session.commit()
        finally:
            await engine.dispose()
        return accounts

    return asyncio.run(create())


def create_pipeline_token(database_url: str) -> str:
    """A bearer token of the pipeline role (what `python -m secgate token create
    --role pipeline` prints)."""

    async def create() -> str:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                token = await create_token(session, "pipeline", name="bench")
                await session.commit()
        finally:
            await engine.dispose()
        return token

    return asyncio.run(create())


def api_call(host: str, port: int, command: str, fields: dict[str, Any]) -> dict[str, Any]:
    """POST /API/<command>/ with a JSON body; the answer's JSON, whatever its status."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/API/{command}/",
            body=json.dumps(fields),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


def warm_credentials(host: str, port: int, account: BenchAccount) -> None:
    """One authenticated call: the credential is verified and cached before a run."""
    answer = api_call(
        host, port, "balance", {"username": account.username, "password": account.password}
    )
    if answer.get("result") != "OK":
        raise LoadError(f"/API/balance/ as {account.username} answered {answer}")


def check_sample_send(host: str, port: int, account: BenchAccount, number: str) -> None:
    """One test-mode send checked in full (wrk checks only "result" of each answer)."""
    answer = api_call(
        host,
        port,
        "send",
        {
            "username": account.username,
            "password": account.password,
            "sender": account.sender,
            "mobile": number,
            "message": MESSAGE_TEXT,
            "test": 1,
        },
    )
    expected = {"result": "OK", "numbers": 1, "points-charged": 0, "balance-after": BALANCE}
    if any(answer.get(key) != value for key, value in expected.items()):
        raise LoadError(f"a test send answered {answer}, expected {expected} and a msg-id")


def accepted_recipients(database_url: str, username: str) -> int:
    """Recipients stored for the account's messages."""

    async def count() -> int:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    select(func.count())
                    .select_from(Recipient)
                    .join(Message, Message.id == Recipient.message_id)
                    .join(Account, Account.id == Message.account_id)
                    .where(Account.username == username)
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


# -- the dispatcher's drain --------------------------------------------------------


class HeldQueue:
    """A hot state whose queue items are kept here instead of being queued."""

    def __init__(self, hot: HotState) -> None:
        self._hot = hot
        self.held: list[bytes] = []

    async def enqueue(self, queue: str, payload: bytes) -> str:
        assert queue == DISPATCH_QUEUE
        self.held.append(payload)
        return f"held-{len(self.held)}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hot, name)


@dataclass(frozen=True)
class Drain:
    recipients: int
    prequeue_s: float  # accepting them (not measured)
    submitted_s: float  # from queueing until none is QUEUED
    final_s: float  # ...until every receipt is recorded


def drain(
    settings: Settings,
    account: BenchAccount,
    *,
    first_number: int,
    recipients: int,
    per_send: int = 200,
) -> Drain:
    """Queue `recipients` for the dispatcher of a gateway running with `settings` (its
    database and hot state) and time it; numbers from `first_number` on."""
    return asyncio.run(_drain(settings, account, first_number, recipients, per_send))


async def _drain(
    settings: Settings, account: BenchAccount, first_number: int, recipients: int, per_send: int
) -> Drain:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    hot = await open_hot_state(settings)
    try:
        async with sessions() as session:
            account_id = await session.scalar(
                select(Account.id).where(Account.username == account.username)
            )
        assert account_id is not None
        held = HeldQueue(hot)
        service = SmsService(sessions, held, settings)  # type: ignore[arg-type]
        started = time.perf_counter()
        message_ids = await _accept(
            service, sessions, account_id, account.sender, first_number, recipients, per_send
        )
        prequeue_s = time.perf_counter() - started

        started = time.perf_counter()
        for payload in held.held:
            await hot.enqueue(DISPATCH_QUEUE, payload)
        submitted_s = final_s = None
        deadline = started + DRAIN_TIMEOUT_S
        while final_s is None:
            queued, final = await _progress(sessions, message_ids, recipients)
            now = time.perf_counter()
            if submitted_s is None and queued == 0:
                submitted_s = now - started
            if final == recipients:
                final_s = now - started
            elif now > deadline:
                raise LoadError(
                    f"the dispatcher did not drain {recipients} recipients in "
                    f"{DRAIN_TIMEOUT_S:.0f} s: {queued} still queued, {final} final"
                )
            else:
                await asyncio.sleep(DRAIN_POLL_S)
        assert submitted_s is not None
        await _check_exactly_once(sessions, message_ids, recipients)
        return Drain(recipients, prequeue_s, submitted_s, final_s)
    finally:
        await hot.close()
        await engine.dispose()


async def _accept(
    service: SmsService,
    sessions: Any,
    account_id: int,
    sender: str,
    first_number: int,
    recipients: int,
    per_send: int,
) -> list[int]:
    limit = asyncio.Semaphore(PREQUEUE_CONCURRENCY)

    async def send(start: int, count: int) -> str:
        numbers = [bench_number(first_number + start + i) for i in range(count)]
        async with limit:
            result = await service.send(
                SendRequest(account_id, sender, numbers, MESSAGE_TEXT, test=False, client_ip=None)
            )
        if not isinstance(result, SendAccepted):
            raise LoadError(f"a send for the drain was refused: {result}")
        return result.msg_id

    msg_ids = await asyncio.gather(
        *(
            send(start, min(per_send, recipients - start))
            for start in range(0, recipients, per_send)
        )
    )
    async with sessions() as session:
        return list(await session.scalars(select(Message.id).where(Message.msg_id.in_(msg_ids))))


async def _progress(sessions: Any, message_ids: list[int], recipients: int) -> tuple[int, int]:
    """(recipients still QUEUED, recipients in a final state) of the messages. Only
    the unfinished are counted: their rows are found through the state index, so a
    poll costs the database in proportion to the work in flight, not to the table
    (counting all of the round's rows made PostgreSQL scan the whole table, tens of
    times a second, beside the dispatcher being measured)."""
    unfinished = [RecipientState.ACCEPTED, RecipientState.QUEUED, RecipientState.SUBMITTED]
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    func.count().filter(Recipient.state == RecipientState.QUEUED), func.count()
                ).where(Recipient.state.in_(unfinished), Recipient.message_id.in_(message_ids))
            )
        ).one()
    return int(row[0]), recipients - int(row[1])


async def _check_exactly_once(sessions: Any, message_ids: list[int], recipients: int) -> None:
    """Each recipient went to the sandbox once and was logged SUBMITTED once."""
    async with sessions() as session:
        submitted = await session.execute(
            select(func.count(), func.count(distinct(DeliveryEvent.recipient_id))).where(
                DeliveryEvent.message_id.in_(message_ids),
                DeliveryEvent.state == RecipientState.SUBMITTED,
            )
        )
        events, distinct_recipients = submitted.one()
        outbox = await session.scalar(
            select(func.count())
            .select_from(SandboxOutboxEntry)
            .join(Recipient, Recipient.id == SandboxOutboxEntry.recipient_id)
            .where(Recipient.message_id.in_(message_ids))
        )
    if not events == distinct_recipients == outbox == recipients:
        raise LoadError(
            f"drain of {recipients} recipients: {events} SUBMITTED events for "
            f"{distinct_recipients} recipients, {outbox} in the sandbox outbox"
        )
