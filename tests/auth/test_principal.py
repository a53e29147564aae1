"""Bearer authentication: who is calling, and 401/403 for who may not."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker

from secgate import appkeys
from secgate.auth.principal import MAX_AUTHORIZATION_CHARS, bearer_token, require_role
from secgate.auth.tokens import TokenVerifier, authenticate_token, create_token, revoke_token
from secgate.storage.db import SessionFactory
from secgate.storage.models import TokenRole
from secgate.web.errors import error_middleware

TOKEN = "sgt_" + "a" * 43


async def staff_only(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    return web.json_response(
        {"kind": principal.kind, "role": principal.role, "name": principal.name}
    )


async def staff_or_pipeline(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff", "pipeline")
    return web.json_response({"role": principal.role})


@pytest.fixture
async def client(aiohttp_client: ClientMaker, db_sessions: SessionFactory) -> TestClient:
    app = web.Application(middlewares=[error_middleware])
    app[appkeys.DB_SESSIONS] = db_sessions
    app[appkeys.TOKENS] = TokenVerifier(db_sessions, cache_s=60.0)
    app.router.add_get("/staff", staff_only)
    app.router.add_get("/checks", staff_or_pipeline)
    return await aiohttp_client(app)


async def new_token(db_sessions: SessionFactory, role: TokenRole, name: str = "") -> str:
    async with db_sessions.begin() as session:
        return await create_token(session, role, name)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- parsing the header -------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"  Bearer   {TOKEN}  ",
        f"Bearer\t{TOKEN}",
    ],
)
def test_bearer_scheme_is_case_insensitive_and_spacing_tolerated(header: str) -> None:
    assert bearer_token(header) == TOKEN


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        TOKEN,
        f"Basic {TOKEN}",
        f"Bearer{TOKEN}",
        f"Bearer {TOKEN} extra",
        f"Bearer {TOKEN}\x00",
        f"Bearer {TOKEN}é",
    ],
)
def test_anything_but_one_bearer_credential_gives_no_token(header: str | None) -> None:
    assert bearer_token(header) is None


def test_header_just_over_the_size_limit_is_not_parsed() -> None:
    padding = " " * (MAX_AUTHORIZATION_CHARS - len(f"Bearer {TOKEN}"))
    assert bearer_token(f"Bearer {TOKEN}{padding}") == TOKEN
    assert bearer_token(f"Bearer {TOKEN}{padding} ") is None


# -- over HTTP ------------------------------------------------------------------


async def test_no_credentials_get_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = await client.get("/staff")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await response.json())["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    ["garbage", "Bearer", "Basic dXNlcjpwYXNz", "Bearer sgt_short", "Bearer " + "x" * 5000],
)
async def test_garbage_authorization_header_gets_401_json(client: TestClient, header: str) -> None:
    response = await client.get("/staff", headers={"Authorization": header})
    assert response.status == 401
    assert response.content_type == "application/json"
    assert (await response.json())["code"] == "unauthorized"


async def test_staff_token_is_let_in_as_a_token_principal(
    client: TestClient, db_sessions: SessionFactory
) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF, "night shift")
    response = await client.get("/staff", headers={"Authorization": f"bearer  {token} "})
    assert response.status == 200
    assert await response.json() == {"kind": "token", "role": "staff", "name": "night shift"}


async def test_token_without_a_name_is_named_by_its_id(
    client: TestClient, db_sessions: SessionFactory
) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions() as session:
        row = await authenticate_token(session, token)
    assert row is not None
    response = await client.get("/staff", headers=bearer(token))
    assert (await response.json())["name"] == f"token {row.id}"


async def test_pipeline_token_is_forbidden_on_a_staff_endpoint(
    client: TestClient, db_sessions: SessionFactory
) -> None:
    token = await new_token(db_sessions, TokenRole.PIPELINE)
    response = await client.get("/staff", headers=bearer(token))
    assert response.status == 403
    assert (await response.json())["code"] == "forbidden"


async def test_pipeline_token_is_let_in_where_its_role_is_allowed(
    client: TestClient, db_sessions: SessionFactory
) -> None:
    token = await new_token(db_sessions, TokenRole.PIPELINE)
    response = await client.get("/checks", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"role": "pipeline"}


async def test_unknown_token_gets_401(client: TestClient, db_sessions: SessionFactory) -> None:
    await new_token(db_sessions, TokenRole.STAFF)
    response = await client.get("/staff", headers=bearer(TOKEN))
    assert response.status == 401


async def test_revoked_token_gets_401_on_its_next_request(
    client: TestClient, db_sessions: SessionFactory
) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    assert (await client.get("/staff", headers=bearer(token))).status == 200
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        await revoke_token(session, row.id)
    response = await client.get("/staff", headers=bearer(token))
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"
