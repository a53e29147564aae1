"""The staff alerts API over HTTP (CONTRACT §4.4): list, acknowledge, resolve."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from api_calls import bearer
from customer_accounts import MakeAccount

from secgate import appkeys
from secgate.alerts.store import AlertView
from secgate.storage.db import SessionFactory
from secgate.storage.models import AlertSeverity, TokenRole

ALERTS = "/api/v1/alerts"


async def raise_alert(client: TestClient, **changes: Any) -> AlertView:
    arguments: dict[str, Any] = {"type": "login.bruteforce", "severity": AlertSeverity.HIGH}
    return await client.app[appkeys.ALERTS].raise_alert(**(arguments | changes))


async def get_json(client: TestClient, url: str, headers: dict[str, str]) -> Any:
    response = await client.get(url, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


# -- who may call ----------------------------------------------------------------

ENDPOINTS = [("GET", ALERTS), ("POST", f"{ALERTS}/1/ack"), ("POST", f"{ALERTS}/1/resolve")]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
async def test_anonymous_caller_gets_401(client: TestClient, method: str, url: str) -> None:
    response = await client.request(method, url)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
async def test_garbage_authorization_header_gets_401_json(
    client: TestClient, method: str, url: str
) -> None:
    response = await client.request(method, url, headers={"Authorization": "Bearer ?!*"})
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
async def test_pipeline_token_is_forbidden(
    client: TestClient, db_sessions: SessionFactory, method: str, url: str
) -> None:
    await raise_alert(client)
    headers = await bearer(db_sessions, TokenRole.PIPELINE)
    response = await client.request(method, url, headers=headers)
    assert response.status == 403
    assert (await response.json())["code"] == "forbidden"


async def test_unauthenticated_caller_learns_nothing_about_alert_ids(client: TestClient) -> None:
    assert (await client.post(f"{ALERTS}/not-an-id/ack")).status == 401


# -- listing ---------------------------------------------------------------------


async def test_list_gives_the_contract_fields_newest_first(
    client: TestClient, staff: dict[str, str], make_account: MakeAccount
) -> None:
    account_id = await make_account("Ahmad")
    older = await raise_alert(client, account_id=account_id, ip="192.0.2.7", country="KW")
    newer = await raise_alert(client, type="sms.spam_blocked", severity=AlertSeverity.LOW)
    body = await get_json(client, ALERTS, staff)
    assert body == {"alerts": [newer.to_json(), older.to_json()], "next": None}
    assert body["alerts"][1]["account"] == "Ahmad"
    assert set(body["alerts"][0]) == {
        "id", "type", "severity", "status", "account", "ip", "country",
        "count", "first_seen", "last_seen", "details",
    }  # fmt: skip


async def test_list_pages_follow_next_until_it_is_null(
    client: TestClient, staff: dict[str, str]
) -> None:
    ids = [(await raise_alert(client, subject=f"s{n}")).id for n in range(5)]
    seen: list[int] = []
    url = f"{ALERTS}?limit=2"
    pages = 0
    while True:
        body = await get_json(client, url, staff)
        pages += 1
        seen += [alert["id"] for alert in body["alerts"]]
        if body["next"] is None:
            break
        url = f"{ALERTS}?limit=2&after={body['next']}"
    assert (seen, pages) == (ids[::-1], 3)


async def test_list_filters_by_type_severity_status_and_account(
    client: TestClient, staff: dict[str, str], make_account: MakeAccount
) -> None:
    ahmad = await make_account("Ahmad")
    brute = await raise_alert(client, account_id=ahmad)
    spam = await raise_alert(client, type="sms.spam_blocked", severity=AlertSeverity.LOW)
    assert (await client.post(f"{ALERTS}/{spam.id}/resolve", headers=staff)).status == 200

    async def ids(query: str) -> list[int]:
        return [alert["id"] for alert in (await get_json(client, query, staff))["alerts"]]

    assert await ids(f"{ALERTS}?type=sms.spam_blocked") == [spam.id]
    assert await ids(f"{ALERTS}?severity=high") == [brute.id]
    assert await ids(f"{ALERTS}?status=resolved") == [spam.id]
    assert await ids(f"{ALERTS}?status=open&account=ahmad") == [brute.id]
    assert await ids(f"{ALERTS}?account=nobody") == []


async def test_empty_query_values_mean_any(client: TestClient, staff: dict[str, str]) -> None:
    alert = await raise_alert(client)
    body = await get_json(client, f"{ALERTS}?type=&severity=&status=&account=&after=&limit=", staff)
    assert [a["id"] for a in body["alerts"]] == [alert.id]


@pytest.mark.parametrize("limit", ["1", "500"])
async def test_limit_at_either_end_is_accepted(
    client: TestClient, staff: dict[str, str], limit: str
) -> None:
    await raise_alert(client)
    assert len((await get_json(client, f"{ALERTS}?limit={limit}", staff))["alerts"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=Login.Bruteforce", "type"),
        ("type=bruteforce", "type"),
        ("severity=severe", "severity"),
        ("status=closed", "status"),
        ("account=%00", "account"),
        ("account=" + "a" * 65, "account"),
        ("after=abc", "after"),
        ("after=0", "after"),
        ("after=9223372036854775808", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
    ],
)
async def test_invalid_query_gets_400_naming_the_field(
    client: TestClient, staff: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"{ALERTS}?{query}", headers=staff)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "invalid_query"
    assert body["fields"][0]["field"] == field
    assert body["description"].startswith(f"{field}:")


# -- acknowledging and resolving -----------------------------------------------------


async def test_ack_without_a_body_acknowledges_and_answers_the_alert(
    client: TestClient, staff: dict[str, str]
) -> None:
    alert = await raise_alert(client)
    response = await client.post(f"{ALERTS}/{alert.id}/ack", headers=staff)
    assert response.status == 200
    body = await response.json()
    assert (body["id"], body["status"], body["details"]) == (alert.id, "acknowledged", {})


async def test_resolve_with_a_note_keeps_it_with_who_and_when(
    client: TestClient, staff: dict[str, str]
) -> None:
    alert = await raise_alert(client)
    response = await client.post(
        f"{ALERTS}/{alert.id}/resolve", headers=staff, json={"note": "  blocked the range  "}
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "resolved"
    [note] = body["details"]["notes"]
    assert (note["by"], note["status"], note["note"]) == ("Sara", "resolved", "blocked the range")
    assert note["at"].endswith("Z")
    listed = await get_json(client, f"{ALERTS}?status=resolved", staff)
    assert listed["alerts"][0]["details"]["notes"] == [note]


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}", b'{"note": null}', b'{"note": "   "}'])
async def test_ack_with_an_empty_body_or_note_adds_no_note(
    client: TestClient, staff: dict[str, str], body: bytes
) -> None:
    alert = await raise_alert(client)
    response = await client.post(f"{ALERTS}/{alert.id}/ack", headers=staff, data=body)
    assert response.status == 200
    assert (await response.json())["details"] == {}


@pytest.mark.parametrize("alert_id", ["999999", "abc", "1.5", "-1", "0", "99999999999999999999"])
@pytest.mark.parametrize("action", ["ack", "resolve"])
async def test_unknown_or_non_integer_alert_id_gets_404(
    client: TestClient, staff: dict[str, str], alert_id: str, action: str
) -> None:
    await raise_alert(client)
    response = await client.post(f"{ALERTS}/{alert_id}/{action}", headers=staff)
    assert response.status == 404
    assert (await response.json())["code"] == "alert_not_found"


async def test_malformed_json_body_on_ack_gets_400(
    client: TestClient, staff: dict[str, str]
) -> None:
    alert = await raise_alert(client)
    response = await client.post(f"{ALERTS}/{alert.id}/ack", headers=staff, data=b'{"note": ')
    assert response.status == 400
    assert (await response.json())["code"] == "malformed_json"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"note": 42}, id="note-not-a-string"),
        pytest.param({"note": ["a"]}, id="note-a-list"),
        pytest.param({"note": "n" * 1001}, id="note-over-1000-chars"),
        pytest.param({"notes": "typo"}, id="unknown-field"),
    ],
)
async def test_invalid_note_gets_400_invalid_field_and_changes_nothing(
    client: TestClient, staff: dict[str, str], body: dict[str, Any]
) -> None:
    alert = await raise_alert(client)
    response = await client.post(f"{ALERTS}/{alert.id}/resolve", headers=staff, json=body)
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_field"
    listed = await get_json(client, ALERTS, staff)
    assert listed["alerts"][0]["status"] == "open"


async def test_note_of_exactly_1000_characters_is_kept(
    client: TestClient, staff: dict[str, str]
) -> None:
    alert = await raise_alert(client)
    response = await client.post(
        f"{ALERTS}/{alert.id}/ack", headers=staff, json={"note": "n" * 1000}
    )
    assert response.status == 200
    assert (await response.json())["details"]["notes"][0]["note"] == "n" * 1000
