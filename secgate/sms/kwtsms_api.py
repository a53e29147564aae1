"""The messaging API, compatible with the kwtSMS JSON API (CONTRACT §4.1).

`POST /API/{send,balance,senderid,coverage,validate,report}/` (the trailing slash may be
left out). The body is JSON, or `application/x-www-form-urlencoded` for the older
kwtSMS integrations; either way it carries `username` and `password` (the account's API
credentials) and the fields of the command. Answers are kwtSMS's: `{"result": "OK", ...}`
or `{"result": "ERROR", "code": "ERRnnn", "description": "..."}` (plus our `request_id`).

Field types are read as kwtSMS clients write them: `mobile` is a comma-separated string
(a JSON list of strings, and numbers written as JSON integers, are taken too); `test` is
0/1, "0"/"1", true/false or "true"/"false". Fields nobody asked for are ignored.

HTTP status of errors: kwtSMS clients branch on `result` and `code` and read the body
whatever the status (the `kwtsms` client parses the JSON of 4xx answers as well), so
the status is chosen for what sits between the client and us (proxies, logs, metrics):
400 for a bad request (ERR002, 006, 007, 009, 012, 025, 027 and the content refusals),
413 for a body over the size limit (ERR002), 401 for wrong credentials (ERR003; there
is no HTTP authentication scheme, the credentials are in the body), 403 for what the
account may not do (ERR001, 004, 005, 008, 024, 026), 402 for too little balance
(ERR010, 011), 404 for an unknown msg-id (ERR020), 429 with Retry-After for the same
number within the block window (ERR028) and 503 when sending is unavailable (ERR013;
with Retry-After when a send rate or a pumping throttle refused it, as its end is known).
Any command whose store (the database, the hot state) does not answer is ERR013 with
503 too, without Retry-After (`secgate.web.store_failures` says which errors those are):
the `kwtsms` client retries ERR013 later by itself.
A body that is not JSON, not UTF-8, holds the wrong types or misses a field is ERR002:
never a 500 and never an answer in another shape.

Text rules are the same whichever way the fields come: a JSON string or a form field
holding a NUL character or an unpaired surrogate, or a body that is not valid UTF-8,
is ERR002 (400) and nothing of the request is stored. Other control characters are
taken either way (a message may hold a newline; JSON escapes any of them). The URL's
query string is never read: fields go in the body, as kwtSMS documents, so that
credentials stay out of access logs.

Under /API/ an address that is no command is ERR001 with 404 (kwtSMS's "API is
disabled": there is no API there), and a command called with another method than
POST is ERR002 with 405 and `Allow: POST` (its fields travel in a POST body, so none
was given). Elsewhere such answers keep the application's error shape.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import phonenumbers
from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from secgate import appkeys
from secgate.auth.passwords import PasswordHasher
from secgate.sms import contacts, delivery_log
from secgate.sms.api_auth import ApiAuthenticator, ApiDenied
from secgate.sms.rules import read_numbers, region_of
from secgate.sms.send import SendRefused, SendRequest, sending_account
from secgate.storage.db import read_session
from secgate.storage.models import Account, Message
from secgate.web.errors import STORE_UNAVAILABLE_DESCRIPTION, ApiError, log_store_failure
from secgate.web.json_body import read_json_object
from secgate.web.store_failures import store_failure

API_PREFIX = "/API/"

# The HTTP status that goes with each kwtSMS error code (see the module's docstring).
# A code not listed here is a refusal of the request as sent: 400.
ERROR_STATUS = {
    "ERR001": 403,
    "ERR003": 401,
    "ERR004": 403,
    "ERR005": 403,
    "ERR008": 403,
    "ERR010": 402,
    "ERR011": 402,
    "ERR013": 503,
    "ERR019": 404,
    "ERR020": 404,
    "ERR024": 403,
    "ERR026": 403,
    "ERR028": 429,
    "ERR033": 403,
}
MSG_ID_MAX_CHARS = Message.msg_id.type.length
# parse_qsl refuses bodies with more fields than this: a form has a handful.
_MAX_FORM_FIELDS = 64
# The JSON reader's words for the same refusal (secgate.web.json_body), so that a
# form and a JSON body refused for one reason read alike.
UNSTORABLE_TEXT = "strings may not contain NUL characters or unpaired surrogates (\\ud800-\\udfff)"

Handler = Callable[[web.Request], Awaitable[web.Response]]


def kwtsms_error(
    code: str, description: str, *, status: int | None = None, headers: dict[str, str] | None = None
) -> ApiError:
    """An error in kwtSMS's shape, rendered by the application's error middleware."""
    return ApiError(
        status or ERROR_STATUS.get(code, 400),
        code,
        description,
        headers=headers,
        extra={"result": "ERROR"},
    )


# -- request fields ------------------------------------------------------------------


def _test_flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.strip().lower() in {"0", "1", "true", "false"}:
        return value.strip().lower() in {"1", "true"}
    raise ValueError("must be 0 or 1 (or true or false)")


def _mobile_list(value: object) -> list[str]:
    """The numbers as given, one string each: "965...,965..." or a JSON list."""
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    numbers = []
    for item in items:
        # bool is an int in Python, and never a phone number.
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ValueError("must be numbers separated by commas, or a list of numbers")
        text = str(item).strip()
        if text:
            numbers.append(text)
    if not numbers:
        raise ValueError("no numbers given")
    return numbers


TestFlag = Annotated[bool, BeforeValidator(_test_flag)]
MobileList = Annotated[list[str], BeforeValidator(_mobile_list)]


class Credentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    username: str
    password: str


class SendFields(Credentials):
    sender: str
    mobile: MobileList | None = None  # required unless `group` is given
    message: str
    test: TestFlag = False
    # SecGate's extension: the name of one of the account's contact groups, sent to
    # instead of `mobile` (and not held to the 200-number limit of a request).
    group: str | None = None


class ValidateFields(Credentials):
    mobile: MobileList


class ReportFields(Credentials):
    msgid: str


F = TypeVar("F", bound=Credentials)


async def read_fields(request: web.Request, model: type[F]) -> F:
    """The request's fields, or ERR002 saying which one is missing or wrong."""
    data = await _read_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "(body)"
        if error["type"] == "missing":
            raise kwtsms_error("ERR002", f"Missing parameter: {field}") from None
        raise kwtsms_error("ERR002", f"Invalid parameter {field}: {error['msg']}") from None


async def _read_body(request: web.Request) -> Mapping[str, object]:
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            return await _read_form(request)
        # JSON whatever the declared type: clients label it variously (kwtSMS's older
        # documents asked for text/html), and JSON is the only other body read here.
        return await read_json_object(request)
    except ApiError as exc:  # malformed JSON, not UTF-8, empty, over the size limit
        raise kwtsms_error("ERR002", exc.description, status=exc.status) from None
    except web.HTTPRequestEntityTooLarge:
        raise kwtsms_error(
            "ERR002",
            f"the body is over the limit of {request.client_max_size} bytes",
            status=413,
        ) from None


async def _read_form(request: web.Request) -> dict[str, object]:
    raw = await request.read()  # HTTPRequestEntityTooLarge beyond client_max_size
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise kwtsms_error("ERR002", "the form is not valid UTF-8") from None
    except ValueError:
        raise kwtsms_error("ERR002", f"the form has over {_MAX_FORM_FIELDS} fields") from None
    if not all(_is_storable(name) and _is_storable(value) for name, value in pairs):
        raise kwtsms_error("ERR002", UNSTORABLE_TEXT)
    # A repeated field keeps its last value, as the PHP servers kwtSMS clients
    # were written against do.
    return dict(pairs)


def _is_storable(text: str) -> bool:
    """The JSON reader's rule: PostgreSQL stores no NUL character, and a lone
    surrogate is not UTF-8. (A form decoded as strict UTF-8 holds no surrogate; the
    check stays so that the rule does not hang on how the form was decoded.)"""
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- answers -------------------------------------------------------------------------


def ok(fields: Mapping[str, Any]) -> web.Response:
    return web.json_response({"result": "OK", **fields})


async def authenticated(
    request: web.Request, session: AsyncSession, credentials: Credentials
) -> Account:
    """The calling account, or the kwtSMS error that refuses it."""
    result = await request.app[appkeys.API_AUTH].authenticate(
        session, credentials.username, credentials.password, request[appkeys.CLIENT_IP]
    )
    if isinstance(result, ApiDenied):
        raise kwtsms_error(result.code, result.description)
    return result


def sender_ids(account: Account) -> list[str]:
    """The account's registered sender IDs, oldest first."""
    return [sender.name for sender in sorted(account.sender_ids, key=lambda s: s.id)]


def calling_codes(countries: Iterable[str]) -> list[str]:
    """The international calling codes ("965") of ISO 3166-1 alpha-2 countries, in the
    order given, each once (the US and Canada share "1"); unknown countries are left out."""
    codes: list[str] = []
    for country in countries:
        code = phonenumbers.country_code_for_region(country.upper())
        if code and str(code) not in codes:
            codes.append(str(code))
    return codes


def classify_numbers(
    entries: Sequence[str], home_country: str, activated_countries: Iterable[str]
) -> dict[str, list[str]]:
    """kwtSMS's validate answer: "OK" numbers are valid mobiles of an activated country,
    "NR" (no route) valid mobiles of another country, "ER" what is not a valid mobile
    number. OK and NR hold the normalised numbers, ER the entries as given; each once.
    Numbers are read as a send reads them, so "OK" means a send would take them."""
    reading = read_numbers(entries, home_country, limit=len(entries))
    activated = set(activated_countries)
    return {
        "OK": [number for number in reading.valid if region_of(number) in activated],
        "ER": list(dict.fromkeys(entry.strip() for entry in reading.invalid)),
        "NR": [number for number in reading.valid if region_of(number) not in activated],
    }


# -- handlers ------------------------------------------------------------------------


async def balance(request: web.Request) -> web.Response:
    credentials = await read_fields(request, Credentials)
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, credentials)
        return ok({"available": account.balance, "purchased": account.purchased})


async def senderid(request: web.Request) -> web.Response:
    credentials = await read_fields(request, Credentials)
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, credentials)
        return ok({"senderid": sender_ids(account)})


async def coverage(request: web.Request) -> web.Response:
    credentials = await read_fields(request, Credentials)
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, credentials)
        codes = calling_codes(account.activated_countries)
    if not codes:
        raise kwtsms_error("ERR033", "No active coverage found on this account")
    return ok({"coverage": codes})


async def validate(request: web.Request) -> web.Response:
    fields = await read_fields(request, ValidateFields)
    settings = request.app[appkeys.SETTINGS]
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, fields)
        home_country, activated = account.home_country, list(account.activated_countries)
    if len(fields.mobile) > settings.max_numbers_per_request:
        raise kwtsms_error(
            "ERR007", f"More than {settings.max_numbers_per_request} numbers in one request"
        )
    return ok({"mobile": classify_numbers(fields.mobile, home_country, activated)})


async def send(request: web.Request) -> web.Response:
    fields = await read_fields(request, SendFields)
    if fields.group is None and fields.mobile is None:
        raise kwtsms_error("ERR002", "Missing parameter: mobile")
    if fields.group is not None and fields.mobile is not None:
        raise kwtsms_error("ERR002", "Invalid parameters: give mobile or group, not both")
    group_id = None
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, fields)
        account_id = account.id
        # Handed to the send, which then need not read the account again.
        sending = sending_account(account)
        if fields.group is not None:
            try:
                group_id = (await contacts.find_group(session, account_id, fields.group)).id
            except contacts.GroupNotFound as exc:
                raise kwtsms_error("ERR002", f"Invalid parameter group: {exc}") from None
    # The session is closed before sending: the send writes in sessions of its own,
    # and on SQLite an open read would hold up its commit.
    result = await request.app[appkeys.SMS].send(
        SendRequest(
            account_id=account_id,
            sender=fields.sender,
            numbers=fields.mobile or [],
            text=fields.message,
            test=fields.test,
            client_ip=request[appkeys.CLIENT_IP],
            group_id=group_id,
            account=sending,
        )
    )
    if isinstance(result, SendRefused):
        headers = None
        if result.retry_after_s is not None:
            headers = {"Retry-After": str(max(1, math.ceil(result.retry_after_s)))}
        raise kwtsms_error(result.code, result.description, headers=headers)
    return ok(
        {
            "msg-id": result.msg_id,
            "numbers": result.numbers,
            "points-charged": result.points_charged,
            "balance-after": result.balance_after,
            "unix-timestamp": result.unix_timestamp,
        }
    )


async def report(request: web.Request) -> web.Response:
    fields = await read_fields(request, ReportFields)
    async with read_session(request.app[appkeys.DB_SESSIONS]) as session:
        account = await authenticated(request, session, fields)
        # No msg-id is longer than the column; such a one is not looked up.
        found = None
        if len(fields.msgid) <= MSG_ID_MAX_CHARS:
            found = await delivery_log.report(session, account.id, fields.msgid)
    if found is None:
        # Another account's message answers the same as one that does not exist.
        raise kwtsms_error("ERR020", "Message ID does not exist")
    return ok(
        {
            "msg-id": found.msg_id,
            "status": found.status,
            "numbers": len(found.recipients),
            "report": [
                {
                    "mobile": recipient.number,
                    "status": recipient.status,
                    "unix-timestamp": int(recipient.at.timestamp()),
                    "reason": recipient.reason,
                }
                for recipient in found.recipients
            ],
        }
    )


# -- wiring --------------------------------------------------------------------------

_HANDLERS: dict[str, Handler] = {
    "send": send,
    "balance": balance,
    "senderid": senderid,
    "coverage": coverage,
    "validate": validate,
    "report": report,
}


def setup_routes(app: web.Application) -> None:
    for name, handler in _HANDLERS.items():
        # kwtSMS documents the URLs with a trailing slash; clients that drop it work too.
        app.router.add_post(f"{API_PREFIX}{name}/", handler)
        app.router.add_post(f"{API_PREFIX}{name}", handler)
    # Innermost, after the error middleware: what it raises is rendered there.
    app.middlewares.append(api_routing_errors)


@web.middleware
async def api_routing_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under /API/, the router's 404 and 405, and a store that does not answer
    (ERR013, 503), in kwtSMS's error shape."""
    if not (request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        raise kwtsms_error(
            "ERR002",
            f"{request.method} is not accepted here: send the parameters in a POST body",
            status=405,
            headers={"Allow": allowed},
        ) from None
    except web.HTTPNotFound:
        commands = ", ".join(_HANDLERS)
        raise kwtsms_error(
            "ERR001",
            f"No such API command; the commands are {commands}, under {API_PREFIX}",
            status=404,
        ) from None
    except (ApiError, web.HTTPException):
        raise  # the error middleware renders them as they are
    except Exception as exc:
        failure = store_failure(exc)
        if failure is None:
            raise  # a bug: the error middleware answers 500
        log_store_failure(request, failure)
        raise kwtsms_error("ERR013", STORE_UNAVAILABLE_DESCRIPTION) from None


async def api_authenticator(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the authenticator, once the stores and the alert sink are open."""
    settings = app[appkeys.SETTINGS]
    app[appkeys.API_AUTH] = ApiAuthenticator(
        hot=app[appkeys.HOT_STATE],
        hasher=PasswordHasher(settings),
        alerts=app[appkeys.ALERTS],
        settings=settings,
    )
    yield
