"""`GET /api/v1/sandbox/outbox?to=NUMBER` (CONTRACT §4.5): what the sandbox connector
"delivered" to a number, newest first, for a tester to read (a one-time code, say).

Staff only, and routed only while the sandbox connector is the one in use: with a
real operator there is no outbox to read, and the path answers 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from secgate import appkeys
from secgate.alerts.store import iso_utc
from secgate.auth.principal import require_role
from secgate.sms.connectors.sandbox import outbox_for
from secgate.sms.numbers import InvalidNumber, normalize_msisdn
from secgate.storage.models import SandboxOutboxEntry
from secgate.web.errors import ApiError

OUTBOX_PATH = "/api/v1/sandbox/outbox"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def setup_routes(app: web.Application) -> None:
    app.router.add_get(OUTBOX_PATH, list_outbox)


async def list_outbox(request: web.Request) -> web.Response:
    await require_role(request, "staff")
    number = _number(request)
    limit = _limit(request)
    async with request.app[appkeys.DB_SESSIONS]() as session:
        entries = await outbox_for(session, number, limit=limit)
    return web.json_response({"messages": [_entry_json(entry) for entry in entries]})


def _entry_json(entry: SandboxOutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "to": entry.number,
        "sender": entry.sender,
        "text": entry.text,
        "connector_ref": entry.connector_ref,
        "at": iso_utc(entry.at),
    }


def _number(request: web.Request) -> str:
    given = request.query.getall("to", [])
    if len(given) != 1 or not given[0]:
        raise _invalid_query("to", "one number is required")
    try:
        return normalize_msisdn(given[0])
    except InvalidNumber as exc:
        raise _invalid_query("to", str(exc)) from None


def _limit(request: web.Request) -> int:
    given = request.query.getall("limit", [])
    if not given or given == [""]:
        return DEFAULT_LIMIT
    raw = given[0]
    # Three digits at most before int(): a thousand-digit "number" is not parsed at all.
    well_formed = len(given) == 1 and raw.isascii() and raw.isdigit() and len(raw) <= 3
    if not well_formed or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid_query("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _invalid_query(field: str, problem: str) -> ApiError:
    return ApiError(
        400,
        "invalid_query",
        f"{field}: {problem}",
        extra={"fields": [{"field": field, "problem": problem}]},
    )
