"""The application factory: one place that shows how the gateway is put together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from secgate import appkeys
from secgate.alerts import routes as alert_routes
from secgate.alerts.store import AlertSink
from secgate.auth.tokens import TokenVerifier
from secgate.checks import held_message_routes, protected_sender_routes
from secgate.checks import routes as check_routes
from secgate.checks.pipeline import default_pipeline
from secgate.checks.protected_senders import ProtectedSenderCache
from secgate.hotstate.factory import open_hot_state
from secgate.ops import health, metrics, openapi
from secgate.settings import Settings
from secgate.sms import contacts_routes, kwtsms_api, sandbox_routes
from secgate.sms.connectors.factory import open_connector
from secgate.sms.dispatcher import Dispatcher
from secgate.sms.low_balance import LowBalanceNotifier, PlatformSms
from secgate.sms.retention import RetentionJob
from secgate.sms.send import SmsService
from secgate.sms.webhooks import WebhookWorker
from secgate.storage.db import open_engine, session_factory
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
    app.cleanup_ctx.append(_protected_senders)
    app.cleanup_ctx.append(_hot_state)
    app.cleanup_ctx.append(_alert_sink)
    app.cleanup_ctx.append(_checks)
    app.cleanup_ctx.append(_low_balance)
    app.cleanup_ctx.append(_sms_service)
    app.cleanup_ctx.append(_dispatcher)
    app.cleanup_ctx.append(_webhook_worker)
    app.cleanup_ctx.append(_retention_job)
    app.cleanup_ctx.append(kwtsms_api.api_authenticator)  # needs the alert sink

    health.setup_routes(app)
    metrics.setup_routes(app)
    openapi.setup_routes(app)
    alert_routes.setup_routes(app)
    kwtsms_api.setup_routes(app)
    contacts_routes.setup_routes(app)
    protected_sender_routes.setup_routes(app)
    check_routes.setup_routes(app)
    held_message_routes.setup_routes(app)
    if settings.connector == "sandbox":
        sandbox_routes.setup_routes(app)
    return app


async def _durable_store(app: web.Application) -> AsyncIterator[None]:
    engine = open_engine(app[appkeys.SETTINGS])
    app[appkeys.DB_ENGINE] = engine
    app[appkeys.DB_SESSIONS] = session_factory(engine)
    app[appkeys.TOKENS] = TokenVerifier(
        app[appkeys.DB_SESSIONS], cache_s=app[appkeys.SETTINGS].api_token_cache_s
    )
    yield
    await engine.dispose()


async def _protected_senders(app: web.Application) -> AsyncIterator[None]:
    # The sender-ID guard's registry, read from the database and cached per process.
    app[appkeys.PROTECTED_SENDERS] = ProtectedSenderCache(
        app[appkeys.DB_SESSIONS], app[appkeys.SETTINGS]
    )
    yield


async def _hot_state(app: web.Application) -> AsyncIterator[None]:
    hot = await open_hot_state(app[appkeys.SETTINGS])
    app[appkeys.HOT_STATE] = hot
    yield
    await hot.close()


async def _checks(app: web.Application) -> AsyncIterator[None]:
    # The pre-send pipeline: needs both stores, the alert sink and the protected names.
    # Loads the spam model; a model that cannot be loaded stops startup here.
    app[appkeys.CHECKS] = default_pipeline(
        app[appkeys.SETTINGS],
        hot=app[appkeys.HOT_STATE],
        protected_senders=app[appkeys.PROTECTED_SENDERS],
        alerts=app[appkeys.ALERTS],
    )
    yield


async def _low_balance(app: web.Application) -> AsyncIterator[None]:
    sessions, hot = app[appkeys.DB_SESSIONS], app[appkeys.HOT_STATE]
    app[appkeys.LOW_BALANCE] = LowBalanceNotifier(
        sessions, app[appkeys.ALERTS], app[appkeys.SETTINGS], PlatformSms(sessions, hot)
    )
    yield


async def _sms_service(app: web.Application) -> AsyncIterator[None]:
    app[appkeys.SMS] = SmsService(
        app[appkeys.DB_SESSIONS],
        app[appkeys.HOT_STATE],
        app[appkeys.SETTINGS],
        low_balance=app[appkeys.LOW_BALANCE],
        pipeline=app[appkeys.CHECKS],
    )
    yield


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    # Workers, sweeper and receipts run in the background until shutdown, which lets
    # each worker finish the batch in hand before the stores close.
    settings, sessions = app[appkeys.SETTINGS], app[appkeys.DB_SESSIONS]
    connector = open_connector(settings, sessions)
    dispatcher = Dispatcher(sessions, app[appkeys.HOT_STATE], connector, settings)
    app[appkeys.CONNECTOR] = connector
    app[appkeys.DISPATCHER] = dispatcher
    await dispatcher.start()
    yield
    await dispatcher.stop()


async def _webhook_worker(app: web.Application) -> AsyncIterator[None]:
    worker = WebhookWorker(app[appkeys.DB_SESSIONS], app[appkeys.SETTINGS])
    app[appkeys.WEBHOOK_WORKER] = worker
    worker.start()
    yield
    await worker.close()


async def _retention_job(app: web.Application) -> AsyncIterator[None]:
    job = RetentionJob(app[appkeys.DB_SESSIONS], app[appkeys.SETTINGS])
    app[appkeys.RETENTION_JOB] = job
    job.start()
    yield
    await job.close()


async def _alert_sink(app: web.Application) -> AsyncIterator[None]:
    # Needs both stores, so it comes after them.
    app[appkeys.ALERTS] = AlertSink(
        app[appkeys.DB_SESSIONS], app[appkeys.HOT_STATE], app[appkeys.SETTINGS]
    )
    yield
