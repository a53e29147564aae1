"""Bad input gets a 4xx JSON answer with a stable code; a bug gets a bare 500.

Every error body has `code`, `description` and `request_id` (the X-Request-ID header).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from json_logs import Lines, captured_json_logs
from pydantic import BaseModel

from secgate.app import create_app
from secgate.settings import Settings
from secgate.web.json_body import read_model

MAX_BODY_BYTES = 256 * 1024
SECRET_DETAIL = "db password is hunter2"


class Greeting(BaseModel):
    name: str
    count: int


async def _greeting(request: web.Request) -> web.Response:
    greeting = await read_model(request, Greeting)
    return web.json_response(greeting.model_dump())


async def _boom(_request: web.Request) -> web.Response:
    raise RuntimeError(SECRET_DETAIL)


def make_test_app(settings: Settings) -> web.Application:
    app = create_app(settings)
    app.router.add_post("/test/greeting", _greeting)
    app.router.add_get("/test/boom", _boom)
    return app


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> TestClient:
    return await aiohttp_client(make_test_app(make_settings(max_body_bytes=MAX_BODY_BYTES)))


async def assert_error(resp: ClientResponse, status: int, code: str) -> dict[str, object]:
    """The answer is a JSON error with that status and code, and a request id."""
    assert resp.status == status
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["code"] == code
    assert isinstance(body["description"], str) and body["description"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    return body


async def post_body(client: TestClient, body: bytes) -> ClientResponse:
    return await client.post(
        "/test/greeting", data=body, headers={"Content-Type": "application/json"}
    )


# -- JSON bodies ----------------------------------------------------------------------


async def test_a_valid_body_is_read_into_the_model(client: TestClient) -> None:
    resp = await post_body(client, b'{"name": "Fatima", "count": 3}')
    assert resp.status == 200
    assert await resp.json() == {"name": "Fatima", "count": 3}


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a", "count": 1',
        b'{"name": "a", "count": 1}}',
        b"{'name': 'a', 'count': 1}",
        b'{"name": "a", "count": 01}',
        b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON
        b'{"name": "a\x01", "count": 1}',  # raw control character inside a string
    ],
)
async def test_malformed_json_is_a_400(client: TestClient, body: bytes) -> None:
    await assert_error(await post_body(client, body), 400, "malformed_json")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
async def test_json_that_is_not_an_object_is_a_400(client: TestClient, body: bytes) -> None:
    await assert_error(await post_body(client, body), 400, "malformed_json")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_not_json(client: TestClient, constant: bytes) -> None:
    body = b'{"name": "a", "count": ' + constant + b"}"
    await assert_error(await post_body(client, body), 400, "malformed_json")


async def test_an_integer_too_long_to_convert_is_a_400(client: TestClient) -> None:
    body = b'{"name": "a", "count": ' + b"9" * 5000 + b"}"
    await assert_error(await post_body(client, body), 400, "malformed_json")


@pytest.mark.parametrize(("opening", "depth"), [(b"[", 100_000), (b'{"a":', 50_000)])
async def test_deeply_nested_json_is_a_400_not_a_crash(
    client: TestClient, opening: bytes, depth: int
) -> None:
    await assert_error(await post_body(client, opening * depth), 400, "malformed_json")


async def test_wrong_types_are_a_400_naming_each_field(client: TestClient) -> None:
    body = await assert_error(
        await post_body(client, b'{"name": ["a"], "count": {"n": 1}}'), 400, "invalid_field"
    )
    assert {problem["field"] for problem in body["fields"]} == {"name", "count"}


async def test_a_missing_field_is_a_400_naming_it(client: TestClient) -> None:
    body = await assert_error(await post_body(client, b'{"name": "a"}'), 400, "invalid_field")
    assert [problem["field"] for problem in body["fields"]] == ["count"]
    assert body["description"].startswith("count:")


@pytest.mark.parametrize("body", [b"", b"   \r\n\t"])
async def test_an_empty_body_is_a_400(client: TestClient, body: bytes) -> None:
    await assert_error(await post_body(client, body), 400, "empty_body")


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff", "count": 1}',
        b'{"name": "\xc0\xaf", "count": 1}',  # overlong encoding of "/"
        b'{"name": "\xed\xa0\x80", "count": 1}',  # an encoded surrogate
        b'{"name": "caf\xe9", "count": 1}',  # Latin-1, not UTF-8
    ],
)
async def test_invalid_utf8_is_a_400(client: TestClient, body: bytes) -> None:
    await assert_error(await post_body(client, body), 400, "invalid_utf8")


@pytest.mark.parametrize(
    "name",
    [
        "\u202eevil.exe\u202c",  # right-to-left override
        "مرحبا بالعالم",
        "👩🏽‍💻 🇰🇼",
        "e\u0301\u0327",  # combining marks
        "\u200b\ufeff",  # zero-width space and BOM inside a string
        "\U0010ffff",
    ],
)
async def test_odd_but_valid_unicode_goes_through_unchanged(client: TestClient, name: str) -> None:
    body = json.dumps({"name": name, "count": 1}).encode()
    resp = await post_body(client, body)
    assert resp.status == 200
    assert (await resp.json())["name"] == name


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b", "count": 1}',
        b'{"name": "\\ud800", "count": 1}',  # lone high surrogate
        b'{"name": "\\udfff", "count": 1}',  # lone low surrogate
        b'{"name": "a", "count": 1, "\\ud800": 1}',  # in a key
        b'{"name": "a", "count": 1, "x": [[{"y": "\\u0000"}]]}',  # deep inside
    ],
)
async def test_nul_and_lone_surrogates_are_a_400(client: TestClient, body: bytes) -> None:
    await assert_error(await post_body(client, body), 400, "invalid_text")


async def test_an_escaped_surrogate_pair_is_valid_text(client: TestClient) -> None:
    resp = await post_body(client, b'{"name": "\\ud83d\\ude00", "count": 1}')
    assert resp.status == 200
    assert (await resp.json())["name"] == "😀"


# -- body size --------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A valid Greeting body of exactly `size` bytes."""
    empty = b'{"name": "", "count": 1}'
    return b'{"name": "' + b"x" * (size - len(empty)) + b'", "count": 1}'


async def test_a_body_at_the_size_limit_is_read(client: TestClient) -> None:
    resp = await post_body(client, padded_body(MAX_BODY_BYTES))
    assert resp.status == 200


async def test_a_body_one_byte_over_the_limit_is_a_413(client: TestClient) -> None:
    await assert_error(
        await post_body(client, padded_body(MAX_BODY_BYTES + 1)), 413, "body_too_large"
    )


async def test_a_chunked_body_over_the_limit_is_a_413(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b" " * 1024

    resp = await client.post("/test/greeting", data=chunks())
    await assert_error(resp, 413, "body_too_large")


async def test_an_announced_oversized_body_is_refused_before_it_is_sent(
    client: TestClient,
) -> None:
    # Only the headers and a few bytes are sent: the answer must come without the rest.
    request = (
        b"POST /test/greeting HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100000000\r\n\r\n{"name"'
    )
    status, headers, body = await raw_exchange(client.server, request)
    assert status == 413
    assert json.loads(body)["code"] == "body_too_large"
    assert json.loads(body)["request_id"] == headers["x-request-id"]


# -- routing and bugs -----------------------------------------------------------------


async def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    await assert_error(await client.get("/no/such/thing"), 404, "not_found")


async def test_a_wrong_method_is_a_json_405_with_allow(client: TestClient) -> None:
    resp = await client.delete("/healthz")
    await assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


@pytest.fixture
def json_logs() -> Iterator[Lines]:
    with captured_json_logs("secgate") as lines:
        yield lines


async def test_a_bug_is_a_bare_500_and_its_details_go_to_the_log_with_the_request_id(
    client: TestClient, json_logs: Lines
) -> None:
    resp = await client.get("/test/boom")
    body = await assert_error(resp, 500, "internal_error")
    text = json.dumps(body)
    assert SECRET_DETAIL not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text

    [error] = [line for line in json_logs() if line["message"] == "unhandled error"]
    assert error["request_id"] == body["request_id"]
    assert error["level"] == "ERROR"
    assert SECRET_DETAIL in error["exc_info"]


# -- hostile headers --------------------------------------------------------------------


async def test_a_huge_header_is_a_4xx_not_a_500(client: TestClient) -> None:
    resp = await client.get("/healthz", headers={"X-Junk": "x" * 20_000})
    assert 400 <= resp.status < 500


async def test_a_huge_number_of_headers_is_a_4xx_not_a_500(client: TestClient) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(5000)).encode()
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n"
    status, _, _ = await raw_exchange(client.server, request)
    assert 400 <= status < 500


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Bearer a b c",
        "Bearer " + "A" * 5000,
        "Bearer sgt_" + "A" * 43,  # well formed, unknown
        "Bearer ' OR 1=1 --",
        "bearer\t\tsgt_x",
    ],
)
async def test_garbage_authorization_is_a_401(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    database_url: str,
    authorization: str,
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url=database_url)))
    resp = await client.get("/api/v1/alerts", headers={"Authorization": authorization})
    await assert_error(resp, 401, "unauthorized")


async def test_raw_bytes_in_authorization_are_a_4xx(client: TestClient) -> None:
    # Control and non-ASCII bytes, which a polite client refuses to send.
    request = (
        b"GET /api/v1/alerts HTTP/1.1\r\nHost: test\r\n"
        b"Authorization: Bearer \x01\x7f\xff\xfe\xc3\r\nConnection: close\r\n\r\n"
    )
    status, _, _ = await raw_exchange(client.server, request)
    assert 400 <= status < 500


async def test_a_malformed_header_is_logged_as_one_line_without_its_bytes(
    client: TestClient,
) -> None:
    # aiohttp refuses it before the application; its log record quoted the header line.
    request = (
        b"GET /api/v1/alerts HTTP/1.1\r\nHost: test\r\n"
        b"Authorization: Bearer sgt_TOKEN_SECRET\x01\r\nConnection: close\r\n\r\n"
    )
    with captured_json_logs("aiohttp.server") as lines:
        status, _, _ = await raw_exchange(client.server, request)
    assert 400 <= status < 500
    [line] = lines()
    assert line["message"] == "malformed HTTP request refused"
    assert line["level"] == "WARNING"
    assert line["status"] == 400
    assert "TOKEN_SECRET" not in json.dumps(line)
    assert "exc_info" not in line


SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@pytest.mark.parametrize(
    "header",
    [
        b"X-Request-ID: abc\rSet-Cookie: evil=1\r\n",
        b"X-Request-ID: abc\r\n Set-Cookie: evil=1\r\n",  # obsolete line folding
        b"X-Request-ID: abc\nSet-Cookie: evil=1\r\n",
        b"X-Request-ID: abc\x00Set-Cookie: evil=1\r\n",
    ],
)
async def test_line_breaks_in_x_request_id_never_reach_the_answer(
    client: TestClient, header: bytes
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + header + b"Connection: close\r\n\r\n"
    status, headers, _ = await raw_exchange(client.server, request)
    assert status < 500
    assert "set-cookie" not in headers
    if "x-request-id" in headers:
        assert SANE_REQUEST_ID.fullmatch(headers["x-request-id"])


# -- a raw HTTP/1.1 exchange, for what a polite client would refuse to send ------------


async def raw_exchange(server: TestServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as it is; return the status, headers (lower-case) and body."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    finally:
        writer.close()
    return int(status_line.split()[1]), headers, body
