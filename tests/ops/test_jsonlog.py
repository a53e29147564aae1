"""Logs are JSON lines; those written while handling a request carry its id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from json_logs import Lines, captured_json_logs

from secgate.app import create_app
from secgate.ops.jsonlog import ACCESS_LOGGER_NAME, configure_logging
from secgate.serve import runner_options
from secgate.settings import Settings

log = logging.getLogger("secgate.test_jsonlog")


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Every record of the `secgate` loggers, formatted as in production, parsed back."""
    with captured_json_logs("secgate", logging.INFO) as lines:
        yield lines


def test_a_line_has_time_level_logger_message_and_extras(
    log_lines: Callable[[], list[dict[str, object]]],
) -> None:
    log.warning("disk %s full", "var", extra={"free_bytes": 12, "path": "/var"})
    [line] = log_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "secgate.test_jsonlog"
    assert line["message"] == "disk var full"
    assert line["free_bytes"] == 12
    assert line["path"] == "/var"
    assert datetime.fromisoformat(str(line["time"])).utcoffset() is not None


def test_outside_a_request_a_line_has_no_request_id(
    log_lines: Callable[[], list[dict[str, object]]],
) -> None:
    log.info("starting")
    [line] = log_lines()
    assert "request_id" not in line


def test_an_exception_is_logged_in_the_same_line(
    log_lines: Callable[[], list[dict[str, object]]],
) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("failed")
    [line] = log_lines()
    assert line["message"] == "failed"
    assert "ValueError: bad value" in str(line["exc_info"])


async def _logs_something(request: web.Request) -> web.Response:
    log.info("inside the handler", extra={"answer": 42})
    return web.Response(text="ok")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> TestClient:
    settings = make_settings()
    app = create_app(settings)
    app.router.add_get("/test/logs", _logs_something)
    # The server runs as serve.py runs it, so the access log is the production one.
    server = TestServer(app)
    await server.start_server(**runner_options(settings))
    return await aiohttp_client(server)


async def test_a_line_logged_while_handling_a_request_carries_its_id(
    client: TestClient, log_lines: Callable[[], list[dict[str, object]]]
) -> None:
    first = await client.get("/test/logs", headers={"X-Request-ID": "first-request"})
    second = await client.get("/test/logs")
    inside = [line for line in log_lines() if line["message"] == "inside the handler"]
    assert [line["request_id"] for line in inside] == [
        "first-request",
        second.headers["X-Request-ID"],
    ]
    assert first.status == 200
    assert inside[0]["answer"] == 42


async def test_each_request_is_access_logged_as_json(
    client: TestClient, log_lines: Callable[[], list[dict[str, object]]]
) -> None:
    resp = await client.get("/test/logs?token=secret", headers={"X-Forwarded-For": "6.6.6.6"})
    [access] = await access_lines(log_lines)
    assert access["message"] == "request"
    assert access["method"] == "GET"
    assert access["path"] == "/test/logs"  # never the query string
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["client_ip"] == "127.0.0.1"  # the forged header is not believed
    assert access["request_id"] == resp.headers["X-Request-ID"]


async def test_error_answers_are_access_logged_with_their_status(
    client: TestClient, log_lines: Callable[[], list[dict[str, object]]]
) -> None:
    resp = await client.get("/no/such/route")
    [access] = await access_lines(log_lines)
    assert access["status"] == 404
    assert access["request_id"] == resp.headers["X-Request-ID"]


async def access_lines(
    log_lines: Callable[[], list[dict[str, object]]],
) -> list[dict[str, object]]:
    # The access line is written just after the answer is sent: it may come a moment
    # after the client has the answer.
    for _ in range(100):
        lines = [line for line in log_lines() if line["logger"] == ACCESS_LOGGER_NAME]
        if lines:
            return lines
        await asyncio.sleep(0.01)
    return []


@pytest.fixture
def root_logger_restored() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_configure_logging_sends_everything_as_json_to_one_stream(
    root_logger_restored: logging.Logger,
) -> None:
    stream = io.StringIO()
    configure_logging("WARNING", stream)
    logging.getLogger("somewhere.else").warning("shown")
    logging.getLogger("somewhere.else").info("below the level")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["shown"]
    assert len(root_logger_restored.handlers) == 1


def test_configure_logging_refuses_an_unknown_level(root_logger_restored: logging.Logger) -> None:
    with pytest.raises(ValueError, match="VERBOSE"):
        configure_logging("VERBOSE", io.StringIO())
