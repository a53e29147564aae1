"""`GET /healthz`: 200 when both stores answer, 503 naming the one that does not.

Each store gets `settings.health_check_timeout_s` to answer, so that a hung store
cannot hang the probe (and the load balancer behind it). A verdict is reused for
`settings.health_cache_s`, and probes that arrive while one is running wait for it:
a flood of health checks never becomes a flood of database round trips.
"""

from __future__ import annotations

import asyncio
import logging
import time
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


class HealthProbe:
    """Runs `check` at most once per `cache_s`; concurrent callers share one run."""

    def __init__(
        self,
        check: Callable[[], Awaitable[dict[str, str]]],
        *,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._cache_s = cache_s
        self._clock = clock
        self._verdicts: dict[str, str] | None = None
        self._checked_at = 0.0
        self._running: asyncio.Task[dict[str, str]] | None = None

    async def verdicts(self) -> dict[str, str]:
        if self._verdicts is not None and self._clock() - self._checked_at < self._cache_s:
            return self._verdicts
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # shield: one caller going away must not cancel the check the others wait on.
        return await asyncio.shield(self._running)

    async def _run(self) -> dict[str, str]:
        try:
            verdicts = await self._check()
            self._verdicts, self._checked_at = verdicts, self._clock()
            return verdicts
        finally:
            self._running = None


def health_probe(app: web.Application) -> HealthProbe:
    settings = app[appkeys.SETTINGS]
    return HealthProbe(
        lambda: check_stores(
            app[appkeys.DB_ENGINE], app[appkeys.HOT_STATE], settings.health_check_timeout_s
        ),
        cache_s=settings.health_cache_s,
    )


async def healthz(request: web.Request) -> web.Response:
    checks = await request.app[appkeys.HEALTH].verdicts()
    healthy = all(verdict == OK for verdict in checks.values())
    return web.json_response(
        {"status": OK if healthy else UNAVAILABLE, "checks": checks},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


def setup_routes(app: web.Application) -> None:
    app[appkeys.HEALTH] = health_probe(app)
    app.router.add_get("/healthz", healthz)
