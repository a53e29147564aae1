"""The staff API of protected sender names over HTTP: list, add, remove."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from api_calls import bearer, call
from customer_accounts import bare_account

from secgate import appkeys
from secgate.storage.db import SessionFactory
from secgate.storage.models import TokenRole

PATH = "/api/v1/protected-senders"


@pytest.fixture
async def accounts(db_sessions: SessionFactory) -> None:
    async with db_sessions.begin() as session:
        session.add_all([bare_account("nbk-bank"), bare_account("shop")])


# --- who may call --------------------------------------------------------------------------

ENDPOINTS = [("GET", PATH), ("POST", PATH), ("DELETE", f"{PATH}/NBK")]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
async def test_anonymous_caller_gets_401(client: TestClient, method: str, url: str) -> None:
    response = await client.request(method, url, json={"name": "NBK"})
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
async def test_pipeline_token_is_forbidden(
    client: TestClient, db_sessions: SessionFactory, method: str, url: str
) -> None:
    headers = await bearer(db_sessions, TokenRole.PIPELINE)
    body = await call(client, method, url, headers, 403, json={"name": "NBK"})
    assert body["code"] == "forbidden"


async def test_a_customers_api_credentials_do_not_open_it(
    client: TestClient, accounts: None
) -> None:
    # Customers have API credentials for /API/ only; this API takes staff credentials.
    response = await client.post(PATH, json={"username": "shop", "password": "x", "name": "SHOP"})
    assert response.status == 401


# --- listing and adding -------------------------------------------------------------------


async def test_add_then_list(client: TestClient, staff: dict[str, str], accounts: None) -> None:
    added = await call(
        client, "POST", PATH, staff, 201, json={"name": "nbk", "owners": ["NBK-Bank"]}
    )
    assert set(added) == {"name", "owners", "created_at"}
    assert (added["name"], added["owners"]) == ("NBK", ["nbk-bank"])
    await call(client, "POST", PATH, staff, 201, json={"name": "KFH"})

    listed = await call(client, "GET", PATH, staff, 200)

    assert listed == {
        "protected_senders": [
            {
                "name": "KFH",
                "owners": [],
                "created_at": listed["protected_senders"][0]["created_at"],
            },
            added,
        ]
    }


async def test_adding_a_protected_name_again_adds_owners_and_answers_200(
    client: TestClient, staff: dict[str, str], accounts: None
) -> None:
    await call(client, "POST", PATH, staff, 201, json={"name": "NBK", "owners": ["nbk-bank"]})
    again = await call(client, "POST", PATH, staff, 200, json={"name": "NBK", "owners": ["shop"]})
    assert again["owners"] == ["nbk-bank", "shop"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "N.B.K"}, "invalid_field", "name"),
        ({"name": ""}, "invalid_field", "name"),
        ({"name": "ABCDEFGHIJKL"}, "invalid_field", "name"),
        ({"name": 5}, "invalid_field", "name"),
        ({}, "invalid_field", "name"),
        ({"name": "NBK", "owners": ["nobody"]}, "account_not_found", "owners.0"),
        ({"name": "NBK", "owners": "nbk-bank"}, "invalid_field", "owners"),
        ({"name": "NBK", "owners": ["x"] * 101}, "invalid_field", "owners"),
        ({"name": "NBK", "note": "x"}, "invalid_field", "note"),
    ],
)
async def test_a_bad_body_gets_400_naming_the_field(
    client: TestClient,
    staff: dict[str, str],
    accounts: None,
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    answer = await call(client, "POST", PATH, staff, 400, json=body)
    assert answer["code"] == code
    assert answer["fields"][0]["field"] == field
    assert (await call(client, "GET", PATH, staff, 200))["protected_senders"] == []


async def test_a_body_that_is_not_json_gets_400(client: TestClient, staff: dict[str, str]) -> None:
    answer = await call(client, "POST", PATH, staff, 400, data=b"NBK")
    assert answer["code"] == "malformed_json"


# --- removing ------------------------------------------------------------------------------


async def test_delete_removes_the_name(
    client: TestClient, staff: dict[str, str], accounts: None
) -> None:
    await call(client, "POST", PATH, staff, 201, json={"name": "NBK", "owners": ["nbk-bank"]})
    removed = await call(client, "DELETE", f"{PATH}/nbk", staff, 200)
    assert (removed["name"], removed["owners"]) == ("NBK", ["nbk-bank"])
    assert (await call(client, "GET", PATH, staff, 200))["protected_senders"] == []


async def test_delete_with_an_owner_removes_only_that_owner(
    client: TestClient, staff: dict[str, str], accounts: None
) -> None:
    await call(
        client, "POST", PATH, staff, 201, json={"name": "NBK", "owners": ["nbk-bank", "shop"]}
    )
    left = await call(client, "DELETE", f"{PATH}/NBK?owner=shop", staff, 200)
    assert left["owners"] == ["nbk-bank"]
    assert [
        p["name"] for p in (await call(client, "GET", PATH, staff, 200))["protected_senders"]
    ] == ["NBK"]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (f"{PATH}/KFH", "protected_sender_not_found"),
        (f"{PATH}/N.B.K", "protected_sender_not_found"),
        (f"{PATH}/NBK?owner=shop", "protected_sender_not_found"),  # not an owner
        (f"{PATH}/NBK?owner=nobody", "account_not_found"),
    ],
)
async def test_delete_of_what_is_not_there_gets_404(
    client: TestClient, staff: dict[str, str], accounts: None, url: str, code: str
) -> None:
    await call(client, "POST", PATH, staff, 201, json={"name": "NBK", "owners": ["nbk-bank"]})
    assert (await call(client, "DELETE", url, staff, 404))["code"] == code


async def test_an_owner_given_twice_gets_400(client: TestClient, staff: dict[str, str]) -> None:
    answer = await call(client, "DELETE", f"{PATH}/NBK?owner=a&owner=b", staff, 400)
    assert answer["code"] == "invalid_query"


# --- the guard sees each change at once -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("POST", PATH, {"name": "KFH"}), ("DELETE", f"{PATH}/NBK", None)],
)
async def test_each_change_reaches_this_process_cache_at_once(
    client: TestClient,
    staff: dict[str, str],
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    await call(client, "POST", PATH, staff, 201, json={"name": "NBK"})
    cache = client.app[appkeys.PROTECTED_SENDERS]
    before = set((await cache.matcher()).names)

    await call(client, method, url, staff, 201 if method == "POST" else 200, json=body)

    after = set((await cache.matcher()).names)
    assert after != before
    assert after == ({"NBK", "KFH"} if method == "POST" else set())
