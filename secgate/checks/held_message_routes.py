"""The staff API of held messages (secgate.checks.held_messages). Staff only: pipeline
tokens and customers get 403.

- `GET /api/v1/held-messages?account=&after=&limit=` → `{"held_messages": [...],
  "next": …}`: messages waiting for review, oldest first, with their text and why they
  were held; `next` is the `after` of the next page (null on the last one).
- `GET /api/v1/held-messages/{msg_id}` → one held message, decided or not.
- `POST /api/v1/held-messages/{msg_id}/release` and `.../reject`, with an optional
  `{"note": "…"}` → `{"msg_id", "decision", "recipients", "points_refunded",
  "balance_after"}`.

Every answer that shows message text first logs one content view per message shown
(who, which, when), and shows nothing if that log cannot be written.
Errors: 404 `held_message_not_found` (unknown msg-id, or already decided), 409
`text_removed` (release of a message whose text the retention job removed).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from secgate import appkeys
from secgate.accounts.registry import USERNAME_MAX_CHARS
from secgate.auth.principal import require_role
from secgate.checks import held_messages
from secgate.storage.models import Message
from secgate.web.errors import ApiError
from secgate.web.json_body import read_model
from secgate.web.query import read_query

PATH = "/api/v1/held-messages"
PURPOSE = "api:held-messages"
MAX_MESSAGE_ID = 2**63 - 1
_MSG_ID = re.compile(rf"[0-9A-Za-z]{{1,{Message.msg_id.type.length}}}")


class HeldQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Printable text only: a NUL byte would otherwise reach the database.
    account: str | None = Field(None, max_length=USERNAME_MAX_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
    after: int | None = Field(None, ge=1, le=MAX_MESSAGE_ID)
    limit: int = Field(held_messages.DEFAULT_LIMIT, ge=1, le=held_messages.MAX_LIMIT)


class ReviewNote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str | None = Field(None, max_length=held_messages.MAX_NOTE_CHARS)


def setup_routes(app: web.Application) -> None:
    app.router.add_get(PATH, list_held_messages)
    app.router.add_get(PATH + "/{msg_id}", show_held_message)
    app.router.add_post(PATH + "/{msg_id}/release", release_held_message)
    app.router.add_post(PATH + "/{msg_id}/reject", reject_held_message)


async def list_held_messages(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    query = read_query(request, HeldQuery)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        views, next_after = await held_messages.list_held(
            session,
            viewer=principal.name,
            purpose=PURPOSE,
            account=query.account,
            after=query.after,
            limit=query.limit,
        )
        await session.commit()  # the views are logged before anything is shown
    return web.json_response(
        {"held_messages": [view.to_json() for view in views], "next": next_after}
    )


async def show_held_message(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    msg_id = _msg_id(request)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        try:
            view = await held_messages.show_held(
                session, msg_id, viewer=principal.name, purpose=PURPOSE
            )
        except held_messages.HeldMessageNotFound as exc:
            raise _not_found(str(exc)) from None
        await session.commit()
    return web.json_response(view.to_json())


async def release_held_message(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    msg_id = _msg_id(request)
    note = await _read_note(request)
    app = request.app
    async with app[appkeys.DB_SESSIONS]() as session:
        try:
            released = await held_messages.release(
                session, msg_id, by=principal.name, now=datetime.now(UTC), note=note
            )
        except held_messages.TextRemoved as exc:
            raise ApiError(409, "text_removed", str(exc)) from None
        except held_messages.HeldMessageNotFound as exc:
            raise _not_found(str(exc)) from None
        await session.commit()
    await held_messages.dispatch_released(
        released,
        hot=app[appkeys.HOT_STATE],
        dispatch_batch_size=app[appkeys.SETTINGS].dispatch_batch_size,
        pipeline=app[appkeys.CHECKS],
    )
    return web.json_response(released.outcome.to_json())


async def reject_held_message(request: web.Request) -> web.Response:
    principal = await require_role(request, "staff")
    msg_id = _msg_id(request)
    note = await _read_note(request)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        try:
            outcome = await held_messages.reject(
                session, msg_id, by=principal.name, now=datetime.now(UTC), note=note
            )
        except held_messages.HeldMessageNotFound as exc:
            raise _not_found(str(exc)) from None
        await session.commit()
    return web.json_response(outcome.to_json())


def _msg_id(request: web.Request) -> str:
    # A path segment that cannot be a msg-id names no message: 404 without a look-up.
    raw = request.match_info["msg_id"]
    if not _MSG_ID.fullmatch(raw):
        raise _not_found(f"no message with msg-id {raw[:40]!r} is waiting for review")
    return raw


async def _read_note(request: web.Request) -> str | None:
    """The optional note; an empty body means none."""
    if not (await request.read()).strip():
        return None
    note = (await read_model(request, ReviewNote)).note
    if note is None or not note.strip():
        return None
    return note.strip()


def _not_found(description: str) -> ApiError:
    return ApiError(404, "held_message_not_found", description)
