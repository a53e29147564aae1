"""A request whose store does not answer gets 503 with a stable code, never a 500:
`store_unavailable` on the JSON API, kwtSMS's ERR013 on the messaging API (/API/),
each with the request id and no stack trace, and one ERROR line in the log. A bug is
still a 500 (secgate.web.store_failures says which errors are which).

The failures are real where they can be had: a PostgreSQL database that accepts no
connections, a SQLite file that cannot be opened, a backend terminated under a
request, a Redis where nothing listens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker
from json_logs import captured_json_logs
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from secgate import appkeys
from secgate.app import create_app
from secgate.ops.openapi import openapi_document
from secgate.settings import Settings
from secgate.storage.db import create_engine

# Port 1 on loopback: nothing listens there, so connecting is refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
PASSWORD = "a password nobody has"  # never valid; must not reach the log
UNKNOWN_TOKEN = "sgt_" + "A" * 43  # well formed: it is looked up in the database


@dataclass(frozen=True)
class Call:
    """A request of one of the two API shapes, and the code a store failure answers."""

    method: str
    path: str
    code: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def kwtsms(self) -> bool:
        return self.path.startswith("/API/")

    async def send(self, client: TestClient) -> ClientResponse:
        return await client.request(self.method, self.path, **self.kwargs)


# Each reads the database first thing: the caller's credentials, or its token.
BALANCE = Call(
    "POST", "/API/balance/", "ERR013", {"json": {"username": "alice", "password": PASSWORD}}
)
ALERTS = Call(
    "GET",
    "/api/v1/alerts",
    "store_unavailable",
    {"headers": {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}},
)
CALLS = pytest.mark.parametrize("call", [BALANCE, ALERTS], ids=["kwtsms", "json"])


async def assert_store_unavailable(resp: ClientResponse, call: Call) -> dict[str, Any]:
    """A 503 with the stable code of the call's API shape, its request id, no stack."""
    text_body = await resp.text()
    assert resp.status == 503, text_body
    assert "Traceback" not in text_body
    body: dict[str, Any] = json.loads(text_body)
    assert body["code"] == call.code
    assert body["description"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert body.get("result") == ("ERROR" if call.kwtsms else None)
    return body


# -- the database refuses connections ---------------------------------------------------


@pytest.fixture
def refusing_database_url(empty_database_url: str) -> str:
    """A database the gateway cannot get into: on PostgreSQL one that accepts no
    connections (ALLOW_CONNECTIONS false, as for maintenance), on SQLite a path it
    cannot open (a directory: as a file whose volume is gone)."""
    url = make_url(empty_database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).mkdir()
    else:
        asyncio.run(refuse_connections(empty_database_url))
    return empty_database_url


async def refuse_connections(database_url: str) -> None:
    url = make_url(database_url)
    # Said from another database of the server: a session cannot lock itself out.
    elsewhere = url.set(database="postgres").render_as_string(hide_password=False)
    engine = create_engine(elsewhere, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
    finally:
        await engine.dispose()


@CALLS
async def test_a_database_that_refuses_connections_is_a_503(
    aiohttp_client: ClientMaker,
    make_settings: Callable[..., Settings],
    refusing_database_url: str,
    call: Call,
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url=refusing_database_url)))
    await assert_store_unavailable(await call.send(client), call)


@CALLS
async def test_a_store_failure_is_one_error_line_in_the_log_without_the_request(
    aiohttp_client: ClientMaker,
    make_settings: Callable[..., Settings],
    refusing_database_url: str,
    call: Call,
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url=refusing_database_url)))
    with captured_json_logs("secgate") as lines:
        body = await assert_store_unavailable(await call.send(client), call)
    mine = [line for line in lines() if line.get("request_id") == body["request_id"]]
    assert [line["message"] for line in mine] == ["store unavailable"]
    [line] = mine
    assert line["level"] == "ERROR"
    assert line["store"] == "database"
    assert line["path"] == call.path
    assert line["error"]  # the driver's words
    assert "exc_info" not in line
    assert PASSWORD not in json.dumps(line)
    assert UNKNOWN_TOKEN not in json.dumps(line)


# -- PostgreSQL terminates the connection under a request -------------------------------


@asynccontextmanager
async def table_locked(database_url: str, table: str) -> AsyncIterator[None]:
    """`table` locked against every reader for the duration of the block."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        await engine.dispose()


async def terminate_backends_waiting_for(database_url: str, table: str) -> None:
    """Once a backend waits for the lock on `table`, terminate it (as a restart or an
    administrator does: FATAL, then the socket closes)."""
    waiting = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND position(:table in query) > 0"
    )
    # Autocommit: pg_stat_activity is read once per transaction.
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            async with asyncio.timeout(10):
                # The server offers nothing to wait on.
                while not (pids := (await conn.scalars(waiting, {"table": table})).all()):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("call", "table"), [(BALANCE, "accounts"), (ALERTS, "api_tokens")], ids=["kwtsms", "json"]
)
async def test_a_connection_terminated_under_a_request_is_a_503(
    aiohttp_client: ClientMaker,
    make_settings: Callable[..., Settings],
    postgres_url: str,
    call: Call,
    table: str,
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url=postgres_url)))
    async with table_locked(postgres_url, table):
        answer = asyncio.create_task(call.send(client))
        await terminate_backends_waiting_for(postgres_url, table)
    await assert_store_unavailable(await answer, call)


# -- failures no real request meets on demand, through routes of the test's own -----------


def asyncpg_error_between_fatal_and_close() -> sa_exc.DBAPIError:
    """What a statement gets when its connection was checked out in the moment between
    PostgreSQL's FATAL message and its closing of the socket (secgate.storage.db,
    `_replace_closed`): asyncpg's InternalClientError, as SQLAlchemy wraps it. The
    moment is too short to hit on demand, so the test route raises this. Built as
    SQLAlchemy builds it, with the connection not yet seen closed (when SQLAlchemy
    has seen it, it marks the error `connection_invalidated`, also a 503)."""
    dbapi = PGDialect_asyncpg.import_dbapi()
    driver_error = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )
    adapted = dbapi.InternalClientError(str(driver_error), driver_error)
    error = sa_exc.DBAPIError.instance(
        "SELECT 1", None, adapted, dbapi.Error, connection_invalidated=False
    )
    error.__cause__ = adapted
    return error


async def _read_hot_state(request: web.Request) -> web.Response:
    await request.app[appkeys.HOT_STATE].get("anything")
    return web.json_response({})


async def _between_fatal_and_close(_request: web.Request) -> web.Response:
    raise asyncpg_error_between_fatal_and_close()


async def _read_a_missing_table(request: web.Request) -> web.Response:
    async with request.app[appkeys.DB_SESSIONS]() as session:
        await session.execute(text("SELECT * FROM no_such_table"))
    return web.json_response({})


async def _bug(_request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


def app_with_test_routes(settings: Settings) -> web.Application:
    """The real app, with routes that meet those failures, under both API shapes."""
    app = create_app(settings)
    for name, handler in [
        ("hot-state", _read_hot_state),
        ("between-fatal-and-close", _between_fatal_and_close),
        ("missing-table", _read_a_missing_table),
        ("bug", _bug),
    ]:
        app.router.add_post(f"/test/{name}", handler)
        app.router.add_post(f"/API/test-{name}", handler)
    return app


def probe_route(name: str, *, kwtsms: bool) -> Call:
    if kwtsms:
        return Call("POST", f"/API/test-{name}", "ERR013")
    return Call("POST", f"/test/{name}", "store_unavailable")


SHAPES = pytest.mark.parametrize("kwtsms", [True, False], ids=["kwtsms", "json"])


@SHAPES
async def test_a_redis_that_does_not_answer_is_a_503(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], kwtsms: bool
) -> None:
    # The real routes each decide how to do without the hot state (fail open, or
    # refuse a send with ERR013 themselves); one that does not is answered so.
    client = await aiohttp_client(app_with_test_routes(make_settings(redis_url=DEAD_REDIS_URL)))
    call = probe_route("hot-state", kwtsms=kwtsms)
    with captured_json_logs("secgate.http") as lines:
        await assert_store_unavailable(await call.send(client), call)
    [line] = lines()
    assert (line["message"], line["store"]) == ("store unavailable", "hot_state")


@SHAPES
async def test_a_statement_between_the_servers_fatal_message_and_close_is_a_503(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], kwtsms: bool
) -> None:
    client = await aiohttp_client(app_with_test_routes(make_settings()))
    call = probe_route("between-fatal-and-close", kwtsms=kwtsms)
    await assert_store_unavailable(await call.send(client), call)


@SHAPES
async def test_a_statement_the_database_refuses_is_a_bug_and_a_500(
    aiohttp_client: ClientMaker,
    make_settings: Callable[..., Settings],
    database_url: str,
    kwtsms: bool,
) -> None:
    client = await aiohttp_client(app_with_test_routes(make_settings(database_url=database_url)))
    resp = await probe_route("missing-table", kwtsms=kwtsms).send(client)
    assert resp.status == 500
    assert (await resp.json())["code"] == "internal_error"


async def test_a_bug_under_api_is_still_a_500(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(app_with_test_routes(make_settings()))
    resp = await probe_route("bug", kwtsms=True).send(client)
    assert resp.status == 500
    assert (await resp.json())["code"] == "internal_error"


# -- the OpenAPI document says so -------------------------------------------------------


def test_every_operation_on_a_store_documents_its_503() -> None:
    document = openapi_document()
    unavailable = document["components"]["responses"]["StoreUnavailable"]
    assert "`store_unavailable`" in unavailable["description"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.startswith("/api/v1/"):
                ref = "#/components/responses/StoreUnavailable"
                assert responses.get("503") == {"$ref": ref}, (method, path)
            elif path.startswith("/API/"):
                assert "`ERR013`" in responses["503"]["description"], (method, path)
