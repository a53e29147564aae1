"""Logs as one JSON object a line, each carrying the id of the request it belongs to.

A line has `time`, `level`, `logger`, `message`, `request_id` (while a request is being
handled) and the record's extras, e.g. `log.info("sent", extra={"count": 3})`.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse
from pythonjsonlogger.json import JsonFormatter

from secgate import appkeys
from secgate.web.request_context import current_request_id

ACCESS_LOGGER_NAME = "secgate.access"


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to records logged while handling it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return True


class MalformedRequestFilter(logging.Filter):
    """aiohttp's HTTP parser refuses a malformed request (a control character in a
    header, a bad request line) before the application sees it, and logs it at ERROR
    with a traceback whose message quotes the offending line: a bearer token with a
    stray byte would be written to the log. Such a record becomes one WARNING line
    naming the kind of error, without the request's bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(error, HttpProcessingError):
            record.msg = "malformed HTTP request refused"
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.error = type(error).__name__
            record.status = error.code
        return True


class _Formatter(JsonFormatter):
    # ISO 8601 in UTC: one clock for the logs of every gateway process.
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def json_log_handler(stream: IO[str]) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        _Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MalformedRequestFilter())
    return handler


def configure_logging(level: str | int, stream: IO[str] | None = None) -> None:
    """Send every log record to `stream` (stderr) as JSON, replacing other handlers.

    Raises ValueError for an unknown level name."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_log_handler(sys.stderr if stream is None else stream))


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp's access log, one JSON line a request (pass as `access_log_class`)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # The path without the query string: queries may carry things not to be logged.
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
                "client_ip": request.get(appkeys.CLIENT_IP, request.remote),
                "request_id": request.get(appkeys.REQUEST_ID),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
