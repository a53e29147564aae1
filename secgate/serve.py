"""Serving the application: `python server.py` ends up here.

On SIGTERM or SIGINT the server stops accepting connections, lets the requests in
flight finish (up to `settings.shutdown_timeout_s`), then closes the stores through
the application's cleanup contexts.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from secgate.app import create_app
from secgate.ops.jsonlog import ACCESS_LOGGER_NAME, JsonAccessLogger
from secgate.settings import Settings

log = logging.getLogger(__name__)


def runner_options(settings: Settings) -> dict[str, Any]:
    """How the HTTP server runs; `web.AppRunner(app, **runner_options(settings))` in tests."""
    return {
        "shutdown_timeout": settings.shutdown_timeout_s,
        "access_log_class": JsonAccessLogger,
        "access_log": logging.getLogger(ACCESS_LOGGER_NAME),
    }


def listen_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT."""
    url = listen_url(settings)

    def announce(_banner: str) -> None:
        log.info("listening on %s", url, extra={"url": url})

    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=announce,
        **runner_options(settings),
    )
    log.info("stopped")
