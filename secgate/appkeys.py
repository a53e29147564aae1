"""Every `web.AppKey` and `web.RequestKey` of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from secgate.alerts.store import AlertSink
from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.storage.db import SessionFactory

if TYPE_CHECKING:
    # Only for typing: secgate.ops.metrics reads its key from this module.
    from secgate.ops.health import HealthProbe
    from secgate.ops.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
DB_SESSIONS = web.AppKey("db_sessions", SessionFactory)
HOT_STATE = web.AppKey("hot_state", HotState)
ALERTS = web.AppKey("alerts", AlertSink)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthProbe] = web.AppKey("health")

# Set by the outermost middleware (secgate.web.request_context) on every request.
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
