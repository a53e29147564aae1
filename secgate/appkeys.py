"""Every `web.AppKey` and `web.RequestKey` of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from secgate.alerts.store import AlertSink
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms.api_auth import ApiAuthenticator
from secgate.sms.connectors.protocol import Connector
from secgate.sms.low_balance import LowBalanceNotifier
from secgate.sms.retention import RetentionJob
from secgate.sms.send import SmsService
from secgate.sms.webhooks import WebhookWorker
from secgate.storage.db import SessionFactory

if TYPE_CHECKING:
    # Only for typing: these modules read their keys from this one (directly, or
    # through secgate.ops.jsonlog).
    from secgate.ops.health import HealthProbe
    from secgate.ops.metrics import Metrics
    from secgate.sms.dispatcher import Dispatcher

SETTINGS = web.AppKey("settings", Settings)
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
DB_SESSIONS = web.AppKey("db_sessions", SessionFactory)
HOT_STATE = web.AppKey("hot_state", HotState)
ALERTS = web.AppKey("alerts", AlertSink)
API_AUTH = web.AppKey("api_auth", ApiAuthenticator)
SMS = web.AppKey("sms", SmsService)
CONNECTOR = web.AppKey("connector", Connector)
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
LOW_BALANCE = web.AppKey("low_balance", LowBalanceNotifier)
WEBHOOK_WORKER = web.AppKey("webhook_worker", WebhookWorker)
RETENTION_JOB = web.AppKey("retention_job", RetentionJob)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthProbe] = web.AppKey("health")

# Set by the outermost middleware (secgate.web.request_context) on every request.
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
