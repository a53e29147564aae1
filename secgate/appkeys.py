"""Every `web.AppKey` of the application, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from secgate.hotstate.protocol import HotState
from secgate.ops.metrics import Metrics
from secgate.settings import Settings
from secgate.storage.db import SessionFactory

SETTINGS = web.AppKey("settings", Settings)
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
DB_SESSIONS = web.AppKey("db_sessions", SessionFactory)
HOT_STATE = web.AppKey("hot_state", HotState)
METRICS = web.AppKey("metrics", Metrics)
