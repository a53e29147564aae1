"""Prometheus metrics: what the gateway counts, and `GET /metrics` to scrape them.

Each application has its own `Metrics` with its own registry, so that several apps can
live in one process (the tests do). A part that counts something adds its metric as an
attribute in `Metrics.__init__`, registered on `self.registry`, and reaches it with
`request.app[appkeys.METRICS]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from secgate import appkeys

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Labels must come from a small fixed set, or anyone could create series at will with
# made-up methods or paths.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# A request cancelled before its answer (the client left, or shutdown cut it off);
# nginx counts these as 499 too.
CLIENT_CLOSED_STATUS = 499


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "secgate_http_requests",
            "HTTP requests answered, by method, route pattern and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_request_duration = Histogram(
            "secgate_http_request_duration_seconds",
            "Time from the request reaching the application to its answer.",
            ["method", "route"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        method = method if method in _METHODS else "other"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_request_duration.labels(method, route).observe(duration_s)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


def route_label(request: web.Request) -> str:
    """The pattern of the matched route (`/api/v1/alerts/{id}/ack`), never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED_STATUS
        raise
    finally:
        request.app[appkeys.METRICS].observe_request(
            request.method, route_label(request), status, time.perf_counter() - started
        )


async def metrics_handler(request: web.Request) -> web.Response:
    body = request.app[appkeys.METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)
