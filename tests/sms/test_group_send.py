"""Sending to a contact group: `POST /API/send/` with SecGate's `group` field instead
of `mobile` sends to the group's numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker
from customer_accounts import FAST_ARGON2, register_account
from sqlalchemy import select

from secgate import appkeys
from secgate.app import create_app
from secgate.settings import Settings
from secgate.sms.contacts import import_csv
from secgate.storage.models import Message, Recipient

PASSWORD = "correct horse battery"
GROUP = [f"965500000{i:02d}" for i in range(1, 6)]


@pytest.fixture
async def client(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], database_url: str
) -> TestClient:
    settings = make_settings(**FAST_ARGON2, database_url=database_url, max_group_send_numbers=250)
    return await aiohttp_client(create_app(settings))


async def add_customer(client: TestClient, username: str, group: list[str] | None) -> int:
    """An account with API credentials, a sender ID, credits and (unless None) a
    contact group "vip" holding `group`."""
    sessions = client.app[appkeys.DB_SESSIONS]
    account_id = await register_account(
        sessions,
        username,
        password=PASSWORD,
        mobile="96599999999",
        credits=1000,
        senders=["KWT-SMS"],
    )
    if group is not None:
        async with sessions.begin() as session:
            await import_csv(session, account_id, "vip", "\n".join(group), max_group_numbers=250)
    return account_id


async def send(client: TestClient, username: str = "acme", **fields: Any) -> tuple[int, Any]:
    body = {"username": username, "password": PASSWORD, "sender": "KWT-SMS", "message": "Hi"}
    response = await client.post("/API/send/", json=body | fields)
    return response.status, await response.json()


async def recipients(client: TestClient, msg_id: str) -> list[str]:
    async with client.app[appkeys.DB_SESSIONS]() as session:
        return list(
            await session.scalars(
                select(Recipient.number)
                .join(Message, Message.id == Recipient.message_id)
                .where(Message.msg_id == msg_id)
                .order_by(Recipient.number)
            )
        )


async def test_a_send_to_a_group_goes_to_each_of_its_numbers(client: TestClient) -> None:
    await add_customer(client, "acme", GROUP)

    status, body = await send(client, group="vip", test=1)

    assert status == 200, body
    assert (body["result"], body["numbers"], body["points-charged"]) == ("OK", 5, 0)
    assert await recipients(client, body["msg-id"]) == GROUP


async def test_a_group_is_not_held_to_the_200_numbers_of_a_request(client: TestClient) -> None:
    # Spread as a real list is: consecutive numbers would be a pumping walk (issue 4).
    many = [f"96550{37 * i:06d}" for i in range(201)]
    await add_customer(client, "acme", many)

    status, body = await send(client, group="vip")

    assert status == 200, body
    assert (body["numbers"], body["points-charged"], body["balance-after"]) == (201, 201, 799)


async def test_another_accounts_group_of_that_name_is_not_found(client: TestClient) -> None:
    await add_customer(client, "acme", GROUP)
    await add_customer(client, "other", None)

    status, body = await send(client, "other", group="vip")

    assert (status, body["code"]) == (400, "ERR002")
    assert "no contact group named 'vip'" in body["description"]


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({}, "Missing parameter: mobile"),
        ({"group": "vip", "mobile": GROUP[0]}, "give mobile or group, not both"),
    ],
)
async def test_mobile_or_group_is_required_but_not_both(
    client: TestClient, fields: dict[str, Any], description: str
) -> None:
    await add_customer(client, "acme", GROUP)

    status, body = await send(client, **fields)

    assert (status, body["code"]) == (400, "ERR002")
    assert description in body["description"]
