"""The staff API of protected sender names. Staff only: pipeline tokens and customers
get 403.

- `GET /api/v1/protected-senders` lists them, by name.
- `POST /api/v1/protected-senders` `{"name": "NBK", "owners": ["nbk-bank"]}` protects
  a name (201), or gives a protected one more owners (200); answers the name as it
  now stands.
- `DELETE /api/v1/protected-senders/{name}` stops protecting it;
  `?owner=USERNAME` only takes that account off its owners. Answers the name as it
  was (or now is).

Each change applies at once in this process and within `protected_senders_cache_s`
in the others.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from secgate import appkeys
from secgate.accounts.registry import find_account
from secgate.alerts.store import iso_utc
from secgate.auth.principal import require_role
from secgate.checks import protected_senders as registry
from secgate.storage.models import Account
from secgate.web.errors import ApiError
from secgate.web.json_body import read_model

log = logging.getLogger("secgate.checks")

PATH = "/api/v1/protected-senders"
# Owners one request may name, at most.
MAX_OWNERS = 100


class ProtectedSenderBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=64)
    owners: list[str] = Field(default_factory=list, max_length=MAX_OWNERS)


def setup_routes(app: web.Application) -> None:
    app.router.add_get(PATH, list_protected_senders)
    app.router.add_post(PATH, add_protected_sender)
    app.router.add_delete(PATH + "/{name}", remove_protected_sender)


def entry_json(view: registry.ProtectedSenderView) -> dict[str, Any]:
    return {"name": view.name, "owners": list(view.owners), "created_at": iso_utc(view.created_at)}


async def list_protected_senders(request: web.Request) -> web.Response:
    await require_role(request, "staff")
    async with request.app[appkeys.DB_SESSIONS]() as session:
        views = await registry.list_protected_senders(session)
    return web.json_response({"protected_senders": [entry_json(view) for view in views]})


async def add_protected_sender(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    body = await read_model(request, ProtectedSenderBody)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        owners = [
            await _account(session, username, f"owners.{index}")
            for index, username in enumerate(body.owners)
        ]
        try:
            view, created = await registry.add_protected_sender(session, body.name, owners)
        except registry.InvalidProtectedName as exc:
            raise _invalid_field("name", str(exc).removeprefix("name: ")) from None
        except registry.ProtectedSenderConflict as exc:
            raise ApiError(409, "protected_sender_conflict", str(exc)) from None
        await session.commit()
    _changed(request, "protected_sender_added", view.name, principal.name, owners=body.owners)
    return web.json_response(entry_json(view), status=201 if created else 200)


async def remove_protected_sender(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    name = request.match_info["name"]
    owner_given = request.query.getall("owner", [])
    if len(owner_given) > 1:
        raise ApiError(400, "invalid_query", "owner: given more than once")
    async with request.app[appkeys.DB_SESSIONS]() as session:
        try:
            if owner_given:
                owner = await _account(session, owner_given[0], "owner", status=404)
                view = await registry.remove_owner(session, name, owner)
            else:
                view = await registry.remove_protected_sender(session, name)
        except registry.ProtectedSenderNotFound as exc:
            raise ApiError(404, "protected_sender_not_found", str(exc)) from None
        await session.commit()
    event = "protected_sender_owner_removed" if owner_given else "protected_sender_removed"
    _changed(request, event, view.name, principal.name, owners=owner_given)
    return web.json_response(entry_json(view))


async def _account(
    session: AsyncSession, username: str, field: str, *, status: int = 400
) -> Account:
    account = await find_account(session, username)
    if account is None:
        raise ApiError(
            status,
            "account_not_found",
            f"{field}: no account named {username!r}",
            extra={"fields": [{"field": field, "problem": "no such account"}]},
        )
    return account


def _changed(request: web.Request, event: str, name: str, by: str, owners: list[str]) -> None:
    request.app[appkeys.PROTECTED_SENDERS].invalidate()
    log.info(event, extra={"protected": name, "owners": owners, "by": by})


def _invalid_field(field: str, problem: str) -> ApiError:
    return ApiError(
        400,
        "invalid_field",
        f"{field}: {problem}",
        extra={"fields": [{"field": field, "problem": problem}]},
    )
