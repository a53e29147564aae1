"""The public `kwtsms` client (PyPI, 0.7.40), unchanged, against a real gateway server:
only its module-level BASE_URL is pointed at us (CONTRACT §4.1).

The client is synchronous (urllib), so each call runs in a thread while the server
answers on the test's event loop. Every error the client documents that the gateway
can produce is checked by the `action` the client attaches to it, which it does only
for codes it knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import kwtsms
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from customer_accounts import FAST_ARGON2, register_account
from kwtsms import _core as kwtsms_core

from secgate import appkeys
from secgate.accounts.registry import set_api_allowlist
from secgate.app import create_app
from secgate.settings import Settings
from secgate.storage.models import Role

ServerMaker = Callable[..., Awaitable[TestServer]]

USER, PASSWORD = "acme", "correct horse battery"
NUMBER = "96550000001"
SAUDI_NUMBER = "966501234567"
# Passes the client's own checks (no country rule for +888), but is no mobile number.
NOT_A_MOBILE = "8881234567"


def numbers(count: int) -> list[str]:
    """`count` distinct, valid Kuwaiti mobile numbers, spread as a real list is
    (consecutive numbers would be a pumping walk, which the pumping checks refuse)."""
    return [f"965500{37 * i:05d}" for i in range(count)]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(**FAST_ARGON2, database_url=database_url)


async def start(
    aiohttp_server: ServerMaker, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> web.Application:
    server = await aiohttp_server(create_app(settings), host="127.0.0.1")
    monkeypatch.setattr(kwtsms_core, "BASE_URL", f"http://127.0.0.1:{server.port}/API/")
    return server.app


@pytest.fixture
async def app(
    aiohttp_server: ServerMaker, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> web.Application:
    return await start(aiohttp_server, monkeypatch, settings)


async def add_customer(
    app: web.Application,
    *,
    credits: int = 1000,
    senders: tuple[str, ...] = ("KWT-SMS", "MY-APP"),
    **changes: Any,
) -> None:
    await register_account(
        app[appkeys.DB_SESSIONS],
        USER,
        password=PASSWORD,
        mobile="96599999999",
        credits=credits,
        senders=senders,
        **changes,
    )


@pytest.fixture
async def sms(app: web.Application) -> kwtsms.KwtSMS:
    await add_customer(app)
    return client()


def client(password: str = PASSWORD, *, test_mode: bool = False) -> kwtsms.KwtSMS:
    return kwtsms.KwtSMS(USER, password, sender_id="KWT-SMS", test_mode=test_mode, log_file="")


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


def assert_error(result: dict[str, Any], code: str) -> None:
    assert result["result"] == "ERROR", result
    assert result["code"] == code, result
    # The client adds its advice only to the codes it knows, so this proves it read ours.
    assert result["action"] == kwtsms_core._API_ERRORS[code]


# -- verify, balance, sender IDs, coverage, validate ---------------------------------------


async def test_verify_with_the_right_credentials_gives_the_balance(sms: kwtsms.KwtSMS) -> None:
    assert await call(sms.verify) == (True, 1000.0, None)
    assert sms.purchased == 1000.0


async def test_verify_with_a_wrong_password_is_err003(app: web.Application) -> None:
    await add_customer(app)

    ok, balance, error = await call(client("wrong horse battery").verify)

    assert (ok, balance) == (False, None)
    assert error.endswith(kwtsms_core._API_ERRORS["ERR003"])


async def test_balance(sms: kwtsms.KwtSMS) -> None:
    assert await call(sms.balance) == 1000.0


async def test_senderids(sms: kwtsms.KwtSMS) -> None:
    assert await call(sms.senderids) == {"result": "OK", "senderids": ["KWT-SMS", "MY-APP"]}


async def test_coverage(app: web.Application) -> None:
    await add_customer(app, activated_countries=["KW", "SA"])

    result = await call(client().coverage)

    assert (result["result"], result["coverage"]) == ("OK", ["965", "966"])


async def test_coverage_with_no_country_activated_is_err033(app: web.Application) -> None:
    await add_customer(app, activated_countries=[])

    assert_error(await call(client().coverage), "ERR033")


async def test_validate_sorts_numbers_into_ok_er_and_nr(sms: kwtsms.KwtSMS) -> None:
    result = await call(sms.validate, ["+965 5000 0001", NOT_A_MOBILE, SAUDI_NUMBER, "abc"])

    assert result["error"] is None
    assert result["ok"] == [NUMBER]
    # "abc" never left the client; the server judged the rest.
    assert result["er"] == [NOT_A_MOBILE, "abc"]
    assert result["nr"] == [SAUDI_NUMBER]
    assert result["raw"]["mobile"] == {"OK": [NUMBER], "ER": [NOT_A_MOBILE], "NR": [SAUDI_NUMBER]}


# -- send and status -------------------------------------------------------------------------


async def test_send_to_one_number(sms: kwtsms.KwtSMS) -> None:
    result = await call(sms.send, "+965 5000-0001", "Your code is 123456")

    assert result["result"] == "OK", result
    assert (result["numbers"], result["points-charged"], result["balance-after"]) == (1, 1, 999)
    assert len(result["msg-id"]) == 32
    assert await call(sms.balance) == 999.0


async def test_send_in_test_mode_charges_nothing(app: web.Application) -> None:
    await add_customer(app)
    sms = client(test_mode=True)

    result = await call(sms.send, NUMBER, "Hello")

    assert (result["result"], result["points-charged"], result["balance-after"]) == ("OK", 0, 1000)


# 161 GSM characters: one over a single page. A real notice, not a run of one letter,
# which the content model may score as spam (it is no message anyone sends).
TWO_PAGES = (
    "Dear customer, your appointment at Dar Al Shifa Hospital is confirmed for Sunday "
    "3 December at 10:30. Please arrive 15 minutes early and bring your civil ID card"
)


async def test_send_of_two_pages_to_two_numbers_charges_four(sms: kwtsms.KwtSMS) -> None:
    assert len(TWO_PAGES) == 161
    result = await call(sms.send, numbers(2), TWO_PAGES)

    assert (result["result"], result["points-charged"]) == ("OK", 4), result


async def test_send_to_250_numbers_goes_as_two_requests_that_both_succeed(
    sms: kwtsms.KwtSMS,
) -> None:
    result = await call(sms.send, numbers(250), "Sale starts today")

    assert result["result"] == "OK", result
    assert (result["bulk"], result["batches"], result["errors"]) == (True, 2, [])
    assert (result["numbers"], result["points-charged"], result["balance-after"]) == (
        250,
        250,
        750.0,
    )
    assert len(set(result["msg-ids"])) == 2
    assert await call(sms.balance) == 750.0


async def test_status_of_a_sent_message(sms: kwtsms.KwtSMS) -> None:
    msg_id = (await call(sms.send, numbers(2), "Hello"))["msg-id"]

    result = await call(sms.status, msg_id)

    assert (result["result"], result["msg-id"], result["numbers"]) == ("OK", msg_id, 2)
    assert result["status"] in {"QUEUED", "SUBMITTED", "DELIVERED", "FAILED", "EXPIRED", "PARTIAL"}
    assert [entry["mobile"] for entry in result["report"]] == numbers(2)


async def test_status_of_an_unknown_msg_id_is_err020(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.status, "0" * 32), "ERR020")


# -- the errors the client documents -------------------------------------------------------


async def test_a_missing_parameter_is_err002(sms: kwtsms.KwtSMS) -> None:
    # The client always sends every field; its own request function is called instead.
    payload = {"username": USER, "password": PASSWORD, "sender": "KWT-SMS", "mobile": NUMBER}

    result = await call(kwtsms_core._request, "send", payload, "")

    assert_error(kwtsms_core._enrich_error(result), "ERR002")


async def test_no_valid_number_is_err006(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.send, NOT_A_MOBILE, "Hello"), "ERR006")


async def test_over_200_numbers_in_one_request_is_err007(sms: kwtsms.KwtSMS) -> None:
    # The client splits long lists itself, so one request of 201 is sent by hand.
    payload = {
        **sms._creds(),
        "sender": "KWT-SMS",
        "mobile": ",".join(numbers(201)),
        "message": "Hello",
        "test": "0",
    }

    result = await call(kwtsms_core._request, "send", payload, "")

    assert_error(kwtsms_core._enrich_error(result), "ERR007")


async def test_a_sender_id_not_registered_to_the_account_is_err008(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.send, NUMBER, "Hello", sender="kwt-sms"), "ERR008")


async def test_an_empty_message_is_err009(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.send, NUMBER, "   "), "ERR009")


async def test_a_zero_balance_is_err010(app: web.Application) -> None:
    await add_customer(app, credits=0)

    assert_error(await call(client().send, NUMBER, "Hello"), "ERR010")


async def test_a_balance_short_of_the_points_is_err011(app: web.Application) -> None:
    await add_customer(app, credits=1)

    assert_error(await call(client().send, numbers(2), "Hello"), "ERR011")


async def test_a_message_over_6_pages_is_err012(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.send, NUMBER, "x" * (153 * 6 + 1)), "ERR012")


async def test_sending_unavailable_is_err013(
    aiohttp_server: ServerMaker, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # A hot state that does not answer: the same-number check fails closed.
    app = await start(
        aiohttp_server, monkeypatch, replace(settings, redis_url="redis://127.0.0.1:1/0")
    )
    await add_customer(app)

    assert_error(await call(client().send, NUMBER, "Hello"), "ERR013")


async def test_an_address_outside_the_allowlist_is_err024(app: web.Application) -> None:
    await add_customer(app)
    async with app[appkeys.DB_SESSIONS].begin() as session:
        await set_api_allowlist(session, USER, ["192.0.2.0/24"])

    assert_error(await call(client().send, NUMBER, "Hello"), "ERR024")


async def test_an_invalid_number_among_valid_ones_is_err025(sms: kwtsms.KwtSMS) -> None:
    result = await call(sms.send, [NUMBER, NOT_A_MOBILE], "Hello")

    assert_error(result, "ERR025")
    assert NOT_A_MOBILE in result["description"]


async def test_a_country_not_activated_is_err026(sms: kwtsms.KwtSMS) -> None:
    assert_error(await call(sms.send, SAUDI_NUMBER, "Hello"), "ERR026")


async def test_html_in_the_message_is_err027(sms: kwtsms.KwtSMS) -> None:
    # The client strips tags itself; written as character references they get through.
    assert_error(await call(sms.send, NUMBER, "&lt;script&gt;alert(1)&lt;/script&gt;"), "ERR027")


async def test_the_same_number_again_within_15_s_is_err028(sms: kwtsms.KwtSMS) -> None:
    assert (await call(sms.send, NUMBER, "Hello"))["result"] == "OK"

    assert_error(await call(sms.send, NUMBER, "Hello again"), "ERR028")
    assert await call(sms.balance) == 999.0


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"api_enabled": False}, "ERR001"),
        ({"role": Role.STAFF}, "ERR004"),
        ({"disabled": True}, "ERR005"),
    ],
)
async def test_account_refusals(app: web.Application, changes: dict[str, Any], code: str) -> None:
    await add_customer(app, **changes)

    assert_error(await call(client().senderids), code)
