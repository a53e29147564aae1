"""The pre-send content check over HTTP (CONTRACT §4.3). Pipeline or staff token.

- `POST /api/v1/checks/message`
  `{"username"?, "sender", "message", "recipients"?: [...], "dry_run"?: true}` →
  `{"verdict": "pass|hold|reject", "code": null|"ERR0xx", "spam_score": 0..1,
  "reasons": [{"check": ..., "verdict": ..., "code"?: ..., "reason": ..., ...}]}`
- `POST /api/v1/checks/messages` `{"messages": [<the body above>, ...]}` →
  `{"results": [<the answer above>, ...]}` in the same order; the spam model scores the
  whole batch in one call. At most `check_batch_max_messages` messages (413 beyond).

The checks are the send path's (`secgate.checks.pipeline`), with one more when an
account is named: the sender must be one of its sender IDs or its own mobile
(`SenderRegistered`, ERR008, which the send path checks before the pipeline). The
kwtSMS validity rules of a send (empty text, page and number limits, countries) are
not this endpoint's: the send API answers those itself.

With "username" the account's own view applies: the sender-ID guard lets it use the
protected names it owns, and the pumping checks judge the recipients against its
history and throttles. Without it, checks about an account are skipped: no sender
registration, no pumping or send rate (nothing to compare with), and every protected
name and look-alike is refused. Recipients (normalised as the send path does, in the
account's home country) only matter to the pumping checks.

A check is a dry run by default: it raises no alert, starts no throttle and counts
nothing (the pumping checks judge it as a test send). A caller that enforces the
verdict itself (a sending pipeline of its own) sends `"dry_run": false`: alerts are
then raised and throttles started as on the send path. Sends are counted only by the
send API, which knows that the message went out.

Errors: 401 without a token, 403 for other roles, 400 `invalid_field` (a wrong or
missing field, an unknown field, a recipient that is not a mobile number),
400 `account_not_found`, 413 `body_too_large`, `message_too_long` (more pages than a
send may have), `too_many_recipients` (over `max_numbers_per_request`),
`too_many_messages`. Never a 500 for any body.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from secgate import appkeys
from secgate.accounts.registry import (
    USERNAME_MAX_CHARS,
    AccountProfile,
    account_profiles,
    username_key,
)
from secgate.auth.principal import require_role
from secgate.checks.pipeline import Pipeline, SenderRegistered
from secgate.checks.sender_ids import MAX_SENDER_CHARS
from secgate.checks.verdict import Decision, MessageUnderCheck
from secgate.settings import Settings
from secgate.sms.encoding import encode_info
from secgate.sms.numbers import InvalidNumber, normalize_msisdn
from secgate.storage.db import read_connection
from secgate.web.errors import ApiError
from secgate.web.json_body import read_model

PATH = "/api/v1/checks/message"
BATCH_PATH = "/api/v1/checks/messages"
# A recipient entry longer than this is not a phone number (secgate.sms.numbers).
MAX_RECIPIENT_CHARS = 64


class MessageBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str | None = Field(None, max_length=USERNAME_MAX_CHARS)
    sender: str = Field(min_length=1, max_length=MAX_SENDER_CHARS)
    message: str
    recipients: list[str] = Field(default_factory=list)
    dry_run: StrictBool = True


class BatchBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[MessageBody] = Field(min_length=1)


def setup_routes(app: web.Application) -> None:
    app.router.add_post(PATH, check_message)
    app.router.add_post(BATCH_PATH, check_messages)


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "verdict": str(decision.verdict),
        "code": decision.code,
        "spam_score": decision.spam_score,
        "reasons": decision.reasons,
    }


async def check_message(request: web.Request) -> web.Response:
    await require_role(request, "pipeline", "staff")
    body = await read_model(request, MessageBody)
    settings = request.app[appkeys.SETTINGS]
    _check_sizes(body, settings, "")
    accounts = await _accounts(request, [body], batch=False)
    pipeline = request.app[appkeys.CHECKS]
    account = accounts.get(body.username) if body.username is not None else None
    message = under_check(body, account, settings, request[appkeys.CLIENT_IP], time.time(), "")
    decision = await _pipeline_for(pipeline, account).check(message, raise_alerts=not body.dry_run)
    return web.json_response(decision_json(decision))


async def check_messages(request: web.Request) -> web.Response:
    await require_role(request, "pipeline", "staff")
    settings = request.app[appkeys.SETTINGS]
    body = await read_model(request, BatchBody)
    if len(body.messages) > settings.check_batch_max_messages:
        raise ApiError(
            413,
            "too_many_messages",
            f"at most {settings.check_batch_max_messages} messages in one request",
        )
    for index, item in enumerate(body.messages):
        _check_sizes(item, settings, f"messages.{index}.")
    accounts = await _accounts(request, body.messages, batch=True)
    now, client_ip = time.time(), request[appkeys.CLIENT_IP]
    messages = [
        under_check(
            item,
            accounts.get(item.username) if item.username is not None else None,
            settings,
            client_ip,
            now,
            f"messages.{index}.",
        )
        for index, item in enumerate(body.messages)
    ]
    decisions = await check_batch(request.app[appkeys.CHECKS], body.messages, messages, accounts)
    return web.json_response({"results": [decision_json(d) for d in decisions]})


async def check_batch(
    pipeline: Pipeline,
    bodies: Sequence[MessageBody],
    messages: Sequence[MessageUnderCheck],
    accounts: dict[str, AccountProfile],
) -> list[Decision]:
    """Decide a batch, grouped by what changes the pipeline (the account named, whether
    alerts are raised): one batched model call per group, answers in request order."""
    groups: dict[tuple[str | None, bool], list[int]] = {}
    for index, body in enumerate(bodies):
        groups.setdefault((body.username, body.dry_run), []).append(index)
    decisions: list[Decision | None] = [None] * len(bodies)
    for (username, dry_run), indexes in groups.items():
        account = accounts.get(username) if username is not None else None
        answers = await _pipeline_for(pipeline, account).check_batch(
            [messages[i] for i in indexes], raise_alerts=not dry_run
        )
        for index, decision in zip(indexes, answers, strict=True):
            decisions[index] = decision
    return [decision for decision in decisions if decision is not None]


def under_check(
    body: MessageBody,
    account: AccountProfile | None,
    settings: Settings,
    client_ip: str | None,
    now: float,
    field_prefix: str,
) -> MessageUnderCheck:
    """The message as the checks see it; 400 for a recipient that is no mobile number."""
    region = account.home_country if account is not None else None
    recipients: dict[str, None] = {}
    for index, entry in enumerate(body.recipients):
        try:
            recipients.setdefault(normalize_msisdn(entry, default_region=region))
        except InvalidNumber as exc:
            raise _invalid_field(f"{field_prefix}recipients.{index}", str(exc)) from None
    return MessageUnderCheck(
        sender=body.sender,
        text=body.message,
        recipients=tuple(recipients),
        account_id=account.id if account is not None else None,
        account_sender_ids=account.sender_ids if account is not None else frozenset(),
        transactional_sender_ids=(
            account.transactional_sender_ids if account is not None else frozenset()
        ),
        # A dry run is judged like a test send: no throttle started, no alert.
        test=body.dry_run,
        client_ip=client_ip,
        now=now,
    )


def _pipeline_for(pipeline: Pipeline, account: AccountProfile | None) -> Pipeline:
    if account is None:
        return pipeline
    return pipeline.with_first(SenderRegistered(account.mobile))


def _check_sizes(body: MessageBody, settings: Settings, field_prefix: str) -> None:
    if len(body.recipients) > settings.max_numbers_per_request:
        raise ApiError(
            413,
            "too_many_recipients",
            f"{field_prefix}recipients: at most {settings.max_numbers_per_request} numbers",
        )
    for index, entry in enumerate(body.recipients):
        if len(entry) > MAX_RECIPIENT_CHARS:
            raise _invalid_field(
                f"{field_prefix}recipients.{index}",
                f"longer than {MAX_RECIPIENT_CHARS} characters",
            )
    pages = encode_info(body.message).pages
    if pages > settings.max_pages:
        raise ApiError(
            413,
            "message_too_long",
            f"{field_prefix}message: {pages} pages, at most {settings.max_pages} "
            "(what one send may carry)",
        )


async def _accounts(
    request: web.Request, bodies: Sequence[MessageBody], *, batch: bool
) -> dict[str, AccountProfile]:
    """The accounts named, by the name given; 400 for the first that does not exist.
    One statement for all of them, outside a transaction (one round trip), read afresh
    for every request: a blocked account or a removed sender ID counts at once. No
    database round trip when no account is named."""
    usernames = [body.username for body in bodies if body.username is not None]
    if not usernames:
        return {}
    async with read_connection(request.app[appkeys.DB_ENGINE]) as connection:
        profiles = await account_profiles(connection, usernames)
    found: dict[str, AccountProfile] = {}
    for index, body in enumerate(bodies):
        username = body.username
        if username is None or username in found:
            continue
        profile = profiles.get(username_key(username))
        if profile is None:
            field = f"messages.{index}.username" if batch else "username"
            raise ApiError(
                400,
                "account_not_found",
                f"{field}: no account named {username!r}",
                extra={"fields": [{"field": field, "problem": "no such account"}]},
            )
        found[username] = profile
    return found


def _invalid_field(field: str, problem: str) -> ApiError:
    return ApiError(
        400,
        "invalid_field",
        f"{field}: {problem}",
        extra={"fields": [{"field": field, "problem": problem}]},
    )
