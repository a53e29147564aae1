"""Delivery-report webhooks: the worker that posts the outbox, signed, with retries.

The delivery logger writes a `WebhookDelivery` row (table `webhook_outbox`) in the
same transaction as the final state it reports, so a report is never lost nor sent
for a change that was rolled back. This worker posts the rows that are due.

What a customer's endpoint receives (a POST, `Content-Type: application/json`):

    X-SecGate-Timestamp: <unix seconds when this attempt was sent>
    X-SecGate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-SecGate-Delivery: <outbox row id; the same on every retry of one report>

    {"msg-id": …, "mobile": …, "status": "DELIVERED", "unix-timestamp": …, "reason": …}

The secret is the account's own: hex HMAC-SHA256(SECGATE_SECRET_KEY, "dlr-webhook:<account
id>"), shown by `python -m secgate webhook set`; the HMAC key is that hex text as ASCII.
The timestamp is signed with the body so that a receiver can refuse replays: it checks
the signature (in constant time), then that the timestamp is within a few minutes of its
own clock. Changing SECGATE_SECRET_KEY changes every account's secret.

Destinations: public addresses only (see webhook_destinations.py); the rule is
applied when the URL is set and again at every delivery. A delivery the rule refuses
is not retried: the row is abandoned at once, its `last_error` saying "refused: …".

Retries: a 2xx answer is delivered. Anything else (another status, a redirect, a refused
connection, no answer within `webhook_timeout_s`) is a failed attempt. After the n-th
failed attempt the next waits `webhook_backoff_base_s * 2**(n-1)` (2, 4, 8, … s by
default, at most a day); after `webhook_max_attempts` attempts the row is abandoned,
its `last_error` kept for staff to see.

Several gateway processes run this worker against one database. Each takes rows with a
claim: one statement that moves `next_attempt_at` of due rows forward by a lease and
counts the attempt (on PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`; on
SQLite the statement holds the database's write lock), so no two workers post a row at
once. The result is written only if the lease is still the worker's own. A worker that
dies mid-post leaves its rows to be taken again when the lease runs out: delivery is at
least once, and a receiver drops repeats by `X-SecGate-Delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.accounts.registry import AccountNotFound, InvalidField, find_account
from secgate.settings import Settings
from secgate.sms.webhook_destinations import (
    DestinationCheck,
    GuardedResolver,
    IPAddress,
    RefusedDestination,
    Resolve,
    check_host,
    check_literal,
    system_resolve,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import WebhookDelivery

log = logging.getLogger("secgate.webhooks")

SIGNATURE_HEADER = "X-SecGate-Signature"
TIMESTAMP_HEADER = "X-SecGate-Timestamp"
DELIVERY_HEADER = "X-SecGate-Delivery"

MAX_URL_CHARS = 2048  # Account.dlr_webhook_url, WebhookDelivery.url
MAX_ERROR_CHARS = 255  # WebhookDelivery.last_error
CLAIM_BATCH = 50
# A claim outlives the post it covers by this much, for the database writes around it.
_LEASE_MARGIN_S = 30.0
# Past a day between attempts, the endpoint is as good as gone.
_MAX_BACKOFF_S = 24 * 3600.0


def webhook_secret(secret_key: str, account_id: int) -> str:
    """The account's signing secret, derived from the gateway's secret key: nothing to
    store, and every process computes the same one."""
    message = f"dlr-webhook:{account_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-SecGate-Signature value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode("ascii"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def backoff_s(settings: Settings, failed_attempts: int) -> float:
    """How long to wait after the `failed_attempts`-th failed attempt (1, 2, …)."""
    exponent = min(failed_attempts - 1, 32)  # 2**32 times any base is past the cap
    return min(settings.webhook_backoff_base_s * 2**exponent, _MAX_BACKOFF_S)


async def set_webhook_url(
    session: AsyncSession,
    settings: Settings,
    username: str,
    url: str | None,
    *,
    resolve: Resolve = system_resolve,
) -> str:
    """Set (or with None, remove) where the account's delivery reports are posted and
    return the account's signing secret. InvalidField when the URL is malformed or
    its host is, or now resolves to, an address webhooks may not go to (a name that
    does not resolve yet is taken: every delivery checks again). Reports already in
    the outbox keep the URL they were written with. The caller commits."""
    if url is not None:
        host, port = _check_url(url)
        verdict = await check_host(
            host,
            port,
            DestinationCheck(settings.webhook_allowed_networks),
            _within(settings.webhook_timeout_s, resolve),
        )
        if not verdict.allowed:
            raise InvalidField("url", f"webhooks go to public addresses only, and {verdict.reason}")
    account = await find_account(session, username)
    if account is None:
        raise AccountNotFound(f"no account named {username!r}")
    account.dlr_webhook_url = url
    await session.flush()
    return webhook_secret(settings.secret_key, account.id)


def _within(timeout_s: float, resolve: Resolve) -> Resolve:
    """`resolve` giving up (TimeoutError, an OSError) after `timeout_s`."""

    async def resolve_within(host: str, port: int) -> list[IPAddress]:
        async with asyncio.timeout(timeout_s):
            return await resolve(host, port)

    return resolve_within


def _check_url(url: str) -> tuple[str, int]:
    """The URL's host and port, or InvalidField saying what is wrong with it."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidField("url", f"longer than {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise InvalidField("url", "printable ASCII without spaces only (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise InvalidField("url", f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidField("url", "must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        # They would be sent to the endpoint (and logged along the way); the
        # signature is how the receiver knows the gateway.
        raise InvalidField("url", "may not hold credentials (user:password@)")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    account_id: int
    url: str
    payload: dict[str, Any]
    attempts: int  # including the one being made


@dataclass(frozen=True, slots=True)
class _Outcome:
    error: str | None  # None: the endpoint took the report
    refused: bool = False  # the destination rule refused it: not to be retried


_DELIVERED = _Outcome(None)


class WebhookWorker:
    """Posts due outbox rows. `run_once` handles one batch; `start` runs batches in the
    background until `close`. One per process; several processes may share a database."""

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        batch_size: int = CLAIM_BATCH,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """`resolver` is aiohttp's (the system's) unless given; either way every
        address it answers is checked before anything connects to it."""
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._batch_size = batch_size
        self._lease = timedelta(seconds=settings.webhook_timeout_s + _LEASE_MARGIN_S)
        self._destinations = DestinationCheck(settings.webhook_allowed_networks)
        self._resolver = GuardedResolver(self._destinations, resolver)
        self._http = aiohttp.ClientSession(
            # Connects only to addresses the resolver checked; no proxy from the
            # environment (trust_env is off), which would connect elsewhere.
            connector=aiohttp.TCPConnector(resolver=self._resolver),
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s),
            # Customer endpoints must not plant cookies in the gateway.
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": "SecGate-Webhook/1"},
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._http.close()
        await self._resolver.close()  # the connector closes only a resolver it made

    async def run_once(self) -> int:
        """Post one batch of due rows and record the outcomes; return how many."""
        lease, claimed = await self._claim()
        if claimed:
            outcomes = await asyncio.gather(*(self._post(row) for row in claimed))
            await self._record(lease, claimed, outcomes)
        return len(claimed)

    async def _run(self) -> None:
        while True:
            try:
                full = await self.run_once() == self._batch_size
            except Exception:
                log.exception("webhook_batch_failed")
                full = False
            if not full:  # a full batch suggests more are due: go on at once
                await asyncio.sleep(self._settings.webhook_poll_interval_s)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _claim(self) -> tuple[datetime, list[_Claimed]]:
        """Take due rows; returns them with the lease they now carry in next_attempt_at,
        which is also the claim's token: the row is still ours while it holds it."""
        now = self._now()
        lease = now + self._lease
        pending = (
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.abandoned_at.is_(None),
            WebhookDelivery.next_attempt_at <= now,
        )
        async with self._sessions.begin() as session:
            due = (
                select(WebhookDelivery.id)
                .where(*pending)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(self._batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = await session.execute(
                update(WebhookDelivery)
                # The conditions again: on PostgreSQL they are re-checked on the row as
                # it is when locked, should another worker have claimed it meanwhile.
                .where(WebhookDelivery.id.in_(due), *pending)
                .values(next_attempt_at=lease, attempts=WebhookDelivery.attempts + 1)
                .returning(
                    WebhookDelivery.id,
                    WebhookDelivery.account_id,
                    WebhookDelivery.url,
                    WebhookDelivery.payload,
                    WebhookDelivery.attempts,
                )
            )
            return lease, [
                _Claimed(row.id, row.account_id, row.url, row.payload, row.attempts) for row in rows
            ]

    def _refusal(self, url: str) -> str | None:
        """Why the URL may not be posted to, as far as can be told without resolving
        it (a name is checked by the resolver as it connects); None when it may.
        A URL is checked again here because it may have been stored before a rule
        existed, or with other allowed networks."""
        try:
            host, _ = _check_url(url)
        except InvalidField as exc:
            return str(exc)
        verdict = check_literal(host, self._destinations)
        return None if verdict is None or verdict.allowed else verdict.reason

    async def _post(self, row: _Claimed) -> _Outcome:
        refusal = self._refusal(row.url)
        if refusal is not None:
            return _Outcome(f"refused: {refusal}"[:MAX_ERROR_CHARS], refused=True)
        body = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(self._clock())
        secret = webhook_secret(self._settings.secret_key, row.account_id)
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            DELIVERY_HEADER: str(row.id),
        }
        try:
            # A redirect is not followed: the signature is for the URL the customer set.
            async with self._http.post(
                row.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return _DELIVERED
                return _Outcome(f"HTTP {response.status}")
        except TimeoutError:
            return _Outcome(f"no answer within {self._settings.webhook_timeout_s:g} s")
        except (aiohttp.ClientError, ValueError) as exc:
            refused = _refused_destination(exc)
            if refused is not None:
                return _Outcome(f"refused: {refused}"[:MAX_ERROR_CHARS], refused=True)
            return _Outcome(f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])

    async def _record(
        self, lease: datetime, claimed: Sequence[_Claimed], outcomes: Sequence[_Outcome]
    ) -> None:
        now = self._now()
        max_attempts = self._settings.webhook_max_attempts
        done = list(zip(claimed, outcomes, strict=True))
        delivered = [row.id for row, outcome in done if outcome.error is None]
        async with self._sessions.begin() as session:
            # Only rows whose lease is still ours: had a post outlasted the lease, another
            # worker may have taken the row, and its outcome is the one that counts.
            if delivered:
                await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id.in_(delivered), WebhookDelivery.next_attempt_at == lease
                    )
                    .values(delivered_at=now, last_error=None)
                )
            for row, outcome in done:
                error = outcome.error
                if error is None:
                    continue
                values: dict[str, Any] = {"last_error": error[:MAX_ERROR_CHARS]}
                # A refused destination is refused again on retry (or, should DNS
                # change, is not where the customer's endpoint lives): no retries.
                if outcome.refused or row.attempts >= max_attempts:
                    values["abandoned_at"] = now
                    log.warning(
                        "webhook_abandoned",
                        extra={"outbox_id": row.id, "attempts": row.attempts, "error": error},
                    )
                else:
                    wait = timedelta(seconds=backoff_s(self._settings, row.attempts))
                    values["next_attempt_at"] = now + wait
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == row.id, WebhookDelivery.next_attempt_at == lease)
                    .values(values)
                )


def _refused_destination(exc: BaseException) -> str | None:
    """The reason, when the connection failed because the resolver refused the
    destination (aiohttp wraps the resolver's error in its own)."""
    seen: BaseException | None = exc
    for _ in range(4):  # a few wrappers deep at most; never a loop
        if seen is None:
            break
        if isinstance(seen, RefusedDestination):
            return str(seen)
        seen = seen.__cause__ or getattr(seen, "os_error", None)
    return None
