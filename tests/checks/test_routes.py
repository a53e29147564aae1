"""The pre-send check over HTTP (CONTRACT §4.3): who may call it, the answer's shape,
the account's view with "username", dry runs and alerts, the batch form, and the
refusal of every bad body with a stable code (never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker, bearer
from customer_accounts import bare_account
from sqlalchemy import delete

from secgate import appkeys
from secgate.alerts.store import list_alerts
from secgate.app import create_app
from secgate.checks.protected_senders import add_protected_sender
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, passed
from secgate.settings import Settings
from secgate.storage.db import SessionFactory
from secgate.storage.models import SenderId, TokenRole

PATH = "/api/v1/checks/message"
BATCH_PATH = "/api/v1/checks/messages"
SPAM = (
    "WINNER!! You have been selected to receive a £900 prize reward! To claim call "
    "09061701461. Claim code KL341. Valid 12 hours only."
)
OTP = "Your verification code is 483920. It expires in 5 minutes."


@pytest.fixture
async def client(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], database_url: str
) -> TestClient:
    settings = make_settings(database_url=database_url, check_batch_max_messages=3)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def pipeline_token(db_sessions: SessionFactory) -> dict[str, str]:
    return await bearer(db_sessions, TokenRole.PIPELINE)


@pytest.fixture
async def bank(db_sessions: SessionFactory) -> int:
    """An account that owns the protected name NBK and has the sender ID "NBK"."""
    async with db_sessions.begin() as session:
        account = bare_account("nbk-bank", sender_ids=[SenderId(name="NBK")])
        session.add(account)
        await session.flush()
        await add_protected_sender(session, "NBK", [account])
        return account.id


async def check(
    client: TestClient, headers: dict[str, str], body: Any, status: int = 200, path: str = PATH
) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def alert_types(db_sessions: SessionFactory) -> list[str]:
    async with db_sessions() as session:
        views, _ = await list_alerts(session)
    return sorted(view.type for view in views)


# --- who may call ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [PATH, BATCH_PATH])
async def test_without_a_token_it_is_401(client: TestClient, path: str) -> None:
    response = await client.post(path, json={"sender": "X", "message": "hi"})
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"


async def test_a_customers_api_credentials_do_not_open_it(client: TestClient) -> None:
    body = {"username": "shop", "password": "secret", "sender": "X", "message": "hi"}
    response = await client.post(PATH, json=body)
    assert response.status == 401


@pytest.mark.parametrize("role", [TokenRole.PIPELINE, TokenRole.STAFF])
async def test_pipeline_and_staff_tokens_may_call_it(
    client: TestClient, db_sessions: SessionFactory, role: TokenRole
) -> None:
    headers = await bearer(db_sessions, role)
    answer = await check(client, headers, {"sender": "MyShop", "message": OTP})
    assert answer["verdict"] == "pass"


# --- the answer --------------------------------------------------------------------------


async def test_a_pass_has_exactly_the_contracts_fields(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    answer = await check(client, pipeline_token, {"sender": "MyShop", "message": OTP})
    assert set(answer) == {"verdict", "code", "spam_score", "reasons"}
    assert (answer["verdict"], answer["code"], answer["reasons"]) == ("pass", None, [])
    assert 0.0 <= answer["spam_score"] < 0.1


async def test_spam_is_refused_with_err032_and_its_score(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    answer = await check(client, pipeline_token, {"sender": "MyShop", "message": SPAM})
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR032")
    assert answer["spam_score"] > 0.5
    spam_model = next(r for r in answer["reasons"] if r["check"] == "spam_model")
    assert spam_model["spam_score"] == answer["spam_score"]


async def test_bad_language_is_err031_and_names_the_check(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    answer = await check(client, pipeline_token, {"sender": "MyShop", "message": "you fucker"})
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR031")
    assert answer["reasons"][0]["check"] == "bad_language"
    assert answer["reasons"][0]["verdict"] == "reject"


async def test_a_word_disguised_with_look_alike_letters_is_held(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    body = {"sender": "MyShop", "message": "Hi, lunch at 1? z\u0430in"}  # a Cyrillic a
    answer = await check(client, pipeline_token, body)
    assert (answer["verdict"], answer["code"]) == ("hold", None)
    assert [r["check"] for r in answer["reasons"]] == ["obfuscation"]


# --- with and without an account --------------------------------------------------------


async def test_without_username_every_protected_name_is_refused(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    answer = await check(client, pipeline_token, {"sender": "NBK", "message": OTP})
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR008")
    assert answer["reasons"][0]["check"] == "sender_id"


async def test_the_owner_of_a_protected_name_may_use_it(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    body = {"username": "NBK-Bank", "sender": "NBK", "message": OTP, "recipients": ["50000001"]}
    answer = await check(client, pipeline_token, body)
    assert (answer["verdict"], answer["reasons"]) == ("pass", [])


async def test_with_username_the_sender_must_be_registered_to_the_account(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    answer = await check(
        client, pipeline_token, {"username": "nbk-bank", "sender": "Other", "message": OTP}
    )
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR008")
    assert [r["check"] for r in answer["reasons"]] == ["sender_registered"]
    own_mobile = {"username": "nbk-bank", "sender": "+96550000000", "message": OTP}
    assert (await check(client, pipeline_token, own_mobile))["verdict"] == "pass"


async def test_an_unregistered_sender_answers_err008_first_as_the_send_api_does(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    body = {"username": "nbk-bank", "sender": "Other", "message": SPAM}
    answer = await check(client, pipeline_token, body)
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR008")
    assert [r["check"] for r in answer["reasons"]] == ["sender_registered", "spam_model"]


async def test_a_sender_id_removed_counts_from_the_next_check(
    client: TestClient, pipeline_token: dict[str, str], bank: int, db_sessions: SessionFactory
) -> None:
    # The account is read afresh for every check: nothing remembers its sender IDs.
    body = {"username": "nbk-bank", "sender": "NBK", "message": OTP}
    assert (await check(client, pipeline_token, body))["verdict"] == "pass"
    async with db_sessions.begin() as session:
        await session.execute(delete(SenderId).where(SenderId.account_id == bank))
    answer = await check(client, pipeline_token, body)
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR008")


async def test_in_a_batch_the_first_unknown_username_is_400_with_its_index(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    known = {"username": "NBK-BANK", "sender": "NBK", "message": OTP}
    answer = await check(
        client,
        pipeline_token,
        {"messages": [known, {**known, "username": "nobody"}, {**known, "username": "none"}]},
        400,
        BATCH_PATH,
    )
    assert (answer["code"], answer["fields"][0]["field"]) == (
        "account_not_found",
        "messages.1.username",
    )
    # One account under two spellings: both are its view.
    batch = {"messages": [known, {**known, "username": "nbk-bank"}]}
    answers = (await check(client, pipeline_token, batch, path=BATCH_PATH))["results"]
    assert [a["verdict"] for a in answers] == ["pass", "pass"]


async def test_an_unknown_username_is_400(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    answer = await check(
        client, pipeline_token, {"username": "nobody", "sender": "X", "message": "hi"}, 400
    )
    assert (answer["code"], answer["fields"][0]["field"]) == ("account_not_found", "username")


async def test_with_username_the_pumping_checks_judge_the_recipients(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    # A run of consecutive numbers is what SMS pumping sends to (20: the default run).
    run = [f"965512300{i:02d}" for i in range(20)]
    body = {"username": "nbk-bank", "sender": "NBK", "message": OTP, "recipients": run}
    answer = await check(client, pipeline_token, body)
    assert (answer["verdict"], answer["code"]) == ("reject", "ERR013")
    assert answer["reasons"][-1]["check"] == "pumping"
    # A dry run throttles nothing: the same check answers the same.
    assert (await check(client, pipeline_token, body))["reasons"] == answer["reasons"]


@dataclass
class Recorder:
    """A check put first in the app's pipeline that only notes what it was asked about."""

    name: str = "recorder"
    fails: FailMode = "closed"
    seen: dict[str, MessageUnderCheck] = field(default_factory=dict)  # by sender

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        self.seen[message.sender] = message
        return passed(self.name)


@pytest.fixture
async def recorded(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], database_url: str
) -> tuple[TestClient, Recorder]:
    """The app (as `client`), its pipeline led by a Recorder."""
    recorder = Recorder()
    app = create_app(make_settings(database_url=database_url))

    async def record_first(app: web.Application) -> AsyncIterator[None]:
        app[appkeys.CHECKS] = app[appkeys.CHECKS].with_first(recorder)
        yield

    app.cleanup_ctx.append(record_first)
    return await aiohttp_client(app), recorder


@pytest.fixture
async def transactional_accounts(db_sessions: SessionFactory) -> None:
    """Two accounts with transactional sender IDs: clinic's "Clinic", and courier's
    "Courier" and "MyShop" (clinic has "MyShop" too, not transactional)."""
    async with db_sessions.begin() as session:
        session.add(
            bare_account(
                "clinic",
                sender_ids=[SenderId(name="Clinic", transactional=True), SenderId(name="MyShop")],
            )
        )
        session.add(
            bare_account(
                "courier",
                sender_ids=[
                    SenderId(name="Courier", transactional=True),
                    SenderId(name="MyShop", transactional=True),
                ],
            )
        )


@pytest.mark.usefixtures("transactional_accounts")
async def test_the_checks_see_exactly_the_named_accounts_transactional_sender_ids(
    recorded: tuple[TestClient, Recorder], pipeline_token: dict[str, str]
) -> None:
    client, recorder = recorded
    await check(client, pipeline_token, {"username": "clinic", "sender": "MyShop", "message": OTP})

    seen = recorder.seen["MyShop"]
    assert seen.account_sender_ids == {"Clinic", "MyShop"}
    assert seen.transactional_sender_ids == {"Clinic"}


@pytest.mark.usefixtures("transactional_accounts")
async def test_in_a_batch_each_message_carries_its_own_accounts_transactional_sender_ids(
    recorded: tuple[TestClient, Recorder], pipeline_token: dict[str, str]
) -> None:
    client, recorder = recorded
    messages = [
        {"username": "clinic", "sender": "Clinic", "message": OTP},
        {"username": "courier", "sender": "Courier", "message": OTP},
        {"sender": "Anyone", "message": OTP},  # no account: none is transactional
    ]
    await check(client, pipeline_token, {"messages": messages}, path=BATCH_PATH)

    assert {sender: m.transactional_sender_ids for sender, m in recorder.seen.items()} == {
        "Clinic": {"Clinic"},
        "Courier": {"Courier", "MyShop"},
        "Anyone": set(),
    }


# --- dry runs and alerts ----------------------------------------------------------------


async def test_a_check_is_a_dry_run_and_raises_no_alert(
    client: TestClient, pipeline_token: dict[str, str], db_sessions: SessionFactory, bank: int
) -> None:
    await check(client, pipeline_token, {"sender": "NBK", "message": SPAM})
    assert await alert_types(db_sessions) == []


async def test_dry_run_false_raises_the_alerts_a_send_would(
    client: TestClient, pipeline_token: dict[str, str], db_sessions: SessionFactory, bank: int
) -> None:
    body = {"sender": "N8K", "message": SPAM, "dry_run": False}
    answer = await check(client, pipeline_token, body)
    assert answer["code"] == "ERR008"
    assert await alert_types(db_sessions) == ["sms.sender_id_blocked", "sms.spam_blocked"]


# --- the batch form ---------------------------------------------------------------------


async def test_a_batch_answers_each_message_in_order(
    client: TestClient, pipeline_token: dict[str, str], bank: int
) -> None:
    messages = [
        {"sender": "MyShop", "message": SPAM},
        {"username": "nbk-bank", "sender": "NBK", "message": OTP},
        {"sender": "NBK", "message": OTP},
    ]
    answer = await check(client, pipeline_token, {"messages": messages}, path=BATCH_PATH)
    assert [(r["verdict"], r["code"]) for r in answer["results"]] == [
        ("reject", "ERR032"),
        ("pass", None),
        ("reject", "ERR008"),
    ]
    singles = [await check(client, pipeline_token, m) for m in messages]
    assert answer["results"] == singles


async def test_a_batch_over_the_limit_is_413(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    messages = [{"sender": "X", "message": "hi"}] * 4
    answer = await check(client, pipeline_token, {"messages": messages}, 413, BATCH_PATH)
    assert answer["code"] == "too_many_messages"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"sender": "X"}]}, "messages.0.message"),
        ({"messages": "hi"}, "messages"),
        ({}, "messages"),
    ],
)
async def test_a_bad_batch_is_400_naming_the_field(
    client: TestClient, pipeline_token: dict[str, str], body: Any, field: str
) -> None:
    answer = await check(client, pipeline_token, body, 400, BATCH_PATH)
    assert (answer["code"], answer["fields"][0]["field"]) == ("invalid_field", field)


async def test_a_bad_recipient_in_a_batch_names_its_message(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    messages = [
        {"sender": "X", "message": "hi"},
        {"sender": "X", "message": "hi", "recipients": ["12"]},
    ]
    answer = await check(client, pipeline_token, {"messages": messages}, 400, BATCH_PATH)
    assert answer["fields"][0]["field"] == "messages.1.recipients.0"


# --- bad bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi"}, "sender"),
        ({"sender": "", "message": "hi"}, "sender"),
        ({"sender": "X" * 65, "message": "hi"}, "sender"),
        ({"sender": "X"}, "message"),
        ({"sender": "X", "message": 5}, "message"),
        ({"sender": "X", "message": "hi", "recipients": "96550000001"}, "recipients"),
        ({"sender": "X", "message": "hi", "recipients": [96550000001]}, "recipients.0"),
        ({"sender": "X", "message": "hi", "recipients": ["12345"]}, "recipients.0"),
        ({"sender": "X", "message": "hi", "recipients": ["9" * 65]}, "recipients.0"),
        ({"sender": "X", "message": "hi", "dry_run": "no"}, "dry_run"),
        ({"sender": "X", "message": "hi", "username": 7}, "username"),
        ({"sender": "X", "message": "hi", "extra": 1}, "extra"),
    ],
)
async def test_a_bad_field_is_400_naming_it(
    client: TestClient, pipeline_token: dict[str, str], body: Any, field: str
) -> None:
    answer = await check(client, pipeline_token, body, 400)
    assert (answer["code"], answer["fields"][0]["field"]) == ("invalid_field", field)


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_body"), (b"hello", "malformed_json"), (b"[1]", "malformed_json")],
)
async def test_a_body_that_is_no_json_object_is_400(
    client: TestClient, pipeline_token: dict[str, str], data: bytes, code: str
) -> None:
    response = await client.post(PATH, data=data, headers=pipeline_token)
    assert response.status == 400
    assert (await response.json())["code"] == code


async def test_too_many_recipients_is_413(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    body = {"sender": "X", "message": "hi", "recipients": ["96550000001"] * 201}
    assert (await check(client, pipeline_token, body, 413))["code"] == "too_many_recipients"


async def test_a_message_longer_than_a_send_may_be_is_413(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    at_limit = {"sender": "X", "message": "a" * 153 * 6}
    assert set(await check(client, pipeline_token, at_limit)) == {
        "verdict",
        "code",
        "spam_score",
        "reasons",
    }
    over = {"sender": "X", "message": "a" * (153 * 6 + 1)}
    assert (await check(client, pipeline_token, over, 413))["code"] == "message_too_long"


async def test_a_body_over_the_size_limit_is_413(
    client: TestClient, pipeline_token: dict[str, str]
) -> None:
    body = {"sender": "X", "message": "a" * (2 * 1024 * 1024)}
    assert (await check(client, pipeline_token, body, 413))["code"] == "body_too_large"
