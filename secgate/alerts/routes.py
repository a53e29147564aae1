"""The staff alerts API (CONTRACT §4.4): list, acknowledge, resolve. Staff only.

`GET /api/v1/alerts` lists newest first; its `next` is the `after` of the next page
(null on the last one). Empty query values (`?type=&severity=`) mean "any".
`POST /api/v1/alerts/{id}/ack|resolve` take an optional `{"note": "…"}` and answer
the alert as it now stands.
"""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from secgate import appkeys
from secgate.accounts.registry import USERNAME_MAX_CHARS
from secgate.alerts import store
from secgate.auth.principal import require_role
from secgate.storage.models import AlertSeverity, AlertStatus
from secgate.web.errors import ApiError
from secgate.web.json_body import read_model
from secgate.web.query import read_query

_ALERT_ID = re.compile(r"[0-9]{1,19}")


class AlertQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str | None = Field(
        None, max_length=store.MAX_TYPE_CHARS, pattern=f"^(?:{store.TYPE_PATTERN})$"
    )
    severity: AlertSeverity | None = None
    status: AlertStatus | None = None
    # Printable text only: a NUL byte would otherwise reach the database.
    account: str | None = Field(None, max_length=USERNAME_MAX_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
    after: int | None = Field(None, ge=1, le=store.MAX_ALERT_ID)
    limit: int = Field(store.DEFAULT_LIMIT, ge=1, le=store.MAX_LIMIT)


class StaffNote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str | None = Field(None, max_length=store.MAX_NOTE_CHARS)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_post("/api/v1/alerts/{id}/ack", acknowledge_alert)
    app.router.add_post("/api/v1/alerts/{id}/resolve", resolve_alert)


async def list_alerts(request: web.Request) -> web.Response:
    await require_role(request, "staff")
    query = read_query(request, AlertQuery)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        alerts, next_id = await store.list_alerts(
            session,
            type=query.type,
            severity=query.severity,
            status=query.status,
            account=query.account,
            after_id=query.after,
            limit=query.limit,
        )
    return web.json_response({"alerts": [alert.to_json() for alert in alerts], "next": next_id})


async def acknowledge_alert(request: web.Request) -> web.Response:
    return await _change_status(request, AlertStatus.ACKNOWLEDGED)


async def resolve_alert(request: web.Request) -> web.Response:
    return await _change_status(request, AlertStatus.RESOLVED)


async def _change_status(request: web.Request, status: AlertStatus) -> web.Response:
    principal = await require_role(request, "staff")
    alert_id = _alert_id(request)
    note = await _read_note(request)
    async with request.app[appkeys.DB_SESSIONS]() as session, session.begin():
        alert = await store.set_status(session, alert_id, status, note=note, by=principal.name)
    if alert is None:
        raise _not_found()
    return web.json_response(alert.to_json())


def _alert_id(request: web.Request) -> int:
    # A path that is not an alert id names no alert: 404, like an unknown id.
    raw = request.match_info["id"]
    if not _ALERT_ID.fullmatch(raw) or not 1 <= int(raw) <= store.MAX_ALERT_ID:
        raise _not_found()
    return int(raw)


async def _read_note(request: web.Request) -> str | None:
    """The optional note; an empty body means none."""
    if not (await request.read()).strip():
        return None
    note = (await read_model(request, StaffNote)).note
    if note is None or not note.strip():
        return None
    return note.strip()


def _not_found() -> ApiError:
    return ApiError(404, "alert_not_found", "no such alert")
