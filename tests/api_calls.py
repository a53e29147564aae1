"""Calls to the gateway's token-authenticated HTTP API (/api/v1/…) in tests: the header
of a new token of a role, and a request whose status is checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from secgate.auth.tokens import create_token
from secgate.storage.db import SessionFactory
from secgate.storage.models import TokenRole

ClientMaker = Callable[[web.Application], Awaitable[TestClient]]


async def bearer(sessions: SessionFactory, role: TokenRole, name: str = "Sara") -> dict[str, str]:
    """The Authorization header of a new token of `role`, named `name`."""
    async with sessions.begin() as session:
        token = await create_token(session, role, name)
    return {"Authorization": f"Bearer {token}"}


async def call(
    client: TestClient, method: str, url: str, headers: dict[str, str], status: int, **kw: Any
) -> Any:
    """The JSON answer to a request that must answer `status`."""
    response = await client.request(method, url, headers=headers, **kw)
    assert response.status == status, await response.text()
    return await response.json()
