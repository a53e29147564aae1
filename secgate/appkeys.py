"""Every `web.AppKey` and `web.RequestKey` of the application, in one place.

The value types are imported for type checking only: many of those modules read
their keys from this one, and a runtime import here would make a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from secgate.alerts.store import AlertSink
    from secgate.auth.tokens import TokenVerifier
    from secgate.checks.pipeline import Pipeline
    from secgate.checks.protected_senders import ProtectedSenderCache
    from secgate.hotstate.protocol import HotState
    from secgate.ops.health import HealthProbe
    from secgate.ops.metrics import Metrics
    from secgate.settings import Settings
    from secgate.sms.api_auth import ApiAuthenticator
    from secgate.sms.connectors.protocol import Connector
    from secgate.sms.dispatcher import Dispatcher
    from secgate.sms.low_balance import LowBalanceNotifier
    from secgate.sms.retention import RetentionJob
    from secgate.sms.send import SmsService
    from secgate.sms.webhooks import WebhookWorker
    from secgate.storage.db import SessionFactory

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB_ENGINE: web.AppKey[AsyncEngine] = web.AppKey("db_engine")
DB_SESSIONS: web.AppKey[SessionFactory] = web.AppKey("db_sessions")
# Bearer tokens of the HTTP API (secgate.auth.principal).
TOKENS: web.AppKey[TokenVerifier] = web.AppKey("tokens")
HOT_STATE: web.AppKey[HotState] = web.AppKey("hot_state")
ALERTS: web.AppKey[AlertSink] = web.AppKey("alerts")
API_AUTH: web.AppKey[ApiAuthenticator] = web.AppKey("api_auth")
SMS: web.AppKey[SmsService] = web.AppKey("sms")
CONNECTOR: web.AppKey[Connector] = web.AppKey("connector")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
LOW_BALANCE: web.AppKey[LowBalanceNotifier] = web.AppKey("low_balance")
WEBHOOK_WORKER: web.AppKey[WebhookWorker] = web.AppKey("webhook_worker")
RETENTION_JOB: web.AppKey[RetentionJob] = web.AppKey("retention_job")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthProbe] = web.AppKey("health")
PROTECTED_SENDERS: web.AppKey[ProtectedSenderCache] = web.AppKey("protected_senders")
# The pre-send checks (issue 4), shared by the send path and the check endpoint.
CHECKS: web.AppKey[Pipeline] = web.AppKey("checks")

# Set by the outermost middleware (secgate.web.request_context) on every request.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip")
