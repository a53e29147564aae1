"""The contacts API over HTTP: import (CSV or JSON) with its per-row report, and
reading a group; staff and pipeline tokens act for the account named in the query."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from api_calls import bearer

from secgate.storage.db import SessionFactory
from secgate.storage.models import TokenRole

IMPORT = "/api/v1/contacts/groups/vip/import?username=alice"
GROUP = "/api/v1/contacts/groups/vip?username=alice"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
async def client(client: TestClient, account_id: int) -> TestClient:
    """The app, with alice's account to import contacts into."""
    return client


@pytest.fixture
async def pipeline(db_sessions: SessionFactory) -> dict[str, str]:
    return await bearer(db_sessions, TokenRole.PIPELINE)


async def test_a_csv_import_answers_the_report_and_the_group_holds_the_contacts(
    client: TestClient, pipeline: dict[str, str]
) -> None:
    body = "name,number\r\nAli,+965 5000 0001\r\nAli again,96550000001\r\nBad,12\r\n"

    response = await client.post(IMPORT, data=body.encode(), headers=pipeline | CSV)
    group = await client.get(GROUP, headers=pipeline)

    assert response.status == 200, await response.text()
    assert await response.json() == {
        "group": "vip",
        "added": 1,
        "duplicates": 1,
        "rejected": [{"line": 4, "raw": "Bad,12", "reason": "invalid number: not a phone number"}],
    }
    assert group.status == 200
    assert await group.json() == {
        "group": "vip",
        "count": 1,
        "contacts": [{"name": "Ali", "number": "96550000001"}],
    }


async def test_a_json_import_reports_rows_by_their_position(
    client: TestClient, pipeline: dict[str, str]
) -> None:
    contacts = [{"name": "Mona", "number": "٩٦٥٥٠٠٠٠٠٠٢"}, {"number": 96550000003}, {"number": ""}]

    response = await client.post(IMPORT, json={"contacts": contacts}, headers=pipeline)

    assert response.status == 200, await response.text()
    report = await response.json()
    assert (report["added"], report["duplicates"]) == (2, 0)
    assert report["rejected"] == [
        {"line": 3, "raw": '{"name": "", "number": ""}', "reason": "no number"}
    ]


async def test_staff_tokens_may_import_too(client: TestClient, db_sessions: SessionFactory) -> None:
    staff = await bearer(db_sessions, TokenRole.STAFF)

    response = await client.post(IMPORT, data=b"96550000001", headers=staff | CSV)

    assert response.status == 200


async def test_an_anonymous_caller_gets_401(client: TestClient) -> None:
    response = await client.post(IMPORT, data=b"96550000001", headers=CSV)

    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/v1/contacts/groups/vip/import", 400, "invalid_query"),
        ("/api/v1/contacts/groups/vip/import?username=nobody", 404, "account_not_found"),
        (f"/api/v1/contacts/groups/{'x' * 65}/import?username=alice", 400, "invalid_group_name"),
    ],
)
async def test_the_account_and_group_must_be_named_properly(
    client: TestClient, pipeline: dict[str, str], url: str, status: int, code: str
) -> None:
    response = await client.post(url, data=b"96550000001", headers=pipeline | CSV)

    assert response.status == status
    assert (await response.json())["code"] == code


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"\xff\xfe9\x006\x005\x00", "text/csv", 400, "invalid_import"),
        (b"  \r\n", "text/csv", 400, "empty_body"),
        (b'{"contacts": "96550000001"}', "application/json", 400, "invalid_field"),
        (b'{"numbers": ["96550000001"]}', "application/json", 400, "invalid_field"),
        (b"<contacts/>", "application/xml", 415, "unsupported_media_type"),
    ],
)
async def test_a_body_that_cannot_be_read_whole_is_refused_with_a_stable_code(
    client: TestClient,
    pipeline: dict[str, str],
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        IMPORT, data=body, headers=pipeline | {"Content-Type": content_type}
    )

    assert response.status == status
    assert (await response.json())["code"] == code


async def test_reading_a_group_the_account_does_not_have_gets_404(
    client: TestClient, pipeline: dict[str, str]
) -> None:
    response = await client.get(GROUP, headers=pipeline)

    assert response.status == 404
    assert (await response.json())["code"] == "group_not_found"
