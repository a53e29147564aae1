"""Delivery-report webhooks: signed posts to a real local endpoint, retries with
backoff, abandonment, timeouts, claims that keep two workers from posting a row
twice, and the destination rule (public addresses only) when a URL is set and at
every delivery.

The receiver listens on loopback, which the destination rule refuses: the tests'
settings exempt 127.0.0.0/8 (webhook_allowed_networks), as an operator would exempt
an internal receiver of its own; the tests of the rule itself leave it out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestClient, TestServer
from customer_accounts import bare_account
from fake_clock import FakeClock
from sqlalchemy import select

from secgate import appkeys
from secgate.accounts.registry import AccountNotFound, InvalidField
from secgate.app import create_app
from secgate.settings import Settings
from secgate.sms.send import SendAccepted, SendRequest
from secgate.sms.webhook_destinations import IPAddress
from secgate.sms.webhooks import WebhookWorker, backoff_s, set_webhook_url, webhook_secret
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.models import Account, SenderId, WebhookDelivery

T0 = 1_800_000_000.0
PAYLOAD = {
    "msg-id": "a1b2c3",
    "mobile": "96550000000",
    "status": "DELIVERED",
    "unix-timestamp": 1_799_999_990,
    "reason": None,
}

ServerMaker = Callable[[web.Application], Any]

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
PUBLIC_ADDRESS = "93.184.216.34"


class FakeDns(AbstractResolver):
    """A DNS that answers from a table, and says what it answered: names in tests
    resolve to what each test needs (even to the local receiver), without a network.
    `resolve` serves the worker (aiohttp's interface), `lookup` set_webhook_url."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in await self.lookup(host, port)
        ]

    async def lookup(self, host: str, port: int) -> list[IPAddress]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in self.table[host]]

    async def close(self) -> None:
        pass


PUBLIC_DNS = FakeDns({"example.com": [PUBLIC_ADDRESS]})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A customer's endpoint: records every request; answers each path with the statuses
    scripted for it (200 once the script runs out); `/hang` never answers."""

    server: TestServer | None = None
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    delay_s: float = 0.0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body))
        async with self.arrived:
            self.arrived.notify_all()
        if request.path == "/hang":
            await self.release.wait()
        if request.path == "/gated":
            await self.gate.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        script = self.scripts.get(request.path)
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=script.pop(0) if script else 200)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        """Until `count` requests have arrived."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.requests) >= count), timeout_s
            )

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@pytest.fixture
async def receiver(aiohttp_server: ServerMaker) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    receiver.server = await aiohttp_server(app)
    yield receiver
    # Lets waiting handlers end, so that the server can close.
    receiver.release.set()
    receiver.gate.set()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        webhook_timeout_s=0.3,
        webhook_max_attempts=3,
        webhook_backoff_base_s=2.0,
        webhook_allowed_networks=LOOPBACK,
    )


@pytest.fixture
async def worker_factory(
    db_sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Callable[..., WebhookWorker]]:
    workers: list[WebhookWorker] = []

    def make(
        clock: Callable[[], float], sessions: SessionFactory = db_sessions, **kwargs: Any
    ) -> WebhookWorker:
        worker = WebhookWorker(sessions, settings, clock=clock, **kwargs)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        await worker.close()


async def add_report(
    db_sessions: SessionFactory, account_id: int, url: str, *, due: float = T0, **payload: Any
) -> int:
    async with db_sessions.begin() as session:
        row = WebhookDelivery(
            account_id=account_id,
            url=url,
            payload={**PAYLOAD, **payload},
            next_attempt_at=datetime.fromtimestamp(due, UTC),
        )
        session.add(row)
        await session.flush()
        return row.id


async def outbox_row(db_sessions: SessionFactory, row_id: int) -> WebhookDelivery:
    async with db_sessions() as session:
        row = await session.get(WebhookDelivery, row_id)
        assert row is not None
        return row


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- the signature -----------------------------------------------------------------------


def test_the_secret_is_an_hmac_of_the_secret_key_and_the_account_id() -> None:
    expected = hmac.new(b"k" * 40, b"dlr-webhook:42", hashlib.sha256).hexdigest()

    assert webhook_secret("k" * 40, 42) == expected
    assert webhook_secret("k" * 40, 43) != expected


async def test_a_due_report_is_posted_once_signed_over_timestamp_and_body(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
    settings: Settings,
) -> None:
    row_id = await add_report(db_sessions, account_id, receiver.url("/dlr"))
    worker = worker_factory(FakeClock(T0 + 5))

    posted = await worker.run_once()
    again = await worker.run_once()

    assert (posted, again) == (1, 0)
    [request] = receiver.requests
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-SecGate-Timestamp"] == str(int(T0 + 5))
    assert request.headers["X-SecGate-Delivery"] == str(row_id)
    secret = hmac.new(
        settings.secret_key.encode(), f"dlr-webhook:{account_id}".encode(), hashlib.sha256
    ).hexdigest()
    signed = f"{int(T0 + 5)}.".encode() + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert request.headers["X-SecGate-Signature"] == f"sha256={expected}"
    row = await outbox_row(db_sessions, row_id)
    assert (row.delivered_at, row.attempts, row.last_error) == (at(T0 + 5), 1, None)


async def test_a_report_not_yet_due_waits(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
) -> None:
    await add_report(db_sessions, account_id, receiver.url("/dlr"), due=T0 + 1)
    worker = worker_factory(FakeClock(T0 + 0.999))

    assert await worker.run_once() == 0
    assert receiver.requests == []


# -- retries -----------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_stops_at_a_day(settings: Settings) -> None:
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_s(settings, 60) == 24 * 3600.0


async def test_a_failed_post_is_retried_after_the_backoff_and_then_delivered(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
) -> None:
    receiver.scripts["/dlr"] = [500, 503]
    row_id = await add_report(db_sessions, account_id, receiver.url("/dlr"))
    clock = FakeClock(T0)
    worker = worker_factory(clock)

    await worker.run_once()  # attempt 1: 500, next after 2 s
    first = await outbox_row(db_sessions, row_id)
    clock.now = T0 + 1.999
    early = await worker.run_once()
    clock.now = T0 + 2
    await worker.run_once()  # attempt 2: 503, next after 4 s
    second = await outbox_row(db_sessions, row_id)
    clock.now = T0 + 5.999
    still_early = await worker.run_once()
    clock.now = T0 + 6
    await worker.run_once()  # attempt 3: 200

    assert (first.attempts, first.next_attempt_at, first.last_error) == (1, at(T0 + 2), "HTTP 500")
    assert (second.attempts, second.next_attempt_at, second.last_error) == (
        2,
        at(T0 + 6),
        "HTTP 503",
    )
    assert (early, still_early) == (0, 0)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same report each time
    done = await outbox_row(db_sessions, row_id)
    assert (done.delivered_at, done.attempts, done.last_error) == (at(T0 + 6), 3, None)


async def test_after_the_last_attempt_fails_the_report_is_abandoned_with_its_error(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
) -> None:
    receiver.scripts["/dlr"] = [500] * 10
    row_id = await add_report(db_sessions, account_id, receiver.url("/dlr"))
    clock = FakeClock(T0)
    worker = worker_factory(clock)

    for _ in range(3):  # webhook_max_attempts
        assert await worker.run_once() == 1
        clock.now += 3600
    later = await worker.run_once()

    assert later == 0
    assert len(receiver.requests) == 3
    row = await outbox_row(db_sessions, row_id)
    assert row.abandoned_at == at(T0 + 2 * 3600)
    assert (row.delivered_at, row.attempts, row.last_error) == (None, 3, "HTTP 500")


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
) -> None:
    row_id = await add_report(db_sessions, account_id, receiver.url("/moved"))

    await worker_factory(FakeClock(T0)).run_once()

    assert receiver.paths() == ["/moved"]
    assert (await outbox_row(db_sessions, row_id)).last_error == "HTTP 302"


async def test_an_endpoint_that_does_not_answer_times_out_without_holding_up_the_others(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
) -> None:
    hanging = await add_report(db_sessions, account_id, receiver.url("/hang"))
    fine = await add_report(db_sessions, account_id, receiver.url("/dlr"))

    assert await worker_factory(FakeClock(T0)).run_once() == 2

    slow = await outbox_row(db_sessions, hanging)
    assert slow.last_error == "no answer within 0.3 s"
    assert (slow.delivered_at, slow.attempts, slow.next_attempt_at) == (None, 1, at(T0 + 2))
    assert (await outbox_row(db_sessions, fine)).delivered_at == at(T0)


async def test_an_unreachable_endpoint_is_a_failed_attempt(
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    account_id: int,
    unused_tcp_port: int,
) -> None:
    row_id = await add_report(db_sessions, account_id, f"http://127.0.0.1:{unused_tcp_port}/x")

    await worker_factory(FakeClock(T0)).run_once()

    row = await outbox_row(db_sessions, row_id)
    assert row.delivered_at is None
    assert row.last_error is not None and row.last_error.startswith("ClientConnectorError")


# -- several workers ---------------------------------------------------------------------


async def test_two_workers_on_separate_connections_never_post_the_same_report(
    receiver: Receiver,
    worker_factory: Callable[..., WebhookWorker],
    db_sessions: SessionFactory,
    database_url: str,
    account_id: int,
) -> None:
    receiver.delay_s = 0.005  # posts overlap with the other worker's claims
    row_ids = [
        await add_report(db_sessions, account_id, receiver.url("/dlr"), due=T0 - i)
        for i in range(40)
    ]
    other_engine = create_engine(database_url)  # as another gateway process would
    clock = FakeClock(T0)
    workers = [
        worker_factory(clock, batch_size=3),
        worker_factory(clock, session_factory(other_engine), batch_size=3),
    ]

    async def drain(worker: WebhookWorker) -> int:
        total = 0
        while posted := await worker.run_once():
            total += posted
        return total

    try:
        per_worker = await asyncio.gather(*(drain(w) for w in workers))
    finally:
        await other_engine.dispose()

    posts = Counter(r.headers["X-SecGate-Delivery"] for r in receiver.requests)
    assert posts == Counter({str(row_id): 1 for row_id in row_ids})
    assert sum(per_worker) == 40
    async with db_sessions() as session:
        undelivered = await session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.delivered_at.is_(None))
        )
        assert list(undelivered) == []


async def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_one_that_took_over(
    receiver: Receiver, db_sessions: SessionFactory, account_id: int, settings: Settings
) -> None:
    receiver.scripts["/gated"] = [500, 200]  # the first post fails, the second succeeds
    row_id = await add_report(db_sessions, account_id, receiver.url("/gated"))
    patient = replace(settings, webhook_timeout_s=5.0)  # a lease of 5 + 30 s
    first = WebhookWorker(db_sessions, patient, clock=FakeClock(T0))
    second = WebhookWorker(db_sessions, patient, clock=FakeClock(T0 + 36))  # lease over

    try:
        late = asyncio.create_task(first.run_once())
        await receiver.wait_for(1)
        taken_over = asyncio.create_task(second.run_once())
        await receiver.wait_for(2)
        receiver.gate.set()
        assert await asyncio.gather(late, taken_over) == [1, 1]
    finally:
        await first.close()
        await second.close()

    row = await outbox_row(db_sessions, row_id)
    assert (row.delivered_at, row.last_error, row.attempts) == (at(T0 + 36), None, 2)


# -- setting the URL ---------------------------------------------------------------------


async def test_setting_the_url_stores_it_and_returns_the_accounts_secret(
    db_sessions: SessionFactory, account_id: int, settings: Settings
) -> None:
    async with db_sessions.begin() as session:
        secret = await set_webhook_url(
            session, settings, "Alice", "https://example.com/dlr?k=1", resolve=PUBLIC_DNS.lookup
        )

    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None and account.dlr_webhook_url == "https://example.com/dlr?k=1"
    assert secret == webhook_secret(settings.secret_key, account_id)


async def test_setting_no_url_removes_the_webhook(
    db_sessions: SessionFactory, account_id: int, settings: Settings
) -> None:
    async with db_sessions.begin() as session:
        await set_webhook_url(
            session, settings, "alice", "https://example.com/dlr", resolve=PUBLIC_DNS.lookup
        )
        await set_webhook_url(session, settings, "alice", None)

    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None and account.dlr_webhook_url is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/dlr", "http:// or https://"),
        ("https:///dlr", "http:// or https://"),
        ("example.com/dlr", "http:// or https://"),
        ("https://example.com:port/", "not a URL"),
        ("https://example.com/a b", "without spaces"),
        ("https://example.com/" + "a" * 2030, "longer than 2048"),
        ("https://user:secret@example.com/dlr", "may not hold credentials"),
        ("https://token@example.com/dlr", "may not hold credentials"),
    ],
)
async def test_a_url_that_is_not_absolute_http_is_refused(
    db_sessions: SessionFactory, account_id: int, settings: Settings, url: str, problem: str
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match=problem):
            await set_webhook_url(session, settings, "alice", url, resolve=PUBLIC_DNS.lookup)


async def test_setting_the_url_of_an_unknown_account_fails(
    db_sessions: SessionFactory, settings: Settings
) -> None:
    async with db_sessions() as session:
        with pytest.raises(AccountNotFound):
            await set_webhook_url(
                session, settings, "nobody", "https://example.com/", resolve=PUBLIC_DNS.lookup
            )


# -- where webhooks may go: public addresses only ------------------------------------------


@pytest.fixture
def strict_settings(settings: Settings) -> Settings:
    """The destination rule with no exemption, as in a default deployment."""
    return replace(settings, webhook_allowed_networks=())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/dlr", "loopback"),
        ("http://[::1]/dlr", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.5/admin", "private (RFC 1918)"),
        ("http://172.16.0.1/", "private (RFC 1918)"),
        ("http://192.168.1.1/", "private (RFC 1918)"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://0.0.0.0:6379/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[fd00::1]/", "unique local"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://localhost:6379/", "loopback"),
        ("http://db.localhost/", "loopback"),
        # Legacy numeric IPv4 forms, read by the system resolver as 127.0.0.1.
        ("http://2130706433/", "loopback"),
        ("http://127.1/", "loopback"),
    ],
)
async def test_a_url_to_an_internal_address_is_refused_when_set(
    db_sessions: SessionFactory,
    account_id: int,
    strict_settings: Settings,
    url: str,
    reason: str,
) -> None:
    async with db_sessions() as session:
        with pytest.raises(InvalidField, match="public addresses only") as refused:
            await set_webhook_url(session, strict_settings, "alice", url)

    assert reason in str(refused.value)
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None and account.dlr_webhook_url is None


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        ([PUBLIC_ADDRESS], True),
        (["2606:4700:4700::1111"], True),
        (["10.1.2.3"], False),
        ([PUBLIC_ADDRESS, "169.254.169.254"], False),  # one internal address is enough
        (["::ffff:127.0.0.1"], False),
    ],
)
async def test_a_name_is_judged_by_every_address_it_resolves_to_when_set(
    db_sessions: SessionFactory,
    account_id: int,
    strict_settings: Settings,
    addresses: list[str],
    allowed: bool,
) -> None:
    dns = FakeDns({"hooks.customer.example": addresses})

    async with db_sessions.begin() as session:
        if allowed:
            await set_webhook_url(
                session,
                strict_settings,
                "alice",
                "https://hooks.customer.example/dlr",
                resolve=dns.lookup,
            )
        else:
            with pytest.raises(InvalidField, match=r"hooks\.customer\.example resolves to"):
                await set_webhook_url(
                    session,
                    strict_settings,
                    "alice",
                    "https://hooks.customer.example/dlr",
                    resolve=dns.lookup,
                )

    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None
    stored = account.dlr_webhook_url
    assert stored == ("https://hooks.customer.example/dlr" if allowed else None)


async def test_a_name_that_does_not_resolve_yet_is_taken_and_checked_at_delivery(
    db_sessions: SessionFactory, account_id: int, strict_settings: Settings
) -> None:
    async with db_sessions.begin() as session:
        await set_webhook_url(
            session,
            strict_settings,
            "alice",
            "https://new.customer.example/dlr",
            resolve=FakeDns({}).lookup,
        )

    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None and account.dlr_webhook_url == "https://new.customer.example/dlr"


async def test_an_allowed_network_is_exempted_from_the_rule_when_set(
    db_sessions: SessionFactory, account_id: int, settings: Settings
) -> None:
    async with db_sessions.begin() as session:
        await set_webhook_url(session, settings, "alice", "http://127.0.0.1:9000/dlr")

    async with db_sessions() as session:
        account = await session.get(Account, account_id)
    assert account is not None and account.dlr_webhook_url == "http://127.0.0.1:9000/dlr"


async def test_a_delivery_to_a_refused_address_is_abandoned_at_once_with_the_reason(
    receiver: Receiver,
    db_sessions: SessionFactory,
    account_id: int,
    strict_settings: Settings,
) -> None:
    # Stored before the rule (or while 127.0.0.0/8 was exempted): checked again now.
    refused = await add_report(db_sessions, account_id, receiver.url("/dlr"))
    clock = FakeClock(T0)
    worker = WebhookWorker(db_sessions, strict_settings, clock=clock)

    try:
        first = await worker.run_once()
        clock.now += 24 * 3600
        later = await worker.run_once()
    finally:
        await worker.close()

    assert (first, later) == (1, 0)  # no retries
    assert receiver.requests == []
    row = await outbox_row(db_sessions, refused)
    assert (row.delivered_at, row.abandoned_at, row.attempts) == (None, at(T0), 1)
    assert row.last_error == "refused: 127.0.0.1 is loopback"


async def test_a_name_that_now_resolves_to_a_refused_address_is_not_connected_to(
    receiver: Receiver,
    db_sessions: SessionFactory,
    account_id: int,
    strict_settings: Settings,
) -> None:
    """DNS rebinding: the name was public when the URL was set, and points inside now."""
    assert receiver.server is not None
    port = receiver.server.port
    dns = FakeDns({"rebound.example": [PUBLIC_ADDRESS]})
    async with db_sessions.begin() as session:
        await set_webhook_url(
            session,
            strict_settings,
            "alice",
            f"http://rebound.example:{port}/dlr",
            resolve=dns.lookup,
        )
    dns.table["rebound.example"] = ["127.0.0.1"]  # where the receiver listens
    rebound = await add_report(db_sessions, account_id, f"http://rebound.example:{port}/dlr")
    worker = WebhookWorker(db_sessions, strict_settings, clock=FakeClock(T0), resolver=dns)

    try:
        assert await worker.run_once() == 1
    finally:
        await worker.close()

    assert receiver.requests == []
    row = await outbox_row(db_sessions, rebound)
    assert row.abandoned_at == at(T0)
    assert row.last_error == "refused: rebound.example resolves to 127.0.0.1, which is loopback"


async def test_the_worker_connects_to_the_address_it_checked(
    receiver: Receiver, db_sessions: SessionFactory, account_id: int, settings: Settings
) -> None:
    """A name goes through the checking resolver, and the post goes to its answer
    (here the receiver, on an exempted network), with the name as the Host."""
    assert receiver.server is not None
    dns = FakeDns({"hooks.customer.example": ["127.0.0.1"]})
    url = f"http://hooks.customer.example:{receiver.server.port}/dlr"
    row_id = await add_report(db_sessions, account_id, url)
    worker = WebhookWorker(db_sessions, settings, clock=FakeClock(T0), resolver=dns)

    try:
        assert await worker.run_once() == 1
    finally:
        await worker.close()

    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.customer.example:{receiver.server.port}"
    assert (await outbox_row(db_sessions, row_id)).delivered_at == at(T0)


async def test_a_refused_report_does_not_hold_up_the_others_in_its_batch(
    receiver: Receiver,
    db_sessions: SessionFactory,
    account_id: int,
    settings: Settings,
) -> None:
    metadata = await add_report(db_sessions, account_id, "http://169.254.169.254/latest/")
    with_credentials = await add_report(
        db_sessions, account_id, receiver.url("/dlr").replace("http://", "http://u:p@")
    )
    fine = await add_report(db_sessions, account_id, receiver.url("/dlr"))
    worker = WebhookWorker(db_sessions, settings, clock=FakeClock(T0))

    try:
        assert await worker.run_once() == 3
    finally:
        await worker.close()

    assert receiver.paths() == ["/dlr"]
    assert (await outbox_row(db_sessions, fine)).delivered_at == at(T0)
    bad = [await outbox_row(db_sessions, i) for i in (metadata, with_credentials)]
    assert [row.abandoned_at for row in bad] == [at(T0), at(T0)]
    assert bad[0].last_error == (
        "refused: 169.254.169.254 is link-local (cloud metadata services live here)"
    )
    assert bad[1].last_error == "refused: url: may not hold credentials (user:password@)"


# -- end to end ----------------------------------------------------------------------------


async def test_the_report_of_a_real_send_reaches_the_customers_endpoint_signed(
    receiver: Receiver,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database_url: str,
    db_sessions: SessionFactory,
) -> None:
    settings = make_settings(
        database_url=database_url,
        sandbox_dlr_delay_s=0.01,
        sandbox_delivered_ratio=1.0,
        sandbox_failed_ratio=0.0,
        webhook_poll_interval_s=0.02,
        webhook_allowed_networks=LOOPBACK,
    )
    client = await aiohttp_client(create_app(settings))
    async with db_sessions.begin() as session:
        account = bare_account(
            "acme",
            mobile="96599999999",
            balance=10,
            dlr_webhook_url=receiver.url("/dlr"),
            sender_ids=[SenderId(name="KWT-SMS")],
        )
        session.add(account)
    request = SendRequest(account.id, "KWT-SMS", ["96550000001"], "Hi", False, None)

    accepted = await client.app[appkeys.SMS].send(request)
    await receiver.wait_for(1)  # the sandbox reports, the worker polls: tens of ms

    assert isinstance(accepted, SendAccepted)
    [posted] = receiver.requests
    payload = json.loads(posted.body)
    assert (payload["msg-id"], payload["mobile"], payload["status"]) == (
        accepted.msg_id,
        "96550000001",
        "DELIVERED",
    )
    secret = webhook_secret(settings.secret_key, account.id)
    signed = f"{posted.headers['X-SecGate-Timestamp']}.".encode() + posted.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert posted.headers["X-SecGate-Signature"] == f"sha256={expected}"
