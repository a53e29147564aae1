"""Every request gets an id, answered in X-Request-ID and visible to its handler's logs."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from secgate import appkeys
from secgate.app import create_app
from secgate.settings import Settings
from secgate.web.request_context import current_request_id, request_id_from

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    "incoming",
    ["abc", "req-1.2_3", "A" * 64, "0123456789abcdef0123456789abcdef"],
)
def test_a_sane_incoming_request_id_is_kept(incoming: str) -> None:
    assert request_id_from(incoming) == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "",
        "A" * 65,
        "has space",
        "a/b",
        "<script>",
        "abc\r\nSet-Cookie: x=1",
        "abc\n",
        "ümlaut",
        "semi;colon",
    ],
)
def test_any_other_incoming_request_id_is_replaced_by_a_new_one(incoming: str | None) -> None:
    assert GENERATED_ID.fullmatch(request_id_from(incoming))


def test_new_request_ids_differ() -> None:
    assert request_id_from(None) != request_id_from(None)


async def _context(request: web.Request) -> web.Response:
    return web.json_response(
        {"request_id": request[appkeys.REQUEST_ID], "from_contextvar": current_request_id.get()}
    )


async def _redirect(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> TestClient:
    app = create_app(make_settings())
    app.router.add_get("/test/context", _context)
    app.router.add_get("/test/redirect", _redirect)
    return await aiohttp_client(app)


async def test_the_handler_sees_the_id_that_is_answered_in_the_header(client: TestClient) -> None:
    resp = await client.get("/test/context")
    body = await resp.json()
    assert GENERATED_ID.fullmatch(resp.headers["X-Request-ID"])
    assert body == {
        "request_id": resp.headers["X-Request-ID"],
        "from_contextvar": resp.headers["X-Request-ID"],
    }


async def test_the_callers_request_id_is_answered_back(client: TestClient) -> None:
    resp = await client.get("/test/context", headers={"X-Request-ID": "lb-42.a_b"})
    assert resp.headers["X-Request-ID"] == "lb-42.a_b"
    assert (await resp.json())["request_id"] == "lb-42.a_b"


async def test_an_unusable_caller_request_id_is_replaced(client: TestClient) -> None:
    resp = await client.get("/test/context", headers={"X-Request-ID": "x" * 65})
    assert GENERATED_ID.fullmatch(resp.headers["X-Request-ID"])


async def test_each_request_gets_its_own_id(client: TestClient) -> None:
    first = await client.get("/test/context")
    second = await client.get("/test/context")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_error_answers_carry_the_request_id_in_header_and_body(client: TestClient) -> None:
    resp = await client.get("/no/such/route", headers={"X-Request-ID": "trace-me"})
    assert resp.status == 404
    assert resp.headers["X-Request-ID"] == "trace-me"
    assert (await resp.json())["request_id"] == "trace-me"


async def test_redirects_carry_the_request_id(client: TestClient) -> None:
    resp = await client.get("/test/redirect", allow_redirects=False)
    assert resp.status == 302
    assert GENERATED_ID.fullmatch(resp.headers["X-Request-ID"])
