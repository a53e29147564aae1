"""`GET /api/v1/sandbox/outbox?to=NUMBER` (CONTRACT §4.5): staff read what the sandbox
delivered to a number, newest first; only while the sandbox connector is in use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from api_calls import bearer
from sqlalchemy import insert

from secgate.app import create_app
from secgate.settings import Settings
from secgate.sms import sandbox_routes
from secgate.storage.db import SessionFactory
from secgate.storage.models import SandboxOutboxEntry, TokenRole

OUTBOX = sandbox_routes.OUTBOX_PATH
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def deliver(sessions: SessionFactory, *entries: tuple[str, str]) -> None:
    """Outbox rows (number, text), one second apart, in the order given."""
    async with sessions.begin() as session:
        await session.execute(
            insert(SandboxOutboxEntry),
            [
                {
                    "recipient_id": i + 1,
                    "connector_ref": f"sbx-{i + 1}",
                    "number": number,
                    "sender": "SecGate",
                    "text": text,
                    "at": T0 + timedelta(seconds=i),
                }
                for i, (number, text) in enumerate(entries)
            ],
        )


async def test_staff_read_a_numbers_messages_newest_first(
    client: TestClient, db_sessions: SessionFactory, staff: dict[str, str]
) -> None:
    await deliver(
        db_sessions,
        ("96550000001", "Your code is 111111"),
        ("96550000002", "Someone else's"),
        ("96550000001", "Your code is 222222"),
    )
    response = await client.get(OUTBOX, params={"to": "96550000001"}, headers=staff)
    assert response.status == 200
    assert await response.json() == {
        "messages": [
            {
                "id": 3,
                "to": "96550000001",
                "sender": "SecGate",
                "text": "Your code is 222222",
                "connector_ref": "sbx-3",
                "at": "2026-03-01T12:00:02.000000Z",
            },
            {
                "id": 1,
                "to": "96550000001",
                "sender": "SecGate",
                "text": "Your code is 111111",
                "connector_ref": "sbx-1",
                "at": "2026-03-01T12:00:00.000000Z",
            },
        ]
    }


@pytest.mark.parametrize("written", ["+965 5000 0001", "00965-5000-0001", "٩٦٥٥٠٠٠٠٠٠١"])
async def test_the_number_may_be_written_as_people_write_it(
    client: TestClient, db_sessions: SessionFactory, staff: dict[str, str], written: str
) -> None:
    await deliver(db_sessions, ("96550000001", "hello"))
    response = await client.get(OUTBOX, params={"to": written}, headers=staff)
    assert [m["text"] for m in (await response.json())["messages"]] == ["hello"]


async def test_a_number_without_messages_has_an_empty_list(
    client: TestClient, staff: dict[str, str]
) -> None:
    response = await client.get(OUTBOX, params={"to": "96550000009"}, headers=staff)
    assert (response.status, await response.json()) == (200, {"messages": []})


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("2", 2), ("", 3), (None, 3)])
async def test_limit_caps_the_messages(
    client: TestClient,
    db_sessions: SessionFactory,
    staff: dict[str, str],
    limit: str | None,
    count: int,
) -> None:
    await deliver(db_sessions, *[("96550000001", f"m{i}") for i in range(3)])
    params = {"to": "96550000001"} | ({} if limit is None else {"limit": limit})
    response = await client.get(OUTBOX, params=params, headers=staff)
    assert len((await response.json())["messages"]) == count


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "to"),
        ("to=", "to"),
        ("to=hello", "to"),
        ("to=96550000001&to=96550000002", "to"),
        ("to=96550000001&limit=0", "limit"),
        (f"to=96550000001&limit={sandbox_routes.MAX_LIMIT + 1}", "limit"),
        ("to=96550000001&limit=-1", "limit"),
        ("to=96550000001&limit=" + "9" * 5000, "limit"),
    ],
)
async def test_a_bad_query_is_a_400_naming_the_field(
    client: TestClient, staff: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"{OUTBOX}?{query}", headers=staff)
    assert response.status == 400
    body = await response.json()
    assert (body["code"], body["fields"][0]["field"]) == ("invalid_query", field)


async def test_the_largest_limit_is_accepted(client: TestClient, staff: dict[str, str]) -> None:
    response = await client.get(
        OUTBOX, params={"to": "96550000001", "limit": str(sandbox_routes.MAX_LIMIT)}, headers=staff
    )
    assert response.status == 200


async def test_without_a_token_it_is_401(client: TestClient) -> None:
    response = await client.get(OUTBOX, params={"to": "96550000001"})
    assert response.status == 401


async def test_a_pipeline_token_is_403(client: TestClient, db_sessions: SessionFactory) -> None:
    headers = await bearer(db_sessions, TokenRole.PIPELINE)
    response = await client.get(OUTBOX, params={"to": "96550000001"}, headers=headers)
    assert response.status == 403


def test_there_is_no_outbox_route_with_another_connector(
    make_settings: Callable[..., Settings],
) -> None:
    def has_outbox(settings: Settings) -> bool:
        return any(
            route.resource is not None and route.resource.canonical == OUTBOX
            for route in create_app(settings).router.routes()
        )

    assert has_outbox(make_settings(connector="sandbox"))
    assert not has_outbox(make_settings(connector="smpp"))
