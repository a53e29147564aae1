"""`GET /healthz`: 200 when both stores answer, 503 naming the one that does not.

Each store gets `settings.health_check_timeout_s` to answer, so that a hung store
cannot hang the probe (and the load balancer behind it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from secgate import appkeys
from secgate.hotstate.protocol import HotState
from secgate.storage import db

log = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"


async def check_stores(
    engine: AsyncEngine, hot_state: HotState, timeout_s: float
) -> dict[str, str]:
    """`{"database": "ok"|"unavailable", "hot_state": ...}`, both probed at once."""
    database, hot = await asyncio.gather(
        _probe("database", lambda: db.ping(engine), timeout_s),
        _probe("hot_state", hot_state.ping, timeout_s),
    )
    return {"database": database, "hot_state": hot}


async def _probe(name: str, ping: Callable[[], Awaitable[None]], timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await ping()
    except Exception as exc:
        # Why goes to the log for operators; the probe's caller only needs the verdict.
        log.warning("health check failed", extra={"store": name, "error": repr(exc)})
        return UNAVAILABLE
    return OK


async def healthz(request: web.Request) -> web.Response:
    checks = await check_stores(
        request.app[appkeys.DB_ENGINE],
        request.app[appkeys.HOT_STATE],
        request.app[appkeys.SETTINGS].health_check_timeout_s,
    )
    healthy = all(verdict == OK for verdict in checks.values())
    return web.json_response(
        {"status": OK if healthy else UNAVAILABLE, "checks": checks},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
