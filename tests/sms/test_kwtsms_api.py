"""The messaging API over HTTP (CONTRACT §4.1): request reading, answer shapes and
the HTTP status of each kwtSMS error. The public client's view is in
test_kwtsms_client.py."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker
from customer_accounts import FAST_ARGON2, register_account
from sqlalchemy import select

from secgate import appkeys
from secgate.accounts.registry import set_api_allowlist
from secgate.alerts.store import list_alerts
from secgate.app import create_app
from secgate.settings import Settings
from secgate.sms import delivery_log
from secgate.sms.delivery_log import StateChange
from secgate.storage.models import Account, Message, Recipient, RecipientState

USER, PASSWORD = "acme", "correct horse battery"
CREDENTIALS = {"username": USER, "password": PASSWORD}
NUMBER = "96550000001"


def numbers(count: int) -> list[str]:
    """`count` distinct, valid Kuwaiti mobile numbers."""
    return [f"965500{i:05d}" for i in range(count)]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(**FAST_ARGON2, database_url=database_url, max_body_bytes=64 * 1024)


@pytest.fixture
async def client(aiohttp_client: ClientMaker, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


async def add_customer(
    client: TestClient,
    username: str = USER,
    *,
    credits: int = 1000,
    senders: tuple[str, ...] = ("KWT-SMS",),
    **changes: Any,
) -> int:
    return await register_account(
        client.app[appkeys.DB_SESSIONS],
        username,
        password=PASSWORD,
        mobile="96599999999",
        credits=credits,
        senders=senders,
        **changes,
    )


@pytest.fixture
async def customer(client: TestClient) -> int:
    return await add_customer(client)


async def post(client: TestClient, command: str, body: Any = None, **kwargs: Any) -> Any:
    response = await client.post(f"/API/{command}/", json=body, **kwargs)
    return response.status, await response.json()


def send_body(**changes: Any) -> dict[str, Any]:
    return {
        **CREDENTIALS,
        "sender": "KWT-SMS",
        "mobile": NUMBER,
        "message": "Hello",
        "test": 0,
        **changes,
    }


def error(code: str) -> dict[str, Any]:
    """What an error answer is compared on (its description is for people)."""
    return {"result": "ERROR", "code": code}


def shape(body: dict[str, Any]) -> dict[str, Any]:
    return {"result": body["result"], "code": body.get("code")}


# -- reading requests ------------------------------------------------------------------


@pytest.mark.usefixtures("customer")
async def test_balance_answers_available_and_purchased(client: TestClient) -> None:
    assert await post(client, "balance", CREDENTIALS) == (
        200,
        {"result": "OK", "available": 1000, "purchased": 1000},
    )


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize("command", ["send", "balance", "senderid", "coverage", "validate"])
async def test_the_trailing_slash_is_optional(client: TestClient, command: str) -> None:
    body = send_body(test=1)
    with_slash = await client.post(f"/API/{command}/", json=body)
    without = await client.post(f"/API/{command}", json=send_body(mobile="96550000002", test=1))

    assert with_slash.status == without.status == 200
    assert (await without.json())["result"] == "OK"


@pytest.mark.usefixtures("customer")
async def test_a_form_urlencoded_body_is_read_like_json(client: TestClient) -> None:
    form = {**CREDENTIALS, "sender": "KWT-SMS", "mobile": "96550000001,96550000002"}
    response = await client.post(
        "/API/send/", data={**form, "message": "مرحبا & hello", "test": "1"}
    )

    body = await response.json()
    assert response.status == 200, body
    assert (body["result"], body["numbers"], body["points-charged"]) == ("OK", 2, 0)
    async with client.app[appkeys.DB_SESSIONS]() as session:
        assert await session.scalar(select(Message.text)) == "مرحبا & hello"


@pytest.mark.usefixtures("customer")
async def test_json_sent_as_another_content_type_is_read_as_json(client: TestClient) -> None:
    response = await client.post(
        "/API/balance/", data=json.dumps(CREDENTIALS), headers={"Content-Type": "text/html"}
    )

    assert response.status == 200
    assert (await response.json())["available"] == 1000


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize(
    ("test", "charged"),
    [(0, 1), (1, 0), ("0", 1), ("1", 0), (False, 1), (True, 0), ("false", 1), ("TRUE", 0)],
)
async def test_the_test_flag_takes_kwtsms_spellings(
    client: TestClient, test: Any, charged: int
) -> None:
    status, body = await post(client, "send", send_body(test=test))

    assert status == 200, body
    assert body["points-charged"] == charged


@pytest.mark.usefixtures("customer")
async def test_test_mode_is_off_when_not_given(client: TestClient) -> None:
    body = send_body()
    del body["test"]

    assert (await post(client, "send", body))[1]["points-charged"] == 1


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize(
    "mobile",
    [
        "96550000001,96550000002, 96550000003",
        "96550000001,96550000002,96550000003,",
        ["96550000001", "+965 5000 0002", 96550000003],
        "٩٦٥٥٠٠٠٠٠٠١,0096550000002,+965-5000-0003",
    ],
)
async def test_mobile_is_comma_separated_or_a_list(client: TestClient, mobile: Any) -> None:
    status, body = await post(client, "send", send_body(mobile=mobile, test=1))

    assert status == 200, body
    assert body["numbers"] == 3


@pytest.mark.usefixtures("customer")
async def test_mobile_as_a_json_integer_is_one_number(client: TestClient) -> None:
    status, body = await post(client, "send", send_body(mobile=96550000001, test=1))

    assert (status, body["numbers"]) == (200, 1)


async def test_fields_nobody_asked_for_are_ignored(client: TestClient, customer: int) -> None:
    status, body = await post(client, "balance", {**CREDENTIALS, "lang": 1, "extra": [1]})

    assert (status, body["result"]) == (200, "OK")


# -- malformed requests: ERR002, never a 500 -------------------------------------------------
# Refused before any account is looked up, so one database backend is enough.


@pytest.fixture
def bare_settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(**FAST_ARGON2, database_url=sqlite_url, max_body_bytes=64 * 1024)


@pytest.fixture
async def bare_client(aiohttp_client: ClientMaker, bare_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(bare_settings))


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        ("balance", "username"),
        ("balance", "password"),
        ("send", "sender"),
        ("send", "mobile"),
        ("send", "message"),
        ("validate", "mobile"),
        ("report", "msgid"),
    ],
)
async def test_a_missing_parameter_is_err002_naming_it(
    bare_client: TestClient, command: str, missing: str
) -> None:
    body = {**send_body(), "msgid": "0" * 32}
    del body[missing]

    status, answer = await post(bare_client, command, body)

    assert (status, shape(answer)) == (400, error("ERR002"))
    assert missing in answer["description"]


@pytest.mark.parametrize(
    "changes",
    [
        {"username": 12345},
        {"password": None},
        {"password": ["x"]},
        {"sender": 7},
        {"message": {"text": "hi"}},
        {"mobile": {"a": 1}},
        {"mobile": 96550000001.0},
        {"mobile": True},
        {"mobile": [["96550000001"]]},
        {"mobile": ""},
        {"mobile": " , ,"},
        {"mobile": []},
        {"test": "yes"},
        {"test": 2},
        {"test": None},
    ],
)
async def test_a_parameter_of_the_wrong_type_is_err002(
    bare_client: TestClient, changes: dict[str, Any]
) -> None:
    status, answer = await post(bare_client, "send", send_body(**changes))

    assert (status, shape(answer)) == (400, error("ERR002"))
    assert next(iter(changes)) in answer["description"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b"[]",
        b'"text"',
        b"\xff\xfe{}",
        b'{"username": "a", "password": NaN}',
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "a\\u0000", "password": "x"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
async def test_a_body_that_is_not_a_json_object_is_err002(
    bare_client: TestClient, raw: bytes
) -> None:
    response = await bare_client.post(
        "/API/send/", data=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status in (400, 413)
    assert shape(await response.json()) == error("ERR002")


@pytest.mark.parametrize(
    "raw",
    [
        b"username=%FF&password=x",
        b"username=a%00&password=x",
        b"username=\xff&password=x",
        b"&".join(b"f%d=1" % i for i in range(100)),
    ],
)
async def test_a_bad_form_is_err002(bare_client: TestClient, raw: bytes) -> None:
    response = await bare_client.post(
        "/API/balance/", data=raw, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert response.status == 400
    assert shape(await response.json()) == error("ERR002")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_a_body_over_the_size_limit_is_err002_413(
    bare_client: TestClient, bare_settings: Settings, content_type: str
) -> None:
    response = await bare_client.post(
        "/API/send/",
        data=b"x" * (bare_settings.max_body_bytes + 1),
        headers={"Content-Type": content_type},
    )

    assert response.status == 413
    assert shape(await response.json()) == error("ERR002")


async def test_a_chunked_body_over_the_size_limit_is_err002_413(
    bare_client: TestClient, bare_settings: Settings
) -> None:
    async def chunks() -> Any:
        for _ in range(bare_settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024

    response = await bare_client.post(
        "/API/send/", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status == 413
    assert shape(await response.json()) == error("ERR002")


# -- the same text rules for a JSON body and a form -----------------------------------------


def as_json(fields: dict[str, Any]) -> tuple[bytes, str]:
    # json.dumps escapes NUL as \u0000 and a lone surrogate as \ud800, as clients do.
    return json.dumps(fields).encode(), "application/json"


def as_form(fields: dict[str, Any]) -> tuple[bytes, str]:
    # A lone surrogate has no UTF-8 form; "surrogatepass" writes the bytes a careless
    # client would (%ED%A0%80).
    body = urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass")
    return body.encode(), "application/x-www-form-urlencoded"


async def post_raw(
    client: TestClient, command: str, body: tuple[bytes, str], query: str = ""
) -> tuple[int, Any]:
    data, content_type = body
    response = await client.post(
        f"/API/{command}/{query}", data=data, headers={"Content-Type": content_type}
    )
    return response.status, await response.json()


async def stored_messages(client: TestClient) -> list[str]:
    async with client.app[appkeys.DB_SESSIONS]() as session:
        return list(await session.scalars(select(Message.text).order_by(Message.id)))


async def balance_of(client: TestClient, account_id: int) -> int:
    async with client.app[appkeys.DB_SESSIONS]() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        return account.balance


@pytest.mark.parametrize(
    ("fields", "same_words"),
    [
        pytest.param({"message": "code\x001234"}, True, id="NUL in a value"),
        pytest.param({"sender\x00": "KWT-SMS"}, True, id="NUL in a name"),
        # In a form a surrogate can only come as bytes that are not UTF-8, and the
        # description says so.
        pytest.param({"message": "half a pair \ud83d"}, False, id="lone surrogate"),
        pytest.param({"username": "acme\udfff"}, False, id="lone low surrogate"),
    ],
)
async def test_text_a_json_body_refuses_a_form_refuses_alike_and_nothing_is_stored(
    client: TestClient, customer: int, fields: dict[str, Any], same_words: bool
) -> None:
    body = {**send_body(), **fields}

    json_status, json_answer = await post_raw(client, "send", as_json(body))
    form_status, form_answer = await post_raw(client, "send", as_form(body))

    assert (json_status, shape(json_answer)) == (400, error("ERR002"))
    assert (form_status, shape(form_answer)) == (400, error("ERR002"))
    if same_words:
        assert form_answer["description"] == json_answer["description"]
    assert await stored_messages(client) == []
    assert await balance_of(client, customer) == 1000


async def test_a_body_that_is_not_utf8_is_refused_alike_as_json_or_form(
    client: TestClient, customer: int
) -> None:
    latin1 = "Caf\u00e9".encode("latin-1")  # b"Caf\xe9"
    json_body = b'{"username": "acme", "password": "x", "message": "' + latin1 + b'"}'
    form_body = b"username=acme&password=x&message=" + latin1

    json_status, json_answer = await post_raw(client, "send", (json_body, "application/json"))
    form_status, form_answer = await post_raw(
        client, "send", (form_body, "application/x-www-form-urlencoded")
    )

    assert (json_status, shape(json_answer)) == (400, error("ERR002"))
    assert (form_status, shape(form_answer)) == (400, error("ERR002"))
    assert await stored_messages(client) == []


@pytest.mark.usefixtures("customer")
async def test_other_control_characters_are_taken_alike_as_json_or_form(
    client: TestClient,
) -> None:
    text = "line 1\nline 2\ttab\x01\x7f"

    json_status, _ = await post_raw(client, "send", as_json(send_body(message=text)))
    form_status, _ = await post_raw(
        client, "send", as_form(send_body(message=text, mobile="96550000002"))
    )

    assert (json_status, form_status) == (200, 200)
    assert await stored_messages(client) == [text, text]


@pytest.mark.usefixtures("customer")
async def test_the_query_string_is_never_read(client: TestClient) -> None:
    """Fields go in the body; a query string, even one no field could hold, changes
    nothing (and credentials in it do not log anyone in)."""
    query = "?message=%00&sender=%FF&mobile=%ED%A0%80&test=1"

    sent = await post_raw(client, "send", as_json(send_body(message="from the body")), query)
    query_only = await post_raw(
        client, "balance", (b"", "application/json"), "?username=acme&password=x"
    )

    assert (sent[0], sent[1]["result"], sent[1]["points-charged"]) == (200, "OK", 1)
    assert await stored_messages(client) == ["from the body"]
    assert (query_only[0], shape(query_only[1])) == (400, error("ERR002"))


# -- addresses and methods under /API/ ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/API/sendd/", "/API/", "/API", "/API/send/extra/", "/API/%FF/"])
async def test_an_unknown_api_address_is_err001_404_in_kwtsms_shape(
    bare_client: TestClient, path: str
) -> None:
    response = await bare_client.post(path, json=send_body())

    assert response.status == 404
    answer = await response.json()
    assert shape(answer) == error("ERR001")
    assert "send, balance, senderid, coverage, validate, report" in answer["description"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/API/send/"),
        ("GET", "/API/balance"),
        ("PUT", "/API/report/"),
        ("DELETE", "/API/validate/"),
    ],
)
async def test_another_method_than_post_is_err002_405_with_allow(
    bare_client: TestClient, method: str, path: str
) -> None:
    response = await bare_client.request(method, path)

    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert shape(await response.json()) == error("ERR002")


@pytest.mark.parametrize("path", ["/nope", "/api/send/", "/APIs/send/"])
async def test_outside_api_a_404_keeps_the_applications_shape(
    bare_client: TestClient, path: str
) -> None:
    response = await bare_client.post(path, json=send_body())

    assert response.status == 404
    answer = await response.json()
    assert answer["code"] == "not_found"
    assert "result" not in answer


async def test_outside_api_a_405_keeps_the_applications_shape(bare_client: TestClient) -> None:
    response = await bare_client.post("/healthz")

    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    answer = await response.json()
    assert answer["code"] == "method_not_allowed"
    assert "result" not in answer


# -- authentication ------------------------------------------------------------------------


@pytest.mark.usefixtures("customer")
async def test_unknown_user_and_wrong_password_get_byte_identical_answers(
    client: TestClient,
) -> None:
    headers = {"X-Request-ID": "same-request-id"}
    unknown = await client.post(
        "/API/balance/", json={"username": "nobody", "password": PASSWORD}, headers=headers
    )
    wrong = await client.post(
        "/API/balance/", json={"username": USER, "password": "wrong horse"}, headers=headers
    )

    assert unknown.status == wrong.status == 401
    assert await unknown.read() == await wrong.read()
    assert shape(await wrong.json()) == error("ERR003")
    ignored = {"Date", "Content-Length"}
    assert {k: v for k, v in unknown.headers.items() if k not in ignored} == {
        k: v for k, v in wrong.headers.items() if k not in ignored
    }


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"disabled": True}, 403, "ERR005"),
        ({"api_enabled": False}, 403, "ERR001"),
        ({"role": "staff"}, 403, "ERR004"),
    ],
)
async def test_account_refusals_have_their_code_and_403(
    client: TestClient, changes: dict[str, Any], status: int, code: str
) -> None:
    await add_customer(client, **changes)

    assert shape((await post(client, "balance", CREDENTIALS))[1]) == error(code)
    assert (await post(client, "balance", CREDENTIALS))[0] == status


async def test_an_address_outside_the_allowlist_is_err024_with_an_alert(
    client: TestClient, customer: int
) -> None:
    async with client.app[appkeys.DB_SESSIONS].begin() as session:
        await set_api_allowlist(session, USER, ["192.0.2.0/24"])

    status, body = await post(client, "balance", CREDENTIALS)

    assert (status, shape(body)) == (403, error("ERR024"))
    async with client.app[appkeys.DB_SESSIONS]() as session:
        alerts, _ = await list_alerts(session, type="api.ip_lockdown")
    assert [(a.account, a.ip) for a in alerts] == [(USER, "127.0.0.1")]


async def test_an_address_inside_the_allowlist_is_served(client: TestClient, customer: int) -> None:
    async with client.app[appkeys.DB_SESSIONS].begin() as session:
        await set_api_allowlist(session, USER, ["127.0.0.0/8"])

    assert (await post(client, "balance", CREDENTIALS))[0] == 200


# -- the read-only commands ------------------------------------------------------------------


async def test_senderid_lists_the_accounts_sender_ids_oldest_first(client: TestClient) -> None:
    await add_customer(client, senders=("Zeta", "alpha", "KWT-SMS"))
    await add_customer(client, "other", senders=("Other",))

    assert await post(client, "senderid", CREDENTIALS) == (
        200,
        {"result": "OK", "senderid": ["Zeta", "alpha", "KWT-SMS"]},
    )


async def test_senderid_of_an_account_without_any_is_an_empty_list(client: TestClient) -> None:
    await add_customer(client, senders=())

    assert await post(client, "senderid", CREDENTIALS) == (200, {"result": "OK", "senderid": []})


async def test_coverage_lists_the_calling_codes_of_activated_countries(
    client: TestClient,
) -> None:
    await add_customer(client, activated_countries=["KW", "SA", "US", "CA"])

    assert await post(client, "coverage", CREDENTIALS) == (
        200,
        {"result": "OK", "coverage": ["965", "966", "1"]},
    )


async def test_coverage_with_no_country_activated_is_err033(client: TestClient) -> None:
    await add_customer(client, activated_countries=[])

    status, body = await post(client, "coverage", CREDENTIALS)

    assert (status, shape(body)) == (403, error("ERR033"))


async def test_validate_sorts_numbers_into_ok_er_and_nr(client: TestClient) -> None:
    await add_customer(client, activated_countries=["KW"])
    given = ["+965 5000 0001", "96550000001", "50000002", "966501234567", "123", "abc", "abc"]

    status, body = await post(client, "validate", {**CREDENTIALS, "mobile": ",".join(given)})

    assert status == 200
    assert body == {
        "result": "OK",
        "mobile": {
            "OK": ["96550000001", "96550000002"],
            "ER": ["123", "abc"],
            "NR": ["966501234567"],
        },
    }


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize(("count", "status"), [(200, 200), (201, 400)])
async def test_validate_takes_at_most_200_numbers(
    client: TestClient, count: int, status: int
) -> None:
    answer = await post(client, "validate", {**CREDENTIALS, "mobile": ",".join(numbers(count))})

    assert answer[0] == status
    if status == 400:
        assert shape(answer[1]) == error("ERR007")
    else:
        assert len(answer[1]["mobile"]["OK"]) == 200


# -- send --------------------------------------------------------------------------------


async def test_send_answers_kwtsms_fields_and_charges(client: TestClient, customer: int) -> None:
    status, body = await post(client, "send", send_body(mobile="96550000001,96550000002"))

    assert status == 200, body
    assert set(body) == {
        "result",
        "msg-id",
        "numbers",
        "points-charged",
        "balance-after",
        "unix-timestamp",
    }
    assert (body["result"], body["numbers"], body["points-charged"], body["balance-after"]) == (
        "OK",
        2,
        2,
        998,
    )
    async with client.app[appkeys.DB_SESSIONS]() as session:
        assert await session.scalar(select(Message.msg_id)) == body["msg-id"]
        assert await session.scalar(select(Account.balance)) == 998


@pytest.mark.parametrize(
    ("changes", "credits", "status", "code"),
    [
        ({"message": ""}, 1000, 400, "ERR009"),
        ({"message": "<b>hi</b>"}, 1000, 400, "ERR027"),
        ({"message": "x" * (153 * 6 + 1)}, 1000, 400, "ERR012"),
        ({"sender": "kwt-sms"}, 1000, 403, "ERR008"),
        ({"mobile": ",".join(numbers(201))}, 1000, 400, "ERR007"),
        ({"mobile": "123,abc"}, 1000, 400, "ERR006"),
        ({"mobile": "96550000001,123"}, 1000, 400, "ERR025"),
        ({"mobile": "966501234567"}, 1000, 403, "ERR026"),
        ({}, 0, 402, "ERR010"),
        ({"mobile": "96550000001,96550000002"}, 1, 402, "ERR011"),
    ],
)
async def test_send_refusals_have_their_code_and_status(
    client: TestClient, changes: dict[str, Any], credits: int, status: int, code: str
) -> None:
    await add_customer(client, credits=credits)

    answer = await post(client, "send", send_body(**changes))

    assert (answer[0], shape(answer[1])) == (status, error(code))


@pytest.mark.usefixtures("customer")
async def test_the_same_number_again_within_the_window_is_err028_429_with_retry_after(
    client: TestClient,
) -> None:
    assert (await post(client, "send", send_body()))[0] == 200

    response = await client.post("/API/send/", json=send_body())

    assert response.status == 429
    assert response.headers["Retry-After"] == "15"
    assert shape(await response.json()) == error("ERR028")


async def test_over_the_send_rate_is_err013_503_with_retry_after_until_the_window_ends(
    aiohttp_client: ClientMaker, settings: Settings
) -> None:
    limited = replace(settings, pumping_max_recipients_per_minute=1)
    client = await aiohttp_client(create_app(limited))
    await add_customer(client)
    assert (await post(client, "send", send_body()))[0] == 200

    response = await client.post("/API/send/", json=send_body(mobile="96560000004"))

    assert response.status == 503
    assert shape(await response.json()) == error("ERR013")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_with_the_hot_state_down_send_is_err013_503_but_auth_works(
    aiohttp_client: ClientMaker, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(replace(settings, redis_url="redis://127.0.0.1:1/0")))
    await add_customer(client)

    assert (await post(client, "balance", CREDENTIALS))[0] == 200
    status, body = await post(client, "send", send_body())

    assert (status, shape(body)) == (503, error("ERR013"))
    # No end is known for a store that is down: the client's own back-off decides.
    response = await client.post("/API/send/", json=send_body())
    assert "Retry-After" not in response.headers


# -- report --------------------------------------------------------------------------------


async def sent_msg_id(client: TestClient, **changes: Any) -> str:
    status, body = await post(client, "send", send_body(**changes))
    assert status == 200, body
    return str(body["msg-id"])


@pytest.mark.usefixtures("customer")
async def test_report_lists_each_number_of_the_message(client: TestClient) -> None:
    msg_id = await sent_msg_id(client, mobile="96550000001,96550000002", test=1)

    status, body = await post(client, "report", {**CREDENTIALS, "msgid": msg_id})

    assert status == 200, body
    assert (body["result"], body["msg-id"], body["status"], body["numbers"]) == (
        "OK",
        msg_id,
        "QUEUED",
        2,
    )
    assert [(r["mobile"], r["status"], r["reason"]) for r in body["report"]] == [
        ("96550000001", "QUEUED", None),
        ("96550000002", "QUEUED", None),
    ]
    assert all(isinstance(r["unix-timestamp"], int) for r in body["report"])


@pytest.mark.usefixtures("customer")
async def test_report_follows_the_delivery_log(client: TestClient) -> None:
    msg_id = await sent_msg_id(client, mobile="96550000001,96550000002", test=1)
    async with client.app[appkeys.DB_SESSIONS].begin() as session:
        message_id = await session.scalar(select(Message.id).where(Message.msg_id == msg_id))
        ids = list(await session.scalars(select(Recipient.id).order_by(Recipient.id)))
        assert message_id is not None
        await delivery_log.record(
            session,
            [StateChange(i, message_id, RecipientState.SUBMITTED) for i in ids]
            + [
                StateChange(ids[0], message_id, RecipientState.DELIVERED),
                StateChange(ids[1], message_id, RecipientState.FAILED, reason="absent"),
            ],
        )

    status, body = await post(client, "report", {**CREDENTIALS, "msgid": msg_id})

    assert status == 200
    assert body["status"] == "PARTIAL"
    assert [(r["status"], r["reason"]) for r in body["report"]] == [
        ("DELIVERED", None),
        ("FAILED", "absent"),
    ]


@pytest.mark.parametrize("msgid", ["0" * 32, "x" * 33, ""])
async def test_report_of_an_unknown_msg_id_is_err020_404(
    client: TestClient, customer: int, msgid: str
) -> None:
    status, body = await post(client, "report", {**CREDENTIALS, "msgid": msgid})

    assert (status, shape(body)) == (404, error("ERR020"))


async def test_report_of_another_accounts_message_is_err020_like_an_unknown_one(
    client: TestClient,
) -> None:
    await add_customer(client, "other")
    await add_customer(client)
    msg_id = await sent_msg_id(client, test=1)
    other = {"username": "other", "password": PASSWORD}

    theirs = await client.post("/API/report/", json={**other, "msgid": msg_id})
    unknown = await client.post("/API/report/", json={**other, "msgid": "f" * 32})

    assert theirs.status == unknown.status == 404
    assert shape(await theirs.json()) == shape(await unknown.json()) == error("ERR020")
    assert (await theirs.json())["description"] == (await unknown.json())["description"]
