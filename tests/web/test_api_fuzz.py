"""Every operation of the served OpenAPI document, fuzzed (CONTRACT §4): bad input gets a
clear error and nothing breaks.

The real app listens on a real port, on a real database, with a registered customer
(its API credentials, a sender ID, a contact group, messages sent and held) and an
alert; requests carry a staff token. Whatever is sent:

- never a 500, and no stack trace in any answer; a 5xx only where the document gives
  one (503: a store is down, or sending is paused);
- every error is JSON with a `code` string and a `description` (under /API/, kwtSMS's
  `{"result": "ERROR", "code": "ERRnnn"}`);
- the answer is one the document describes (Schemathesis's checks: status, content
  type, headers, body schema), and what breaks the document is refused with a 4xx.

Two ways of drawing requests:

- Schemathesis's own phases: the document's examples, and its coverage phase (each
  parameter and field at its bounds, of a wrong type, missing; methods the path does
  not take; no token).
- Hypothesis, operation by operation: requests Schemathesis draws from the document,
  valid (positive) and breaking it (negative), with odd Unicode in strings; mixed in,
  the names that exist (so that cases get past "not found"), hostile headers (junk
  tokens, request ids and forwarded-for chains, content types that lie) and hostile
  bodies (malformed JSON, not UTF-8, oversized, nested too deep).

Not sent: control characters in header values. aiohttp's HTTP parser refuses those
before the application sees the request, with a plain-text 400 of its own
(tests/web/test_errors.py checks only that it is a 4xx).

Deterministic (fixed seeds, no example database) and bounded: the coverage phase is
a fixed list, and Hypothesis draws `MAX_EXAMPLES` cases per operation and mode; each
test runs on both database backends.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from customer_accounts import FAST_ARGON2, register_account
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.engine import events
from schemathesis.specs.openapi import checks as openapi_checks
from sqlalchemy import func, select

from secgate import appkeys
from secgate.accounts.registry import find_account
from secgate.app import create_app
from secgate.ops.openapi import OPENAPI_PATH
from secgate.settings import Settings, parse_networks
from secgate.sms.kwtsms_api import API_PREFIX
from secgate.storage.db import SessionFactory
from secgate.storage.models import AlertSeverity, CreditEntry

# Hypothesis's cases per operation and generation mode: 29 operations x 2 modes x this
# (less the operations without parameters, which have no negative case), per backend.
MAX_EXAMPLES = 40
MAX_BODY_BYTES = 16 * 1024  # small, so that oversized bodies are cheap to send

USER, PASSWORD, SENDER, GROUP = "fuzzer", "correct horse battery", "KWT-SMS", "friends"
# Numbers as people write them; all valid Kuwaiti mobiles.
NUMBERS = ["96550000001", "+965 5000 0002", "0096550000003,96550000004", "٩٦٥٥٠٠٠٠٠٠٥"]

# Schemathesis's own checks of every answer against the document.
CONFORMANCE = [
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
KWTSMS_CODE = re.compile(r"ERR\d{3}")

# Bodies that no JSON (or form) endpoint may take, whatever its schema.
MALFORMED_BODIES = [
    b'{"username": "a", "password": 1',  # cut short
    b"{'username': 'a'}",
    b"\xef\xbb\xbf{}",  # a byte-order mark
    b"[1, 2]",
    b"null",
    b'{"a": NaN}',
    b'{"a": ' + b"9" * 5000 + b"}",  # an integer too long to convert
    b'{"a": "\\ud800"}',  # a lone surrogate
    b'{"a": "b\\u0000"}',  # NUL
    b'{"a": "caf\xe9"}',  # Latin-1, not UTF-8
    b"[" * 100_000,  # nested too deep
    b" " * (MAX_BODY_BYTES + 1),
    b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}',
]


@dataclass
class Target:
    """The app under test, what exists in it for cases to name, and what the run found."""

    base_url: str
    staff: dict[str, str]
    alert_id: int
    msg_id: str = ""
    held_msg_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # (operation, status, error code) -> requests: what the run reached (`pytest -s`).
    answers: Counter[tuple[str, int, str]] = field(default_factory=Counter)


@pytest.fixture
async def target(
    aiohttp_server: Callable[..., Any],
    make_settings: Callable[..., Settings],
    database_url: str,
    staff: dict[str, str],
) -> Target:
    settings = make_settings(
        **FAST_ARGON2,
        database_url=database_url,
        max_body_bytes=MAX_BODY_BYTES,
        sandbox_seed=1,
        # The test client is a proxy: its X-Forwarded-For is believed, and read.
        trusted_proxies=parse_networks("127.0.0.0/8"),
    )
    server: TestServer = await aiohttp_server(create_app(settings))
    await register_account(
        server.app[appkeys.DB_SESSIONS],
        USER,
        password=PASSWORD,
        credits=1_000_000,
        senders=(SENDER,),
        # Forwarded-for addresses outside it are refused (ERR024, with an alert).
        api_ip_allowlist=["127.0.0.0/8", "192.0.2.0/24"],
    )
    alert = await server.app[appkeys.ALERTS].raise_alert(
        type="fuzz.seed", severity=AlertSeverity.LOW, ip="192.0.2.1"
    )
    return Target(str(server.make_url("")).rstrip("/"), staff, alert.id)


# Schemathesis calls the API with blocking requests: from a worker thread, while the
# test's event loop serves them.


async def test_schemathesis_phases_find_nothing(
    target: Target, db_sessions: SessionFactory
) -> None:
    await asyncio.to_thread(run_schemathesis_phases, target)
    await assert_nothing_broke(target, db_sessions)


async def test_hostile_requests_drawn_from_the_document_break_nothing(
    target: Target, db_sessions: SessionFactory
) -> None:
    await asyncio.to_thread(fuzz_every_operation, target)
    await assert_nothing_broke(target, db_sessions)


async def assert_nothing_broke(target: Target, db_sessions: SessionFactory) -> None:
    for (operation, status, code), cases in sorted(target.answers.items()):
        print(f"{operation}: {status} {code} x {cases}")
    print(f"{target.answers.total()} requests")
    assert not target.problems, "\n\n".join(target.problems)
    # Every point the customer's balance gained or lost is in its ledger.
    async with db_sessions() as session:
        account = await find_account(session, USER)
        assert account is not None
        ledger = select(func.sum(CreditEntry.delta)).where(CreditEntry.account_id == account.id)
        assert await session.scalar(ledger) == account.balance


def load_schema(target: Target) -> schemathesis.BaseSchema:
    """The served document, as Schemathesis reads it for this API."""
    schema = schemathesis.openapi.from_url(target.base_url + OPENAPI_PATH)
    schema.config.update(base_url=target.base_url)
    schema.config.seed = 1
    schema.config.generation.update(
        # The tests send the token themselves (or a hostile one): a negative case that
        # only leaves the documented Authorization out would not be one.
        with_security_parameters=False,
        # OpenAPI cannot say that unknown query parameters and fields are ignored, as
        # they are here; Schemathesis would take them for invalid input.
        allow_extra_parameters=False,
        # No example database: a run replays nothing from an earlier one.
        database="none",
    )
    # A body refused for its size is refused too (Schemathesis expects other 4xx).
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


# -- Schemathesis's phases --------------------------------------------------------------


@schemathesis.check
def errors_are_clear(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """`answer_problem`, as a Schemathesis check."""
    problem = answer_problem(response.status_code, response.content, case.path)
    if problem is not None:
        raise AssertionError(problem)
    return None


SCHEMATHESIS_CHECKS = [
    *(check.__name__ for check in CONFORMANCE),
    "negative_data_rejection",
    "unsupported_method",  # 405, with Allow
    "ignored_auth",  # no token, or a wrong one: 401
    errors_are_clear.__name__,
]


def run_schemathesis_phases(target: Target) -> None:
    schema = load_schema(target)
    schema.config.update(headers=target.staff)
    schema.config.phases.update(phases=["examples", "coverage"])
    schema.config.checks.update(included_check_names=SCHEMATHESIS_CHECKS)
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    status = interaction.response.status_code
                    target.answers[event.recorder.label, status, ""] += 1
            for nodes in event.recorder.checks.values():
                target.problems.extend(
                    f"{event.recorder.label}: {node.failure_info.failure}\n"
                    f"{node.failure_info.code_sample}"
                    for node in nodes
                    if node.failure_info is not None
                )
        elif isinstance(event, events.NonFatalError):
            target.problems.append(f"{event.label}: Schemathesis could not test it: {event.info}")
        elif isinstance(event, events.FatalError):
            raise event.exception


# -- Hypothesis ---------------------------------------------------------------------------


def fuzz_every_operation(target: Target) -> None:
    with requests.Session() as http:
        add_messages_and_a_group(target, http)
        schema = load_schema(target)
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(target, http, result.ok(), mode)
        health = http.get(target.base_url + "/healthz")
        if health.status_code != 200:
            target.problems.append(f"afterwards, /healthz answers {health.text}")


def add_messages_and_a_group(target: Target, http: requests.Session) -> None:
    """A message sent, four held for review (a link to a private address holds a
    message), a contact group."""
    target.msg_id = send(target, http, "Your code is 4839", NUMBERS[0])
    for number in ["96560000001", "96560000002", "96560000003", "96560000004"]:
        msg_id = send(target, http, "Your invoice: http://192.168.1.10/pay", number)
        held = http.get(f"{target.base_url}/api/v1/held-messages/{msg_id}", headers=target.staff)
        assert held.status_code == 200, held.text
        target.held_msg_ids.append(msg_id)
    imported = http.post(
        f"{target.base_url}/api/v1/contacts/groups/{GROUP}/import",
        params={"username": USER},
        data="Ali,96550000001\n",
        headers={**target.staff, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text


def send(target: Target, http: requests.Session, message: str, number: str) -> str:
    body = {"username": USER, "password": PASSWORD, "sender": SENDER, "message": message}
    sent = http.post(f"{target.base_url}/API/send/", json={**body, "mobile": number})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["msg-id"])


def fuzz_operation(
    target: Target, http: requests.Session, operation: schemathesis.APIOperation, mode: str
) -> None:
    label = f"{operation.label} ({mode})"
    needs_token = bool(operation.definition.raw.get("security"))

    # A seed of each operation's own: the same cases on every run, and not the same
    # cases for /API/send and /API/send/.
    @seed(zlib.crc32(label.encode()))
    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        if mode == GenerationMode.POSITIVE:
            name_what_exists(case, target, data)
        headers = data.draw(request_headers(target.staff), label="headers")
        raw_body = data.draw(hostile_body(case), label="body") if case.media_type else None
        if raw_body is None:
            response = case.call(target.base_url, session=http, headers=headers)
        else:
            response = case.call(target.base_url, session=http, headers=headers, data=raw_body)
        target.answers[operation.label, response.status_code, error_code(response)] += 1

        problem = answer_problem(response.status_code, response.content, case.path)
        refused = 400 <= response.status_code < 500
        if problem is None and raw_body in MALFORMED_BODIES and takes_json_or_form(case):
            problem = None if refused else f"a malformed body answered {response.text}"
        junk_token = headers["Authorization"] != target.staff["Authorization"]
        if problem is None and needs_token and junk_token and response.status_code != 401:
            problem = f"a junk token answered {response.status_code}: {response.text}"
        if problem is not None:
            raise AssertionError(f"{problem}\n    sent: {describe(response.request)}")
        checks = CONFORMANCE
        if mode == GenerationMode.NEGATIVE and raw_body is None:
            checks = [*CONFORMANCE, openapi_checks.negative_data_rejection]
        case.validate_response(response, checks=checks, headers=headers)

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no negative case.
        assert mode == GenerationMode.NEGATIVE, label
    except (AssertionError, BaseExceptionGroup) as exc:
        # Every operation is tried and reported, not only the first that fails. (A
        # Schemathesis check failure is an exception group.)
        target.problems.append(f"{label}: {exc}")


# -- what goes into a case besides what Schemathesis draws ----------------------------


def name_what_exists(case: schemathesis.Case, target: Target, data: st.DataObject) -> None:
    """In three cases in four, put in what exists, where the case has a value for it:
    the customer's credentials, sender ID, numbers and contact group, a msg-id sent or
    held, the alert, a protected name."""
    if data.draw(st.integers(0, 3), label="as drawn") == 0:
        return
    protected_name = data.draw(st.sampled_from(["NBK", "kfh", "Zain1"]), label="name")
    existing: dict[str, Any] = {
        "username": USER,
        "password": PASSWORD,
        "sender": SENDER,
        "group": GROUP,
        "mobile": data.draw(mobile_numbers(), label="mobile"),
        "msgid": target.msg_id,
        "owners": [USER],
        "owner": USER,
        "id": target.alert_id,
        # Two held messages to release, two to reject; and one that was never held.
        "msg_id": data.draw(st.sampled_from([*held_msg_ids(case, target), target.msg_id])),
        "name": GROUP if "/contacts/" in case.path else protected_name,
    }
    for values in (case.body, case.query, case.path_parameters):
        if isinstance(values, dict):
            for name in values.keys() & existing.keys():
                values[name] = existing[name]


def held_msg_ids(case: schemathesis.Case, target: Target) -> list[str]:
    if case.path.endswith("/release"):
        return target.held_msg_ids[:2]
    if case.path.endswith("/reject"):
        return target.held_msg_ids[2:]
    return target.held_msg_ids


def mobile_numbers() -> st.SearchStrategy[str]:
    """Valid Kuwaiti mobiles, as people write them or many (a send to a number is
    refused for 15 s after the last one, ERR028)."""
    return st.one_of(
        st.sampled_from(NUMBERS), st.integers(0, 9_999_999).map(lambda n: f"9656{n:07d}")
    )


def request_headers(staff: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """The staff token; in one case in four, with hostile headers added or replacing it."""
    hostile = hostile_headers().map(lambda extra: {**staff, **extra})
    return st.one_of(st.just(staff), st.just(staff), st.just(staff), hostile)


def hostile_headers() -> st.SearchStrategy[dict[str, Any]]:
    """Headers a polite client would not send: odd Unicode (as raw UTF-8 bytes), junk
    tokens, request ids and forwarded-for values, content types that do not match."""
    text = st.text(
        # No control characters (see the module's docstring) and no surrogates (not
        # encodable).
        st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
        max_size=300,
    ).map(str.strip)
    # A chain of hops: addresses in and out of the customer's allowlist, and junk.
    hop = st.one_of(st.ip_addresses().map(str), st.just("192.0.2.7"), text)
    forwarded_for = st.lists(hop, min_size=1, max_size=3).map(", ".join)
    content_type = st.sampled_from(
        [
            "text/plain",
            "text/csv",
            "application/xml",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]
    )
    headers = st.fixed_dictionaries(
        {},
        optional={
            "Authorization": st.one_of(text, text.map(lambda s: "Bearer " + s)),
            "X-Request-ID": text,
            "X-Forwarded-For": forwarded_for,
            "Accept": text,
            "Content-Type": content_type,
        },
    )
    # As raw UTF-8: a client library would refuse to send what Latin-1 cannot encode.
    return headers.map(lambda drawn: {name: value.encode() for name, value in drawn.items()})


def hostile_body(case: schemathesis.Case) -> st.SearchStrategy[bytes | None]:
    """None (the body Schemathesis drew); in one case in four, a body sent as raw bytes:
    malformed (`MALFORMED_BODIES`), the drawn JSON cut short, or random bytes."""
    raw = [st.sampled_from(MALFORMED_BODIES), st.binary(max_size=200)]
    if isinstance(case.body, dict | list):
        serialised = json.dumps(case.body).encode()
        raw.append(st.integers(0, len(serialised) - 1).map(lambda n: serialised[:n]))
    return st.one_of(st.none(), st.none(), st.none(), st.one_of(raw))


def takes_json_or_form(case: schemathesis.Case) -> bool:
    return case.media_type in {"application/json", "application/x-www-form-urlencoded"}


# -- what every answer must be ----------------------------------------------------------


def answer_problem(status: int, content: bytes, path: str) -> str | None:
    """What is wrong with an answer, whatever the operation; None when nothing is."""
    text = content.decode("utf-8", "replace")
    if status == 500:
        return f"500: {text[:500]}"
    if "Traceback" in text:
        return f"a stack trace in the answer: {text[:500]}"
    if status < 400:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return f"{status} is not JSON: {text[:300]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return f"{status} without a code: {text[:300]}"
    if not isinstance(body.get("description"), str):
        return f"{status} without a description: {text[:300]}"
    kwtsms_shape = body.get("result") == "ERROR" and KWTSMS_CODE.fullmatch(body["code"])
    if path.startswith(API_PREFIX) and not kwtsms_shape:
        return f"{status} not in kwtSMS's error shape: {text[:300]}"
    return None


def error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code") or "") if isinstance(body, dict) else ""


def describe(request: requests.PreparedRequest) -> str:
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    shown = body[:300] + (b"..." if len(body) > 300 else b"")
    headers = {
        name: "[Filtered]" if name.lower() == "authorization" else value
        for name, value in request.headers.items()
    }
    return f"{request.method} {request.url} {headers} {shown!r}"
