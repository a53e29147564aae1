"""The application factory: one place that shows how the gateway is put together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from secgate import appkeys
from secgate.alerts import routes as alert_routes
from secgate.alerts.store import AlertSink
from secgate.hotstate.factory import open_hot_state
from secgate.ops import health, metrics, openapi
from secgate.settings import Settings
from secgate.storage.db import create_engine, session_factory
from secgate.web.errors import error_middleware
from secgate.web.request_context import request_context_middleware


def create_app(settings: Settings) -> web.Application:
    settings = settings.with_secret_key()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # Outermost first: the request id and client address exist before anything
        # logs; metrics see the status the error middleware settled on.
        middlewares=[request_context_middleware, metrics.metrics_middleware, error_middleware],
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.METRICS] = metrics.Metrics()
    app.cleanup_ctx.append(_durable_store)
    app.cleanup_ctx.append(_hot_state)
    app.cleanup_ctx.append(_alert_sink)

    health.setup_routes(app)
    metrics.setup_routes(app)
    openapi.setup_routes(app)
    alert_routes.setup_routes(app)
    return app


async def _durable_store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[appkeys.SETTINGS].database_url)
    app[appkeys.DB_ENGINE] = engine
    app[appkeys.DB_SESSIONS] = session_factory(engine)
    yield
    await engine.dispose()


async def _hot_state(app: web.Application) -> AsyncIterator[None]:
    hot = await open_hot_state(app[appkeys.SETTINGS])
    app[appkeys.HOT_STATE] = hot
    yield
    await hot.close()


async def _alert_sink(app: web.Application) -> AsyncIterator[None]:
    # Needs both stores, so it comes after them.
    app[appkeys.ALERTS] = AlertSink(
        app[appkeys.DB_SESSIONS], app[appkeys.HOT_STATE], app[appkeys.SETTINGS]
    )
    yield
